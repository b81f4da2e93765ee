import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { RabbitMqBroker } from '../../src/broker/rabbitmq.ts';
import { changeRealtime } from '../../src/commerce/realtime-control.ts';
import { listRealtimeState } from '../../src/commerce/realtime-state.ts';
import { loadStoresOrThrow } from '../../src/config/stores.ts';
import { createPool } from '../../src/db/pool.ts';
import type { EngineContext } from '../../src/engine/role.ts';
import { rootLogger } from '../../src/log.ts';
import { DEFAULT_MAX_BODY_BYTES, createWebhooksRole, type RunningWebhooks } from '../../src/webhooks/role.ts';
import { BigCommerceSimulator, type SimHook } from '../support/bigcommerce-simulator.ts';
import { useTestContext } from '../support/isolation.ts';
import { TEST_AMQP_URL } from '../support/services.ts';
import { engineContext, makeDir, waitFor } from '../commerce/harness.ts';
import { QueueProbe, metricValue, request, requestStreaming, type HttpReply } from './harness.ts';

/**
 * The webhook receiver with BigCommerce callbacks, in process on a free port, against the file's own
 * database and queues on the test RabbitMQ. Webhooks are registered on a simulated BigCommerce by
 * `realtime start` (changeRealtime), and the tests then call back the way BigCommerce does: to the
 * registered destination, echoing the registered headers.
 */
const t = useTestContext('webhooks-bc', { sample: false });
const COMPANY = 'Acme';
let sim: BigCommerceSimulator;
let removeDir: () => Promise<void>;
let ctx: EngineContext;
let role: RunningWebhooks;
let probe: QueueProbe;
const alsoStarted: { role?: RunningWebhooks; close(): Promise<void> }[] = [];

const json = { 'content-type': 'application/json' };
const headersOf = (secret: string) => ({ ...json, type: 'bigcommerce', company: COMPANY, validation: secret });

function hookBody(scope: string, id: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { producer: 'stores/sim123', hash: 'f1e2d3', created_at: 1_700_000_000, store_id: '1001', scope, data: { type: 'customer', id }, ...extra };
}

/** What BigCommerce does for a registered hook: POST to its destination with its headers. */
function deliver(hook: SimHook, body: unknown): Promise<HttpReply> {
  const url = new URL(hook.destination);
  return request(Number(url.port), { path: url.pathname, headers: { ...json, ...(hook.headers ?? {}) }, body: JSON.stringify(body) });
}

const post = (headers: Record<string, string>, body: unknown): Promise<HttpReply> =>
  request(role.port, { headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

const hookFor = (scope: string): SimHook => {
  const hook = [...sim.hooks.values()].find((h) => h.scope === scope);
  if (!hook) throw new Error(`no hook registered for ${scope}; have ${[...sim.hooks.values()].map((h) => h.scope).join(', ')}`);
  return hook;
};

const webhookEvents = async (level: string, like: string) =>
  (
    await t.pool.query<{ message: string }>(
      `SELECT message FROM pushcdc.system_events WHERE source = 'webhooks' AND level = $1 AND message LIKE $2`,
      [level, like],
    )
  ).rows;

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const other = 'https://api.bigcommerce.com/stores/other';
  const made = await makeDir([
    {
      name: 'shop',
      connector: 'bigcommerce',
      baseUrl: sim.baseUrl,
      accessToken: sim.token,
      webhookSecret: 'secret-shop',
      entities: { Customer: { direction: 'bidirectional' }, SalesOrder: { direction: 'import' }, StockItem: { direction: 'export' } },
    },
    {
      name: 'exporter',
      connector: 'bigcommerce',
      baseUrl: other,
      webhookSecret: 'secret-exporter',
      entities: { Customer: { direction: 'export' }, SalesOrder: { direction: 'import', active: false } },
    },
    { name: 'closed', connector: 'bigcommerce', active: false, baseUrl: other, webhookSecret: 'secret-closed', entities: { Customer: { direction: 'bidirectional' } } },
    { name: 'bare', connector: 'bigcommerce', baseUrl: other, webhookSecret: 'secret-bare', entities: {} },
  ]);
  removeDir = made.remove;
  ctx = await engineContext(t, made.dir, { PUSHCDC_COMPANY: COMPANY, PUSHCDC_HTTP_PORT: '0' });
  role = await createWebhooksRole()(ctx);
  probe = await QueueProbe.open(t.names.commerceQueue);

  // `pushcdc realtime start` as the CLI runs it, with the receiver's real address as the callback base.
  const stores = (await loadStoresOrThrow(made.dir, {})).map((s) => ({ ...s, webhookBaseUrl: `http://127.0.0.1:${role.port}` }));
  const control = { pool: t.pool, stores, env: ctx.env, logger: ctx.logger };
  await changeRealtime(control, 'start', 'shop', 'Customer');
  // Orders: started and stopped again, so their status is `stopped` (a callback still in flight).
  await changeRealtime(control, 'start', 'shop', 'SalesOrder');
  await changeRealtime(control, 'stop', 'shop', 'SalesOrder');
});

