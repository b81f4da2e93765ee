import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/broker/broker.ts';
import { setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import type { CommerceMessage } from '../../src/commerce/message.ts';
import { DEFAULT_COMMERCE_MAPPING, loadDestinations } from '../../src/config/destinations.ts';
import { isoFromTicks } from '../../src/dispatch/commerce-messages.ts';
import type { RunningRole } from '../../src/engine/role.ts';
import type { InquiryCatalog } from '../../src/inquiry/catalog.ts';
import { loadInquiries, toCatalog } from '../../src/inquiry/load.ts';
import type { NotificationEnvelope } from '../../src/notification.ts';
import { storeFailed } from '../../src/dispatch/failed-store.ts';
import { serializeNotification } from '../../src/notification.ts';
import { runCli } from '../support/cli.ts';
import { useTestContext } from '../support/isolation.ts';
import { REPO_ROOT, envelope, eventually, publishEnvelopes, tempDir, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/**
 * The Commerce Push Destination: notifications of the shipped inquiries become per-record messages
 * on commerceQueue, only for stores whose entity is active, exported and running in real time.
 * The catalog is the real one, compiled from the repository's inquiries against the sample schema.
 */
const t = useTestContext('dispatch_commerce');
const harness = new DispatchHarness(t);
let catalog: InquiryCatalog;
let dir: string;
let removeDir: () => Promise<void>;
let dispatcher: RunningRole | undefined;

beforeAll(async () => {
  await harness.open();
  const loaded = await loadInquiries(t.pool, REPO_ROOT);
  expect(loaded.problems).toEqual([]);
  catalog = toCatalog(loaded.inquiries);
});
afterAll(() => harness.close());
beforeEach(async () => {
  ({ dir, remove: removeDir } = await tempDir('commerce'));
});
afterEach(async () => {
  if (dispatcher) {
    await dispatcher.stop();
    dispatcher = undefined;
    await harness.broker.purge(t.names.commerceQueue);
  }
  await removeDir();
});

const store = (name: string, entities: Record<string, object>, extra: object = {}) =>
  writeConfig(dir, 'stores', name, { name, connector: 'bigcommerce', baseUrl: `https://api.example.com/stores/${name}`, entities, ...extra });

const publish = (...envelopes: NotificationEnvelope[]) => publishEnvelopes(harness.broker, t.names.primaryQueue, envelopes);

/** Waits until `count` messages are in commerceQueue and no more follow, then takes them off it. */
async function takeCommerceMessages(count: number): Promise<{ message: CommerceMessage; messageId: string | undefined }[]> {
  const queue = t.names.commerceQueue;
  await eventually(async () => (await harness.broker.stats(queue)).messages >= count, `${count} commerceQueue messages`);
  await new Promise((resolve) => setTimeout(resolve, 400));
  expect((await harness.broker.stats(queue)).messages).toBe(count);
  const got: Delivery[] = [];
  const consumer = await harness.broker.consume(queue, (d) => got.push(d), { prefetch: 100 });
  await eventually(async () => got.length >= count, 'consuming commerceQueue');
  await consumer.cancel();
  for (const d of got) d.ack();
  return got.map((d) => ({ message: JSON.parse(d.body.toString('utf8')) as CommerceMessage, messageId: d.messageId }));
}

const customerRow = (id: string, name: string) => ({ CustomerID: id, CustomerName: name, Status: 'A', Email: `${id.toLowerCase()}@example.com` });

describe('commerce destination', () => {
  it('has built-in mappings that fit the shipped inquiries', async () => {
    await writeConfig(dir, 'destinations', 'commerce', {
      name: 'commerce',
      type: 'commerce',
      inquiries: Object.keys(DEFAULT_COMMERCE_MAPPING).map((inquiry) => ({ inquiry })),
    });
    const { destinations, problems } = await loadDestinations(dir, catalog, {});
    expect(problems).toEqual([]);
    expect(destinations[0]!.inquiries).toHaveLength(9);
  });

  it('one notification with three customers → three messages, only for the store whose entity is active, exported and running', async () => {
    await writeConfig(dir, 'destinations', 'commerce', { name: 'commerce', type: 'commerce', inquiries: [{ inquiry: 'BC-PUSH-Customers' }] });
    await store('shop-a', { Customer: { direction: 'bidirectional' } });
    await store('shop-b', { Customer: { direction: 'export' } }, { active: false });
    await store('shop-c', { Customer: { direction: 'export', active: false } });
    await store('shop-d', { Customer: { direction: 'export' } });
    await store('shop-e', { Customer: { direction: 'import' } });
    for (const s of ['shop-a', 'shop-b', 'shop-c', 'shop-e']) await setRealtimeStatus(t.pool, s, 'Customer', 'export', 'running');
    await setRealtimeStatus(t.pool, 'shop-d', 'Customer', 'export', 'stopped');
    dispatcher = await harness.start(dir, catalog, ['commerce']);

    const n = envelope('BC-PUSH-Customers', {
      inserted: [
        { key: ['1'], row: customerRow('C1', 'New Ltd') },
        { key: ['2'], row: customerRow('C2', 'Renamed Ltd') },
      ],
      deleted: [
        { key: ['2'], row: customerRow('C2', 'Old Ltd') },
        { key: ['3'], row: customerRow('C3', 'Gone Ltd') },
      ],
    });
    await publish(n);

    const got = await takeCommerceMessages(3);
    const at = isoFromTicks(n.notification.TimeStamp);
    const base = { store: 'shop-a', entity: 'Customer', direction: 'export', at, sourceId: n.notification.Id };
    expect(got.map((g) => g.message)).toEqual([
      { ...base, localId: 'C1', operation: 'upsert', payload: customerRow('C1', 'New Ltd') },
      { ...base, localId: 'C2', operation: 'upsert', payload: customerRow('C2', 'Renamed Ltd') },
      { ...base, localId: 'C3', operation: 'delete', payload: customerRow('C3', 'Gone Ltd') },
    ]);
    expect(got.map((g) => g.messageId)).toEqual(['C1', 'C2', 'C3'].map((id) => `${n.notification.Id}|shop-a|Customer|${id}`));
  });

  it('follows real-time start and stop, and keys composite records', async () => {
    await writeConfig(dir, 'destinations', 'commerce', {
      name: 'commerce',
      type: 'commerce',
      inquiries: [{ inquiry: 'BC-PUSH-Locations' }],
    });
    await store('shop-a', { CustomerLocation: { direction: 'export' } });
    await store('shop-d', { CustomerLocation: { direction: 'export' } });
    await setRealtimeStatus(t.pool, 'shop-a', 'CustomerLocation', 'export', 'running');
    dispatcher = await harness.start(dir, catalog, ['commerce']);
    const location = (c: string, l: string, city: string) => ({ key: [c, l], row: { CustomerID: c, LocationID: l, City: city } });

    const first = envelope('BC-PUSH-Locations', { inserted: [location('C1', 'MAIN', 'Oslo')] });
    await publish(first);
    const one = await takeCommerceMessages(1);
    expect(one[0]!.message).toMatchObject({ store: 'shop-a', entity: 'CustomerLocation', localId: 'C1|MAIN', operation: 'upsert' });

    // Stop shop-a, start shop-d: once the cached status expires (2 s) only shop-d gets the record.
    await setRealtimeStatus(t.pool, 'shop-a', 'CustomerLocation', 'export', 'stopped');
    await setRealtimeStatus(t.pool, 'shop-d', 'CustomerLocation', 'export', 'running');
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const second = envelope('BC-PUSH-Locations', { deleted: [location('C1', 'MAIN', 'Oslo')] });
    await publish(second);
    const two = await takeCommerceMessages(1);
    expect(two[0]!.message).toMatchObject({ store: 'shop-d', localId: 'C1|MAIN', operation: 'delete', sourceId: second.notification.Id });
  });

  it('`pushcdc failed resend` of a commerce notification publishes its records to commerceQueue', async () => {
    await writeConfig(dir, 'destinations', 'commerce', { name: 'commerce', type: 'commerce', inquiries: [{ inquiry: 'BC-PUSH-Customers' }] });
    await store('shop-r', { Customer: { direction: 'export' } });
    await setRealtimeStatus(t.pool, 'shop-r', 'Customer', 'export', 'running');
    await harness.broker.assertQueue(t.names.commerceQueue);
    const n = envelope('BC-PUSH-Customers', { inserted: [{ key: ['5'], row: customerRow('C5', 'Resent Ltd') }] }).notification;
    const id = await storeFailed(t.pool, {
      destination: 'commerce',
      query: n.Query,
      error: 'broker unavailable',
      payload: serializeNotification(n),
      notificationId: n.Id,
      attempts: 5,
    });
    const resent = await runCli(['failed', 'resend', id, '--dir', dir], t.env);
    expect(resent.stderr).toBe('');
    expect(resent.code).toBe(0);
    const got = await takeCommerceMessages(1);
    expect(got[0]!.message).toMatchObject({ store: 'shop-r', entity: 'Customer', localId: 'C5', operation: 'upsert', sourceId: n.Id });
    expect((await t.pool.query('SELECT 1 FROM pushcdc.failed_notifications WHERE id = $1', [id])).rows).toEqual([]);
  });
});
