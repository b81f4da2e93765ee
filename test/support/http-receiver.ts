import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server standing in for a webhook receiver. The reply policy decides, per request, a
 * status code, 'hang' (never answer: a dead receiver) or a delay before answering; it can be changed
 * while the test runs (a receiver that recovers).
 */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when the whole body had arrived. */
  at: number;
}

export type Reply = number | 'hang' | { status: number; delayMs: number };
export type ReplyPolicy = (request: ReceivedRequest, index: number) => Reply;

export interface HttpReceiver {
  url: string;
  requests: ReceivedRequest[];
  setReply(policy: ReplyPolicy): void;
  /** Resolves once `count` requests arrived; rejects after `timeoutMs` saying how many did. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startHttpReceiver(policy: ReplyPolicy = () => 200): Promise<HttpReceiver> {
  let reply = policy;
  const requests: ReceivedRequest[] = [];
  const waiters: (() => void)[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: performance.now(),
      };
      const answer = reply(request, requests.length);
      requests.push(request);
      for (const w of waiters.splice(0)) w();
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      const { status, delayMs } = typeof answer === 'number' ? { status: answer, delayMs: 0 } : answer;
      setTimeout(() => res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status < 300 ? 'ok' : 'receiver says no'), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/hook`;

  return {
    url,
    requests,
    setReply(next) {
      reply = next;
    },
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} requests at ${url}, got ${requests.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return requests.slice(0, count);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
