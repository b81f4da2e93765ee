import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { instanceNames } from '../src/config/env.ts';
import type { Pool } from '../src/db/pool.ts';
import { createDecodeSlot, decodeBacklog, dropDecodeSlot } from './decode.ts';
import { benchInstance, dropInstance } from './instance.ts';
import { NaivePoller } from './naive.ts';
import { flushOsCache } from './os-cache.ts';
import type { BenchOptions } from './options.ts';
import { runPaced } from './paced.ts';
import { cpuNote, cpuPerChange, engineCpu, type CpuGroup } from './process-cpu.ts';
import { currentWalLsn, settleRestartPoint, startPushcdc, watchFirstSend, type RunningPushcdc } from './pushcdc.ts';
import { BACKLOG, BACKLOG_SAME_ROWS, LONG_BACKLOG, OWN_WAL_RATIO, PACED_SIDE_LOAD, measured, type Row } from './report.ts';
import { INQUIRIES, type InquiryKind } from './schema.ts';
import { startSideLoad } from './side-load.ts';
import { DeliveryTracker, percentile } from './stats.ts';
import { runWorkload, sampleIds, type WorkloadResult, type WorkloadSpec } from './workload.ts';

/**
 * The runs of one inquiry at one table size, those `--only` selected: the decode ceiling, pushcdc
 * (live at full speed, paced, backlog — one engine instance, started once) and the naive baseline.
 */
export interface BenchContext {
  pool: Pool;
  databaseUrl: string;
  /** The database --side-load writes to beside the paced runs; null without it. */
  sideDatabaseUrl: string | null;
  amqpUrl: string;
  /** A scratch folder for the inquiry files. */
  dir: string;
  options: BenchOptions;
}

export interface RunsOutput {
  rows: Row[];
  notes: string[];
}

const emptyWork = (): WorkloadResult => ({ startedAt: 0, finishedAt: 0, commits: new Map(), writes: new Map() });

