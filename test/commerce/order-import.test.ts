import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import type { CommerceMessage } from '../../src/commerce/message.ts';
import { setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import { createCommerceRole, type RunningCommerce } from '../../src/commerce/role.ts';
import { BigCommerceSimulator, type SimCustomer } from '../support/bigcommerce-simulator.ts';
import { useTestContext } from '../support/isolation.ts';
import { bigCommerceHooks, engineContext, exportMessage, makeDir, publish, shippedInquirySql, waitFor } from './harness.ts';

/**
 * SalesOrder import in prepare-and-process mode: a BigCommerce order webhook ends with a sales order
 * and its lines in the sample ERP (customer through the Customer sync link, items by SKU), its sync
 * row `processed`, and the export echo of that write (its BC-PUSH-Orders row) not pushed back.
 */
const t = useTestContext('commerce-order-import');
let sim: BigCommerceSimulator;
let role: RunningCommerce;
let broker: Broker;
let removeDir: () => Promise<void>;
let inquirySql: string;
let buyer: SimCustomer;

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const made = await makeDir([
    {
      name: 'shop',
      connector: 'bigcommerce',
      baseUrl: sim.baseUrl,
      accessToken: sim.token,
      entities: {
        Customer: { direction: 'bidirectional', realtimeMode: 'prepare-and-process' },
        SalesOrder: { direction: 'bidirectional', realtimeMode: 'prepare-and-process', maxFailedAttempts: 5 },
      },
    },
  ]);
  removeDir = made.remove;
  const ctx = await engineContext(t, made.dir, { PUSHCDC_DEBOUNCE_MS: '300' });
  broker = ctx.broker;
  for (const direction of ['import', 'export'] as const) await setRealtimeStatus(t.pool, 'shop', 'SalesOrder', direction, 'running');
  // The ERP side: a customer linked to a storefront customer, two items, an order numbered 000007.
  buyer = sim.addCustomer({ email: 'buyer@example.com', first_name: 'Bu', last_name: 'Yer' });
  await t.pool.query(`INSERT INTO customer (customer_cd, name, email) VALUES ('C000001', 'Buyer AS', 'buyer@example.com')`);
  await t.pool.query(`INSERT INTO pushcdc.sync_status (store, entity, local_id, extern_id, status) VALUES ('shop', 'Customer', 'C000001', $1, 'processed')`, [
    String(buyer.id),
  ]);
  await t.pool.query(`INSERT INTO warehouse (warehouse_id, warehouse_cd, description) VALUES (1, 'MAIN', 'Main warehouse')`);
  await t.pool.query(
    `INSERT INTO inventory_item (inventory_id, inventory_cd, description, item_class, stock_item, default_warehouse_id)
     VALUES (1, 'SKU-A', 'Widget A', 'GOODS', true, 1), (2, 'SKU-B', 'Service B', 'SERVICE', false, NULL)`,
  );
  await t.pool.query(
    `INSERT INTO sales_order (order_type, order_nbr, customer_id, order_date) SELECT 'SO', '000007', customer_id, date '2026-01-01' FROM customer WHERE customer_cd = 'C000001'`,
  );
  inquirySql = await shippedInquirySql('BC-PUSH-Orders');
  role = await createCommerceRole({ prefetch: 100 })(ctx);
});

afterAll(async () => {
  await role?.stop();
  await broker?.close();
  await sim?.close();
  await removeDir?.();
});

// A later second than the order's last change (v2 dates and created_at have second precision).
const hooks = bigCommerceHooks(() => sim.storeHash, 3);
const hook = (orderId: number): CommerceMessage => hooks('shop', 'store/order/updated', 'order', orderId);

interface OrderSyncRow {
  local_id: string | null;
  status: string;
  last_operation: string | null;
  last_error: string | null;
  attempt_count: number;
}

const syncRow = async (orderId: number) =>
  (
    await t.pool.query<OrderSyncRow>(
      `SELECT local_id, status, last_operation, last_error, attempt_count FROM pushcdc.sync_status WHERE store = 'shop' AND entity = 'SalesOrder' AND extern_id = $1`,
      [String(orderId)],
    )
  ).rows[0];

const rowWith = (what: string, orderId: number, check: (r: OrderSyncRow) => boolean) =>
  waitFor(what, async () => {
    const r = await syncRow(orderId);
    return r !== undefined && check(r) && r;
  });

const product = (sku: string, quantity: number, price: string, name: string) => ({
  sku,
  quantity,
  price_ex_tax: price,
  total_ex_tax: (Number(price) * quantity).toFixed(4),
  name,
});

async function erpLines(nbr: string) {
  const { rows } = await t.pool.query(
    `SELECT l.line_nbr, i.inventory_cd, l.warehouse_id, l.description, l.order_qty, l.unit_price, l.line_amount
       FROM sales_order_line l JOIN inventory_item i USING (inventory_id) WHERE l.order_type = 'SO' AND l.order_nbr = $1 ORDER BY l.line_nbr`,
    [nbr],
  );
  return rows;
}

