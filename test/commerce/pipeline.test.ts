import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCommerceRole, type RunningCommerce } from '../../src/commerce/role.ts';
import { setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import type { Broker } from '../../src/broker/broker.ts';
import { BigCommerceSimulator } from '../support/bigcommerce-simulator.ts';
import { useTestContext } from '../support/isolation.ts';
import { customerRow, engineContext, exportMessage, makeDir, publish, running, syncRow, waitFor } from './harness.ts';

/**
 * The commerce role in process against real RabbitMQ and PostgreSQL, the storefront simulated:
 * the delay, the real-time modes, failures, rate limits, matching, stopped real-time sync.
 */
const DEBOUNCE_MS = 400;
const t = useTestContext('commerce-pipeline', { sample: false });
let sim: BigCommerceSimulator;
/** A second storefront, for the store that is rate limited while the others work. */
let slowSim: BigCommerceSimulator;
let role: RunningCommerce;
let broker: Broker;
let removeDir: () => Promise<void>;

const store = (name: string, entities: Record<string, unknown>) => ({
  name,
  connector: 'bigcommerce',
  baseUrl: sim.baseUrl,
  accessToken: sim.token,
  entities,
});

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  slowSim = await BigCommerceSimulator.start();
  const made = await makeDir([
    {
      name: 'slow',
      connector: 'bigcommerce',
      baseUrl: slowSim.baseUrl,
      accessToken: slowSim.token,
      concurrency: 1,
      entities: { Customer: { direction: 'export', realtimeMode: 'prepare-and-process' } },
    },
    store('proc', {
      Customer: { direction: 'export', realtimeMode: 'prepare-and-process', maxFailedAttempts: 3 },
      StockItem: { direction: 'export', realtimeMode: 'prepare-and-process' },
    }),
    store('prep', { Customer: { direction: 'export', realtimeMode: 'prepare' } }),
    store('halt', { Customer: { direction: 'export', realtimeMode: 'prepare-and-process' } }),
    store('ext', { Customer: { direction: 'bidirectional', realtimeMode: 'prepare-and-process', primarySystem: 'external' } }),
  ]);
  removeDir = made.remove;
  const ctx = await engineContext(t, made.dir, { PUSHCDC_DEBOUNCE_MS: String(DEBOUNCE_MS) });
  broker = ctx.broker;
  for (const [s, e] of [['slow', 'Customer'], ['proc', 'Customer'], ['proc', 'StockItem'], ['prep', 'Customer'], ['ext', 'Customer']] as const) await running(t, s, e);
  await setRealtimeStatus(t.pool, 'ext', 'Customer', 'import', 'running');
  role = await createCommerceRole({ prefetch: 1000 })(ctx);
});

afterAll(async () => {
  await role?.stop();
  await broker?.close();
  await sim?.close();
  await slowSim?.close();
  await removeDir?.();
});

const writes = (match: RegExp) => sim.calls(match).filter((c) => c.status < 300);
const idle = () => waitFor('the pipeline to hold nothing', async () => role.stats().held === 0 && role.stats().inFlight === 0);

