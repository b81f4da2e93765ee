import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool } from '../src/db/pool.ts';
import { migrateEngine } from '../src/db/migrate.ts';
import { killEngines } from './engine-process.ts';
import { benchInstance, dropInstance } from './instance.ts';
import { measureEngineMemory, type MemoryResult } from './memory.ts';
import { parseOptions, type Part } from './options.ts';
import { printReport, type Row } from './report.ts';
import { runKind } from './runs.ts';
import { prepareSideDatabase } from './side-load.ts';
import { loadTables, type InquiryKind } from './schema.ts';
import { describeServer } from './server.ts';

/**
 * `npm run bench`: for each root-table size and inquiry shape, the same workload measured several
 * ways — the raw decode ceiling, pushcdc end to end (commit → primaryQueue delivery) at full speed,
 * at a steady paced rate and from a backlog, and the naive baseline (re-run and diff the whole result)
 * — plus, opt-in, the engine's memory through one transaction touching every row. Prints tables and
 * ratios. Nothing here is asserted. `npm run bench -- --help` lists the options.
 */
const options = parseOptions();
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE = `pushcdc_${options.name}`;
/** Written to beside paced runs with --side-load (see side-load.ts); no slot reads it. */
const SIDE_DATABASE = `${DATABASE}_side`;
/** Every pushcdc instance the bench runs (<name>_<kind> in this process, <name>_mem as a child). */
const INSTANCES = (['single', 'join', 'mem'] as const).map((kind) => benchInstance(options.name, kind));

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

function databaseUrl(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Ctrl-C (or a kill) skips every finally block, and a replication slot left behind pins WAL on the
 * server for good: stop the engine children, cut the walsenders, drop the slots and the database.
 */
function cleanUpOnSignal(): void {
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping engines and dropping the bench's slots…\n`);
    process.once(signal, () => process.exit(130)); // a second one: leave now
    killEngines();
    void (async () => {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      try {
        await client.connect();
        await client.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, [DATABASE]);
        await new Promise((r) => setTimeout(r, 500));
        await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, [DATABASE]);
        await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
        await client.query(`DROP DATABASE IF EXISTS ${SIDE_DATABASE} WITH (FORCE)`);
      } catch (err) {
        process.stderr.write(`cleanup failed (check pg_replication_slots by hand): ${(err as Error).message}\n`);
      } finally {
        await client.end().catch(() => undefined);
        process.exit(130);
      }
    })();
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

async function main(): Promise<void> {
  cleanUpOnSignal();
  await withAdmin(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await withAdmin(`CREATE DATABASE ${DATABASE}`);
  const url = databaseUrl(DATABASE);
  let sideDatabaseUrl: string | null = null;
  if (options.sideLoad > 0) {
    await withAdmin(`DROP DATABASE IF EXISTS ${SIDE_DATABASE} WITH (FORCE)`);
    await withAdmin(`CREATE DATABASE ${SIDE_DATABASE}`);
    sideDatabaseUrl = databaseUrl(SIDE_DATABASE);
    await prepareSideDatabase(sideDatabaseUrl);
  }
  const pool = createPool(url, { max: 12, application: 'pushcdc-bench' });
  await migrateEngine(pool);
  // The database is new, but queues outlive it: messages an interrupted run left would be counted.
  for (const instance of INSTANCES) await dropInstance(pool, AMQP_URL, instance);
  const dir = await mkdtemp(path.join(tmpdir(), 'pushcdc-bench-'));
  const ctx = { pool, databaseUrl: url, sideDatabaseUrl, amqpUrl: AMQP_URL, dir, options };
  const kindRuns = (['decode', 'live', 'paced', 'backlog', 'naive'] as Part[]).some((p) => options.parts.has(p));
  const results: Row[] = [];
  const memory: MemoryResult[] = [];
  const notes: string[] = [];
  const server = await describeServer(pool);
  try {
    for (const size of options.sizes) {
      const loadStarted = performance.now();
      await loadTables(pool, size);
      notes.push(`loaded ${size.toLocaleString('en-US')} rows per table in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
      if (kindRuns) {
        for (const kind of ['single', 'join'] as InquiryKind[]) {
          const out = await runKind(ctx, kind, size);
          results.push(...out.rows);
          notes.push(...out.notes);
        }
      }
      // Last for its size: it rewrites every customer row in one transaction (bloat the others need not see).
      if (options.parts.has('memory')) {
        process.stderr.write(`memory @ ${size}: engine child, one ${size}-row transaction…\n`);
        memory.push(
          await measureEngineMemory({
            pool,
            databaseUrl: url,
            amqpUrl: AMQP_URL,
            instance: benchInstance(options.name, 'mem'),
            rows: size,
            timeoutMs: options.memoryTimeoutMs,
          }),
        );
      }
    }
  } finally {
    await pool.end();
    await rm(dir, { recursive: true, force: true });
    await withAdmin(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await withAdmin(`DROP DATABASE IF EXISTS ${SIDE_DATABASE} WITH (FORCE)`);
  }
  printReport(options, server, results, memory, notes);
}

await main();