afterAll(async () => {
  for (const extra of alsoStarted) {
    await extra.role?.stop();
    await extra.close();
  }
  await role?.stop();
  await probe?.close();
  await ctx?.broker.close();
  await sim?.close();
  await removeDir?.();
});

describe('POST /commerce/webhook from BigCommerce', () => {
  it('precondition: Customer import is running, SalesOrder import stopped, the Customer hooks carry type/company/validation', async () => {
    const state = (await listRealtimeState(t.pool)).filter((s) => s.store === 'shop' && s.direction === 'import');
    expect(Object.fromEntries(state.map((s) => [s.entity, s.status]))).toEqual({ Customer: 'running', SalesOrder: 'stopped' });
    expect(hookFor('store/customer/updated').headers).toEqual({ type: 'bigcommerce', company: COMPANY, validation: 'secret-shop' });
  });

  it('a callback echoing the registered headers → 200 queued, exactly one persistent import message for the record', async () => {
    const body = hookBody('store/customer/updated', 42);
    const reply = await deliver(hookFor('store/customer/updated'), body);
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ status: 'queued', queued: true, id: expect.any(String), store: 'shop', entity: 'Customer', externId: '42' });
    expect(await probe.depth()).toBe(1);
    const taken = await probe.takeAll();
    expect(taken).toHaveLength(1);
    expect(taken[0]!.message).toEqual({
      store: 'shop',
      entity: 'Customer',
      direction: 'import',
      externId: '42',
      operation: 'upsert',
      payload: body,
      at: '2023-11-14T22:13:20.000Z',
      sourceId: 'f1e2d3',
    });
    expect(taken[0]!.messageId).toBe(reply.json.id);
    expect(taken[0]!.persistent).toBe(true);
  });

  it('an address callback queues its customer; a customer delete is a delete; no created_at → the time received', async () => {
    const address = hookBody('store/customer/address/updated', 60, { data: { type: 'customer', id: 60, address: { customer_id: 32 } } });
    expect((await deliver(hookFor('store/customer/address/updated'), address)).json).toMatchObject({ status: 'queued', externId: '32' });
    const before = Date.now();
    const { created_at: _ignored, ...deleted } = hookBody('store/customer/deleted', 7);
    expect((await deliver(hookFor('store/customer/deleted'), deleted)).json).toMatchObject({ status: 'queued', externId: '7' });
    const taken = (await probe.takeAll()).map((m) => m.message);
    expect(taken.map((m) => [m.entity, m.externId, m.operation])).toEqual([
      ['Customer', '32', 'upsert'],
      ['Customer', '7', 'delete'],
    ]);
    const at = Date.parse(taken[1]!.at);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it('a wrong validation → 401, nothing queued, and a warning system event', async () => {
    const reply = await post(headersOf('secret-guess'), hookBody('store/customer/updated', 42));
    expect(reply.status).toBe(401);
    expect(reply.json).toEqual({ status: 'rejected', error: 'unauthorized: company or validation does not match' });
    expect(await probe.settledDepth()).toBe(0);
    await waitFor('the 401 system event', async () => (await webhookEvents('warning', '%no bigcommerce store file has this webhookSecret%')).length === 1);
  });

  it('the right secret with the wrong company → 401, nothing queued', async () => {
    const reply = await post({ ...headersOf('secret-shop'), company: 'Other' }, hookBody('store/customer/updated', 42));
    expect(reply.status).toBe(401);
    expect(reply.json.error).toBe('unauthorized: company or validation does not match');
    expect(await probe.settledDepth()).toBe(0);
  });

  it.each([
    ['no headers at all', json, /type must be "bigcommerce"/],
    ['no validation header', { ...json, type: 'bigcommerce', company: COMPANY }, /must carry the type, company and validation headers/],
    ['no company header', { ...json, type: 'bigcommerce', validation: 'secret-shop' }, /must carry the type, company and validation headers/],
    ['no type header', { ...json, company: COMPANY, validation: 'secret-shop' }, /type must be "bigcommerce"/],
    ['an unknown type', { ...json, type: 'magento', company: COMPANY, validation: 'secret-shop' }, /type must be "bigcommerce"/],
  ])('%s → 401 (missing or unknown credentials fail validation), nothing queued', async (_case, headers, error) => {
    const reply = await post(headers, hookBody('store/customer/updated', 42));
    expect(reply.status).toBe(401);
    expect(reply.json.status).toBe('rejected');
    expect(reply.json.error).toMatch(error);
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a body that is not JSON → 400 saying so', async () => {
    const reply = await post(headersOf('secret-shop'), '{"scope": "store/customer/updated", ');
    expect(reply.status).toBe(400);
    expect(reply.json.status).toBe('rejected');
    expect(reply.json.error).toMatch(/^the body is not valid JSON: /);
    expect(await probe.settledDepth()).toBe(0);
  });

  it.each([
    ['JSON that is not an object', [1, 2], 'the body must be a JSON object'],
    ['no scope', { data: { id: 1 } }, 'missing "scope" (a string such as "store/customer/updated")'],
    ['no data.id', { scope: 'store/customer/updated', data: { type: 'customer' } }, 'missing "data.id" (the id of the resource that changed)'],
    ['no data at all', { scope: 'store/customer/updated' }, 'missing "data.id" (the id of the resource that changed)'],
    ['an address callback without its customer', { scope: 'store/customer/address/created', data: { id: 60 } }, 'missing "data.address.customer_id" (address callbacks name their customer there)'],
    ['created_at out of range', { scope: 'store/customer/updated', created_at: 1e300, data: { id: 1 } }, '"created_at" must be a Unix time in seconds'],
  ])('%s → 400 naming what is wrong, nothing queued', async (_case, body, error) => {
    const reply = await post(headersOf('secret-shop'), body);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ status: 'rejected', error });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a body that is not declared as JSON → 400', async () => {
    const reply = await post({ ...headersOf('secret-shop'), 'content-type': 'text/plain' }, hookBody('store/customer/updated', 42));
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('content-type must be application/json');
    expect(await probe.settledDepth()).toBe(0);
  });

  it("a wrong validation on a body not declared as JSON → 401, not 400 (authentication before the body's form)", async () => {
    const reply = await post({ ...headersOf('secret-guess'), 'content-type': 'text/plain' }, 'not json');
    expect(reply.status).toBe(401);
    expect(reply.json).toEqual({ status: 'rejected', error: 'unauthorized: company or validation does not match' });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('GET → 405 with Allow: POST', async () => {
    const reply = await request(role.port, { method: 'GET' });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('POST');
    expect(reply.json.status).toBe('rejected');
  });

  it('a declared Content-Length over 1 MiB → 413 from the headers alone, the connection closed', async () => {
    const reply = await requestStreaming(role.port, headersOf('secret-shop'), {
      declaredBytes: DEFAULT_MAX_BODY_BYTES + 1,
      chunk: Buffer.alloc(64 * 1024, 0x20),
      maxBytes: DEFAULT_MAX_BODY_BYTES + 1,
    });
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ status: 'rejected', error: `the body is larger than ${DEFAULT_MAX_BODY_BYTES} bytes` });
    expect(reply.headers.connection).toBe('close');
    expect(reply.written).toBe(0);
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a chunked body growing past 1 MiB → 413 once the limit is crossed, without reading the rest', async () => {
    const reply = await requestStreaming(role.port, headersOf('secret-shop'), { chunk: Buffer.alloc(64 * 1024, 0x20), maxBytes: 64 * 1024 * 1024 });
    expect(reply.status).toBe(413);
    expect(reply.headers.connection).toBe('close');
    // The sender had 64 MiB to send; the answer came long before (socket buffers allow some slack).
    expect(reply.written).toBeLessThan(16 * 1024 * 1024);
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a body of exactly 1 MiB is accepted (the limit is inclusive)', async () => {
    const text = JSON.stringify(hookBody('store/customer/updated', 43));
    const padded = text.slice(0, -1) + ' '.repeat(DEFAULT_MAX_BODY_BYTES - Buffer.byteLength(text)) + '}';
    expect(Buffer.byteLength(padded)).toBe(DEFAULT_MAX_BODY_BYTES);
    const reply = await post(headersOf('secret-shop'), padded);
    expect(reply.status).toBe(200);
    expect((await probe.takeAll()).map((m) => m.message.externId)).toEqual(['43']);
  });

  it.each([
    ['real-time import stopped', 'secret-shop', 'store/order/updated', /^real-time import of SalesOrder \(store shop\) is stopped; /],
    ['a scope no entity imports', 'secret-shop', 'store/category/updated', /^no entity imports through "store\/category\/updated"; /],
    ['an inactive store', 'secret-closed', 'store/customer/updated', /^store closed is inactive; /],
    ['an entity the store does not configure', 'secret-bare', 'store/customer/updated', /^store bare does not configure Customer; /],
    ['an inactive entity', 'secret-exporter', 'store/order/created', /^SalesOrder is inactive in store exporter; /],
    ['an export-only entity', 'secret-exporter', 'store/customer/updated', /^Customer of store exporter is export-only; /],
  ])('%s → 200 "ignored" (acknowledged so the storefront does not retry), nothing queued', async (_case, secret, scope, reason) => {
    const reply = await post(headersOf(secret), hookBody(scope, 99));
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ status: 'ignored', queued: false, reason: expect.stringMatching(reason) });
    expect(reply.json.reason).toMatch(/the hook was acknowledged and not queued$/);
    expect(await probe.settledDepth()).toBe(0);
  });

  it('ignored hooks of one cause write one information event, not one per hook', async () => {
    for (let i = 0; i < 4; i++) {
      expect((await post(headersOf('secret-shop'), hookBody('store/order/created', 500 + i))).json.status).toBe('ignored');
    }
    const like = '%real-time import of SalesOrder (store shop) is stopped%';
    await waitFor('the information event', async () => (await webhookEvents('information', like)).length > 0);
    await sleep(300);
    expect(await webhookEvents('information', like)).toHaveLength(1);
  });

  it('the broker gone (publish rejects) → 503 with Retry-After, nothing queued', async () => {
    const broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { logger: rootLogger });
    const gone = await createWebhooksRole()({ ...ctx, broker });
    alsoStarted.push({ role: gone, close: () => broker.close() });
    await broker.close();
    const reply = await request(gone.port, { headers: headersOf('secret-shop'), body: JSON.stringify(hookBody('store/customer/updated', 42)) });
    expect(reply.status).toBe(503);
    expect(reply.json).toEqual({ status: 'unavailable', error: 'the message broker is unavailable; retry later' });
    expect(reply.headers['retry-after']).toBe('10');
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a broker that never confirms → 503 after publishTimeoutMs, not a hanging callback', async () => {
    const real = ctx.broker;
    const unconfirmed: Broker = {
      assertQueue: (queue, options) => real.assertQueue(queue, options),
      publish: () => new Promise<void>(() => undefined),
      consume: (queue, handler, options) => real.consume(queue, handler, options),
      stats: (queue) => real.stats(queue),
      purge: (queue) => real.purge(queue),
      close: () => Promise.resolve(),
    };
    const stuck = await createWebhooksRole({ publishTimeoutMs: 300 })({ ...ctx, broker: unconfirmed });
    alsoStarted.push({ role: stuck, close: () => Promise.resolve() });
    const started = Date.now();
    const reply = await request(stuck.port, { headers: headersOf('secret-shop'), body: JSON.stringify(hookBody('store/customer/updated', 42)) });
    expect(reply.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await probe.settledDepth()).toBe(0);
  });

  it('the database unavailable (real-time status unreadable) → 503, nothing queued', async () => {
    const pool = createPool(t.db.url, { max: 1 });
    await pool.end();
    const blind = await createWebhooksRole()({ ...ctx, pool });
    alsoStarted.push({ role: blind, close: () => Promise.resolve() });
    const reply = await request(blind.port, { headers: headersOf('secret-shop'), body: JSON.stringify(hookBody('store/customer/updated', 42)) });
    expect(reply.status).toBe(503);
    expect(reply.json).toEqual({ status: 'unavailable', error: 'the real-time status cannot be read right now; retry later' });
    expect(await probe.settledDepth()).toBe(0);
  });
});