describe('the commerce delay', () => {
  it('collapses three updates of one customer within the delay into one storefront call with the latest values', async () => {
    const queue = t.names.commerceQueue;
    const before = sim.calls().length;
    await publish(broker, queue, [exportMessage('proc', 'Customer', 'C1', customerRow('C1', 'Ada Lovelace', 'ada@example.com', 'Oslo'))]);
    await sleep(100);
    await publish(broker, queue, [exportMessage('proc', 'Customer', 'C1', customerRow('C1', 'Ada Lovelace', 'ada@example.com', 'Bergen'))]);
    await sleep(100);
    await publish(broker, queue, [exportMessage('proc', 'Customer', 'C1', customerRow('C1', 'Ada King', 'ada@example.com', 'Trondheim'))]);
    const row = await waitFor('C1 processed', async () => (await syncRow(t, 'proc', 'Customer', 'C1'))?.status === 'processed' && syncRow(t, 'proc', 'Customer', 'C1'));
    const calls = sim.calls().slice(before);
    const customerWrites = calls.filter((c) => /^(POST|PUT) \/v3\/customers/.test(`${c.method} ${c.path}`));
    expect(customerWrites).toHaveLength(1);
    expect(customerWrites[0]!.body).toMatchObject([
      { email: 'ada@example.com', first_name: 'Ada', last_name: 'King', addresses: [{ city: 'Trondheim', address1: '1 Main Street', country_code: 'NO' }] },
    ]);
    const created = [...sim.customers.values()].find((c) => c.email === 'ada@example.com');
    expect(row?.extern_id).toBe(String(created?.id));
    expect(row).toMatchObject({ attempt_count: 0, last_error: null, pending_sync: false, sync_in_process: false, last_operation: 'created' });
    expect(row?.extern_hash).toMatch(/^[0-9a-f]{64}$/);
    // Superseded messages were acknowledged with the latest: nothing held, nothing left in the queue.
    await idle();
    expect((await broker.stats(queue)).messages).toBe(0);
  });

  it('prepare mode: the record is prepared, the storefront is not called', async () => {
    const before = sim.calls().length;
    await publish(broker, t.names.commerceQueue, [exportMessage('prep', 'Customer', 'P1', customerRow('P1', 'Grace Hopper', 'grace@example.com'))]);
    const row = await waitFor('P1 prepared', () => syncRow(t, 'prep', 'Customer', 'P1'));
    expect(row).toMatchObject({ status: 'prepared', pending_sync: true, sync_in_process: false, extern_id: null });
    await idle();
    await sleep(DEBOUNCE_MS);
    expect(sim.calls().slice(before)).toHaveLength(0);
  });

  it('a storefront answering 500: failed with the error and attempts, aborted at maxFailedAttempts', async () => {
    sim.failNext(1000, 500, /customers/);
    try {
      for (let attempt = 1; attempt <= 3; attempt++) {
        await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'F1', customerRow('F1', `Failing ${attempt}`, 'fail@example.com'))]);
        const row = await waitFor(`F1 attempt ${attempt}`, async () => {
          const r = await syncRow(t, 'proc', 'Customer', 'F1');
          return r?.attempt_count === attempt && r;
        });
        expect(row.status).toBe(attempt < 3 ? 'failed' : 'aborted');
        expect(row.last_error).toContain('answered 500');
        expect(row.extern_id).toBeNull();
      }
      // The event of a failure is written just after its sync row: wait for the third.
      const rows = await waitFor('three events for F1', async () => {
        const { rows: events } = await t.pool.query<{ level: string; message: string }>(
          `SELECT level, message FROM pushcdc.system_events WHERE source = 'commerce' AND message LIKE 'Customer F1 %' ORDER BY id`,
        );
        return events.length >= 3 && events;
      });
      expect(rows.map((r) => r.level)).toEqual(['error', 'error', 'error']);
      expect(rows[2]!.message).toMatch(/aborted after 3 of 3: .*answered 500/);
    } finally {
      sim.clearInjected();
    }
    // An aborted record is not retried by later real-time changes (a user re-processes it).
    const before = sim.calls().length;
    const abortedBefore = role.stats().outcomes.aborted ?? 0;
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'F1', customerRow('F1', 'Fixed', 'fail@example.com'))]);
    await waitFor('the change of the aborted record to be handled', async () => (role.stats().outcomes.aborted ?? 0) > abortedBefore);
    await idle();
    expect(sim.calls().slice(before)).toHaveLength(0);
    expect((await syncRow(t, 'proc', 'Customer', 'F1'))?.status).toBe('aborted');
  });

  it('stopped real-time sync: nothing processed (and nothing kept); started again: changes flow', async () => {
    await setRealtimeStatus(t.pool, 'halt', 'Customer', 'export', 'stopped');
    const before = sim.calls().length;
    const stoppedBefore = role.stats().outcomes.stopped ?? 0;
    await publish(broker, t.names.commerceQueue, [exportMessage('halt', 'Customer', 'H1', customerRow('H1', 'While Stopped', 'halt@example.com'))]);
    await waitFor('the stopped message to be dropped', async () => (role.stats().outcomes.stopped ?? 0) > stoppedBefore);
    await idle();
    expect(await syncRow(t, 'halt', 'Customer', 'H1')).toBeUndefined();
    expect(sim.calls().slice(before)).toHaveLength(0);
    expect((await broker.stats(t.names.commerceQueue)).messages).toBe(0);

    await setRealtimeStatus(t.pool, 'halt', 'Customer', 'export', 'running');
    await sleep(1100); // the role reads real-time status through a 1 s cache
    await publish(broker, t.names.commerceQueue, [exportMessage('halt', 'Customer', 'H1', customerRow('H1', 'After Start', 'halt@example.com'))]);
    const row = await waitFor('H1 processed', async () => {
      const r = await syncRow(t, 'halt', 'Customer', 'H1');
      return r?.status === 'processed' && r;
    });
    expect(row.extern_id).not.toBeNull();
    expect(writes(/^POST \/v3\/customers$/).at(-1)?.body).toMatchObject([{ first_name: 'After', last_name: 'Start' }]);
  });
});

