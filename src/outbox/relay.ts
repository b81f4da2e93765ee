import type pg from 'pg';
import type { Broker } from '../broker/broker.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import { outboxTable } from './outbox.ts';

/**
 * Publishes outbox rows to primaryQueue in commit order, with publisher confirms, then deletes them.
 * A crash between the confirm and the delete sends those rows again with their stored Id, which
 * receivers use to drop repeats. A broker outage only grows the outbox; the relay retries.
 */
const BATCH = 500;
/** Payload bytes per round: a batch of big notifications (parts of a huge diff) stays bounded. */
const BATCH_BYTES = 4 * 1024 * 1024;
const IDLE_POLL_MS = 1000;

export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private woken = false;

  constructor(
    private readonly pool: Pool,
    private readonly broker: Broker,
    private readonly stateSchema: string,
    private readonly queue: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Called after a batch commits: there are rows to send. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Sends what is in the outbox, then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    await this.drainOnce().catch((err: unknown) => this.logger.warn({ err }, 'outbox not fully sent at stop; it is sent at the next start'));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const sent = await this.drainOnce();
        failures = 0;
        if (sent === 0) await this.idle();
      } catch (err) {
        failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random() / 2);
        this.logger.warn({ err, retryInMs: Math.round(delay) }, 'publishing the outbox failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, IDLE_POLL_MS);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        self.woken = false;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Publishes and deletes outbox rows until none are left; returns how many were sent. */
  async drainOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const { rows } = await this.pool.query<{ seq: string; inquiry: string; notification_id: string }>(
        `SELECT seq, inquiry, notification_id
           FROM (SELECT seq, inquiry, notification_id, octet_length(payload) AS bytes,
                        sum(octet_length(payload)) OVER (ORDER BY seq) AS upto
                   FROM ${outboxTable(this.stateSchema)} ORDER BY seq LIMIT ${BATCH}) o
          WHERE upto - bytes < ${BATCH_BYTES} ORDER BY seq`,
      );
      if (rows.length === 0) return total;
      const bodies = await this.readBodies(rows.map((r) => r.seq));
      await this.broker.publish(
        this.queue,
        rows.map((r, i) => ({ body: bodies[i]!, messageId: r.notification_id, headers: { query: r.inquiry } })),
      );
      await this.pool.query(`DELETE FROM ${outboxTable(this.stateSchema)} WHERE seq <= $1`, [rows.at(-1)!.seq]);
      total += rows.length;
    }
  }

  /**
   * The payloads as bytes, straight from the wire (binary result format, no parser): a payload read
   * as a JS string lands in V8's large-object space and stays there until a full collection, so the
   * parts of a huge notification piled up by the hundred megabytes (measured); a Buffer's memory is
   * returned as soon as its small handle dies.
   */
  private async readBodies(seqs: string[]): Promise<Buffer[]> {
    // `binary` (result format) is a pg option its type declarations leave out.
    const query: pg.QueryConfig & { binary: boolean } = {
      text: `SELECT convert_to(payload, 'UTF8') AS body FROM ${outboxTable(this.stateSchema)} WHERE seq = ANY($1::bigint[]) ORDER BY seq`,
      values: [seqs],
      binary: true,
      types: RAW_BYTES,
    };
    const { rows } = await this.pool.query<{ body: Buffer }>(query);
    if (rows.length !== seqs.length) throw new Error(`outbox rows vanished while being sent (${rows.length} of ${seqs.length} found)`);
    return rows.map((r) => r.body);
  }
}

/** Type "parsers" that hand over each binary value as the Buffer it arrived in. */
const RAW_BYTES = { getTypeParser: () => (value: Buffer) => value } as unknown as pg.CustomTypesConfig;
