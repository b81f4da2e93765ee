import type { Broker } from '../src/broker/broker.ts';
import { connectBroker } from '../src/broker/connect.ts';
import { captureRole } from '../src/capture/role.ts';
import { loadEnv, instanceNames } from '../src/config/env.ts';
import type { Pool } from '../src/db/pool.ts';
import { outboxTable } from '../src/outbox/outbox.ts';
import { loadInquiriesOrThrow } from '../src/inquiry/load.ts';
import { rootLogger } from '../src/log.ts';
import { consumeInWorker } from './delivery-consumer.ts';
import { engineCpu, type CpuSnapshot } from './process-cpu.ts';
import type { DeliveryTracker } from './stats.ts';

/**
 * pushcdc end to end, in this process: the capture role (slot, diff, outbox, relay), and a plain
 * AMQP consumer of primaryQueue on a thread of its own. A transaction's change counts as out when RabbitMQ confirmed the
 * notification carrying it (the publish the issue times: commit → confirmed publish); the consumer
 * checks that it did arrive, and reads which transactions it carries.
 */
export interface RunningPushcdc {
  /** From start to streaming: builds the starting state the first time, reuses it after. */
  startMs: number;
  /** Then until the slot had decoded past the WAL written by then (the state build's own WAL). */
  catchUpMs: number;
  /** Where the WAL was when streaming started (past the state build's own WAL). */
  startLsn: string;
  /**
   * With `deferDeliveries`: waits until the relay has published every notification written so far
   * (RabbitMQ confirmed them all), runs `sent` if given (returning what it returned), then lets the
   * consumer read them. Otherwise it reads all along.
   */
  deliver<T>(sent?: () => Promise<T>): Promise<T | undefined>;
  /** Stops capture, keeping slot and state (a later start resumes from the backlog; instance.ts drops them). */
  stop(): Promise<void>;
}

export async function startPushcdc(options: {
  pool: Pool;
  databaseUrl: string;
  amqpUrl: string;
  dir: string;
  instance: string;
  tracker: () => DeliveryTracker;
  /**
   * Leave primaryQueue unread until deliver(). A backlog's notifications come to megabytes of JSON,
   * and reading them while the engine drains took CPU from it on this two-vCPU machine; the drain is
   * timed to RabbitMQ's confirms, so reading them afterwards changes what is measured by nothing but
   * that. The consumer still checks that every change arrived.
   */
  deferDeliveries?: boolean;
}): Promise<RunningPushcdc> {
  const names = instanceNames(options.instance);
  const { inquiries, catalog } = await loadInquiriesOrThrow(options.pool, options.dir);
  // RabbitMQ may deliver a message before it confirms it to the publisher: whichever of the two comes
  // second records the transactions, always at the confirm's time. Not at the delivery's: the consumer
  // thread posts a message once it has read it, and reading a 3.4 MB notification took it 100-150 ms
  // beside a catch-up (the next message waiting behind it), time that is the reader's, not pushcdc's.
  const confirmedAt = new Map<string, number>();
  const delivered = new Map<string, Float64Array>();
  const record = (versions: Float64Array, at: number) => options.tracker().observe(versions, at);
  const broker = timeConfirms(await connectBroker({ amqpUrl: options.amqpUrl, pool: options.pool }), (ids, at) => {
    for (const id of ids) {
      const versions = delivered.get(id);
      delivered.delete(id);
      if (versions) record(versions, at);
      else confirmedAt.set(id, at);
    }
  });
  const consumer = await consumeInWorker(options.amqpUrl, names.primaryQueue, ({ messageId, versions }) => {
    const at = confirmedAt.get(messageId);
    confirmedAt.delete(messageId);
    if (at === undefined) delivered.set(messageId, versions);
    else record(versions, at);
  }, options.deferDeliveries ?? false);
  const started = performance.now();
  const role = await captureRole()({
    dir: options.dir,
    env: loadEnv({ PUSHCDC_INSTANCE: options.instance, DATABASE_URL: options.databaseUrl, AMQP_URL: options.amqpUrl }),
    names,
    databaseUrl: options.databaseUrl,
    pool: options.pool,
    broker,
    logger: rootLogger.child({ bench: options.instance }),
    catalog,
    inquiries,
  });
  await role.ready;
  const startMs = performance.now() - started;
  // A fresh state build wrote its rows to the WAL, and the walsender decodes (then discards) all of
  // it before it reaches later changes: wait for that, so the live run measures the steady state.
  const target = await currentWalLsn(options.pool);
  const catchUpStarted = performance.now();
  await waitSlotPast(options.pool, names.slot, 'confirmed_flush_lsn', target, 50, Number.POSITIVE_INFINITY);
  const catchUpMs = performance.now() - catchUpStarted;
  return {
    startMs,
    catchUpMs,
    startLsn: target,
    async deliver<T>(sent?: () => Promise<T>) {
      await waitOutboxSent(options.pool, names.stateSchema);
      const result = await sent?.();
      consumer.consume();
      return result;
    },
    async stop() {
      await role.stop();
      await broker.close();
      await consumer.close();
    },
  };
}

