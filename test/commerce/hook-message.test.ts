import { describe, expect, it } from 'vitest';
import type { StoreConfig } from '../../src/config/stores.ts';
import { bigCommerceHookMessage, storeForBigCommerceHook } from '../../src/commerce/hook-message.ts';

/** What the webhook receiver uses to turn a BigCommerce callback into a commerceQueue message. */
const store = (name: string, secret: string | undefined, connector: 'bigcommerce' | 'shopify' = 'bigcommerce'): StoreConfig => ({
  name,
  file: `stores/${name}.json`,
  connector,
  active: true,
  baseUrl: 'https://api.bigcommerce.com/stores/abc',
  webhookSecret: secret,
  inventoryLocationId: 1,
  concurrency: 4,
  requestTimeoutMs: 1000,
  entities: {},
});

describe('BigCommerce callbacks', () => {
  const stores = [store('a', 'secret-a'), store('b', 'secret-b'), store('s', 'secret-b', 'shopify'), store('n', undefined)];

  it('the store is the one whose webhookSecret the callback echoes, for our company and connector only', () => {
    expect(storeForBigCommerceHook(stores, { type: 'bigcommerce', company: 'Acme', validation: 'secret-b' }, 'Acme')?.name).toBe('b');
    expect(storeForBigCommerceHook(stores, { type: 'bigcommerce', company: 'Acme', validation: 'secret-x' }, 'Acme')).toBeUndefined();
    expect(storeForBigCommerceHook(stores, { type: 'bigcommerce', company: 'Other', validation: 'secret-a' }, 'Acme')).toBeUndefined();
    expect(storeForBigCommerceHook(stores, { type: 'shopify', company: 'Acme', validation: 'secret-a' }, 'Acme')).toBeUndefined();
    expect(storeForBigCommerceHook(stores, { type: 'bigcommerce', company: 'Acme' }, 'Acme')).toBeUndefined();
  });

  it('a customer callback becomes an import message keyed by the customer id', () => {
    const body = { producer: 'stores/abc', hash: 'h1', created_at: 1_700_000_000, store_id: '1', scope: 'store/customer/updated', data: { type: 'customer', id: 42 } };
    expect(bigCommerceHookMessage('a', body)).toEqual({
      store: 'a',
      entity: 'Customer',
      direction: 'import',
      externId: '42',
      operation: 'upsert',
      payload: body,
      at: '2023-11-14T22:13:20.000Z',
      sourceId: 'h1',
    });
  });

  it('address callbacks belong to their customer; deletes of customers and orders are deletes', () => {
    const address = { scope: 'store/customer/address/deleted', created_at: 1, data: { type: 'customer', id: 60, address: { customer_id: 32 } } };
    expect(bigCommerceHookMessage('a', address)).toMatchObject({ entity: 'Customer', externId: '32', operation: 'upsert' });
    expect(bigCommerceHookMessage('a', { scope: 'store/customer/deleted', created_at: 1, data: { id: 5 } })).toMatchObject({ operation: 'delete' });
    expect(bigCommerceHookMessage('a', { scope: 'store/order/created', created_at: 1, data: { type: 'order', id: 100 } })).toMatchObject({
      entity: 'SalesOrder',
      externId: '100',
    });
  });

  it('scopes no entity imports, and malformed bodies, give no message', () => {
    expect(bigCommerceHookMessage('a', { scope: 'store/category/updated', data: { id: 1 } })).toBeUndefined();
    expect(bigCommerceHookMessage('a', { scope: 'store/customer/updated', data: {} })).toBeUndefined();
    expect(bigCommerceHookMessage('a', 'nope')).toBeUndefined();
  });
});
