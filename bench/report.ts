import { cpus } from 'node:os';
import type { MemoryResult } from './memory.ts';
import type { BenchOptions } from './options.ts';
import { percentile, table, type DeliveryTracker } from './stats.ts';
import type { WorkloadResult } from './workload.ts';

/**
 * What the bench prints: the throughput/latency table, one ratio line per size and inquiry (each
 * ratio only when both of its runs were done), the memory table, then the notes. Figures only; the
 * targets are for the reader to compare against, nothing here passes or fails.
 */
export interface Row extends Record<string, string | number> {
  inquiry: string;
  rows: number;
  system: string;
}

export const BACKLOG = 'pushcdc backlog';
/**
 * A backlog five times as long, at the largest size. The short one is decoded in about a quarter of
 * a second: pushcdc drains it in one batch, and its rate is much of that batch's latency (the last
 * diff, assembling and committing, publishing megabytes and RabbitMQ's confirm, together 300-500 ms
 * after the last change arrived). This one drains for seconds, in several batches.
 */
export const LONG_BACKLOG = 'pushcdc long backlog';
/** The backlog at a larger table, its changes drawn from as many rows as the smallest table has. */
export const BACKLOG_SAME_ROWS = 'pushcdc backlog, same rows';
/** The paced run again while another database writes (--side-load, see side-load.ts). */
export const PACED_SIDE_LOAD = 'pushcdc paced + side load';
/**
 * A backlog's rate as a percentage of the rate at which a slot of its own decoded that very
 * backlog's WAL (median over the catch-ups). The decode ceiling run streams WAL written at another
 * moment, whose page images depend on when the last checkpoint was: this ratio compares the same bytes.
 */
export const OWN_WAL_RATIO = '% of own WAL decode';

export function measured(label: string, kind: string, size: number, changes: number, tracker: DeliveryTracker, work: WorkloadResult, from = work.startedAt): Row {
  const { latencies, lastAt } = tracker.summary();
  const live = from === work.startedAt;
  return {
    inquiry: kind,
    rows: size,
    system: label,
    'written/s': live ? changes / ((work.finishedAt - work.startedAt) / 1000) : '',
    'changes/s': changes / ((lastAt - from) / 1000),
    'p50 ms': live ? percentile(latencies, 50) : '',
    'p99 ms': live ? percentile(latencies, 99) : '',
    delivered: `${tracker.delivered}/${work.commits.size}`,
    [OWN_WAL_RATIO]: '',
  };
}

export function printReport(options: BenchOptions, server: string, results: Row[], memory: MemoryResult[], notes: string[]): void {
  const out = (text = '') => process.stdout.write(`${text}\n`);
  const n = (v: number) => v.toLocaleString('en-US');
  out();
  out(`pushcdc bench on this machine (${cpus().length} cores), runs: ${[...options.parts].join(', ')}`);
  out(server);
  if (results.length > 0) {
    const paced = options.parts.has('paced') ? ` (paced: ${n(options.pacedRate)} changes/s for ${n(options.pacedSeconds)} s)` : '';
    out(`${n(options.changes)} row changes per run${paced}, transactions of ${options.txSize} rows from ${options.connections} connections`);
    out();
    out(table(results));
    out();
    out('Ratios:');
    for (const size of options.sizes) for (const kind of ['single', 'join']) out(ratioLine(options, results, size, kind));
    const flat = ['single', 'join'].map((kind) => flatnessLine(options, results, kind)).filter((line) => line !== null);
    if (flat.length > 0) {
      out();
      out(`Flatness (changes/s at ${n(Math.max(...options.sizes))} rows ÷ at ${n(Math.min(...options.sizes))} rows; 1.00 = flat):`);
      for (const line of flat) out(line);
    }
  }
  if (memory.length > 0) {
    out();
    out('Engine memory through one transaction updating every row (single inquiry; engine as a child process; MiB = 1024² bytes):');
    out();
    out(table(memory.map(memoryRow)));
    for (const m of memory) {
      const fullOutcome = m.outcome.includes('\n') ? `\n${m.outcome.replace(/^/gm, '      ')}` : '';
      out(
        `  memory @ ${n(m.rows).padStart(9)}: ` +
          (m.outcome === 'finished'
            ? `peak RSS ${mib(m.peakKb)} MiB through one ${n(m.rows)}-row transaction (baseline ${mib(m.baselineKb)} MiB), ` +
              `delivered ${(m.deliveredMs / 1000).toFixed(1)} s after COMMIT in ${n(m.messages)} message(s)`
            : `${m.outcome.split('\n')[0]}${fullOutcome}`) +
          (m.peakReset || !Number.isFinite(m.peakKb) ? '' : ' (VmHWM could not be reset: its peak includes start-up)') +
          (m.killed ? ' (the engine did not stop within a minute of SIGTERM and was killed)' : ''),
      );
    }
  }
  if (notes.length > 0) {
    out();
    out(notes.map((e) => `  ${e}`).join('\n'));
  }
}

