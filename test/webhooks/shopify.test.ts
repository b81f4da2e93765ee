import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeRealtime } from '../../src/commerce/realtime-control.ts';
import { listRealtimeState, setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import { loadStoresOrThrow } from '../../src/config/stores.ts';
import type { EngineContext } from '../../src/engine/role.ts';
import { DEFAULT_MAX_BODY_BYTES, createWebhooksRole, type RunningWebhooks } from '../../src/webhooks/role.ts';
import { useTestContext } from '../support/isolation.ts';
import { engineContext, makeDir } from '../commerce/harness.ts';
import { QueueProbe, request, requestStreaming, type HttpReply } from './harness.ts';

/**
 * The webhook receiver with Shopify callbacks: `type`, `company`, `binding` as URL parameters and
 * X-Shopify-Hmac-Sha256 over the raw body. The shopify connector has no processors yet, so
 * `realtime start` leaves real-time import `not-supported` and real callbacks are acknowledged and
 * ignored; the queued path is checked with the status set to running, as a future processor would.
 */
const t = useTestContext('webhooks-shopify', { sample: false });
const COMPANY = 'Acme';
const SECRET = 'shpss_0123456789abcdef';
let removeDir: () => Promise<void>;
let ctx: EngineContext;
let role: RunningWebhooks;
let probe: QueueProbe;

const sign = (raw: string, secret = SECRET) => createHmac('sha256', secret).update(raw).digest('base64');
const address = (params: Record<string, string> = {}) =>
  `/commerce/webhook?${new URLSearchParams({ type: 'shopify', company: COMPANY, binding: 'shopi', ...params }).toString()}`;

/** A Shopify delivery: raw JSON body, signed with `secret` unless a signature is given. */
function deliver(
  topic: string | undefined,
  raw: string,
  options: { path?: string; signature?: string | null; headers?: Record<string, string> } = {},
): Promise<HttpReply> {
  const signature = options.signature === undefined ? sign(raw) : options.signature;
  return request(role.port, {
    path: options.path ?? address(),
    headers: {
      'content-type': 'application/json',
      'x-shopify-shop-domain': 'shopi.myshopify.com',
      'x-shopify-api-version': '2025-01',
      ...(topic ? { 'x-shopify-topic': topic } : {}),
      ...(signature !== null ? { 'x-shopify-hmac-sha256': signature } : {}),
      ...options.headers,
    },
    body: raw,
  });
}

// Shopify's ids are 64-bit: this one is beyond 2^53, where JSON.parse would round it.
const ORDER_ID = '820982911946154508';
const orderRaw = `{"id":${ORDER_ID},"admin_graphql_api_id":"gid://shopify/Order/${ORDER_ID}","email":"jon@example.com","updated_at":"2025-03-04T05:06:07-05:00","line_items":[{"id":866550311766439020,"quantity":1}]}`;
const customerRaw = '{"id":706405506930370,"email":"bob@example.com","updated_at":"2025-01-02T03:04:05Z"}';

beforeAll(async () => {
  const made = await makeDir([
    {
      name: 'shopi',
      connector: 'shopify',
      baseUrl: 'https://shopi.myshopify.com',
      webhookSecret: SECRET,
      entities: { Customer: { direction: 'bidirectional' }, SalesOrder: { direction: 'import' } },
    },
    { name: 'bc', connector: 'bigcommerce', baseUrl: 'https://api.bigcommerce.com/stores/bc', webhookSecret: SECRET, entities: { Customer: { direction: 'import' } } },
  ]);
  removeDir = made.remove;
  ctx = await engineContext(t, made.dir, { PUSHCDC_COMPANY: COMPANY, PUSHCDC_HTTP_PORT: '0' });
  role = await createWebhooksRole()(ctx);
  probe = await QueueProbe.open(t.names.commerceQueue);
  const stores = await loadStoresOrThrow(made.dir, {});
  await changeRealtime({ pool: t.pool, stores, env: ctx.env, logger: ctx.logger }, 'start', 'shopi', 'Customer');
  // No Shopify processor imports orders yet; this is the status one would leave after `realtime start`.
  await setRealtimeStatus(t.pool, 'shopi', 'SalesOrder', 'import', 'running');
});

afterAll(async () => {
  await role?.stop();
  await probe?.close();
  await ctx?.broker.close();
  await removeDir?.();
});

describe('POST /commerce/webhook from Shopify', () => {
  it('precondition: realtime start on a shopify store leaves Customer import not-supported', async () => {
    const state = (await listRealtimeState(t.pool)).filter((s) => s.store === 'shopi' && s.entity === 'Customer');
    expect(Object.fromEntries(state.map((s) => [s.direction, s.status]))).toEqual({ export: 'not-supported', import: 'not-supported' });
  });

  it('a valid HMAC for a customer topic → 200 "ignored" (the connector cannot import customers), nothing queued', async () => {
    const reply = await deliver('customers/update', customerRaw);
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({
      status: 'ignored',
      queued: false,
      reason: 'real-time import of Customer (store shopi) is not-supported; the hook was acknowledged and not queued',
    });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a valid HMAC with import running → 200 queued, one message with the exact 64-bit id and the raw body as payload', async () => {
    const reply = await deliver('orders/updated', orderRaw, { headers: { 'x-shopify-webhook-id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043' } });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ status: 'queued', queued: true, store: 'shopi', entity: 'SalesOrder', externId: ORDER_ID });
    const taken = await probe.takeAll();
    expect(taken).toHaveLength(1);
    expect(taken[0]!.message).toEqual({
      store: 'shopi',
      entity: 'SalesOrder',
      direction: 'import',
      externId: ORDER_ID,
      operation: 'upsert',
      payload: {
        id: ORDER_ID,
        admin_graphql_api_id: `gid://shopify/Order/${ORDER_ID}`,
        email: 'jon@example.com',
        updated_at: '2025-03-04T05:06:07-05:00',
        line_items: [{ id: '866550311766439020', quantity: 1 }],
      },
      at: '2025-03-04T10:06:07.000Z',
      sourceId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    });
  });

  it('orders/delete is a delete; X-Shopify-Triggered-At is the change time when given', async () => {
    const raw = `{"id":${ORDER_ID}}`;
    const reply = await deliver('orders/delete', raw, { headers: { 'x-shopify-triggered-at': '2025-05-06T07:08:09.123Z' } });
    expect(reply.json.status).toBe('queued');
    const [taken] = await probe.takeAll();
    expect(taken?.message).toMatchObject({ operation: 'delete', externId: ORDER_ID, at: '2025-05-06T07:08:09.123Z' });
  });

  it.each([
    ['a signature over another body', () => sign(`${orderRaw} `)],
    ['a signature with another secret', () => sign(orderRaw, 'not-the-secret')],
    ['a signature that is not base64 of 32 bytes', () => 'abc'],
    ['no signature', () => null],
  ])('%s → 401, nothing queued', async (_case, signature) => {
    const reply = await deliver('orders/updated', orderRaw, { signature: signature() });
    expect(reply.status).toBe(401);
    expect(reply.json.status).toBe('rejected');
    expect(reply.json.error).toMatch(/^unauthorized: /);
    expect(await probe.settledDepth()).toBe(0);
  });

  // SPEC section 7: a request that fails validation gets 401. The HMAC needs the body, so it is read
  // first, but nothing about its form is judged before the HMAC: a forger learns nothing from a 400.
  it.each([
    ['a wrong signature, declared as text/plain', 'orders/updated', orderRaw, sign(`${orderRaw} `), { 'content-type': 'text/plain' }],
    ['a signature with another secret, declared as a form', 'orders/updated', orderRaw, sign(orderRaw, 'not-the-secret'), { 'content-type': 'application/x-www-form-urlencoded' }],
    ['a wrong signature over a body that is not JSON', 'orders/updated', 'id=1', sign('id=2'), {}],
    ['a wrong signature, without a topic', undefined, orderRaw, sign(`${orderRaw} `), {}],
  ])("%s → 401, not 400: authentication comes before the body's form, nothing queued", async (_case, topic, raw, signature, headers) => {
    const reply = await deliver(topic, raw, { signature, headers });
    expect(reply.status).toBe(401);
    expect(reply.json).toEqual({ status: 'rejected', error: 'unauthorized: company, binding or signature does not match' });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a validly signed body not declared as JSON → 400', async () => {
    const reply = await deliver('orders/updated', orderRaw, { headers: { 'content-type': 'text/plain' } });
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ status: 'rejected', error: 'content-type must be application/json' });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a body declared over 1 MiB → 413 from the headers alone, whatever its signature (the HMAC would need it all)', async () => {
    const reply = await requestStreaming(
      role.port,
      { 'content-type': 'application/json', 'x-shopify-topic': 'orders/updated', 'x-shopify-hmac-sha256': sign('{}') },
      { path: address(), declaredBytes: DEFAULT_MAX_BODY_BYTES + 1, chunk: Buffer.alloc(64 * 1024, 0x20), maxBytes: DEFAULT_MAX_BODY_BYTES + 1 },
    );
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ status: 'rejected', error: `the body is larger than ${DEFAULT_MAX_BODY_BYTES} bytes` });
    expect(reply.headers.connection).toBe('close');
    expect(reply.written).toBe(0);
    expect(await probe.settledDepth()).toBe(0);
  });

  it.each([
    ['the wrong company', { company: 'Other' }],
    ['an unknown binding', { binding: 'nope' }],
    ['the binding of a BigCommerce store (same secret)', { binding: 'bc' }],
    ['a validation parameter that is not the secret', { validation: 'guess' }],
  ])('%s → 401 even with a valid HMAC, nothing queued', async (_case, params) => {
    const reply = await deliver('orders/updated', orderRaw, { path: address(params) });
    expect(reply.status).toBe(401);
    expect(reply.json).toEqual({ status: 'rejected', error: 'unauthorized: company, binding or signature does not match' });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a validation parameter equal to the secret is accepted alongside the HMAC', async () => {
    const reply = await deliver('orders/updated', orderRaw, { path: address({ validation: SECRET }) });
    expect(reply.json.status).toBe('queued');
    expect(await probe.takeAll()).toHaveLength(1);
  });

  it('no binding parameter → 401 saying what a Shopify callback must carry', async () => {
    const path = `/commerce/webhook?${new URLSearchParams({ type: 'shopify', company: COMPANY }).toString()}`;
    const reply = await deliver('orders/updated', orderRaw, { path });
    expect(reply.status).toBe(401);
    expect(reply.json.error).toMatch(/must carry the type, company and binding URL parameters/);
  });

  it.each([
    ['no X-Shopify-Topic', undefined, orderRaw, 'missing the X-Shopify-Topic header'],
    ['no id', 'orders/updated', '{"email":"jon@example.com"}', 'missing "id" (the id of the resource that changed)'],
    ['an array body', 'orders/updated', '[1]', 'the body must be a JSON object'],
  ])('%s (validly signed) → 400, nothing queued', async (_case, topic, raw, error) => {
    const reply = await deliver(topic, raw);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ status: 'rejected', error });
    expect(await probe.settledDepth()).toBe(0);
  });

  it('a validly signed body that is not JSON → 400', async () => {
    const reply = await deliver('orders/updated', 'id=1');
    expect(reply.status).toBe(400);
    expect(reply.json.error).toMatch(/^the body is not valid JSON/);
  });

  it('a topic no entity imports → 200 "ignored", nothing queued', async () => {
    const reply = await deliver('products/update', '{"id":632910392}');
    expect(reply.json).toEqual({
      status: 'ignored',
      queued: false,
      reason: 'no entity imports through "products/update"; the hook was acknowledged and not queued',
    });
    expect(await probe.settledDepth()).toBe(0);
  });
});
