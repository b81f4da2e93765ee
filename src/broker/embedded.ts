import type { Broker, ConsumeOptions, Consumer, Delivery, OutgoingMessage, QueueStats } from './broker.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import { scopedLogger, type Logger } from '../log.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { DELETE_CONSUMERS_SQL, EmbeddedConsumer } from './embedded-consumer.ts';
import { NOTIFY_CHANNEL, PgListener } from './embedded-listener.ts';

export interface EmbeddedBrokerOptions {
  logger?: Logger;
  /** How long a consumer's claim on its messages outlives its process (renewed every third of it). */
  leaseMs?: number;
  /** How often consumers look for messages without being notified (NOTIFY can be missed). */
  pollMs?: number;
}

/** Rows per INSERT statement; one publish call is still one transaction. */
const PUBLISH_CHUNK = 10_000;

const PUBLISH_SQL = `
WITH inserted AS (
  INSERT INTO pushcdc.broker_messages (queue, body, message_id, headers)
  SELECT $1, u.body, u.message_id, u.headers
  FROM unnest($2::bytea[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS u(body, message_id, headers, ord)
  ORDER BY u.ord
  RETURNING 1
)
SELECT pg_notify('${NOTIFY_CHANNEL}', $1) FROM (SELECT 1 FROM inserted LIMIT 1) AS any_inserted`;

const RENEW_SQL = `
UPDATE pushcdc.broker_consumers SET lease_until = now() + $2 * interval '1 millisecond'
WHERE id = ANY($1::uuid[]) RETURNING id`;

// Consumers whose lease lapsed belong to dead processes: deleting them hands their messages back.
const REAP_SQL = `
WITH dead AS (DELETE FROM pushcdc.broker_consumers WHERE lease_until < now() RETURNING queue)
SELECT q.queue, pg_notify('${NOTIFY_CHANNEL}', q.queue) FROM (SELECT DISTINCT queue FROM dead) AS q`;

const STATS_SQL = `
SELECT
  (SELECT count(*) FROM pushcdc.broker_messages m WHERE m.queue = q.name AND m.consumer_id IS NULL)::int AS messages,
  (SELECT count(*) FROM pushcdc.broker_consumers c
    WHERE c.queue = q.name AND c.subscribed AND c.lease_until > now())::int AS consumers
FROM pushcdc.broker_queues q WHERE q.name = $1`;

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * The Broker on PostgreSQL, for a machine with no RabbitMQ (SPEC section 3). It keeps RabbitMQ's
 * semantics where callers depend on them: durable FIFO queues, at-least-once delivery, messages kept
 * until acknowledged, nack with requeue, per-consumer prefetch, single active consumer, and redelivery
 * (redelivered: true) of what a crashed consumer held, once its lease lapses. `stats` counts ready
 * messages and `purge` removes them, as RabbitMQ's do. Tables: sql/engine/0040_embedded_broker.sql.
 */
export class EmbeddedBroker implements Broker {
  private readonly consumers = new Set<EmbeddedConsumer>();
  private readonly listener: PgListener;
  private readonly timers: NodeJS.Timeout[] = [];
  private closing: Promise<void> | undefined;
  private renewing: Promise<void> | undefined;

  private constructor(
    private readonly pool: Pool,
    private readonly leaseMs: number,
    private readonly pollMs: number,
    private readonly log: Logger,
  ) {
    this.listener = new PgListener(
      pool.options,
      {
        onNotify: (queue) => this.wake((consumer) => consumer.queue === queue),
        onReconnect: () => this.wake(() => true),
      },
      DEFAULT_BACKOFF,
      log,
    );
  }

