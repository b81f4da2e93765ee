import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Pool } from '../src/db/pool.ts';
import { percentile } from './stats.ts';

/**
 * Where a run's CPU goes: the engine's own PostgreSQL backends, told apart by the application name
 * each connection gives (see diff-sessions.ts, stream.ts, role.ts), and the engine's process. Read
 * from /proc, so only when the server runs on this machine and its processes are visible; otherwise
 * the run reports nothing of it.
 */
const GROUPS = [
  { prefix: 'pushcdc-diff-', name: 'diff sessions' },
  { prefix: 'pushcdc-capture-', name: 'walsender' },
  { prefix: 'pushcdc-relay-', name: 'relay' },
] as const;

export type CpuGroup = (typeof GROUPS)[number]['name'] | 'engine process';

/** CPU seconds used so far, per group. */
export type CpuSnapshot = Map<CpuGroup, number>;

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** A process's user + system CPU seconds, from fields 14 and 15 of /proc/<pid>/stat. */
async function cpuSecondsOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * The CPU seconds the engine of `slot` has used so far: its backends per group, and this process
 * (where the bench runs the engine; its own bookkeeping meanwhile is small). Null when a backend's
 * process cannot be read (the server runs elsewhere).
 */
export async function engineCpu(pool: Pool, slot: string): Promise<CpuSnapshot | null> {
  const { rows } = await pool.query<{ pid: number; application_name: string }>(
    'SELECT pid, application_name FROM pg_stat_activity WHERE application_name = ANY($1::text[])',
    [GROUPS.map((g) => `${g.prefix}${slot}`)],
  );
  const snapshot: CpuSnapshot = new Map();
  for (const row of rows) {
    const seconds = await cpuSecondsOf(row.pid);
    if (seconds === null) return null;
    const group = GROUPS.find((g) => row.application_name === `${g.prefix}${slot}`)!.name;
    snapshot.set(group, (snapshot.get(group) ?? 0) + seconds);
  }
  const own = process.cpuUsage();
  snapshot.set('engine process', (own.user + own.system) / 1e6);
  return snapshot;
}

/**
 * CPU microseconds per change between two snapshots, per group. A backend that ended in between
 * (none should) would make its group's figure too low; one that started counts from zero.
 */
export function cpuPerChange(before: CpuSnapshot, after: CpuSnapshot, changes: number): Map<CpuGroup, number> {
  const perChange = new Map<CpuGroup, number>();
  for (const [group, seconds] of after) perChange.set(group, ((seconds - (before.get(group) ?? 0)) * 1e6) / changes);
  return perChange;
}

/**
 * A run's CPU per change, per group (the median over its samples), in all, and the rate that total
 * allows on this machine's cores: the most a drain could reach were nothing ever waiting.
 */
export function cpuNote(what: string, size: number, samples: Map<CpuGroup, number>[]): string {
  const groups = ([...GROUPS.map((g) => g.name), 'engine process'] as CpuGroup[]).filter((group) => samples.some((s) => s.has(group)));
  const parts = groups.map((group) => `${group} ${percentile(samples.map((s) => s.get(group) ?? 0), 50).toFixed(1)}`);
  const total = percentile(samples.map((s) => [...s.values()].reduce((a, b) => a + b, 0)), 50);
  const cores = availableParallelism();
  // A drain shorter than the clock's tick (10 ms) can read as no CPU at all.
  const ceiling = total > 0 ? `, so at most ${Math.round((cores * 1e6) / total).toLocaleString('en-US')} changes/s on ${cores} cores` : '';
  return `CPU per change for ${what} @ ${size.toLocaleString('en-US')} (µs, median of ${samples.length}): ${parts.join(', ')}; ${total.toFixed(1)} in all${ceiling}`;
}
