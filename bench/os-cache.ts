import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * Writes out what the OS cache holds dirty, before the timed runs. Loading a million-row table and
 * building its state leave 200-300 MB dirty in the OS cache (PostgreSQL 15 extends a table by writing
 * zeroed pages), which the kernel writes some 30 s later in one burst of about a second — in the
 * middle of the runs that follow. Sampled once a second, such bursts coincided with commits delivered
 * 200-300 ms late, where the rest of the paced run stayed under 60 ms: every fsync on the machine
 * (PostgreSQL's commits, RabbitMQ's confirms) waits behind them. The bench measures pushcdc as it
 * runs once started, not the aftermath of its own set-up (as it waits for the slot's restart point).
 */
export interface CacheFlush {
  /** Dirty before the flush (from /proc/meminfo), or null where that is not known. */
  dirtyMb: number | null;
  seconds: number;
}

export async function flushOsCache(): Promise<CacheFlush> {
  const dirtyMb = await dirtyMegabytes();
  const started = performance.now();
  await promisify(execFile)('sync');
  return { dirtyMb, seconds: (performance.now() - started) / 1000 };
}

async function dirtyMegabytes(): Promise<number | null> {
  try {
    const kb = /^Dirty:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}