  /** Checks the tables exist (the engine migrations created them) and starts listening. */
  static async start(pool: Pool, options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
    const log = (options.logger ?? scopedLogger({})).child({ component: 'broker', broker: 'embedded' });
    let ready: boolean;
    try {
      const { rows } = await pool.query<{ ready: boolean }>(
        "SELECT to_regclass('pushcdc.broker_messages') IS NOT NULL AS ready",
      );
      ready = rows[0]?.ready === true;
    } catch (err) {
      throw new PushcdcError('BROKER', `the embedded broker cannot reach PostgreSQL: ${errorMessage(err)}`, { cause: err });
    }
    if (!ready) {
      throw new PushcdcError(
        'BROKER',
        'the embedded broker tables (pushcdc.broker_messages) do not exist: apply the engine migrations first (migrateEngine)',
      );
    }
    const broker = new EmbeddedBroker(pool, options.leaseMs ?? 30_000, options.pollMs ?? 1_000, log);
    try {
      await broker.listener.start();
    } catch (err) {
      throw new PushcdcError('BROKER', `the embedded broker cannot LISTEN on PostgreSQL: ${errorMessage(err)}`, { cause: err });
    }
    broker.startTimers();
    return broker;
  }

  async assertQueue(queue: string, options: { singleActiveConsumer?: boolean } = {}): Promise<void> {
    this.assertOpen();
    const wanted = options.singleActiveConsumer === true;
    const existing = await this.query(`declaring queue "${queue}"`, async () => {
      await this.pool.query(
        'INSERT INTO pushcdc.broker_queues (name, single_active_consumer) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
        [queue, wanted],
      );
      const { rows } = await this.pool.query<{ single_active_consumer: boolean }>(
        'SELECT single_active_consumer FROM pushcdc.broker_queues WHERE name = $1',
        [queue],
      );
      return rows[0]?.single_active_consumer;
    });
    if (existing !== wanted) {
      throw new PushcdcError(
        'BROKER',
        `queue "${queue}" already exists with different settings (singleActiveConsumer is ${String(existing)}, asked for ${wanted}); ` +
          'declare it the same way everywhere, or delete the queue so it can be created again',
      );
    }
  }