describe('matching and rate limits', () => {
  it('links an existing storefront customer by email instead of creating one', async () => {
    const existing = sim.addCustomer({ email: 'known@example.com' });
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'M1', customerRow('M1', 'Known Person', 'known@example.com'))]);
    const row = await waitFor('M1 processed', async () => {
      const r = await syncRow(t, 'proc', 'Customer', 'M1');
      return r?.status === 'processed' && r;
    });
    expect(row).toMatchObject({ extern_id: String(existing.id), last_operation: 'linked' });
    expect(writes(/^PUT \/v3\/customers$/).at(-1)?.body).toMatchObject([{ id: existing.id, first_name: 'Known', last_name: 'Person' }]);
    expect(sim.customers.get(existing.id)).toMatchObject({ first_name: 'Known', last_name: 'Person' });
    // The address went to the customers/addresses endpoint (created: the customer had none).
    expect([...sim.addresses.values()].filter((a) => a.customer_id === existing.id)).toHaveLength(1);
    expect([...sim.customers.values()].filter((c) => c.email === 'known@example.com')).toHaveLength(1);
  });

  it('more than one storefront customer with the email: failed with a clear error, nothing written', async () => {
    const a = sim.addCustomer({ email: 'twice@example.com' });
    const b = sim.addCustomer({ email: 'twice@example.com' });
    const before = sim.calls().length;
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'M2', customerRow('M2', 'Twice Seen', 'twice@example.com'))]);
    const row = await waitFor('M2 failed', async () => {
      const r = await syncRow(t, 'proc', 'Customer', 'M2');
      return r?.status === 'failed' && r;
    });
    expect(row.last_error).toBe(`2 storefront customers have the email twice@example.com (ids ${a.id}, ${b.id}): cannot tell which one this customer is`);
    expect(row.attempt_count).toBe(1);
    expect(sim.calls().slice(before).filter((c) => c.method !== 'GET')).toHaveLength(0);
  });

  it('links an existing product by SKU; a product without a match is created', async () => {
    const existing = sim.addProduct({ sku: 'SKU-LINK' });
    await publish(broker, t.names.commerceQueue, [
      exportMessage('proc', 'StockItem', 'I1', { InventoryCD: 'SKU-LINK', Description: 'Linked widget', BasePrice: '12.5000', Weight: '1.250000' }),
      exportMessage('proc', 'StockItem', 'I2', { InventoryCD: 'SKU-NEW', Description: 'New widget', BasePrice: '3.0000', Weight: '0.5' }),
    ]);
    const linked = await waitFor('I1 processed', async () => {
      const r = await syncRow(t, 'proc', 'StockItem', 'I1');
      return r?.status === 'processed' && r;
    });
    expect(linked).toMatchObject({ extern_id: String(existing.id), last_operation: 'linked' });
    expect(sim.products.get(existing.id)).toMatchObject({ name: 'Linked widget', price: 12.5, weight: 1.25 });
    const created = await waitFor('I2 processed', async () => {
      const r = await syncRow(t, 'proc', 'StockItem', 'I2');
      return r?.status === 'processed' && r;
    });
    expect(sim.products.get(Number(created.extern_id))).toMatchObject({ sku: 'SKU-NEW', type: 'physical', inventory_tracking: 'product' });
  });

  it('429 answers are waited out for the time the store asks, not counted as failures', async () => {
    sim.rateLimitNext(2, 700, /^POST \/v3\/customers$/);
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'R1', customerRow('R1', 'Rate Limited', 'rate@example.com'))]);
    const row = await waitFor('R1 processed', async () => {
      const r = await syncRow(t, 'proc', 'Customer', 'R1');
      return r?.status === 'processed' && r;
    });
    expect(row).toMatchObject({ attempt_count: 0, last_error: null });
    const posts = sim.calls(/^POST \/v3\/customers$/).filter((c) => (c.body as { email?: string }[])[0]?.email === 'rate@example.com');
    expect(posts.map((p) => p.status)).toEqual([429, 429, 200]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(690);
    expect(posts[2]!.at - posts[1]!.at).toBeGreaterThanOrEqual(690);
  });
});