/** The broker, telling `onConfirmed` when RabbitMQ confirmed which messages (by messageId). */
function timeConfirms(broker: Broker, onConfirmed: (messageIds: string[], at: number) => void): Broker {
  return {
    assertQueue: (queue, queueOptions) => broker.assertQueue(queue, queueOptions),
    async publish(queue, messages) {
      await broker.publish(queue, messages);
      onConfirmed(
        messages.flatMap((m) => (m.messageId === undefined ? [] : [m.messageId])),
        performance.now(),
      );
    },
    consume: (queue, handler, consumeOptions) => broker.consume(queue, handler, consumeOptions),
    stats: (queue) => broker.stats(queue),
    purge: (queue) => broker.purge(queue),
    close: () => broker.close(),
  };
}

/**
 * Before the first restart, lets the slot's restart point catch up with its confirmed position, as
 * it has in an engine that has been running a while. PostgreSQL re-decodes from `restart_lsn`, which
 * advances only past a running-transactions record; right after the state build it still lies
 * before the build's WAL, and every restart would first re-read all of it. The background writer
 * logs such a record every 15 s while the server writes, so this waits until the slot's restart
 * point is past `lsn` (taken after the build; the live and paced runs in between usually cover it).
 *
 * Never by a CHECKPOINT: after one, the first write to each page logs the whole page, so the run
 * that follows pays that for nearly every page it writes at a million rows (measured, 20,000 roots:
 * the diff's WAL 29 → 144 MB, the diff 220 → 300 ms), and at 10,000 rows for a few hundred pages
 * only — a checkpoint right before a run skews the size comparison. A running engine pays it once per
 * page and checkpoint interval; the bench leaves checkpoints to the server's cadence.
 */
export function settleRestartPoint(pool: Pool, slot: string, lsn: string, timeoutMs = 40_000): Promise<boolean> {
  return waitSlotPast(pool, slot, 'restart_lsn', lsn, 200, timeoutMs);
}

/** Polls until the relay has published (and deleted) every outbox row. */
async function waitOutboxSent(pool: Pool, stateSchema: string, timeoutMs = 300_000): Promise<void> {
  const outbox = outboxTable(stateSchema);
  const empty = async () => (await pool.query(`SELECT 1 FROM ${outbox} LIMIT 1`)).rowCount === 0;
  if (!(await pollUntil(empty, 20, timeoutMs))) throw new Error(`the relay left rows in ${outbox} for ${timeoutMs / 1000} s`);
}

export async function currentWalLsn(pool: Pool): Promise<string> {
  return (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
}

/** Polls until the slot's `position` reaches `lsn`; false when `timeoutMs` passed first. */
async function waitSlotPast(
  pool: Pool,
  slot: string,
  position: 'confirmed_flush_lsn' | 'restart_lsn',
  lsn: string,
  pollMs: number,
  timeoutMs: number,
): Promise<boolean> {
  return pollUntil(async () => {
    const { rows } = await pool.query<{ done: boolean }>(
      `SELECT coalesce(${position} >= $2::pg_lsn, false) AS done FROM pg_replication_slots WHERE slot_name = $1`,
      [slot, lsn],
    );
    return rows[0]?.done ?? false;
  }, pollMs, timeoutMs);
}

/** Checks every `pollMs` until `done` says so; false when `timeoutMs` passed first. */
async function pollUntil(done: () => Promise<boolean>, pollMs: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return false;
}

/**
 * When the slot's walsender first sent WAL past the slot's confirmed position — the moment a backlog
 * starts flowing, the same instant the decode ceiling is timed from (its first message) — and the
 * CPU the engine had used by then (see engineCpu). Polls pg_stat_replication every few milliseconds
 * until `stop()`.
 */
export function watchFirstSend(pool: Pool, slot: string): { stop(): Promise<{ at: number; cpu: CpuSnapshot | null } | undefined> } {
  let first: { at: number; cpu: CpuSnapshot | null } | undefined;
  let running = true;
  const loop = (async () => {
    while (running && first === undefined) {
      const { rows } = await pool.query<{ sent: boolean }>(
        `SELECT s.sent_lsn > r.confirmed_flush_lsn AS sent
           FROM pg_replication_slots r JOIN pg_stat_replication s ON s.pid = r.active_pid
          WHERE r.slot_name = $1`,
        [slot],
      );
      if (rows[0]?.sent) first = { at: performance.now(), cpu: await engineCpu(pool, slot) };
      else await new Promise((r) => setTimeout(r, 3));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return first;
    },
  };
}
