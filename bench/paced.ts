import type { Pool } from '../src/db/pool.ts';
import { runWorkload, type StartGate, type WorkloadResult, type WorkloadSpec } from './workload.ts';

/**
 * The paced run: the live workload held to a steady total rate, because the latency target is stated
 * at a given load (p99 ≤ 50 ms at 1,000 changes/s), and latency measured at full speed mostly measures
 * queueing. Pacing is global, not per connection: transaction n (whichever connection takes it) does
 * not start before startedAt + n·txSize/rate, so the connections together write at `rate` and a slow
 * transaction on one connection does not slow the schedule of the others.
 */
export interface PacedSpec {
  /** Row changes per second, all connections together. */
  rate: number;
  seconds: number;
}

/** The workload spec for a paced run: as many changes as `rate` for `seconds`. */
export function pacedWorkload(base: WorkloadSpec, paced: PacedSpec): WorkloadSpec {
  return { ...base, changes: Math.round(paced.rate * paced.seconds) };
}

export function pacingGate(txSize: number, rate: number): StartGate {
  const msPerTransaction = (txSize / rate) * 1000;
  return async (n, startedAt) => {
    const wait = startedAt + n * msPerTransaction - performance.now();
    // setTimeout may fire a little early (it rounds to whole ms); loop until the slot has come.
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    while (performance.now() < startedAt + n * msPerTransaction) await new Promise((r) => setTimeout(r, 1));
  };
}

/** Runs the paced workload; `onStart` gets the live result as runWorkload's does. */
export function runPaced(pool: Pool, base: WorkloadSpec, paced: PacedSpec, onStart?: (live: WorkloadResult) => void): Promise<WorkloadResult> {
  return runWorkload(pool, pacedWorkload(base, paced), onStart, pacingGate(base.txSize, paced.rate));
}
