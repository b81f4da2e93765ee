import type { Pool } from '../src/db/pool.ts';
import type { InquiryKind } from './schema.ts';

/**
 * The write load: transactions of `txSize` row updates from several connections, as fast as they
 * go. Each transaction writes its own sequence number into the rows it changes and records when its
 * COMMIT returned, so deliveries can be matched to commits.
 */
export interface WorkloadSpec {
  kind: InquiryKind;
  rows: number;
  changes: number;
  txSize: number;
  connections: number;
  /**
   * The ids the changes are drawn from (default: every row, 1…rows). The flatness comparison draws
   * from the same number of rows at every table size, so repeats coalesce alike and only the table
   * grows.
   */
  ids?: number[];
}

export interface WorkloadResult {
  startedAt: number;
  finishedAt: number;
  /** seq → time its COMMIT returned (ms, performance.now()). */
  commits: Map<number, number>;
  /** rowKey(table, id) → the seqs that wrote that row, in write order (a later write supersedes earlier ones). */
  writes: Map<number, number[]>;
}

const TABLES = ['bench_customer', 'bench_order', 'bench_line'];

/**
 * One number per row of the bench's tables (a small integer for ids below 2^29): the tracker looks up
 * every version a delivered notification shows, tens of thousands per notification.
 */
export function rowKey(table: number, id: number): number {
  return id * TABLES.length + table;
}
let nextSeq = 1;

/**
 * Holds back transaction `n` (numbered globally from 0 across connections) until it may start;
 * without one the workload runs as fast as it goes. See paced.ts.
 */
export type StartGate = (n: number, startedAt: number) => Promise<void>;

/** Runs the workload; `onStart` receives the live result object (commits fill in as they happen). */
export async function runWorkload(
  pool: Pool,
  spec: WorkloadSpec,
  onStart?: (live: WorkloadResult) => void,
  gate?: StartGate,
): Promise<WorkloadResult> {
  const transactions = Math.ceil(spec.changes / spec.txSize);
  const commits = new Map<number, number>();
  let issued = 0;
  const drawn = spec.ids;
  const pick = drawn ? () => drawn[Math.floor(Math.random() * drawn.length)]! : () => 1 + Math.floor(Math.random() * spec.rows);
  const startedAt = performance.now();
  const writes = new Map<number, number[]>();
  const live: WorkloadResult = { startedAt, finishedAt: 0, commits, writes };
  onStart?.(live);
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      const client = await pool.connect();
      try {
        while (issued < transactions) {
          const n = issued++;
          if (gate) await gate(n, startedAt);
          const seq = nextSeq++;
          // The single-table inquiry reads customers only; the join workload rotates over all three.
          const tableIndex = spec.kind === 'single' ? 0 : n % 3;
          const table = TABLES[tableIndex]!;
          const ids = Array.from({ length: spec.txSize }, pick);
          await client.query('BEGIN');
          await client.query(`UPDATE ${table} SET seq = $1 WHERE id = ANY($2::int[])`, [seq, ids]);
          // Recorded before COMMIT (a reader may see the row before this continuation runs again) and
          // after the UPDATE returned, i.e. once its row locks were granted: appends are in write order.
          for (const id of ids) {
            const key = rowKey(tableIndex, id);
            const list = writes.get(key) ?? [];
            list.push(seq);
            writes.set(key, list);
          }
          await client.query('COMMIT');
          commits.set(seq, performance.now());
        }
      } finally {
        client.release();
      }
    }),
  );
  live.finishedAt = performance.now();
  return live;
}

/**
 * The versions a result row shows, appended to `out` as pairs: the row (rowKey) and the seq that
 * wrote it, for each bench table the row shows.
 */
export function versionsOf(row: Record<string, unknown>, out: number[] = []): number[] {
  const add = (table: number, id: unknown, seq: unknown) => {
    if (id !== null && id !== undefined && seq !== null && seq !== undefined) out.push(rowKey(table, Number(id)), Number(seq));
  };
  if ('seq' in row) add(0, row.id, row.seq);
  else {
    add(0, row.id, row.c_seq);
    add(1, row.order_id, row.o_seq);
    add(2, row.line_id, row.l_seq);
  }
  return out;
}

/** `count` distinct ids of 1…rows, spread over the whole table. */
export function sampleIds(rows: number, count: number): number[] {
  if (count >= rows) return Array.from({ length: rows }, (_, i) => i + 1);
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(1 + Math.floor(Math.random() * rows));
  return [...chosen];
}
