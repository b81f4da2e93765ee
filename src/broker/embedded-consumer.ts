import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ConsumeOptions, Consumer, Delivery } from './broker.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { createDelivery, runHandler, type Settlement } from './delivery.ts';
import { NOTIFY_CHANNEL } from './embedded-listener.ts';

/** Advisory lock class serialising registrations and claims on one single-active-consumer queue. */
const SAC_LOCK_CLASS = 7_413_040;

const REGISTER_SQL = `
INSERT INTO pushcdc.broker_consumers (id, queue, prefetch, lease_until, pid, host)
VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond', $5, $6)`;

// Claims up to $3 ready messages of queue $2, oldest first, for consumer $1 — provided its lease is
// live and, on a single-active-consumer queue ($4), no older consumer is still subscribed.
const CLAIM_SQL = `
WITH me AS (
  SELECT c.seq FROM pushcdc.broker_consumers c
  WHERE c.id = $1 AND c.subscribed AND c.lease_until > now()
), eligible AS (
  SELECT 1 FROM me
  WHERE NOT $4::boolean OR NOT EXISTS (
    SELECT 1 FROM pushcdc.broker_consumers o WHERE o.queue = $2 AND o.subscribed AND o.seq < me.seq)
), picked AS (
  SELECT m.id FROM pushcdc.broker_messages m
  WHERE m.queue = $2 AND m.consumer_id IS NULL AND EXISTS (SELECT 1 FROM eligible)
  ORDER BY m.id
  LIMIT $3
  FOR UPDATE SKIP LOCKED
)
UPDATE pushcdc.broker_messages m
SET consumer_id = $1, delivery_count = m.delivery_count + 1
FROM picked WHERE m.id = picked.id
RETURNING m.id, m.body, m.message_id, m.headers, m.delivery_count`;

// Acks and drops ($2) delete; requeues ($3) go back to their place in the queue and wake consumers.
const SETTLE_SQL = `
WITH done AS (
  DELETE FROM pushcdc.broker_messages WHERE consumer_id = $1 AND id = ANY($2::bigint[])
), requeued AS (
  UPDATE pushcdc.broker_messages SET consumer_id = NULL
  WHERE consumer_id = $1 AND id = ANY($3::bigint[]) RETURNING 1
)
SELECT pg_notify('${NOTIFY_CHANNEL}', $4) FROM (SELECT 1 FROM requeued LIMIT 1) AS any_requeued`;

const UNSUBSCRIBE_SQL = `
WITH c AS (UPDATE pushcdc.broker_consumers SET subscribed = false WHERE id = $1 RETURNING queue)
SELECT pg_notify('${NOTIFY_CHANNEL}', queue) FROM c`;

/** Deleting a consumer row hands its unsettled messages back (ON DELETE SET NULL). */
export const DELETE_CONSUMERS_SQL = `
WITH gone AS (DELETE FROM pushcdc.broker_consumers WHERE id = ANY($1::uuid[]) RETURNING queue)
SELECT pg_notify('${NOTIFY_CHANNEL}', q.queue) FROM (SELECT DISTINCT queue FROM gone) AS q`;

interface ClaimedRow {
  id: string;
  body: Buffer;
  message_id: string | null;
  headers: Record<string, unknown>;
  delivery_count: number;
}

interface PendingSettlement {
  registration: string;
  id: string;
  settlement: Settlement;
}

export interface EmbeddedConsumerDeps {
  pool: Pool;
  leaseMs: number;
  log: Logger;
  /** Told when the consumer no longer needs its lease renewed (its row is gone or being dropped). */
  onEnd: (consumer: EmbeddedConsumer) => void;
}

const FLUSH_RETRY_MS = 1_000;

/**
 * One consumer of the embedded broker. It registers a row (its lease), claims messages up to its
 * prefetch when woken (NOTIFY, polling, or one of its own messages settling), and writes acks and
 * nacks back in batches. If its lease is found lost (the process stalled longer than the lease and a
 * peer handed its messages back), it registers again; settlements of the old registration are dropped
 * since those messages are delivered again, as RabbitMQ does after a lost channel.
 */