function ratioLine(options: BenchOptions, results: Row[], size: number, kind: string): string {
  const find = (system: string) => results.find((r) => r.rows === size && r.inquiry === kind && r.system === system);
  const value = (system: string, column: string) => {
    const v = find(system)?.[column];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  const parts: string[] = [];
  const backlog = value(BACKLOG, 'changes/s');
  const ceiling = value('decode ceiling', 'changes/s');
  if (backlog !== null && ceiling !== null) parts.push(`backlog ${((backlog / ceiling) * 100).toFixed(0)}% of the decode ceiling`);
  const ownWal = value(BACKLOG, OWN_WAL_RATIO);
  if (ownWal !== null) parts.push(`${ownWal.toFixed(0)}% of decoding the backlog's own WAL`);
  const longOwnWal = value(LONG_BACKLOG, OWN_WAL_RATIO);
  if (longOwnWal !== null) parts.push(`long backlog (${options.longBacklog.toLocaleString('en-US')} changes) ${longOwnWal.toFixed(0)}% of decoding its own WAL`);
  const live = value('pushcdc live', 'changes/s');
  const naive = value('naive re-run', 'changes/s');
  if (live !== null && naive !== null) parts.push(`live ${(live / naive).toFixed(1)}× the naive baseline's changes/s`);
  const liveP50 = value('pushcdc live', 'p50 ms');
  const naiveP50 = value('naive re-run', 'p50 ms');
  if (liveP50 !== null && naiveP50 !== null) parts.push(`p50 latency ${liveP50.toFixed(0)} ms vs ${naiveP50.toFixed(0)} ms naive`);
  const pacedP99 = value('pushcdc paced', 'p99 ms');
  if (pacedP99 !== null) parts.push(`p99 at ${options.pacedRate.toLocaleString('en-US')} changes/s: ${pacedP99.toFixed(0)} ms`);
  const sideP99 = value(PACED_SIDE_LOAD, 'p99 ms');
  if (sideP99 !== null) parts.push(`${sideP99.toFixed(0)} ms with ${options.sideLoad.toLocaleString('en-US')} transactions/s on another database`);
  if (parts.length === 0) return `  ${kind.padEnd(6)} @ ${size.toLocaleString('en-US').padStart(9)}: (no runs to compare)`;
  return `  ${kind.padEnd(6)} @ ${size.toLocaleString('en-US').padStart(9)}: ${parts.join('; ')}`;
}

/**
 * How a system's throughput holds up from the smallest table to the largest: the flat-cost target.
 * The plain backlog at the smallest table repeats rows (20,000 changes over 10,000 rows), and a batch
 * diffs a repeated row once; "same rows" compares it with a backlog over as many rows of the largest
 * table, so only the table size differs.
 */
function flatnessLine(options: BenchOptions, results: Row[], kind: string): string | null {
  const [small, large] = [Math.min(...options.sizes), Math.max(...options.sizes)];
  if (small === large) return null;
  const rate = (size: number, system: string) => {
    const v = results.find((r) => r.rows === size && r.inquiry === kind && r.system === system)?.['changes/s'];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null;
  };
  const pairs: [string, string, string][] = [
    ['live', 'pushcdc live', 'pushcdc live'],
    ['backlog', BACKLOG, BACKLOG],
    [`backlog over the same ${small.toLocaleString('en-US')} rows`, BACKLOG, BACKLOG_SAME_ROWS],
    ['naive', 'naive re-run', 'naive re-run'],
  ];
  const parts = pairs.flatMap(([label, smallSystem, largeSystem]) => {
    const [a, b] = [rate(small, smallSystem), rate(large, largeSystem)];
    return a !== null && b !== null ? [`${label} ${(b / a).toFixed(2)}`] : [];
  });
  return parts.length > 0 ? `  ${kind.padEnd(6)}: ${parts.join('; ')}` : null;
}

function mib(kb: number): string {
  return Number.isFinite(kb) ? (kb / 1024).toFixed(0) : '–';
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '–';
}

function memoryRow(m: MemoryResult): Record<string, string | number> {
  return {
    rows: m.rows,
    outcome: m.outcome === 'finished' ? 'finished' : 'did not finish',
    'start s': seconds(m.startMs),
    'start-up peak MiB': mib(m.startupPeakKb),
    'baseline MiB': mib(m.baselineKb),
    'peak MiB': mib(m.peakKb),
    'sampled peak MiB': mib(m.sampledPeakKb),
    'UPDATE s': seconds(m.updateMs),
    'COMMIT→last msg s': seconds(m.deliveredMs),
    messages: m.messages,
    'MiB received': (m.bytes / 1024 ** 2).toFixed(1),
    'Inserted rows': m.insertedRows,
  };
}