describe('SalesOrder import, prepare-and-process', () => {
  let orderId: number;

  it('a new storefront order becomes an ERP sales order with the next number, its customer by the sync link, its lines by SKU', async () => {
    const order = sim.addOrder([product('SKU-A', 2, '10.5000', 'Widget A'), product('SKU-B', 1, '5.0000', 'Service B')], {
      customer_id: buyer.id,
      currency_code: 'NOK',
      total_inc_tax: '26.0000',
    });
    orderId = order.id;
    await publish(broker, t.names.commerceQueue, [hook(order.id)]);
    const row = await rowWith('the order imported', order.id, (r) => r.status === 'processed');
    expect(row).toMatchObject({ local_id: 'SO|000008', last_operation: 'import-created', attempt_count: 0 });
    const { rows } = await t.pool.query(
      `SELECT c.customer_cd, so.status, so.order_date, so.currency_id, so.order_total, so.extern_ref
         FROM sales_order so JOIN customer c USING (customer_id) WHERE so.order_type = 'SO' AND so.order_nbr = '000008'`,
    );
    expect(rows[0]).toEqual({
      customer_cd: 'C000001',
      status: 'N',
      order_date: new Date(order.date_created as string).toISOString().slice(0, 10),
      currency_id: 'NOK',
      order_total: '26.0000',
      extern_ref: String(order.id),
    });
    expect(await erpLines('000008')).toEqual([
      { line_nbr: 1, inventory_cd: 'SKU-A', warehouse_id: 1, description: 'Widget A', order_qty: '2.000000', unit_price: '10.5000', line_amount: '21.0000' },
      { line_nbr: 2, inventory_cd: 'SKU-B', warehouse_id: null, description: 'Service B', order_qty: '1.000000', unit_price: '5.0000', line_amount: '5.0000' },
    ]);
    expect(sim.calls().filter((c) => c.method !== 'GET')).toHaveLength(0);
  });

  it('the export echo of that write (its BC-PUSH-Orders row) is not pushed back', async () => {
    const { rows } = await t.pool.query<Record<string, unknown>>(`SELECT * FROM (${inquirySql}) q WHERE "OrderNbr" = '000008' ORDER BY "LineNbr"`);
    const before = sim.calls().length;
    const unchangedBefore = role.stats().outcomes.unchanged ?? 0;
    // The Commerce Push Destination sends a record's last row.
    await publish(broker, t.names.commerceQueue, [{ ...exportMessage('shop', 'SalesOrder', 'SO|000008', rows.at(-1)!), at: new Date().toISOString() }]);
    await waitFor('the echo handled', async () => (role.stats().outcomes.unchanged ?? 0) > unchangedBefore);
    expect(await syncRow(orderId)).toMatchObject({ status: 'processed', last_operation: 'unchanged' });
    expect(sim.calls().slice(before).map((c) => `${c.method} ${c.path}`)).toEqual([`GET /v2/orders/${orderId}`]);
  });

  it('a change on the storefront updates the linked order: status, lines by number, a removed line deleted', async () => {
    const order = sim.orders.get(orderId)!;
    Object.assign(order, { status_id: 9, status: 'Awaiting Shipment', total_inc_tax: '31.5000', date_modified: new Date(Date.now() + 2000).toUTCString() });
    sim.orderProducts.set(orderId, [{ id: 9001, ...product('SKU-A', 3, '10.5000', 'Widget A') }]);
    await publish(broker, t.names.commerceQueue, [hook(orderId)]);
    const row = await rowWith('the order updated', orderId, (r) => r.last_operation === 'import-updated');
    expect(row).toMatchObject({ local_id: 'SO|000008', status: 'processed' });
    const { rows } = await t.pool.query(`SELECT status, order_total FROM sales_order WHERE order_type = 'SO' AND order_nbr = '000008'`);
    expect(rows[0]).toEqual({ status: 'S', order_total: '31.5000' });
    expect(await erpLines('000008')).toEqual([
      { line_nbr: 1, inventory_cd: 'SKU-A', warehouse_id: 1, description: 'Widget A', order_qty: '3.000000', unit_price: '10.5000', line_amount: '31.5000' },
    ]);
  });

  it('an order with a SKU the ERP has no item for is invalid; nothing written', async () => {
    const order = sim.addOrder([product('SKU-A', 1, '1.0000', 'Widget A'), product('SKU-NONE', 1, '1.0000', 'Unknown')], { customer_id: buyer.id });
    await publish(broker, t.names.commerceQueue, [hook(order.id)]);
    const row = await rowWith('the order invalid', order.id, (r) => r.status === 'invalid');
    expect(row.last_error).toBe('the order has SKUs the ERP has no item for: SKU-NONE');
    expect((await t.pool.query('SELECT 1 FROM sales_order WHERE extern_ref = $1', [String(order.id)])).rows).toHaveLength(0);
  });

  it('a guest order is invalid; an order of a customer not linked yet is failed, naming the customer to sync first', async () => {
    const guest = sim.addOrder([product('SKU-A', 1, '1.0000', 'Widget A')]);
    await publish(broker, t.names.commerceQueue, [hook(guest.id)]);
    const invalid = await rowWith('the guest order invalid', guest.id, (r) => r.status === 'invalid');
    expect(invalid.last_error).toMatch(/guest checkout/);

    const stranger = sim.addCustomer({ email: 'stranger@example.com' });
    const order = sim.addOrder([product('SKU-A', 1, '1.0000', 'Widget A')], { customer_id: stranger.id });
    await publish(broker, t.names.commerceQueue, [hook(order.id)]);
    const failed = await rowWith('the order failed', order.id, (r) => r.status === 'failed');
    expect(failed).toMatchObject({ attempt_count: 1, local_id: null });
    expect(failed.last_error).toBe(`the order's storefront customer ${stranger.id} is not linked to an ERP customer: sync the Customer first`);
  });
});
