import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { RabbitMqBroker } from '../../src/broker/rabbitmq.ts';
import { startFanout, type Fanout, type Route } from '../../src/dispatch/fanout.ts';
import { destinationQueue, PRIMARY_SINGLE_ACTIVE } from '../../src/dispatch/queues.ts';
import { rootLogger } from '../../src/log.ts';
import { serializeEnvelope, type NotificationEnvelope } from '../../src/notification.ts';
import { deleteQueues, useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';
import { TEST_AMQP_URL } from '../support/services.ts';
import { envelope } from './fixtures.ts';

/**
 * The fan-out on its own, with RabbitMQ: a message the relay published (its inquiry in a `query`
 * header, its Id as messageId) goes to destinations that track no fields as it arrived, unread; one
 * whose destinations track fields, or without the header, is read and written anew, its rows as they came.
 */
const t = useTestContext('dispatch_fanout', { sample: false });
const QUERY = 'T-Customers';
let broker: Broker;
let fanout: Fanout | undefined;
const readers: QueueReader[] = [];
const queues: string[] = [];

beforeAll(async () => {
  broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: `test-${t.instance}` });
  await broker.assertQueue(t.names.primaryQueue, { singleActiveConsumer: PRIMARY_SINGLE_ACTIVE });
});
afterEach(async () => {
  await fanout?.stop();
  fanout = undefined;
  await Promise.all(readers.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  await broker?.close();
  await deleteQueues(queues);
});

/** Starts the fan-out with one route per destination, each read by a QueueReader. */
async function start(destinations: { name: string; trackedFields: string[] | null }[]): Promise<Map<string, QueueReader>> {
  const routes: Route[] = [];
  const byName = new Map<string, QueueReader>();
  for (const d of destinations) {
    const queue = destinationQueue(t.names.primaryQueue, `${d.name}_${queues.length}`);
    queues.push(queue);
    const reader = new QueueReader(queue);
    await reader.start();
    readers.push(reader);
    byName.set(d.name, reader);
    routes.push({ destination: d.name, queue, trackedFields: d.trackedFields });
  }
  fanout = await startFanout({ broker, pool: t.pool, logger: rootLogger, primaryQueue: t.names.primaryQueue, routes: new Map([[QUERY, routes]]) });
  return byName;
}

const customer = (id: string, name: string, city: string) => ({ key: [id], row: { CustomerID: id, Name: name, City: city } });
/** A rename: City unchanged. */
const rename = (): NotificationEnvelope => envelope(QUERY, { deleted: [customer('1', 'Acme', 'Oslo')], inserted: [customer('1', 'Acme Ltd', 'Oslo')] });
/** JSON laid out otherwise than serializeEnvelope writes it, so a rewrite shows. */
const spacedJson = (json: string) => json.replaceAll('":', '": ').replaceAll(',"', ', "');
const spaced = (e: NotificationEnvelope) => spacedJson(serializeEnvelope(e));
/** What a rewrite of `spaced(e)` is: serializeEnvelope's layout, the rows' texts kept (spaced). */
const rewritten = (e: NotificationEnvelope) =>
  serializeEnvelope({
    ...e,
    rowTexts: {
      Inserted: e.notification.Inserted.map((row) => spacedJson(JSON.stringify(row))),
      Deleted: e.notification.Deleted.map((row) => spacedJson(JSON.stringify(row))),
    },
  });

describe('fan-out', () => {
  it('copies a message with a query header, byte for byte, to destinations that track no fields', async () => {
    const readers = await start([{ name: 'all', trackedFields: null }, { name: 'also', trackedFields: null }]);
    const e = rename();
    const body = spaced(e);
    await broker.publish(t.names.primaryQueue, [{ body, messageId: e.notification.Id, headers: { query: QUERY } }]);
    for (const reader of readers.values()) {
      await reader.waitFor(() => reader.messages.length === 1);
      expect(reader.messages[0]!.raw).toBe(body);
      expect(reader.messages[0]!.messageId).toBe(e.notification.Id);
      expect(reader.messages[0]!.envelope).toEqual(e);
    }
  });

  it('reads and filters a message with a query header when a destination of its inquiry tracks fields', async () => {
    const readers = await start([{ name: 'all', trackedFields: null }, { name: 'city', trackedFields: ['City'] }]);
    const moved = envelope(QUERY, { deleted: [customer('2', 'Beta', 'Bergen')], inserted: [customer('2', 'Beta', 'Trondheim')] });
    for (const e of [rename(), moved]) {
      await broker.publish(t.names.primaryQueue, [{ body: spaced(e), messageId: e.notification.Id, headers: { query: QUERY } }]);
    }
    const all = readers.get('all')!;
    await all.waitFor(() => all.messages.length === 2);
    // Read and written anew: the layout is serializeEnvelope's but each row is the text it arrived as,
    // and the rename did not reach "city".
    expect(all.messages.map((m) => m.raw)).toEqual([rewritten(all.messages[0]!.envelope), rewritten(moved)]);
    const city = readers.get('city')!;
    await city.waitFor(() => city.messages.length === 1);
    expect(city.messages[0]!.envelope).toEqual(moved);
    expect(city.messages[0]!.raw).toBe(rewritten(moved));
  });

  it('reads a message without a query header (another publisher) and routes it by its Query', async () => {
    const readers = await start([{ name: 'all', trackedFields: null }]);
    const e = rename();
    await broker.publish(t.names.primaryQueue, [{ body: spaced(e), messageId: e.notification.Id }]);
    const all = readers.get('all')!;
    await all.waitFor(() => all.messages.length === 1);
    expect(all.messages[0]!.raw).toBe(rewritten(e));
  });
});
