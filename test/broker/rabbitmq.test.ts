import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Broker, OutgoingMessage } from '../../src/broker/broker.ts';
import { RabbitMqBroker } from '../../src/broker/rabbitmq.ts';
import { PushcdcError } from '../../src/errors.ts';
import { deleteQueues, uniqueKey } from '../support/isolation.ts';
import { TEST_AMQP_URL } from '../support/services.ts';
import { brokerContract } from './contract.ts';
import { collector, eventually, numbered, sleep } from './support/collect.ts';
import { forceCloseConnections } from './support/rabbitmqctl.ts';
import { TcpProxy } from './support/tcp-proxy.ts';

const FAST_RECONNECT = { initialMs: 100, maxMs: 500 };

brokerContract('rabbitmq', {
  create: () => RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: 'pushcdc-test-broker', reconnect: FAST_RECONNECT }),
  crashConsumerArgs: (queue, count) => ['rabbitmq', TEST_AMQP_URL, queue, String(count)],
  cleanup: (queues) => deleteQueues(queues),
});

function payloads(count: number): OutgoingMessage[] {
  // About the size of a small notification.
  const filler = 'x'.repeat(300);
  return Array.from({ length: count }, (_, n) => ({ body: JSON.stringify({ n, filler }), messageId: `tp-${n}` }));
}