describe('the rest of the HTTP side', () => {
  it('GET /health → 200; unknown paths → 404', async () => {
    const health = await request(role.port, { method: 'GET', path: '/health' });
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    expect((await request(role.port, { method: 'GET', path: '/nope' })).status).toBe(404);
  });

  it('GET /status: the queue monitor as JSON, and as a page for browsers', async () => {
    const json = await request(role.port, { method: 'GET', path: '/status' });
    expect(json.status).toBe(200);
    expect(json.json).toMatchObject({ queues: expect.arrayContaining([expect.objectContaining({ queue: ctx.names.commerceQueue })]) });
    const page = await request(role.port, { method: 'GET', path: '/status', headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<h2>Queues<\/h2>.*commerceQueue\./s);
  });

  it('/metrics counts webhook requests by connector, outcome and status', async () => {
    const name = 'pushcdc_webhook_requests_total';
    const series = {
      accepted: { connector: 'bigcommerce', outcome: 'accepted', status: '200' },
      ignored: { connector: 'bigcommerce', outcome: 'ignored', status: '200' },
      unauthorized: { connector: 'bigcommerce', outcome: 'rejected', status: '401' },
      malformed: { connector: 'bigcommerce', outcome: 'rejected', status: '400' },
      unknown: { connector: 'unknown', outcome: 'rejected', status: '401' },
    };
    const read = async () => {
      const text = (await request(role.port, { method: 'GET', path: '/metrics' })).text;
      return Object.fromEntries(Object.entries(series).map(([k, labels]) => [k, metricValue(text, name, labels)]));
    };
    const before = await read();
    await post(headersOf('secret-shop'), hookBody('store/customer/updated', 44));
    await post(headersOf('secret-shop'), hookBody('store/order/updated', 44));
    await post(headersOf('secret-shop'), hookBody('store/order/updated', 45));
    await post(headersOf('wrong'), hookBody('store/customer/updated', 44));
    await post(headersOf('secret-shop'), { scope: 'store/customer/updated' });
    await post(json, hookBody('store/customer/updated', 44));
    const after = await read();
    expect(Object.fromEntries(Object.keys(series).map((k) => [k, after[k]! - before[k]!]))).toEqual({
      accepted: 1,
      ignored: 2,
      unauthorized: 1,
      malformed: 1,
      unknown: 1,
    });
    expect(await probe.takeAll()).toHaveLength(1);
  });
});
