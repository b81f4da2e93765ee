import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseArgs } from 'node:util';
import { createPool } from '../src/db/pool.ts';
import { migrateEngine } from '../src/db/migrate.ts';
import { createDecodeSlot, decodeBacklog, dropDecodeSlot } from './decode.ts';
import { NaivePoller } from './naive.ts';
import { startPushcdc } from './pushcdc.ts';
import { INQUIRIES, loadTables, type InquiryKind } from './schema.ts';
import { DeliveryTracker, percentile, table } from './stats.ts';
import { runWorkload, type WorkloadResult, type WorkloadSpec } from './workload.ts';

/**
 * `npm run bench`: for each root-table size and inquiry shape, the same workload measured three ways —
 * the raw decode ceiling, pushcdc end to end (commit → primaryQueue delivery), and the naive baseline
 * (re-run and diff the whole result). Prints a table and the ratios. Nothing here is asserted.
 */
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    changes: { type: 'string', default: '20000' },
    'tx-size': { type: 'string', default: '10' },
    connections: { type: 'string', default: '4' },
  },
});
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE = 'pushcdc_bench';

async function withAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${DATABASE}'`);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function benchUrl(): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

interface Row extends Record<string, string | number> {}

function measured(label: string, kind: InquiryKind, size: number, changes: number, tracker: DeliveryTracker, work: WorkloadResult, from = work.startedAt): Row {
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
  };
}

async function waitDelivered(tracker: DeliveryTracker, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tracker.delivered < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

async function main(): Promise<void> {
  const sizes = args.sizes!.split(',').map(Number);
  const changes = Number(args.changes);
  const spec = (kind: InquiryKind, rows: number): WorkloadSpec => ({ kind, rows, changes, txSize: Number(args['tx-size']), connections: Number(args.connections) });
  await withAdmin(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await withAdmin(`CREATE DATABASE ${DATABASE}`);
  const url = benchUrl();
  const pool = createPool(url, { max: 12, application: 'pushcdc-bench' });
  await migrateEngine(pool);
  const dir = await mkdtemp(path.join(tmpdir(), 'pushcdc-bench-'));
  const results: Row[] = [];
  const extra: string[] = [];
  try {
    for (const size of sizes) {
      const loadStarted = performance.now();
      await loadTables(pool, size);
      extra.push(`loaded ${size.toLocaleString('en-US')} rows per table in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
      for (const kind of ['single', 'join'] as InquiryKind[]) {
        const transactions = Math.ceil(changes / spec(kind, size).txSize);
        process.stderr.write(`${kind} @ ${size}: decode ceiling… `);
        const slot = `bench_decode_${kind}`;
        await createDecodeSlot(pool, slot);
        await runWorkload(pool, spec(kind, size));
        const decodeRate = await decodeBacklog(url, slot, transactions, changes);
        await dropDecodeSlot(pool, slot);
        results.push({ inquiry: kind, rows: size, system: 'decode ceiling', 'written/s': '', 'changes/s': decodeRate, 'p50 ms': '', 'p99 ms': '', delivered: '' });

        process.stderr.write('pushcdc… ');
        await rm(path.join(dir, 'inquiries'), { recursive: true, force: true });
        await mkdir(path.join(dir, 'inquiries'));
        await writeFile(path.join(dir, 'inquiries', `Bench-${kind}.sql`), INQUIRIES[kind]);
        let work: WorkloadResult = { startedAt: 0, finishedAt: 0, commits: new Map(), writes: new Map() };
        let tracker = new DeliveryTracker(() => work);
        const options = { pool, databaseUrl: url, amqpUrl: AMQP_URL, dir, instance: `bench_${kind}`, tracker: () => tracker };
        let pushcdc = await startPushcdc(options);
        extra.push(
          `pushcdc ${kind} @ ${size.toLocaleString('en-US')}: starting state built and streaming in ${(pushcdc.startMs / 1000).toFixed(1)} s, ` +
            `then ${(pushcdc.catchUpMs / 1000).toFixed(1)} s until the slot had decoded past the build's WAL`,
        );
        // Live: the workload runs while pushcdc streams; latency is COMMIT returned → message received.
        work = await runWorkload(pool, spec(kind, size), (w) => (work = w));
        await waitDelivered(tracker, work.commits.size, 120_000);
        results.push(measured('pushcdc live', kind, size, changes, tracker, work));
        // Backlog: the same workload written while pushcdc is stopped, then caught up (as the decode ceiling).
        await pushcdc.stop();
        tracker = new DeliveryTracker(() => work);
        work = await runWorkload(pool, spec(kind, size));
        const restartAt = performance.now();
        pushcdc = await startPushcdc(options);
        // Catch-up is timed from when the restarted capture streams (start-up itself is reported above).
        const streamingAt = restartAt + pushcdc.startMs;
        await waitDelivered(tracker, work.commits.size, 300_000);
        results.push(measured('pushcdc backlog', kind, size, changes, tracker, work, streamingAt));
        await pushcdc.stop();
        await pushcdc.cleanup();

        process.stderr.write('naive…\n');
        let naiveWork: WorkloadResult = { startedAt: 0, finishedAt: 0, commits: new Map(), writes: new Map() };
        const naiveTracker = new DeliveryTracker(() => naiveWork);
        const keys = kind === 'single' ? ['id'] : ['id', 'order_id', 'line_id'];
        const poller = new NaivePoller(pool, INQUIRIES[kind], keys, naiveTracker);
        await poller.prime();
        poller.start();
        naiveWork = await runWorkload(pool, spec(kind, size), (w) => (naiveWork = w));
        await waitDelivered(naiveTracker, naiveWork.commits.size, 300_000);
        await poller.stop();
        results.push(measured('naive re-run', kind, size, changes, naiveTracker, naiveWork));
        extra.push(`naive ${kind} @ ${size.toLocaleString('en-US')}: ${poller.rounds} rounds, median round ${percentile(poller.roundMs, 50).toFixed(0)} ms`);
      }
    }
  } finally {
    await pool.end();
    await rm(dir, { recursive: true, force: true });
    await withAdmin(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  }
  process.stdout.write(`\npushcdc bench — ${changes.toLocaleString('en-US')} row changes per run, transactions of ${args['tx-size']} rows from ${args.connections} connections, on this machine (${(await import('node:os')).cpus().length} cores)\n\n`);
  process.stdout.write(`${table(results)}\n\n`);
  process.stdout.write('Ratios (changes/s):\n');
  for (const size of sizes) {
    for (const kind of ['single', 'join']) {
      const rate = (system: string) => Number(results.find((r) => r.rows === size && r.inquiry === kind && r.system === system)?.['changes/s']);
      const latency = (system: string) => Number(results.find((r) => r.rows === size && r.inquiry === kind && r.system === system)?.['p50 ms']);
      process.stdout.write(
        `  ${kind.padEnd(6)} @ ${size.toLocaleString('en-US').padStart(9)}: backlog ${((rate('pushcdc backlog') / rate('decode ceiling')) * 100).toFixed(0)}% of the decode ceiling; ` +
          `live ${(rate('pushcdc live') / rate('naive re-run')).toFixed(1)}× the naive baseline's changes/s; p50 latency ${latency('pushcdc live').toFixed(0)} ms vs ${latency('naive re-run').toFixed(0)} ms naive\n`,
      );
    }
  }
  process.stdout.write(`\n${extra.map((e) => `  ${e}`).join('\n')}\n`);
}

await main();
