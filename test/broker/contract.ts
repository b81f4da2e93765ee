import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { PushcdcError } from '../../src/errors.ts';
import { uniqueKey } from '../support/isolation.ts';
import { killHard, spawnHoldingConsumer } from './support/child.ts';
import { collector, eventually, numbered, sleep } from './support/collect.ts';

export interface BrokerHarness {
  /** A new broker with its own connection(s), as a separate process would have. */
  create(): Promise<Broker>;
  /** Arguments for support/crash-consumer.ts after the queue and count are known. */
  crashConsumerArgs(queue: string, count: number): string[];
  /** Deletes the queues the suite declared. */
  cleanup(queues: string[]): Promise<void>;
}

/** Long enough for a message that was going to arrive to arrive; used to check that one did not. */
const QUIET_MS = 400;

async function expectBrokerError(work: Promise<unknown>, mentions: string): Promise<PushcdcError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PushcdcError);
  const brokerError = err as PushcdcError;
  expect(brokerError.code).toBe('BROKER');
  expect(brokerError.message).toContain(mentions);
  return brokerError;
}

/**
 * What every Broker must do, run against RabbitMQ and the embedded broker alike, so code above the
 * seam can rely on one behaviour whichever is configured.
 */
export function brokerContract(label: string, harness: BrokerHarness): void {
  describe(`${label}: the Broker contract`, () => {
    const brokers: Broker[] = [];
    const queues: string[] = [];

    const open = async (): Promise<Broker> => {
      const broker = await harness.create();
      brokers.push(broker);
      return broker;
    };
    const newQueue = async (broker: Broker, singleActiveConsumer = false): Promise<string> => {
      const queue = `test.${uniqueKey(label)}`;
      queues.push(queue);
      await broker.assertQueue(queue, { singleActiveConsumer });
      return queue;
    };
    /** Ready messages as a fresh broker sees them: unacked messages of closed brokers are back by then. */
    const readyCount = async (queue: string): Promise<number> => {
      const broker = await open();
      return (await broker.stats(queue)).messages;
    };

    afterEach(async () => {
      await Promise.all(brokers.splice(0).map((broker) => broker.close()));
    });
    afterAll(async () => {
      await harness.cleanup(queues);
    });

    it('delivers body, messageId and headers, and an acked message is gone', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, [
        { body: JSON.stringify({ hello: 'world' }), messageId: 'id-1', headers: { kind: 'test', n: 7, flag: true } },
      ]);
      const received = collector((d) => d.ack());
      await broker.consume(queue, received.handler, { prefetch: 10 });
      const [delivery] = await received.take(1);
      expect(JSON.parse(delivery!.body.toString('utf8'))).toEqual({ hello: 'world' });
      expect(delivery!.messageId).toBe('id-1');
      expect(delivery!.headers).toMatchObject({ kind: 'test', n: 7, flag: true });
      expect(delivery!.redelivered).toBe(false);
      await broker.close();
      expect(await readyCount(queue)).toBe(0);
    });

    it('accepts Buffer bodies and messages without id or headers', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, [{ body: Buffer.from([0, 1, 2, 255]) }]);
      const received = collector((d) => d.ack());
      await broker.consume(queue, received.handler, { prefetch: 1 });
      const [delivery] = await received.take(1);
      expect([...delivery!.body]).toEqual([0, 1, 2, 255]);
      expect(delivery!.messageId).toBeUndefined();
      expect(delivery!.headers).toEqual({});
    });

    it('delivers in publish order (FIFO) across publish calls', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, numbered('m', 200));
      await broker.publish(queue, numbered('m', 1, 200));
      await broker.publish(queue, numbered('m', 299, 201));
      const received = collector((d) => d.ack());
      await broker.consume(queue, received.handler, { prefetch: 50 });
      await received.take(500);
      expect(received.ids()).toEqual(numbered('m', 500).map((m) => m.messageId));
    });

    it('nack(requeue) delivers the message again with redelivered=true; nack(false) drops it', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, [{ body: '{"retry":true}', messageId: 'retry-me' }]);
      const received = collector((d, i) => (i === 0 ? d.nack(true) : d.ack()));
      await broker.consume(queue, received.handler, { prefetch: 5 });
      const [first, second] = await received.take(2);
      expect(first!.redelivered).toBe(false);
      expect(second!.messageId).toBe('retry-me');
      expect(second!.redelivered).toBe(true);
      expect(second!.body.toString()).toBe('{"retry":true}');

      const dropping = collector((d) => d.nack(false));
      const queue2 = await newQueue(broker);
      await broker.consume(queue2, dropping.handler, { prefetch: 5 });
      await broker.publish(queue2, [{ body: '{}', messageId: 'drop-me' }]);
      await dropping.take(1);
      await sleep(QUIET_MS);
      expect(dropping.deliveries).toHaveLength(1);
      await broker.close();
      expect(await readyCount(queue2)).toBe(0);
    });

    it('a handler that throws gets its message back (redelivered), not lost or stuck', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, [{ body: '{}', messageId: 'boom' }]);
      const received = collector((d, i) => {
        if (i === 0) throw new Error('handler bug');
        d.ack();
      });
      await broker.consume(queue, received.handler, { prefetch: 1 });
      const [, again] = await received.take(2);
      expect(again!.messageId).toBe('boom');
      expect(again!.redelivered).toBe(true);
    });

    it('unacked messages come back, redelivered, when the consuming broker closes without acking', async () => {
      const publisher = await open();
      const queue = await newQueue(publisher);
      await publisher.publish(queue, numbered('c', 5));
      const doomed = await open();
      const held = collector();
      await doomed.consume(queue, held.handler, { prefetch: 10 });
      await held.take(5);
      await doomed.close();
      // A late ack on the closed broker must be harmless (dropped, the message is redelivered).
      held.deliveries[0]!.ack();

      const survivor = collector((d) => d.ack());
      await publisher.consume(queue, survivor.handler, { prefetch: 10 });
      const again = await survivor.take(5);
      expect(again.map((d) => d.messageId)).toEqual(numbered('c', 5).map((m) => m.messageId));
      expect(again.every((d) => d.redelivered)).toBe(true);
    });

    it('unacked messages come back, redelivered, when the consumer process is killed (SIGKILL)', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, numbered('k', 4));
      const child = await spawnHoldingConsumer(harness.crashConsumerArgs(queue, 4));
      await killHard(child);

      const survivor = collector((d) => d.ack());
      await broker.consume(queue, survivor.handler, { prefetch: 10 });
      const again = await survivor.take(4, 20_000);
      expect(again.map((d) => d.messageId)).toEqual(numbered('k', 4).map((m) => m.messageId));
      expect(again.every((d) => d.redelivered)).toBe(true);
    });

    it('never holds more unacked messages than its prefetch', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, numbered('p', 20));
      const received = collector();
      await broker.consume(queue, received.handler, { prefetch: 5 });
      await received.take(5);
      await sleep(QUIET_MS);
      expect(received.deliveries).toHaveLength(5);

      received.deliveries[0]!.ack();
      received.deliveries[1]!.ack();
      await received.take(7);
      await sleep(QUIET_MS);
      expect(received.deliveries).toHaveLength(7);
      expect(received.ids()).toEqual(numbered('p', 7).map((m) => m.messageId));
    });

    it('single active consumer: a second consumer receives nothing until the first cancels', async () => {
      const first = await open();
      const queue = await newQueue(first, true);
      const second = await open();
      const a = collector((d) => d.ack());
      const b = collector((d) => d.ack());
      const consumerA = await first.consume(queue, a.handler, { prefetch: 10, singleActiveConsumer: true });
      await second.consume(queue, b.handler, { prefetch: 10, singleActiveConsumer: true });
      await eventually(async () => expect((await first.stats(queue)).consumers).toBe(2));

      await first.publish(queue, numbered('s', 10));
      await a.take(10);
      await sleep(QUIET_MS);
      expect(b.deliveries).toHaveLength(0);

      await consumerA.cancel();
      await first.publish(queue, numbered('s', 5, 10));
      await b.take(5);
      expect(b.ids()).toEqual(numbered('s', 5, 10).map((m) => m.messageId));
      await sleep(QUIET_MS);
      expect(a.deliveries).toHaveLength(10);
    });

    it('single active consumer: when the active consumer is killed, the standby takes over its messages first', async () => {
      const broker = await open();
      const queue = await newQueue(broker, true);
      await broker.publish(queue, numbered('t', 3));
      const child = await spawnHoldingConsumer([...harness.crashConsumerArgs(queue, 3), 'sac']);
      const standby = collector((d) => d.ack());
      await broker.consume(queue, standby.handler, { prefetch: 10, singleActiveConsumer: true });
      await broker.publish(queue, numbered('t', 2, 3));
      await sleep(QUIET_MS);
      expect(standby.deliveries).toHaveLength(0);

      await killHard(child);
      const all = await standby.take(5, 20_000);
      expect(all.map((d) => d.messageId)).toEqual(numbered('t', 5).map((m) => m.messageId));
      expect(all.map((d) => d.redelivered)).toEqual([true, true, true, false, false]);
    });

    it('stats counts ready messages and consumers', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      expect(await broker.stats(queue)).toEqual({ queue, messages: 0, consumers: 0 });
      await broker.publish(queue, numbered('st', 7));
      expect(await broker.stats(queue)).toEqual({ queue, messages: 7, consumers: 0 });
      const held = collector();
      await broker.consume(queue, held.handler, { prefetch: 3 });
      await held.take(3);
      await eventually(async () => expect(await broker.stats(queue)).toEqual({ queue, messages: 4, consumers: 1 }));
    });

    it('purge removes ready messages and leaves those a consumer holds', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, numbered('pu', 10));
      expect(await broker.purge(queue)).toBe(10);
      expect((await broker.stats(queue)).messages).toBe(0);

      await broker.publish(queue, numbered('pu', 5, 10));
      const held = collector();
      await broker.consume(queue, held.handler, { prefetch: 2 });
      await held.take(2);
      expect(await broker.purge(queue)).toBe(3);
      for (const d of held.deliveries) d.ack();
      await sleep(QUIET_MS);
      expect(held.deliveries).toHaveLength(2);
      await broker.close();
      expect(await readyCount(queue)).toBe(0);
    });

    it('messages delivered before cancel can still be acked; nothing new arrives after it', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.publish(queue, numbered('ca', 3));
      const held = collector();
      const consumer = await broker.consume(queue, held.handler, { prefetch: 10 });
      await held.take(3);
      await consumer.cancel();
      await broker.publish(queue, numbered('ca', 2, 3));
      for (const d of held.deliveries) d.ack();
      await sleep(QUIET_MS);
      expect(held.deliveries).toHaveLength(3);
      await broker.close();
      expect(await readyCount(queue)).toBe(2);
    });

    it('a second ack of the same delivery is ignored and the consumer keeps working', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      const received = collector((d) => {
        d.ack();
        d.ack();
        d.nack(true);
      });
      await broker.consume(queue, received.handler, { prefetch: 1 });
      await broker.publish(queue, numbered('twice', 3));
      await received.take(3);
      await sleep(QUIET_MS);
      expect(received.ids()).toEqual(numbered('twice', 3).map((m) => m.messageId));
      expect(received.deliveries.some((d) => d.redelivered)).toBe(false);
    });

    it('declaring a queue again with a different singleActiveConsumer is a BROKER error naming it', async () => {
      const broker = await open();
      const queue = await newQueue(broker, false);
      await expectBrokerError(broker.assertQueue(queue, { singleActiveConsumer: true }), queue);
      await expectBrokerError(broker.consume(queue, () => undefined, { prefetch: 1, singleActiveConsumer: true }), queue);
      // The failure must not have broken the broker.
      await broker.assertQueue(queue, { singleActiveConsumer: false });
      await broker.publish(queue, numbered('ok', 1));
      expect((await broker.stats(queue)).messages).toBe(1);
    });

    it('publish, stats and purge on a queue that was never declared are BROKER errors naming it', async () => {
      const broker = await open();
      const missing = `test.${uniqueKey('missing')}`;
      await expectBrokerError(broker.publish(missing, numbered('x', 1)), missing);
      await expectBrokerError(broker.stats(missing), missing);
      await expectBrokerError(broker.purge(missing), missing);
    });

    it('close is idempotent, and a closed broker rejects work with a BROKER error', async () => {
      const broker = await open();
      const queue = await newQueue(broker);
      await broker.close();
      await broker.close();
      await expectBrokerError(broker.publish(queue, numbered('late', 1)), 'closed');
      await expectBrokerError(broker.stats(queue), 'closed');
    });
  });
}

