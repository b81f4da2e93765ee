import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { instanceNames } from '../src/config/env.ts';
import type { Pool } from '../src/db/pool.ts';
import { countInsertedRows } from './count-rows.ts';
import { freePort, spawnEngine, type EngineProcess } from './engine-process.ts';
import { dropInstance } from './instance.ts';
import { INQUIRIES } from './schema.ts';

/**
 * The memory run: the engine's resident memory through ONE transaction that changes every root row
 * (`UPDATE bench_customer SET seq = seq + 1`), the case the 300 MB target is about — a huge
 * transaction must not be held in memory whole. The real engine runs as a child (`pushcdc start
 * --roles capture`, the single inquiry only) so the figures are the engine's alone. Nothing is
 * asserted; a run that does not deliver in time is reported as not finished, never waited on forever.
 */
const SAMPLE_EVERY_MS = 100;
/** After streaming and catching up, before the baseline: let start-up's garbage be collected. */
const SETTLE_MS = 2000;
const STOP_GRACE_MS = 60_000;

export interface MemoryResult {
  rows: number;
  /** 'finished', or why not. */
  outcome: string;
  /** Spawn → streaming, state built and the build's WAL decoded. */
  startMs: number;
  /** VmHWM before the transaction: the peak of start-up (state build included). */
  startupPeakKb: number;
  /** VmRSS just before the transaction. */
  baselineKb: number;
  /** VmHWM at the end: the peak since the baseline when `peakReset`, else since the process started. */
  peakKb: number;
  peakReset: boolean;
  /** Highest VmRSS seen by sampling every 100 ms (a cross-check of VmHWM). */
  sampledPeakKb: number;
  /** The UPDATE statement until its COMMIT returned. */
  updateMs: number;
  /** COMMIT returned → the message completing the Inserted rows received (NaN: not finished). */
  deliveredMs: number;
  messages: number;
  bytes: number;
  insertedRows: number;
  /** The engine did not exit within the grace period after SIGTERM and was killed. */
  killed: boolean;
}

export async function measureEngineMemory(options: {
  pool: Pool;
  databaseUrl: string;
  amqpUrl: string;
  instance: string;
  rows: number;
  timeoutMs: number;
}): Promise<MemoryResult> {
  const names = instanceNames(options.instance);
  const result: MemoryResult = {
    rows: options.rows,
    outcome: 'did not start',
    startMs: Number.NaN,
    startupPeakKb: Number.NaN,
    baselineKb: Number.NaN,
    peakKb: Number.NaN,
    peakReset: false,
    sampledPeakKb: Number.NaN,
    updateMs: Number.NaN,
    deliveredMs: Number.NaN,
    messages: 0,
    bytes: 0,
    insertedRows: 0,
    killed: false,
  };
  const dir = await mkdtemp(path.join(tmpdir(), 'pushcdc-bench-mem-'));
  await mkdir(path.join(dir, 'inquiries'));
  await writeFile(path.join(dir, 'inquiries', 'Bench-single.sql'), INQUIRIES.single);
  // An interrupted earlier run may have left its slot, state or queued messages: start from nothing.
  await dropInstance(options.pool, options.amqpUrl, options.instance);
  const connection = await amqp.connect(options.amqpUrl);
  let engine: EngineProcess | null = null;
  let sampler: NodeJS.Timeout | null = null;
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(names.primaryQueue, { durable: true });
    // Messages may be ~100 MB each: do not let the broker push many at once into this process.
    await channel.prefetch(2);
    let lastAt = 0;
    let allArrived: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (allArrived = resolve));
    await channel.consume(names.primaryQueue, (msg) => {
      if (!msg) return;
      lastAt = performance.now();
      result.messages++;
      result.bytes += msg.content.length;
      result.insertedRows += countInsertedRows(msg.content);
      channel.ack(msg);
      if (result.insertedRows >= options.rows) allArrived();
    });

    const spawnedAt = performance.now();
    engine = spawnEngine({
      dir,
      roles: 'capture',
      env: {
        DATABASE_URL: options.databaseUrl,
        AMQP_URL: options.amqpUrl,
        PUSHCDC_INSTANCE: options.instance,
        PUSHCDC_HTTP_PORT: String(await freePort()),
        PUSHCDC_LOG_LEVEL: 'warn',
      },
    });
    const running = engine;
    const deadline = Date.now() + options.timeoutMs;
    await waitStreaming(options.pool, names.slot, running, deadline);
    result.startMs = performance.now() - spawnedAt;
    await new Promise((r) => setTimeout(r, SETTLE_MS));

    const before = running.memory();
    if (!before) throw new Error(`the engine exited before the transaction\n${running.stderrTail()}`);
    result.startupPeakKb = before.hwmKb;
    result.baselineKb = before.rssKb;
    result.peakReset = running.resetPeak();
    result.sampledPeakKb = before.rssKb;
    sampler = setInterval(() => {
      const now = running.memory();
      if (now) result.sampledPeakKb = Math.max(result.sampledPeakKb, now.rssKb);
    }, SAMPLE_EVERY_MS);

    const updateStarted = performance.now();
    await options.pool.query('UPDATE bench_customer SET seq = seq + 1');
    const committedAt = performance.now();
    result.updateMs = committedAt - updateStarted;
    result.outcome = await waitFor(arrived, running, deadline, options.timeoutMs);
    if (result.outcome === 'finished') result.deliveredMs = lastAt - committedAt;
    const after = running.memory();
    if (after) result.peakKb = after.hwmKb;
    return result;
  } catch (err) {
    result.outcome = `did not finish: ${(err as Error).message}`;
    return result;
  } finally {
    if (sampler) clearInterval(sampler);
    // Cleanup must happen even after a failure: the slot pins WAL until it is dropped.
    if (engine) result.killed = await engine.stop(STOP_GRACE_MS);
    await connection.close().catch(() => undefined);
    await dropInstance(options.pool, options.amqpUrl, options.instance);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Until the engine streams (its slot is active) and has decoded past the WAL written by then. */
async function waitStreaming(pool: Pool, slot: string, engine: EngineProcess, deadline: number): Promise<void> {
  let target: string | null = null;
  for (;;) {
    if (engine.hasExited()) throw new Error(`the engine exited while starting\n${engine.stderrTail()}`);
    if (Date.now() > deadline) throw new Error('timed out while the engine was starting');
    const result: { rows: { active: boolean; done: boolean; lsn: string }[] } = await pool.query(
      `SELECT active, coalesce(confirmed_flush_lsn >= $2::pg_lsn, false) AS done, pg_current_wal_lsn()::text AS lsn
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot, target ?? '0/0'],
    );
    const row = result.rows[0];
    if (row?.active) {
      // As in pushcdc.ts: a fresh state build wrote its rows to the WAL, which the walsender decodes
      // before any later change; without waiting, the transaction's latency would include that.
      if (target === null) target = row.lsn;
      else if (row.done) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitFor(arrived: Promise<void>, engine: EngineProcess, deadline: number, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`did not finish within the ${Math.round(timeoutMs / 1000)} s timeout`), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([
      arrived.then(() => 'finished'),
      engine.exited.then(({ code, signal }) => `did not finish: the engine exited (${signal ?? `code ${code}`})\n${engine.stderrTail()}`),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