export class EmbeddedConsumer implements Consumer {
  /** The current registration (consumer row id); undefined while lost and not yet re-registered. */
  registration: string | undefined;
  private state: 'active' | 'cancelled' | 'closed' = 'active';
  private unsettled = 0;
  private wanted = false;
  private pumpRun: Promise<void> | undefined;
  private pending: PendingSettlement[] = [];
  private flushRun: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private droppedSettlements = 0;
  private registering = false;
  private readonly log: Logger;

  private constructor(
    private readonly deps: EmbeddedConsumerDeps,
    readonly queue: string,
    private readonly handler: (delivery: Delivery) => void,
    private readonly options: ConsumeOptions,
  ) {
    this.log = deps.log.child({ queue });
  }

  static async start(
    deps: EmbeddedConsumerDeps,
    queue: string,
    handler: (delivery: Delivery) => void,
    options: ConsumeOptions,
  ): Promise<EmbeddedConsumer> {
    const consumer = new EmbeddedConsumer(deps, queue, handler, options);
    await consumer.register();
    consumer.wake();
    return consumer;
  }

  get isActive(): boolean {
    return this.state === 'active';
  }

  // A getter, so checks after an await re-read the state TypeScript would otherwise think narrowed.
  private get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Looks for messages now (coalesces with a claim already running). */
  wake(): void {
    this.wanted = true;
    if (this.pumpRun || this.state !== 'active' || this.registration === undefined) return;
    const run = this.pump();
    this.pumpRun = run;
    void run.finally(() => {
      if (this.pumpRun === run) this.pumpRun = undefined;
      if (this.wanted) this.wake();
    });
  }