  async publish(queue: string, messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    const chunks: OutgoingMessage[][] = [];
    for (let i = 0; i < messages.length; i += PUBLISH_CHUNK) chunks.push(messages.slice(i, i + PUBLISH_CHUNK));
    const insert = (run: (sql: string, params: unknown[]) => Promise<unknown>) => async () => {
      for (const chunk of chunks) {
        await run(PUBLISH_SQL, [
          queue,
          chunk.map((m) => (typeof m.body === 'string' ? Buffer.from(m.body) : m.body)),
          chunk.map((m) => m.messageId ?? null),
          chunk.map((m) => JSON.stringify(m.headers ?? {})),
        ]);
      }
    };
    try {
      if (chunks.length === 1) await insert((sql, params) => this.pool.query(sql, params))();
      else await inTransaction(this.pool, (client) => insert((sql, params) => client.query(sql, params))());
    } catch (err) {
      if ((err as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) {
        throw new PushcdcError('BROKER', `queue "${queue}" does not exist (declare it with assertQueue first)`, { cause: err });
      }
      throw new PushcdcError('BROKER', `publishing to "${queue}" failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  async consume(queue: string, handler: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1) {
      throw new PushcdcError('BROKER', `prefetch for queue "${queue}" must be a whole number of at least 1, got ${options.prefetch}`);
    }
    await this.assertQueue(queue, { singleActiveConsumer: options.singleActiveConsumer === true });
    const consumer = await this.query(`starting a consumer of "${queue}"`, () =>
      EmbeddedConsumer.start(
        { pool: this.pool, leaseMs: this.leaseMs, log: this.log, onEnd: (c) => this.consumers.delete(c) },
        queue,
        handler,
        options,
      ),
    );
    this.consumers.add(consumer);
    return consumer;
  }

  async stats(queue: string): Promise<QueueStats> {
    this.assertOpen();
    const row = await this.query(`reading stats of "${queue}"`, async () => {
      const { rows } = await this.pool.query<{ messages: number; consumers: number }>(STATS_SQL, [queue]);
      return rows[0];
    });
    if (!row) throw new PushcdcError('BROKER', `queue "${queue}" does not exist (declare it with assertQueue first)`);
    return { queue, messages: row.messages, consumers: row.consumers };
  }

  async purge(queue: string): Promise<number> {
    this.assertOpen();
    return this.query(`purging "${queue}"`, () =>
      inTransaction(this.pool, async (client) => {
        const found = await client.query('SELECT 1 FROM pushcdc.broker_queues WHERE name = $1 FOR SHARE', [queue]);
        if (found.rowCount === 0) {
          throw new PushcdcError('BROKER', `queue "${queue}" does not exist (declare it with assertQueue first)`);
        }
        // Like RabbitMQ, purge removes ready messages; those held by consumers stay theirs.
        const deleted = await client.query('DELETE FROM pushcdc.broker_messages WHERE queue = $1 AND consumer_id IS NULL', [queue]);
        return deleted.rowCount ?? 0;
      }),
    );
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    // Nothing may touch the pool after close resolves: the caller may end it next.
    await this.renewing;
    const consumers = [...this.consumers];
    this.consumers.clear();
    const registrations = (await Promise.all(consumers.map((c) => c.shutdown()))).filter((r): r is string => r !== undefined);
    if (registrations.length > 0) {
      // Hands unacknowledged messages straight back, as closing a RabbitMQ connection does.
      await this.pool
        .query(DELETE_CONSUMERS_SQL, [registrations])
        .catch((err: unknown) => this.log.warn({ err }, 'embedded broker: removing consumers at close failed; their leases will lapse'));
    }
    await this.listener.close();
    this.log.info('embedded broker closed');
  }

  private assertOpen(): void {
    if (this.closing) throw new PushcdcError('BROKER', 'the embedded broker is closed');
  }

  private async query<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof PushcdcError) throw err;
      throw new PushcdcError('BROKER', `embedded broker: ${what} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  private wake(which: (consumer: EmbeddedConsumer) => boolean): void {
    for (const consumer of this.consumers) if (consumer.isActive && which(consumer)) consumer.wake();
  }

  private startTimers(): void {
    this.timers.push(setInterval(() => this.wake(() => true), this.pollMs));
    this.timers.push(setInterval(() => void this.leaseTick(), Math.max(50, Math.floor(this.leaseMs / 3))));
  }

  /** Renews this process's leases, re-registers lost ones, and reaps consumers of dead processes. */
  private async leaseTick(): Promise<void> {
    // A slow database must not pile up overlapping renewals.
    if (this.renewing) return;
    this.renewing = this.renewAndReap().finally(() => {
      this.renewing = undefined;
    });
    await this.renewing;
  }

  private async renewAndReap(): Promise<void> {
    const held = [...this.consumers].flatMap((consumer) =>
      consumer.registration === undefined ? [] : [{ consumer, registration: consumer.registration }],
    );
    try {
      if (held.length > 0) {
        const { rows } = await this.pool.query<{ id: string }>(RENEW_SQL, [held.map((h) => h.registration), this.leaseMs]);
        const renewed = new Set(rows.map((r) => r.id));
        for (const { consumer, registration } of held) {
          if (!renewed.has(registration) && consumer.registration === registration) consumer.leaseLost();
        }
      }
      for (const consumer of this.consumers) if (consumer.registration === undefined) void consumer.reRegister();
      const reaped = await this.pool.query<{ queue: string }>(REAP_SQL);
      if (reaped.rows.length > 0) {
        this.log.warn(
          { queues: reaped.rows.map((r) => r.queue) },
          'embedded broker: consumers stopped renewing their lease (crashed?); their unacknowledged messages go back to the queue',
        );
      }
    } catch (err) {
      this.log.warn({ err }, 'embedded broker: renewing consumer leases failed; retrying');
    }
  }
}
