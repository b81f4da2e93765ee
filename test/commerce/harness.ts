import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Broker } from '../../src/broker/broker.ts';
import { RabbitMqBroker } from '../../src/broker/rabbitmq.ts';
import { loadEnv } from '../../src/config/env.ts';
import type { CommerceMessage } from '../../src/commerce/message.ts';
import { bigCommerceHookMessage } from '../../src/commerce/hook-message.ts';
import { setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import type { EngineContext } from '../../src/engine/role.ts';
import { rootLogger } from '../../src/log.ts';
import type { TestContext } from '../support/isolation.ts';

/** Helpers the commerce tests share: a --dir with store files, an engine context, messages, waiting. */
export async function makeDir(stores: Record<string, unknown>[]): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pushcdc-commerce-'));
  await mkdir(path.join(dir, 'stores'));
  for (const store of stores) {
    await writeFile(path.join(dir, 'stores', `${String(store.name)}.json`), `${JSON.stringify(store, null, 2)}\n`);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function engineContext(
  t: TestContext,
  dir: string,
  extraEnv: Record<string, string>,
): Promise<EngineContext & { broker: Broker }> {
  const env = loadEnv({ ...t.env, ...extraEnv });
  const broker = await RabbitMqBroker.connect(t.amqpUrl, { logger: rootLogger });
  return {
    dir,
    env,
    names: t.names,
    databaseUrl: t.db.url,
    pool: t.pool,
    broker,
    logger: rootLogger.child({ test: 'commerce' }),
    catalog: new Map(),
    inquiries: [],
  };
}

let clock = Date.parse('2030-01-01T00:00:00Z');

/** Change times that always increase, as commits do. */
export function nextAt(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

export function exportMessage(store: string, entity: string, localId: string, payload: Record<string, unknown>): CommerceMessage {
  return { store, entity, direction: 'export', localId, operation: 'upsert', payload, at: nextAt() };
}

export async function publish(broker: Broker, queue: string, messages: CommerceMessage[]): Promise<void> {
  await broker.publish(
    queue,
    messages.map((m) => ({ body: JSON.stringify(m) })),
  );
}

export async function running(t: TestContext, store: string, entity: string): Promise<void> {
  await setRealtimeStatus(t.pool, store, entity, 'export', 'running');
}

/** Polls until `check` returns a value other than undefined/false, or fails with what it last saw. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface SyncRow {
  local_id: string;
  extern_id: string | null;
  status: string;
  attempt_count: number;
  last_error: string | null;
  last_operation: string | null;
  extern_hash: string | null;
  last_sent: unknown;
  pending_sync: boolean;
  sync_in_process: boolean;
}

export async function syncRow(t: TestContext, store: string, entity: string, localId: string): Promise<SyncRow | undefined> {
  const { rows } = await t.pool.query<SyncRow>(
    `SELECT local_id, extern_id, status, attempt_count, last_error, last_operation, extern_hash, last_sent, pending_sync, sync_in_process
       FROM pushcdc.sync_status WHERE store = $1 AND entity = $2 AND local_id = $3`,
    [store, entity, localId],
  );
  return rows[0];
}

/** A BC-PUSH-Customers result row. */
export function customerRow(id: string, name: string, email: string, city = 'Oslo'): Record<string, unknown> {
  return {
    CustomerID: id,
    CustomerName: name,
    Email: email,
    Phone: '+47 1234',
    AddressLine1: '1 Main Street',
    AddressLine2: null,
    City: city,
    State: 'Oslo',
    PostalCode: '0150',
    Country: 'NO',
  };
}

/**
 * BigCommerce callbacks as the webhook receiver turns them into commerceQueue messages, each
 * `created_at` a later second than the one before and at least `leadSeconds` past now: the
 * storefront's stamps have second precision, and a callback must come after the change it reports.
 */
export function bigCommerceHooks(storeHash: () => string, leadSeconds: number): (store: string, scope: string, type: string, id: number) => CommerceMessage {
  let seconds = Math.floor(Date.now() / 1000);
  return (store, scope, type, id) => {
    seconds = Math.max(seconds + 1, Math.ceil(Date.now() / 1000) + leadSeconds);
    const body = { producer: `stores/${storeHash()}`, hash: randomUUID(), created_at: seconds, store_id: '1', scope, data: { type, id } };
    const message = bigCommerceHookMessage(store, body);
    if (!message) throw new Error('the hook body made no message');
    return message;
  };
}

/** A shipped push inquiry's SELECT (inquiries/<name>.sql), without its closing semicolon: to query it as a subquery. */
export async function shippedInquirySql(name: string): Promise<string> {
  const text = await readFile(path.join(import.meta.dirname, '../../inquiries', `${name}.sql`), 'utf8');
  return text.trim().replace(/;\s*$/, '');
}
