import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { instanceNames } from '../../src/config/env.ts';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { installSampleSchema, migrateEngine } from '../../src/db/migrate.ts';
import { ADMIN_DATABASE_URL, TEST_AMQP_URL, databaseUrl } from './services.ts';

/**
 * Per-test-file isolation from one key: its own database (so its own publication and schemas), its
 * own instance name (so its own slot and queues), all dropped afterwards. Database names carry their
 * creation time so a later run can drop what a killed run left behind.
 */
const PREFIX = 'pushcdc_t_';
const STALE_AFTER_SECONDS = 3 * 3600;

export function uniqueKey(label: string): string {
  const clean = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 16);
  return `${clean}_${randomBytes(4).toString('hex')}`;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  // Slots belong to the cluster, not the database: drop them first or they pin WAL forever.
  for (let attempt = 0; ; attempt++) {
    const slots = await client.query<{ slot_name: string; active_pid: number | null }>(
      'SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = $1',
      [name],
    );
    if (slots.rows.length === 0) break;
    for (const slot of slots.rows) {
      if (slot.active_pid !== null) await client.query('SELECT pg_terminate_backend($1)', [slot.active_pid]);
      await client.query('SELECT pg_drop_replication_slot($1)', [slot.slot_name]).catch(() => undefined);
    }
    if (attempt > 50) throw new Error(`could not drop replication slots of ${name}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/**
 * Drops a replication slot once its walsender has let it go: the server ends the walsender a moment
 * after the client's socket closes, and a drop meanwhile fails with "is active for PID".
 */
export async function dropSlotOnceFree(pool: Pool, slot: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (rows.length === 0) throw new Error(`replication slot ${slot} does not exist`);
    if (rows[0]!.pid === null) {
      await pool.query('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    if (Date.now() > deadline) throw new Error(`replication slot ${slot} is still held by PID ${rows[0]!.pid}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function dropStaleTestDatabases(client: pg.Client): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const { rows } = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX}%'`,
  );
  for (const { datname } of rows) {
    const created = Number(datname.slice(PREFIX.length).split('_')[0]);
    if (Number.isFinite(created) && now - created > STALE_AFTER_SECONDS) await dropDatabase(client, datname);
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** `encoding`: a server encoding other than the cluster's default (with the C locale, which any encoding takes). */
export async function createTestDatabase(label: string, options: { encoding?: string } = {}): Promise<TestDatabase> {
  const name = `${PREFIX}${Math.floor(Date.now() / 1000)}_${uniqueKey(label)}`;
  const encoding = options.encoding ? ` TEMPLATE template0 ENCODING '${options.encoding}' LC_COLLATE 'C' LC_CTYPE 'C'` : '';
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"${encoding}`));
  return { name, url: databaseUrl(name), drop: () => withAdmin((c) => dropDatabase(c, name)) };
}

export async function deleteQueues(names: string[]): Promise<void> {
  const conn = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await conn.createChannel();
    for (const queue of names) await channel.deleteQueue(queue);
    await channel.close();
  } finally {
    await conn.close();
  }
}

export interface TestContext {
  db: TestDatabase;
  pool: Pool;
  instance: string;
  names: ReturnType<typeof instanceNames>;
  amqpUrl: string;
  /** Environment for a pushcdc subprocess or in-process engine bound to this context. */
  env: Record<string, string>;
}

/**
 * Registers beforeAll/afterAll hooks giving the file its own database (engine schema and, unless
 * `sample: false`, the sample ERP schema installed) and its own instance name.
 */
export function useTestContext(label: string, options: { sample?: boolean } = {}): TestContext {
  const ctx = {} as TestContext;
  beforeAll(async () => {
    ctx.db = await createTestDatabase(label);
    ctx.pool = createPool(ctx.db.url, { max: 6, application: `test-${label}` });
    await migrateEngine(ctx.pool);
    if (options.sample !== false) await installSampleSchema(ctx.pool);
    ctx.instance = uniqueKey(label);
    ctx.names = instanceNames(ctx.instance);
    ctx.amqpUrl = TEST_AMQP_URL;
    ctx.env = {
      DATABASE_URL: ctx.db.url,
      AMQP_URL: TEST_AMQP_URL,
      PUSHCDC_INSTANCE: ctx.instance,
      PUSHCDC_LOG_LEVEL: process.env.PUSHCDC_LOG_LEVEL ?? 'warn',
    };
  });
  afterAll(async () => {
    await ctx.pool?.end();
    if (ctx.names) await deleteQueues([ctx.names.primaryQueue, ctx.names.commerceQueue]);
    await ctx.db?.drop();
  });
  return ctx;
}
