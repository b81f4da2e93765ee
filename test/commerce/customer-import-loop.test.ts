import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { bigCommerceHookMessage } from '../../src/commerce/hook-message.ts';
import { setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import { BigCommerceSimulator } from '../support/bigcommerce-simulator.ts';
import { EngineProcess } from '../support/engine-process.ts';
import { deleteQueues, useTestContext } from '../support/isolation.ts';
import { engineContext, makeDir, publish, waitFor } from './harness.ts';

/**
 * The whole loop in a running engine (capture, dispatch, commerce): a storefront customer webhook is
 * imported into the ERP's tables; capture sees that write, BC-PUSH-Customers changes, the Commerce
 * Push Destination sends the record back to the commerce role as an export — and the export finds
 * the storefront already holding that content: nothing is pushed back, the record stays in sync.
 */
const t = useTestContext('commerce-import-loop');
const INQUIRY = 'BC-PUSH-Customers';
let sim: BigCommerceSimulator;
let broker: Broker;
let engine: EngineProcess;
let removeDir: () => Promise<void>;

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const made = await makeDir([
    {
      name: 'loop',
      connector: 'bigcommerce',
      baseUrl: sim.baseUrl,
      accessToken: sim.token,
      entities: { Customer: { direction: 'bidirectional', realtimeMode: 'prepare-and-process' } },
    },
  ]);
  removeDir = made.remove;
  await mkdir(path.join(made.dir, 'inquiries'));
  await copyFile(path.join(import.meta.dirname, '../../inquiries', `${INQUIRY}.sql`), path.join(made.dir, 'inquiries', `${INQUIRY}.sql`));
  await mkdir(path.join(made.dir, 'destinations'));
  const destination = { name: 'commerce', type: 'commerce', active: true, inquiries: [{ inquiry: INQUIRY, active: true, trackAllFields: true }] };
  await writeFile(path.join(made.dir, 'destinations', 'commerce.json'), JSON.stringify(destination));
  broker = (await engineContext(t, made.dir, {})).broker;
  await setRealtimeStatus(t.pool, 'loop', 'Customer', 'import', 'running');
  await setRealtimeStatus(t.pool, 'loop', 'Customer', 'export', 'running');
  engine = new EngineProcess(['--roles', 'capture,dispatch,commerce', '--dir', made.dir], { ...t.env, PUSHCDC_DEBOUNCE_MS: '300', PUSHCDC_HTTP_PORT: '0' });
  await engine.start(/"msg":"streaming"/, 60_000);
}, 90_000);

afterAll(async () => {
  await engine?.kill('SIGTERM');
  await broker?.close();
  await sim?.close();
  await removeDir?.();
  // The commerce destination's own queue (the context deletes primaryQueue and commerceQueue).
  await deleteQueues([`${t.names.primaryQueue}.commerce`]);
});

describe('import → capture → export echo', () => {
  it('the echo of an imported customer is not pushed back to the storefront', { timeout: 60_000 }, async () => {
    const customer = sim.addCustomer({ email: 'loop@example.com', first_name: 'Lou', last_name: 'Pe' });
    sim.addCustomerAddress(customer.id, { first_name: 'Lou', last_name: 'Pe', address1: '9 Ring Road', city: 'Oslo', country_code: 'NO' });
    const body = { producer: `stores/${sim.storeHash}`, hash: 'h1', created_at: Math.ceil(Date.now() / 1000), store_id: '1', scope: 'store/customer/created', data: { type: 'customer', id: customer.id } };
    await publish(broker, t.names.commerceQueue, [bigCommerceHookMessage('loop', body)!]);
    const sync = () =>
      t.pool
        .query<{ local_id: string | null; status: string; last_operation: string | null }>(
          `SELECT local_id, status, last_operation FROM pushcdc.sync_status WHERE store = 'loop' AND entity = 'Customer' AND extern_id = $1`,
          [String(customer.id)],
        )
        .then((r) => r.rows[0]);
    const imported = await waitFor('the import', async () => (await sync())?.last_operation === 'import-created' && sync(), 30_000);
    expect(imported).toMatchObject({ local_id: 'C000001', status: 'processed' });
    // The ERP write comes back through capture and the Commerce Push Destination as an export.
    const echoed = await waitFor('the export echo', async () => (await sync())?.last_operation === 'unchanged' && sync(), 30_000);
    expect(echoed).toMatchObject({ local_id: 'C000001', status: 'processed' });
    expect(sim.calls().filter((c) => c.method !== 'GET')).toEqual([]);
  });
});
