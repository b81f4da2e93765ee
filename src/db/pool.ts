import pg from 'pg';
import { PushcdcError } from '../errors.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// int8 and numeric stay strings (pg's default): JavaScript numbers would round them.
// json/jsonb are parsed by pg already; timestamps are kept as text so nothing shifts by time zone.
const TIMESTAMP_OIDS = [1114, 1184, 1082];
for (const oid of TIMESTAMP_OIDS) pg.types.setTypeParser(oid, (value: string) => value);

export interface PoolOptions {
  max?: number;
  application?: string;
  /** Keep idle connections open (pg closes them after 10 s idle): their backends' state is worth keeping. */
  keepIdle?: boolean;
  /** Runs on every new connection before its first use (pg-pool awaits it; a failure fails that checkout). */
  onConnect?: (client: pg.ClientBase) => Promise<void>;
}

/**
 * Startup options of every engine connection: no statement or idle-in-transaction timeout, whatever
 * the role or database sets. A DBA's timeout is meant for runaway application queries; a state build,
 * a big diff, or a batch waiting for its barrier inside its transaction must finish. Cut off, each
 * would only be retried, fail the same way and never get anywhere. (pg sends a timeout of 0 as no
 * setting at all, so it goes as a server option.)
 */
export const ENGINE_SESSION_OPTIONS = '-c statement_timeout=0 -c idle_in_transaction_session_timeout=0';

export function createPool(connectionString: string, options: PoolOptions = {}): Pool {
  const pool = new pg.Pool({
    connectionString,
    options: ENGINE_SESSION_OPTIONS,
    max: options.max ?? 8,
    application_name: options.application ?? 'pushcdc',
    ...(options.keepIdle ? { idleTimeoutMillis: 0 } : {}),
    ...(options.onConnect ? { onConnect: options.onConnect } : {}),
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Opens `count` connections now (each running the pool's onConnect) and leaves them idle in the pool,
 * so no later checkout waits for a connection to be made: for a pool whose connections are kept.
 */
export async function fillPool(pool: Pool, count: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: count }, () => pool.connect()));
  for (const client of clients) client.release();
}

/** Runs `work` inside BEGIN/COMMIT, rolling back on any error. */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."name"`: a table named in SQL. */
export function quoteTable(table: { schema: string; name: string }): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Connects once to tell a clear story when the database is unreachable. */
export async function checkConnection(pool: Pool, what: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    throw new PushcdcError('DATABASE', `cannot connect to ${what}: ${(err as Error).message}`, { cause: err });
  }
}