describe('stores', () => {
  it('a rate-limited store fills only its own processing slots; other stores keep flowing', async () => {
    slowSim.rateLimitNext(5, 4000);
    await publish(
      broker,
      t.names.commerceQueue,
      [1, 2, 3, 4, 5].map((i) => exportMessage('slow', 'Customer', `S${i}`, customerRow(`S${i}`, `Slow ${i}`, `slow${i}@example.com`))),
    );
    await waitFor('the slow store to be waiting on its rate limit', async () => slowSim.calls().length > 0);
    const started = Date.now();
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'Q1', customerRow('Q1', 'Quick One', 'quick@example.com'))]);
    await waitFor('Q1 processed', async () => (await syncRow(t, 'proc', 'Customer', 'Q1'))?.status === 'processed');
    expect(Date.now() - started).toBeLessThan(3500);
    // The slow store got there too, one record at a time.
    for (let i = 1; i <= 5; i++) {
      await waitFor(`S${i} processed`, async () => (await syncRow(t, 'slow', 'Customer', `S${i}`))?.status === 'processed', 40_000);
    }
    expect(slowSim.calls().filter((c) => c.status === 429)).toHaveLength(5);
  }, 60_000);
});

describe('direction, outcomes and imports', () => {
  const processed = (st: string, id: string) =>
    waitFor(`${id} processed`, async () => {
      const r = await syncRow(t, st, 'Customer', id);
      return r?.status === 'processed' && r;
    });

  it('both sides changed and the storefront is the primary system: the export is skipped', async () => {
    await publish(broker, t.names.commerceQueue, [exportMessage('ext', 'Customer', 'X1', customerRow('X1', 'Both Sides', 'both@example.com'))]);
    const first = await processed('ext', 'X1');
    // Someone edits the customer on the storefront after our sync...
    const customer = sim.customers.get(Number(first.extern_id))!;
    customer.date_modified = new Date(Date.now() + 60_000).toISOString();
    customer.first_name = 'Edited';
    // ...and the ERP changes it too: the storefront version wins, nothing is written.
    const before = sim.calls().length;
    await publish(broker, t.names.commerceQueue, [exportMessage('ext', 'Customer', 'X1', customerRow('X1', 'ERP Change', 'both@example.com'))]);
    const row = await waitFor('X1 skipped', async () => {
      const r = await syncRow(t, 'ext', 'Customer', 'X1');
      return r?.status === 'skipped' && r;
    });
    expect(row.last_error).toMatch(/primary system is external/);
    expect(sim.calls().slice(before).map((c) => `${c.method} ${c.path}`)).toEqual(['GET /v3/customers']);
    expect(customer.first_name).toBe('Edited');
  });

  it('only the ERP changed since the last sync: exported even with the storefront as primary system', async () => {
    await publish(broker, t.names.commerceQueue, [exportMessage('ext', 'Customer', 'X2', customerRow('X2', 'First Version', 'x2@example.com'))]);
    await processed('ext', 'X2');
    await publish(broker, t.names.commerceQueue, [exportMessage('ext', 'Customer', 'X2', customerRow('X2', 'Second Version', 'x2@example.com'))]);
    await waitFor('X2 updated', async () => {
      const r = await syncRow(t, 'ext', 'Customer', 'X2');
      return r?.status === 'processed' && r.last_operation === 'updated';
    });
    expect([...sim.customers.values()].find((c) => c.email === 'x2@example.com')).toMatchObject({ first_name: 'Second', last_name: 'Version' });
  });

  it('a record missing a required column is invalid; a deleted record is marked deleted', async () => {
    const { Email: _none, ...noEmail } = customerRow('V1', 'No Email', '');
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'V1', noEmail)]);
    const row = await waitFor('V1 invalid', async () => {
      const r = await syncRow(t, 'proc', 'Customer', 'V1');
      return r?.status === 'invalid' && r;
    });
    expect(row.last_error).toMatch(/the customer email is missing/);
    const deletion = { ...exportMessage('proc', 'Customer', 'V1', noEmail), operation: 'delete' as const };
    await publish(broker, t.names.commerceQueue, [deletion]);
    await waitFor('V1 deleted', async () => (await syncRow(t, 'proc', 'Customer', 'V1'))?.status === 'deleted');
  });

  it('a change only in columns the storefront does not get: processed as unchanged, nothing written', async () => {
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'U1', { ...customerRow('U1', 'Same Content', 'same@example.com'), CreditLimit: '100.0000' })]);
    await processed('proc', 'U1');
    const before = sim.calls().length;
    await publish(broker, t.names.commerceQueue, [exportMessage('proc', 'Customer', 'U1', { ...customerRow('U1', 'Same Content', 'same@example.com'), CreditLimit: '900.0000' })]);
    const row = await waitFor('U1 unchanged', async () => {
      const r = await syncRow(t, 'proc', 'Customer', 'U1');
      return r?.last_operation === 'unchanged' && r;
    });
    expect(row).toMatchObject({ status: 'processed', pending_sync: false, attempt_count: 0 });
    // One look at the storefront's stamp (has it changed there?), no write.
    expect(sim.calls().slice(before).map((c) => `${c.method} ${c.path}`)).toEqual(['GET /v3/customers']);
  });

  it('a late, older message after a failure retries the newer pending version, not its own', async () => {
    const newer = exportMessage('proc', 'Customer', 'L1', customerRow('L1', 'Newer Version', 'late@example.com'));
    const older = { ...exportMessage('proc', 'Customer', 'L1', customerRow('L1', 'Older Version', 'late@example.com')), at: new Date(Date.parse(newer.at) - 5000).toISOString() };
    sim.failNext(1, 500, /^GET \/v3\/customers$/);
    await publish(broker, t.names.commerceQueue, [newer]);
    await waitFor('L1 failed', async () => (await syncRow(t, 'proc', 'Customer', 'L1'))?.status === 'failed');
    await publish(broker, t.names.commerceQueue, [older]);
    await processed('proc', 'L1');
    expect([...sim.customers.values()].find((c) => c.email === 'late@example.com')).toMatchObject({ first_name: 'Newer', last_name: 'Version' });
  });

  it('a malformed message is dropped with an error event, not redelivered forever', async () => {
    await broker.publish(t.names.commerceQueue, [{ body: '{"store":"proc","entity":"Customer"}' }]);
    await waitFor('the error event', async () => {
      const { rows } = await t.pool.query(`SELECT 1 FROM pushcdc.system_events WHERE message LIKE 'dropped a commerceQueue message: %direction%'`);
      return rows.length > 0;
    });
    await idle();
    expect((await broker.stats(t.names.commerceQueue)).messages).toBe(0);
  });
});