  async cancel(): Promise<void> {
    if (this.state !== 'active') return;
    this.state = 'cancelled';
    await this.pumpRun;
    const registration = this.registration;
    if (registration === undefined) {
      this.deps.onEnd(this);
      return;
    }
    try {
      if (this.unsettled === 0) await this.dropRegistration(registration);
      // Delivered messages can still be settled; the row (and its lease) stays until they are.
      else await this.deps.pool.query(UNSUBSCRIBE_SQL, [registration]);
    } catch (err) {
      // Stop renewing: the lease lapses and a peer hands the messages back.
      this.deps.onEnd(this);
      throw new PushcdcError('BROKER', `cancelling the consumer of "${this.queue}" failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Broker close: no more claims; settlements already made are written; the caller then deletes the
   * registration, which hands every still-unsettled message back to the queue.
   */
  async shutdown(): Promise<string | undefined> {
    this.state = 'closed';
    await this.pumpRun;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flushRun;
    if (this.pending.length > 0) await this.flush();
    return this.registration;
  }

  /** The broker found this registration's row gone (its lease lapsed). */
  leaseLost(): void {
    if (this.state !== 'active') {
      this.registration = undefined;
      this.deps.onEnd(this);
      return;
    }
    this.log.warn('embedded broker: this consumer lost its lease (process stalled?); its messages were handed back');
    this.registration = undefined;
    void this.reRegister();
  }

  /** Retries a registration that failed after a lost lease. */
  async reRegister(): Promise<void> {
    if (this.state !== 'active' || this.registration !== undefined || this.registering) return;
    // One attempt at a time: two would leave an orphan row that, on a single-active-consumer
    // queue, would block this very consumer until its lease lapsed.
    this.registering = true;
    try {
      await this.register();
      const registration = this.registration;
      // Closed or cancelled while registering: nobody would renew or remove that row.
      if (this.state !== 'active' && registration !== undefined) await this.dropRegistration(registration);
      else this.wake();
    } catch (err) {
      this.log.warn({ err }, 'embedded broker: re-registering the consumer failed; retrying at the next lease renewal');
    } finally {
      this.registering = false;
    }
  }

  private async register(): Promise<void> {
    const id = randomUUID();
    const params = [id, this.queue, this.options.prefetch, this.deps.leaseMs, process.pid, hostname()];
    if (this.options.singleActiveConsumer) {
      await inTransaction(this.deps.pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SAC_LOCK_CLASS, this.queue]);
        await client.query(REGISTER_SQL, params);
      });
    } else {
      await this.deps.pool.query(REGISTER_SQL, params);
    }
    this.unsettled = 0;
    this.registration = id;
  }

  private async dropRegistration(registration: string): Promise<void> {
    await this.deps.pool.query(DELETE_CONSUMERS_SQL, [[registration]]);
    if (this.registration === registration) this.registration = undefined;
    this.deps.onEnd(this);
  }

  private async pump(): Promise<void> {
    while (this.wanted && this.state === 'active') {
      this.wanted = false;
      const registration = this.registration;
      const room = this.options.prefetch - this.unsettled;
      if (registration === undefined || room <= 0) return;
      let rows: ClaimedRow[];
      try {
        rows = await this.claim(registration, room);
      } catch (err) {
        this.log.warn({ err }, 'embedded broker: claiming messages failed; retrying at the next poll');
        return;
      }
      // Closed or lease lost meanwhile: the registration's messages go back to the queue without us.
      if (this.isClosed || registration !== this.registration) return;
      for (const row of rows) this.deliver(registration, row);
      if (rows.length === room) this.wanted = true;
    }
  }

  private async claim(registration: string, room: number): Promise<ClaimedRow[]> {
    const params = [registration, this.queue, room, this.options.singleActiveConsumer === true];
    const { rows } = this.options.singleActiveConsumer
      ? await inTransaction(this.deps.pool, async (client) => {
          // Under the lock every registration is either committed or not yet numbered, so "no
          // older subscribed consumer" cannot be fooled by one that commits a moment later.
          await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SAC_LOCK_CLASS, this.queue]);
          return client.query<ClaimedRow>(CLAIM_SQL, params);
        })
      : await this.deps.pool.query<ClaimedRow>(CLAIM_SQL, params);
    // UPDATE … RETURNING gives no order; ids are bigints as strings.
    return rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  private deliver(registration: string, row: ClaimedRow): void {
    this.unsettled += 1;
    const delivery = createDelivery(
      {
        body: row.body,
        messageId: row.message_id ?? undefined,
        headers: row.headers,
        redelivered: row.delivery_count > 1,
        settle: (settlement) => this.settle(registration, row.id, settlement),
      },
      this.log,
    );
    runHandler(this.handler, delivery, this.queue, this.log);
  }

  private settle(registration: string, id: string, settlement: Settlement): void {
    if (registration !== this.registration || this.state === 'closed') {
      this.dropSettlement(id, settlement);
      return;
    }
    this.pending.push({ registration, id, settlement });
    // Settlements made in the same tick (a handler acking a batch) go out in one statement.
    if (!this.flushRun && !this.flushTimer) this.flushTimer = setTimeout(() => this.startFlush(), 0);
  }

  private dropSettlement(id: string, settlement: Settlement): void {
    this.droppedSettlements += 1;
    this.log[this.droppedSettlements === 1 ? 'warn' : 'debug'](
      { id, settlement: settlement.kind },
      'the consumer that received this message is closed or lost its lease; dropping its ack/nack (the message is delivered again)',
    );
  }

  private startFlush(): void {
    this.flushTimer = undefined;
    if (this.flushRun) return;
    const run = this.flush();
    this.flushRun = run;
    void run.finally(() => {
      if (this.flushRun === run) this.flushRun = undefined;
      if (this.pending.length > 0 && !this.flushTimer && this.state !== 'closed') {
        this.flushTimer = setTimeout(() => this.startFlush(), 0);
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    const registration = this.registration;
    const current = batch.filter((p) => p.registration === registration);
    for (const stale of batch.filter((p) => p.registration !== registration)) this.dropSettlement(stale.id, stale.settlement);
    if (registration === undefined || current.length === 0) return;
    const finished = current.filter((p) => p.settlement.kind === 'ack' || !p.settlement.requeue).map((p) => p.id);
    const requeued = current.filter((p) => p.settlement.kind === 'nack' && p.settlement.requeue).map((p) => p.id);
    try {
      await this.deps.pool.query(SETTLE_SQL, [registration, finished, requeued, this.queue]);
    } catch (err) {
      this.log.warn({ err }, 'embedded broker: writing acks/nacks failed; retrying');
      this.pending.unshift(...current);
      if (this.state !== 'closed') this.flushTimer ??= setTimeout(() => this.startFlush(), FLUSH_RETRY_MS);
      return;
    }
    if (registration !== this.registration) return;
    this.unsettled -= current.length;
    if (this.state === 'cancelled' && this.unsettled === 0) {
      await this.dropRegistration(registration).catch((err: unknown) => {
        this.log.warn({ err }, 'embedded broker: removing a cancelled consumer failed; its lease will lapse');
        this.deps.onEnd(this);
      });
    } else {
      this.wake();
    }
  }
}
