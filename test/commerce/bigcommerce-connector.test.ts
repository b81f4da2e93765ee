import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreConfig } from '../../src/config/stores.ts';
import { BigCommerceConnector } from '../../src/commerce/connectors/bigcommerce/connector.ts';
import { InvalidRecordError } from '../../src/commerce/record-fields.ts';
import { chooseDirection } from '../../src/commerce/direction.ts';
import { rootLogger } from '../../src/log.ts';
import { BigCommerceSimulator } from '../support/bigcommerce-simulator.ts';

/**
 * The BigCommerce processors against the simulated store's documented shapes: products and their
 * inventory, order status, shipments, a customer's address on update, and the direction rule.
 */
let sim: BigCommerceSimulator;
let connector: BigCommerceConnector;

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const store: StoreConfig = {
    name: 'direct',
    file: 'stores/direct.json',
    connector: 'bigcommerce',
    active: true,
    baseUrl: sim.baseUrl,
    accessToken: sim.token,
    inventoryLocationId: 3,
    concurrency: 4,
    requestTimeoutMs: 5000,
    entities: {},
  };
  connector = new BigCommerceConnector(store, rootLogger);
});

afterAll(async () => {
  await sim?.close();
});

describe('BigCommerce export processors', () => {
  it('StockItem: created with its SKU, then updated by extern_id', async () => {
    const created = await connector.processPush('StockItem', { InventoryCD: 'AALEGO500', Description: 'Lego 500', BasePrice: '19.9900', Weight: '0.8' }, { externId: null });
    expect(created.operation).toBe('created');
    const product = sim.products.get(Number(created.externId));
    expect(product).toMatchObject({ sku: 'AALEGO500', name: 'Lego 500', price: 19.99, weight: 0.8, type: 'physical' });
    const updated = await connector.processPush('StockItem', { InventoryCD: 'AALEGO500', Description: 'Lego 500 pieces', BasePrice: 21 }, { externId: created.externId });
    expect(updated).toMatchObject({ externId: created.externId, operation: 'updated' });
    expect(sim.calls(/^PUT \/v3\/catalog\/products\/\d+$/).at(-1)?.body).toEqual({ sku: 'AALEGO500', name: 'Lego 500 pieces', price: 21 });
    expect(await connector.externModifiedAt('StockItem', created.externId)).toBe(sim.products.get(Number(created.externId))?.date_modified);
  });

  it('more than one product with the SKU is an error', async () => {
    sim.addProduct({ sku: 'TWICE' });
    sim.addProduct({ sku: 'TWICE' });
    await expect(connector.processPush('StockItem', { InventoryCD: 'TWICE', Description: 'x' }, { externId: null })).rejects.toThrow(
      /2 storefront products have the SKU TWICE/,
    );
  });

  it('ProductAvailability: absolute inventory level at the store\'s location, found by SKU', async () => {
    const product = sim.addProduct({ sku: 'AVAIL-1' });
    const outcome = await connector.processPush('ProductAvailability', { InventoryCD: 'AVAIL-1', WarehouseCD: 'MAIN', QtyAvailable: '42.000000' }, { externId: null });
    expect(outcome.externId).toBe(String(product.id));
    expect(sim.inventoryAdjustments.at(-1)).toEqual({
      reason: 'pushcdc real-time availability',
      items: [{ location_id: 3, product_id: product.id, quantity: 42 }],
    });
    expect(sim.products.get(product.id)?.inventory_level).toBe(42);
    // Oversold (negative available) shows as zero; the next time the extern_id is used directly.
    const before = sim.calls(/^GET \/v3\/catalog\/products$/).length;
    await connector.processPush('ProductAvailability', { InventoryCD: 'AVAIL-1', QtyAvailable: -3 }, { externId: outcome.externId });
    expect(sim.products.get(product.id)?.inventory_level).toBe(0);
    expect(sim.calls(/^GET \/v3\/catalog\/products$/).length).toBe(before);
  });

  it('ProductAvailability of an item not on the storefront fails clearly', async () => {
    await expect(connector.processPush('ProductAvailability', { InventoryCD: 'NOPE', QtyAvailable: 1 }, { externId: null })).rejects.toThrow(
      'no storefront product has the SKU NOPE: export the item first',
    );
  });

  it('SalesOrder: the ERP status becomes the storefront status_id of the order it came from', async () => {
    const order = sim.addOrder([{ sku: 'A', quantity: 2 }]);
    const outcome = await connector.processPush('SalesOrder', { OrderType: 'SO', OrderNbr: 'SO0001', Status: 'C', ExternRef: String(order.id) }, { externId: null });
    expect(outcome.externId).toBe(String(order.id));
    expect(sim.orders.get(order.id)).toMatchObject({ status_id: 2, status: 'Shipped' });
    expect(sim.calls(/^PUT \/v2\/orders\/\d+$/).at(-1)?.body).toEqual({ status_id: 2 });
    await expect(connector.processPush('SalesOrder', { OrderNbr: 'SO0002', Status: 'N' }, { externId: null })).rejects.toBeInstanceOf(InvalidRecordError);
    await expect(connector.processPush('SalesOrder', { ExternRef: String(order.id), Status: 'Z' }, { externId: null })).rejects.toThrow(/order status "Z"/);
  });

  it('Shipment: created for the order\'s products and address, linked by tracking number, updated by extern_id', async () => {
    const order = sim.addOrder([
      { sku: 'A', quantity: 2 },
      { sku: 'B', quantity: 1 },
    ]);
    const row = { ShipmentNbr: 'SH0001', OrderExternRef: String(order.id), Carrier: 'UPS Ground', TrackingNbr: '1Z999' };
    const created = await connector.processPush('Shipment', row, { externId: null });
    expect(created.operation).toBe('created');
    const shipments = sim.shipments.get(order.id) ?? [];
    expect(shipments).toHaveLength(1);
    const products = sim.orderProducts.get(order.id)!;
    expect(shipments[0]).toMatchObject({
      order_address_id: sim.orderAddresses.get(order.id)![0]!.id,
      tracking_number: '1Z999',
      shipping_method: 'UPS Ground',
      items: products.map((p) => ({ order_product_id: p.id, quantity: p.quantity })),
    });
    expect(created.externId).toBe(`${order.id}/${String(shipments[0]!.id)}`);
    // The same shipment again without its extern_id (say, after a lost sync_status): linked, not duplicated.
    const linked = await connector.processPush('Shipment', row, { externId: null });
    expect(linked).toMatchObject({ externId: created.externId, operation: 'linked' });
    await connector.processPush('Shipment', { ...row, TrackingNbr: '1Z000' }, { externId: created.externId });
    expect(sim.shipments.get(order.id)).toHaveLength(1);
    expect(sim.shipments.get(order.id)![0]).toMatchObject({ tracking_number: '1Z000' });
  });

  it('Shipment without ExternalRef: the order is found through its SalesOrder sync link; an unsynced order is invalid', async () => {
    const order = sim.addOrder([{ sku: 'C', quantity: 4 }]);
    const links: string[] = [];
    const externIdOf = async (entity: string, localId: string) => {
      links.push(`${entity} ${localId}`);
      return localId === 'SO|000042' ? String(order.id) : null;
    };
    const row = { ShipmentNbr: 'SH0042', OrderType: 'SO', OrderNbr: '000042', InventoryID: 'C', ShippedQty: '3.000000', TrackingNbr: 'T42' };
    const outcome = await connector.processPush('Shipment', row, { externId: null, externIdOf });
    expect(links).toEqual(['SalesOrder SO|000042']);
    expect(outcome.externId.startsWith(`${order.id}/`)).toBe(true);
    expect(sim.shipments.get(order.id)![0]).toMatchObject({ items: [{ order_product_id: sim.orderProducts.get(order.id)![0]!.id, quantity: 3 }] });
    await expect(connector.processPush('Shipment', { ...row, OrderNbr: '000043' }, { externId: null, externIdOf })).rejects.toBeInstanceOf(InvalidRecordError);
  });

  it('Customer update by extern_id: PUT the customer, update its existing address', async () => {
    const first = await connector.processPush(
      'Customer',
      { CustomerID: 'ABC', CustomerName: 'Alan Turing', Email: 'alan@example.com', AddressLine1: 'Bletchley Park', City: 'Milton Keynes', PostalCode: 'MK3 6EB', Country: 'GB' },
      { externId: null },
    );
    const id = Number(first.externId);
    const addresses = () => [...sim.addresses.values()].filter((a) => a.customer_id === id);
    expect(addresses()).toHaveLength(1);
    await connector.processPush(
      'Customer',
      { CustomerID: 'ABC', ContactFirstName: 'Alan M.', ContactLastName: 'Turing', Email: 'alan@example.com', AddressLine1: 'Wilmslow', City: 'Cheshire', Country: 'GB' },
      { externId: first.externId },
    );
    expect(sim.customers.get(id)).toMatchObject({ first_name: 'Alan M.', last_name: 'Turing' });
    expect(addresses()).toHaveLength(1);
    expect(addresses()[0]).toMatchObject({ address1: 'Wilmslow', city: 'Cheshire' });
  });

  it('a record without a required column is invalid (not a storefront failure)', async () => {
    await expect(connector.processPush('Customer', { CustomerID: 'X', CustomerName: 'No Mail' }, { externId: null })).rejects.toThrow(
      /the customer email is missing/,
    );
  });

  it('an unauthorized token is a storefront error naming the status', async () => {
    const bad = new BigCommerceConnector(
      { name: 'bad', file: 'stores/bad.json', connector: 'bigcommerce', active: true, baseUrl: sim.baseUrl, accessToken: 'wrong', inventoryLocationId: 1, concurrency: 1, requestTimeoutMs: 5000, entities: {} },
      rootLogger,
    );
    await expect(bad.processPush('StockItem', { InventoryCD: 'Q', Description: 'q' }, { externId: null })).rejects.toThrow(
      'GET /v3/catalog/products answered 401: You are not authorized to perform this action',
    );
  });

  it('an unreachable store is a storefront error naming the address and the reason', async () => {
    // A port nothing listens on: taken from a server that is closed again before the request.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const away = new BigCommerceConnector(
      { name: 'away', file: 'stores/away.json', connector: 'bigcommerce', active: true, baseUrl: `http://127.0.0.1:${port}/stores/x`, accessToken: 't', inventoryLocationId: 1, concurrency: 1, requestTimeoutMs: 5000, entities: {} },
      rootLogger,
    );
    await expect(away.processPush('StockItem', { InventoryCD: 'Q', Description: 'q' }, { externId: null })).rejects.toThrow(
      new RegExp(`GET http://127\\.0\\.0\\.1:${port}/stores/x/v3/catalog/products\\S*: fetch failed \\(.*ECONNREFUSED`),
    );
  });

  it('supports: export for the built processors, import only where webhooks exist', () => {
    expect(connector.supports('Customer', 'import')).toBe(true);
    expect(connector.supports('SalesOrder', 'import')).toBe(true);
    expect(connector.supports('StockItem', 'import')).toBe(false);
    expect(connector.supports('Shipment', 'export')).toBe(true);
    expect(connector.supports('SalesCategory', 'export')).toBe(false);
  });
});

describe('direction by timestamps', () => {
  it('one side changed syncs from it; both changed: the primary system wins; neither: nothing', () => {
    expect(chooseDirection({ localChanged: true, externChanged: false, primarySystem: 'external' })).toBe('export');
    expect(chooseDirection({ localChanged: false, externChanged: true, primarySystem: 'erp' })).toBe('import');
    expect(chooseDirection({ localChanged: true, externChanged: true, primarySystem: 'erp' })).toBe('export');
    expect(chooseDirection({ localChanged: true, externChanged: true, primarySystem: 'external' })).toBe('import');
    expect(chooseDirection({ localChanged: false, externChanged: false, primarySystem: 'erp' })).toBe('none');
  });
});