describe('rabbitmq broker: throughput and resilience', () => {
  const brokers: Broker[] = [];
  const queues: string[] = [];
  const proxies: TcpProxy[] = [];

  const newQueue = async (broker: Broker): Promise<string> => {
    const queue = `test.${uniqueKey('rabbit')}`;
    queues.push(queue);
    await broker.assertQueue(queue);
    return queue;
  };

  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await deleteQueues(queues);
  });

  it('publishes 20,000 messages with every one confirmed, and consumes them all', async () => {
    const broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: 'pushcdc-test-throughput' });
    brokers.push(broker);
    const messages = payloads(20_000);

    const queue = await newQueue(broker);
    let started = performance.now();
    await broker.publish(queue, messages);
    const oneCallRate = messages.length / ((performance.now() - started) / 1000);
    expect((await broker.stats(queue)).messages).toBe(20_000);

    const batched = await newQueue(broker);
    started = performance.now();
    for (let i = 0; i < messages.length; i += 1_000) await broker.publish(batched, messages.slice(i, i + 1_000));
    const batchedRate = messages.length / ((performance.now() - started) / 1000);
    expect((await broker.stats(batched)).messages).toBe(20_000);

    started = performance.now();
    const received = collector((d) => d.ack());
    await broker.consume(queue, received.handler, { prefetch: 1_000 });
    await received.take(20_000, 60_000);
    const consumeRate = 20_000 / ((performance.now() - started) / 1000);
    expect(new Set(received.ids()).size).toBe(20_000);
    expect(received.ids().slice(0, 3)).toEqual(['tp-0', 'tp-1', 'tp-2']);
    await eventually(async () => expect((await broker.stats(queue)).messages).toBe(0));

    console.info(
      `[broker throughput] rabbitmq: publish confirmed ${Math.round(oneCallRate)} msg/s (one call of 20k), ` +
        `${Math.round(batchedRate)} msg/s (batches of 1000); consume+ack ${Math.round(consumeRate)} msg/s (prefetch 1000)`,
    );
  });

  it('a delivery acked while its consumer is being cancelled is acked, and the cancel completes without a warning', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: 'pushcdc-test-cancel-ack', logger });
    brokers.push(broker);
    const queue = await newQueue(broker);
    await broker.publish(queue, payloads(1));
    const received = collector();
    const consumer = await broker.consume(queue, received.handler, { prefetch: 10 });
    const [delivery] = await received.take(1);
    // The ack goes out while basic.cancel awaits its reply: the last settlement of a cancelled consumer.
    const cancelling = consumer.cancel();
    delivery!.ack();
    await cancelling;
    expect(warnings).toEqual([]);
    await eventually(async () => expect(await broker.stats(queue)).toMatchObject({ messages: 0 }));
  });

  it('a publish that RabbitMQ does not confirm in time rejects instead of waiting forever', async () => {
    const broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: 'pushcdc-test-timeout', confirmTimeoutMs: 1 });
    brokers.push(broker);
    const queue = await newQueue(broker);
    const err = await broker.publish(queue, payloads(20_000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PushcdcError);
    expect((err as PushcdcError).message).toMatch(/did not confirm \d+ of 20000 messages/);
  });

  it('a publish to a queue deleted behind its back fails instead of vanishing', async () => {
    const broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: 'pushcdc-test-deleted' });
    brokers.push(broker);
    const queue = await newQueue(broker);
    await broker.publish(queue, numbered('d', 1));
    await deleteQueues([queue]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await broker.publish(queue, numbered('d', 1, 1)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PushcdcError);
      expect((err as PushcdcError).code).toBe('BROKER');
      expect((err as PushcdcError).message).toContain(queue);
    }
  });

  it('reconnects after RabbitMQ closes the connection, and the consumer resumes', async () => {
    const connectionName = `pushcdc-test-${uniqueKey('reconnect')}`;
    const broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName, reconnect: FAST_RECONNECT });
    brokers.push(broker);
    const queue = await newQueue(broker);
    // The first delivery is held unacknowledged across the drop; everything later is acked.
    const received = collector((d, i) => {
      if (i > 0) d.ack();
    });
    await broker.consume(queue, received.handler, { prefetch: 10 });
    await broker.publish(queue, numbered('r', 1));
    await received.take(1);

    expect(await forceCloseConnections(connectionName)).toBe(1);
    await eventually(() => broker.publish(queue, numbered('r', 1, 1)), 15_000);
    await eventually(() => {
      expect(received.deliveries.some((d) => d.messageId === 'r-1')).toBe(true);
      expect(received.deliveries.some((d) => d.messageId === 'r-0' && d.redelivered)).toBe(true);
    }, 15_000);
    // The ack of the delivery from the closed channel is dropped, not thrown.
    received.deliveries[0]!.ack();
    await eventually(async () => expect(await broker.stats(queue)).toEqual({ queue, messages: 0, consumers: 1 }));
  });

  it('rejects publishes promptly while RabbitMQ is unreachable, then recovers publisher and consumer', async () => {
    const target = new URL(TEST_AMQP_URL);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5672) });
    proxies.push(proxy);
    const viaProxy = new URL(TEST_AMQP_URL);
    viaProxy.port = String(proxy.port);
    const broker = await RabbitMqBroker.connect(viaProxy.toString(), {
      connectionName: 'pushcdc-test-outage',
      reconnect: FAST_RECONNECT,
    });
    brokers.push(broker);
    const queue = await newQueue(broker);
    const received = collector((d) => d.ack());
    await broker.consume(queue, received.handler, { prefetch: 100 });
    await broker.publish(queue, numbered('o', 1));
    await received.take(1);

    // A publish under way when the connection goes must fail, not hang.
    const inFlight = broker.publish(queue, payloads(20_000));
    await sleep(30);
    proxy.cut();
    const inFlightError = await inFlight.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(inFlightError).toBeInstanceOf(PushcdcError);
    expect((inFlightError as PushcdcError).code).toBe('BROKER');

    // While it stays down, every publish fails at once.
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = performance.now();
      const err = await broker.publish(queue, numbered('o', 1, 1)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PushcdcError);
      expect((err as PushcdcError).code).toBe('BROKER');
      expect(performance.now() - started).toBeLessThan(2_000);
      await sleep(300);
    }

    proxy.restore();
    await eventually(() => broker.publish(queue, numbered('o', 1, 1)), 15_000);
    await eventually(() => expect(received.deliveries.some((d) => d.messageId === 'o-1')).toBe(true), 15_000);
  });
});
