import http, { type IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import type { CommerceMessage } from '../../src/commerce/message.ts';
import { parseCommerceMessage } from '../../src/commerce/parse-message.ts';
import { TEST_AMQP_URL } from '../support/services.ts';

/** Helpers the webhook receiver tests share: real HTTP requests, and a plain-amqplib look at the queue. */
export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (an empty object when the content type is not JSON, e.g. /metrics). */
  json: Record<string, unknown>;
}

export interface RequestSpec {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

function toReply(res: http.IncomingMessage, text: string): HttpReply {
  // A JSON content type with a body that does not parse fails the test here, as it should.
  const json = /json/.test(res.headers['content-type'] ?? '') ? (JSON.parse(text) as Record<string, unknown>) : {};
  return { status: res.statusCode ?? 0, headers: res.headers, text, json };
}

function collect(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

export function request(port: number, spec: RequestSpec): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const body = spec.body;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: spec.method ?? 'POST',
        path: spec.path ?? '/commerce/webhook',
        headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...spec.headers },
        agent: false,
      },
      (res) => void collect(res).then((text) => resolve(toReply(res, text)), reject),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends headers announcing `declaredBytes` (or chunked when undefined) and then writes `chunk` over
 * and over until the server answers or `maxBytes` were written. The server may close the connection
 * while we still write: write errors after its answer are expected, not failures.
 */
export function requestStreaming(
  port: number,
  headers: Record<string, string>,
  options: { declaredBytes?: number; chunk: Buffer; maxBytes: number; path?: string },
): Promise<HttpReply & { written: number }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: options.path ?? '/commerce/webhook',
        headers: { ...headers, ...(options.declaredBytes !== undefined ? { 'content-length': String(options.declaredBytes) } : {}) },
        agent: false,
      },
      (res) => {
        answered = true;
        void collect(res).then(
          (text) => {
            resolve({ ...toReply(res, text), written });
            req.destroy();
          },
          reject,
        );
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.flushHeaders();
    const pump = (): void => {
      while (!answered && written < options.maxBytes && (options.declaredBytes === undefined || written < options.declaredBytes)) {
        written += options.chunk.length;
        if (!req.write(options.chunk)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    // With a declared length the server may answer from the headers alone: give it the chance first.
    setTimeout(pump, options.declaredBytes !== undefined ? 200 : 0);
  });
}

/** The queue as an outside consumer sees it, through its own amqplib connection. */
export class QueueProbe {
  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.Channel,
    readonly queue: string,
  ) {}

  static async open(queue: string): Promise<QueueProbe> {
    const connection = await amqp.connect(TEST_AMQP_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true });
    return new QueueProbe(connection, channel, queue);
  }

  async depth(): Promise<number> {
    return (await this.channel.checkQueue(this.queue)).messageCount;
  }

  /**
   * The depth after a moment: a receiver that answered first and published afterwards (the bug
   * these checks are for) would otherwise slip past a check made at once.
   */
  async settledDepth(): Promise<number> {
    await sleep(200);
    return this.depth();
  }

  /** Takes (and acknowledges) every message, parsed the way the commerce role parses them. */
  async takeAll(): Promise<{ message: CommerceMessage; messageId: string | undefined; persistent: boolean }[]> {
    const taken: { message: CommerceMessage; messageId: string | undefined; persistent: boolean }[] = [];
    for (;;) {
      const got = await this.channel.get(this.queue, { noAck: false });
      if (got === false) return taken;
      this.channel.ack(got);
      taken.push({
        message: parseCommerceMessage(got.content),
        messageId: got.properties.messageId as string | undefined,
        persistent: got.properties.deliveryMode === 2,
      });
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** The value of one series of a Prometheus text exposition, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('}');
    const series = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => series.includes(`${k}="${v}"`))) return Number(line.slice(close + 1).trim());
  }
  return 0;
}
