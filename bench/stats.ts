import type { WorkloadResult } from './workload.ts';

/** Percentiles and the report table. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * When each transaction's change was first seen downstream. A row seen at seq S also delivers every
 * earlier write of that row: coalesced notifications show only a row's latest version, and an
 * overwritten version was superseded, not lost.
 */
export class DeliveryTracker {
  private readonly firstSeen = new Map<number, number>();

  constructor(private readonly work: () => WorkloadResult) {}

  /** `versions`: pairs of a row (rowKey) and the seq whose write of it was seen (see versionsOf). */
  observe(versions: ArrayLike<number>, at: number): void {
    const writes = this.work().writes;
    for (let v = 0; v + 1 < versions.length; v += 2) {
      const seqs = writes.get(versions[v]!);
      const upTo = seqs?.indexOf(versions[v + 1]!) ?? -1;
      for (let i = 0; i <= upTo; i++) if (!this.firstSeen.has(seqs![i]!)) this.firstSeen.set(seqs![i]!, at);
    }
  }

  get delivered(): number {
    let n = 0;
    for (const seq of this.work().commits.keys()) if (this.firstSeen.has(seq)) n++;
    return n;
  }

  /** Latency per delivered transaction (arrival − COMMIT returned, never below 0) and the last arrival. */
  summary(): { latencies: number[]; lastAt: number } {
    const latencies: number[] = [];
    let lastAt = 0;
    for (const [seq, committed] of this.work().commits) {
      const at = this.firstSeen.get(seq);
      if (at === undefined) continue;
      latencies.push(Math.max(0, at - committed));
      lastAt = Math.max(lastAt, at);
    }
    return { latencies, lastAt };
  }
}

export function table(rows: Record<string, string | number>[]): string {
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(1)) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(cell(r[c]!)).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i]!)).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => String(cell(r[c]!)))))].join('\n');
}
