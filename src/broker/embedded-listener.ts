import pg from 'pg';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';

/** The NOTIFY channel of the embedded broker; the payload is the queue that has work. */
export const NOTIFY_CHANNEL = 'pushcdc_broker';

/**
 * A dedicated connection LISTENing for queue wake-ups (a pooled client would be lost to the pool for
 * as long as the broker lives). When it drops it reconnects with backoff and calls `onReconnect`,
 * because notifications sent in the gap are gone; the consumers' polling covers that gap anyway.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly handlers: { onNotify: (queue: string) => void; onReconnect: () => void },
    private readonly backoff: BackoffOptions,
    private readonly log: Logger,
  ) {}

  /** The first LISTEN; failing is an error for the caller. */
  async start(): Promise<void> {
    await this.listen();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch((err: unknown) => this.log.debug({ err }, 'LISTEN connection was already closed'));
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('error', (err: Error) => {
      this.log.warn({ err }, 'embedded broker: the LISTEN connection failed; consumers poll until it is back');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel === NOTIFY_CHANNEL && message.payload) this.handlers.onNotify(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      await client.end().catch((endErr: unknown) => this.log.debug({ err: endErr }, 'closing a failed LISTEN connection'));
      throw err;
    }
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    client.end().catch((err: unknown) => this.log.debug({ err }, 'closing the lost LISTEN connection'));
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.listen().then(
        () => {
          this.attempt = 0;
          this.log.info('embedded broker: LISTEN connection re-established');
          this.handlers.onReconnect();
        },
        (err: unknown) => {
          this.log.warn({ err }, `embedded broker: re-opening the LISTEN connection failed (${errorMessage(err)}); will retry`);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }
}
