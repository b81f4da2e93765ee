import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { versionsOf } from './workload.ts';

/**
 * The naive baseline's rounds (see NaivePoller), on a thread of their own: a round of the join at
 * 10,000 rows reads and compares 10,000 rows every 70-80 ms, and on the bench's main thread that held
 * back the writers it was timed against (977 changes/s written, where pushcdc's live runs saw 12,000),
 * so the baseline measured its own drag on the workload rather than how fast it follows it.
 */
export interface NaiveWorkerData {
  databaseUrl: string;
  sql: string;
  keyColumns: string[];
}

/**
 * A round's changed rows: pairs of a row and the seq its new version shows (see versionsOf), and when
 * the round's read returned, in ms since the epoch (threads have their own performance.now() origin).
 */
export interface NaiveRound {
  kind: 'round';
  versions: Float64Array;
  at: number;
  ms: number;
}

export type NaiveWorkerMessage = { kind: 'ready' } | NaiveRound | { kind: 'stopped' };

const port = parentPort!;
const { databaseUrl, sql, keyColumns } = workerData as NaiveWorkerData;
const client = new pg.Client({ connectionString: databaseUrl, application_name: 'pushcdc-bench-naive' });
await client.connect();

async function read(): Promise<Map<string, string>> {
  const { rows } = await client.query<Record<string, unknown>>(sql);
  return new Map(rows.map((r) => [keyColumns.map((k) => String(r[k])).join('|'), JSON.stringify(r)]));
}

let previous = await read();
let running = false;
let stopped: Promise<void> | null = null;

async function rounds(): Promise<void> {
  while (running) {
    const started = performance.now();
    const current = await read();
    const at = performance.timeOrigin + performance.now();
    const pairs: number[] = [];
    for (const [key, row] of current) if (previous.get(key) !== row) versionsOf(JSON.parse(row) as Record<string, unknown>, pairs);
    previous = current;
    const versions = new Float64Array(pairs);
    port.postMessage({ kind: 'round', versions, at, ms: performance.now() - started } satisfies NaiveRound, [versions.buffer]);
  }
}

port.postMessage({ kind: 'ready' } satisfies NaiveWorkerMessage);
port.on('message', (message: unknown) => {
  if (message === 'start') {
    running = true;
    stopped = rounds();
  }
  if (message !== 'stop') return;
  running = false;
  void (async () => {
    await stopped;
    await client.end();
    port.postMessage({ kind: 'stopped' } satisfies NaiveWorkerMessage);
    port.close();
  })();
});