async function waitDelivered(tracker: DeliveryTracker, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tracker.delivered < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

export async function runKind(ctx: BenchContext, kind: InquiryKind, size: number): Promise<RunsOutput> {
  const { parts } = ctx.options;
  const out: RunsOutput = { rows: [], notes: [] };
  const spec: WorkloadSpec = { kind, rows: size, changes: ctx.options.changes, txSize: ctx.options.txSize, connections: ctx.options.connections };
  if (parts.has('decode')) await decodeRun(ctx, spec, out);
  if (parts.has('live') || parts.has('paced') || parts.has('backlog')) await pushcdcRuns(ctx, spec, out);
  if (parts.has('naive')) await naiveRun(ctx, spec, out);
  return out;
}

/** The sample with the median changes/s (of an odd count: a measured row, not an average). */
function medianRow(samples: Row[]): Row {
  const rates = samples.map((row) => Number(row['changes/s']));
  return samples[rates.indexOf(percentile(rates, 50))]!;
}

/** "<what> @ <size>: median of a, b, c changes/s", samples in rising order. */
function medianNote(what: string, size: number, rates: number[]): string {
  const samples = [...rates].sort((a, b) => a - b).map((r) => Math.round(r).toLocaleString('en-US'));
  return `${what} @ ${size.toLocaleString('en-US')}: median of ${samples.join(', ')} changes/s`;
}

/**
 * Decode ceiling samples per run: one backlog, streamed by this many slots in turn; the median counts.
 * Five, not three: one backlog streamed by five slots measured 122k-192k changes/s, in no order.
 */
const DECODE_SAMPLES = 5;
/**
 * Live runs per inquiry and size (each its own workload, while pushcdc streams); the median counts.
 * Five, not three: the live rate is mostly the writers', and three runs of one size and inquiry
 * spread from 10,125 to 15,002 changes/s, which put the join's live flatness at 0.66 in one full run
 * and 0.89 in the next.
 */
const LIVE_SAMPLES = 5;
/** Backlog catch-ups per run (each its own workload, written while pushcdc is stopped); the median counts. */
const BACKLOG_SAMPLES = 5;
/**
 * Slots decoding each catch-up's own WAL before pushcdc does; the median of their rates is the
 * catch-up's decode rate. With one slot, that slot's luck went straight into the ratio: five slots
 * decoding one backlog in turn measured it at 111k to 286k changes/s (a decode of 20,000 changes
 * lasts about a tenth of a second).
 */
const OWN_WAL_SLOTS = 3;

async function decodeRun(ctx: BenchContext, spec: WorkloadSpec, out: RunsOutput): Promise<void> {
  process.stderr.write(`${spec.kind} @ ${spec.rows}: decode ceiling… `);
  // A backlog of 20,000 changes decodes in a tenth of a second, where a scheduling hiccup shows:
  // every slot sees the same workload, and the median of their rates is the ceiling.
  const slots = Array.from({ length: DECODE_SAMPLES }, (_, i) => `${ctx.options.name}_decode_${spec.kind}_${i}`);
  try {
    for (const slot of slots) await createDecodeSlot(ctx.pool, slot);
    await runWorkload(ctx.pool, spec);
    const rates: number[] = [];
    for (const slot of slots) rates.push(await decodeBacklog(ctx.databaseUrl, slot, Math.ceil(spec.changes / spec.txSize), spec.changes));
    out.rows.push({ inquiry: spec.kind, rows: spec.rows, system: 'decode ceiling', 'written/s': '', 'changes/s': percentile(rates, 50), 'p50 ms': '', 'p99 ms': '', delivered: '', [OWN_WAL_RATIO]: '' });
    out.notes.push(medianNote(`decode ceiling ${spec.kind}`, spec.rows, rates));
  } finally {
    for (const slot of slots) await dropDecodeSlot(ctx.pool, slot);
  }
}

async function pushcdcRuns(ctx: BenchContext, spec: WorkloadSpec, out: RunsOutput): Promise<void> {
  const { parts } = ctx.options;
  const { kind, rows: size } = spec;
  process.stderr.write(`${kind} @ ${size}: pushcdc… `);
  await rm(path.join(ctx.dir, 'inquiries'), { recursive: true, force: true });
  await mkdir(path.join(ctx.dir, 'inquiries'));
  await writeFile(path.join(ctx.dir, 'inquiries', `Bench-${kind}.sql`), INQUIRIES[kind]);
  let work = emptyWork();
  let tracker = new DeliveryTracker(() => work);
  const options = { pool: ctx.pool, databaseUrl: ctx.databaseUrl, amqpUrl: ctx.amqpUrl, dir: ctx.dir, instance: benchInstance(ctx.options.name, kind), tracker: () => tracker };
  let pushcdc: RunningPushcdc | null = null;
  try {
    pushcdc = await startPushcdc(options);
    const startLsn = pushcdc.startLsn;
    out.notes.push(
      `pushcdc ${kind} @ ${size.toLocaleString('en-US')}: starting state built and streaming in ${(pushcdc.startMs / 1000).toFixed(1)} s, ` +
        `then ${(pushcdc.catchUpMs / 1000).toFixed(1)} s until the slot had decoded past the build's WAL`,
    );
    const flush = await flushOsCache();
    out.notes.push(
      `pushcdc ${kind} @ ${size.toLocaleString('en-US')}: the set-up's dirty OS cache (${flush.dirtyMb ?? '?'} MB) written out in ${flush.seconds.toFixed(1)} s before the timed runs`,
    );
    if (parts.has('live')) {
      // Live: the workload runs while pushcdc streams; latency is COMMIT returned → publish confirmed.
      // Three times, the median counts: one run of 20,000 changes lasts 2-4 s, where a scheduling
      // hiccup or a checkpoint starting shows.
      const samples: Row[] = [];
      for (let i = 0; i < LIVE_SAMPLES; i++) {
        tracker = new DeliveryTracker(() => work);
        work = await runWorkload(ctx.pool, spec, (w) => (work = w));
        await waitDelivered(tracker, work.commits.size, 120_000);
        samples.push(measured('pushcdc live', kind, size, spec.changes, tracker, work));
      }
      out.rows.push(medianRow(samples));
      out.notes.push(medianNote(`pushcdc live ${kind}`, size, samples.map((row) => Number(row['changes/s']))));
    }
    if (parts.has('paced')) {
      // Paced: the same while pushcdc streams, at a steady rate — latency at a stated load, not queueing.
      const paced = { rate: ctx.options.pacedRate, seconds: ctx.options.pacedSeconds };
      const pacedRun = async (label: string) => {
        tracker = new DeliveryTracker(() => work);
        work = await runPaced(ctx.pool, spec, paced, (w) => (work = w));
        await waitDelivered(tracker, work.commits.size, 120_000);
        out.rows.push(measured(label, kind, size, Math.round(paced.rate * paced.seconds), tracker, work));
      };
      await pacedRun('pushcdc paced');
      if (ctx.sideDatabaseUrl !== null) {
        // Once more while another database writes (see side-load.ts).
        const side = startSideLoad(ctx.sideDatabaseUrl, ctx.options.sideLoad);
        try {
          await pacedRun(PACED_SIDE_LOAD);
        } finally {
          const kept = await side.stop();
          out.notes.push(
            `pushcdc paced + side load ${kind} @ ${size.toLocaleString('en-US')}: the other database took ${kept.transactionsPerSecond.toFixed(0)} transactions/s (commit ${kept.meanMs.toFixed(1)} ms mean)`,
          );
        }
      }
    }
    // Backlog: the same workload written while pushcdc is stopped, then caught up (as the decode
    // ceiling). Five times, the median counts: one catch-up of 20,000 changes lasts under a second.
    const backlog = async (label: string, backlogSpec: WorkloadSpec) => {
      const samples: Row[] = [];
      const ownWalRatios: number[] = [];
      const ownWalRates: number[] = [];
      const walPerChange: number[] = [];
      const cpuSamples: Map<CpuGroup, number>[] = [];
      const ownWalSlots = Array.from({ length: OWN_WAL_SLOTS }, (_, i) => `${ctx.options.name}_own_wal_${kind}_${i}`);
      for (let i = 0; i < BACKLOG_SAMPLES; i++) {
        await pushcdc?.stop();
        pushcdc = null;
        tracker = new DeliveryTracker(() => work);
        // Slots of their own see the same backlog and decode it first (then pushcdc reads the same WAL).
        let ownWalRate: number;
        try {
          for (const slot of ownWalSlots) await createDecodeSlot(ctx.pool, slot);
          const walBefore = await currentWalLsn(ctx.pool);
          work = await runWorkload(ctx.pool, backlogSpec);
          walPerChange.push((await walBytesSince(ctx.pool, walBefore)) / backlogSpec.changes);
          const rates: number[] = [];
          for (const slot of ownWalSlots) {
            rates.push(await decodeBacklog(ctx.databaseUrl, slot, Math.ceil(backlogSpec.changes / backlogSpec.txSize), backlogSpec.changes));
          }
          ownWalRate = percentile(rates, 50);
        } finally {
          for (const slot of ownWalSlots) await dropDecodeSlot(ctx.pool, slot);
        }
        const slot = instanceNames(options.instance).slot;
        const firstSend = watchFirstSend(ctx.pool, slot);
        pushcdc = await startPushcdc({ ...options, deferDeliveries: true });
        // The engine's CPU once the backlog is out, before the consumer (in this process) reads it.
        const drainedCpu = await pushcdc.deliver(() => engineCpu(ctx.pool, slot));
        await waitDelivered(tracker, work.commits.size, 300_000);
        // Timed, like the decode ceiling, from when the backlog's first WAL was sent (start-up and the
        // walsender finding its place are reported above, not counted here).
        const sent = await firstSend.stop();
        if (sent === undefined) out.notes.push(`pushcdc ${kind} @ ${size.toLocaleString('en-US')}: did not see the walsender start; backlog not timed`);
        else {
          const row = measured(label, kind, size, backlogSpec.changes, tracker, work, sent.at);
          samples.push(row);
          ownWalRatios.push((100 * Number(row['changes/s'])) / ownWalRate);
          ownWalRates.push(ownWalRate);
          if (sent.cpu && drainedCpu) cpuSamples.push(cpuPerChange(sent.cpu, drainedCpu, backlogSpec.changes));
        }
      }
      if (samples.length > 0) {
        const row = medianRow(samples);
        out.rows.push({ ...row, [OWN_WAL_RATIO]: percentile(ownWalRatios, 50) });
        out.notes.push(medianNote(`${label} ${kind}`, size, samples.map((r) => Number(r['changes/s']))));
        out.notes.push(medianNote(`own-WAL decode for ${label} ${kind}`, size, ownWalRates));
        if (cpuSamples.length > 0) out.notes.push(cpuNote(`${label} ${kind}`, size, cpuSamples));
        // Whether the backlog's WAL held full-page images (a change that is the first to touch its page
        // since the last checkpoint carries one: kilobytes, not a couple of hundred bytes), which
        // would slow both decodes: measured at a million rows after the live runs, 158-166 bytes
        // (single) and 177-358 (join) while the own-WAL decode of one backlog ranged 113k-177k changes/s.
        const perChange = [...walPerChange].sort((a, b) => a - b).map((b) => b.toFixed(0));
        out.notes.push(`WAL written per change for ${label} ${kind} @ ${size.toLocaleString('en-US')}: median of ${perChange.join(', ')} bytes`);
        const ratios = [...ownWalRatios].sort((a, b) => a - b).map((r) => `${r.toFixed(0)}%`);
        out.notes.push(`${label} ${kind} @ ${size.toLocaleString('en-US')} as a share of a slot decoding the same WAL: median of ${ratios.join(', ')}`);
      }
    };
    if (parts.has('backlog')) {
      if (!(await settleRestartPoint(ctx.pool, instanceNames(options.instance).slot, startLsn))) {
        out.notes.push(`pushcdc ${kind} @ ${size.toLocaleString('en-US')}: the slot's restart point did not settle; the first restart re-decodes the state build's WAL`);
      }
      await backlog(BACKLOG, spec);
      // The flatness comparison: changes drawn from as many rows as the smallest table has, spread
      // over this table. At the smallest size that is the backlog run above.
      const smallest = Math.min(...ctx.options.sizes);
      if (size > smallest) await backlog(BACKLOG_SAME_ROWS, { ...spec, ids: sampleIds(size, smallest) });
      // The long backlog (see LONG_BACKLOG) at the largest size only, where the targets are stated.
      const { longBacklog } = ctx.options;
      if (longBacklog > 0 && size === Math.max(...ctx.options.sizes)) await backlog(LONG_BACKLOG, { ...spec, changes: longBacklog });
    }
  } finally {
    // Also after a failure: the instance's slot pins WAL until it is dropped.
    try {
      await pushcdc?.stop();
    } finally {
      await dropInstance(ctx.pool, ctx.amqpUrl, options.instance);
    }
  }
}

async function naiveRun(ctx: BenchContext, spec: WorkloadSpec, out: RunsOutput): Promise<void> {
  process.stderr.write(`${spec.kind} @ ${spec.rows}: naive…\n`);
  let work = emptyWork();
  const tracker = new DeliveryTracker(() => work);
  const keys = spec.kind === 'single' ? ['id'] : ['id', 'order_id', 'line_id'];
  const poller = new NaivePoller(ctx.databaseUrl, INQUIRIES[spec.kind], keys, tracker);
  await poller.prime();
  poller.start();
  try {
    work = await runWorkload(ctx.pool, spec, (w) => (work = w));
    await waitDelivered(tracker, work.commits.size, 300_000);
  } finally {
    await poller.stop();
  }
  out.rows.push(measured('naive re-run', spec.kind, spec.rows, spec.changes, tracker, work));
  out.notes.push(`naive ${spec.kind} @ ${spec.rows.toLocaleString('en-US')}: ${poller.rounds} rounds, median round ${percentile(poller.roundMs, 50).toFixed(0)} ms`);
}

async function walBytesSince(pool: BenchContext['pool'], lsn: string): Promise<number> {
  return Number((await pool.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS bytes', [lsn])).rows[0]!.bytes);
}
