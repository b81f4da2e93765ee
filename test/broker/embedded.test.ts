import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, OutgoingMessage } from '../../src/broker/broker.ts';
import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../../src/broker/embedded.ts';
import { uniqueKey, useTestContext } from '../support/isolation.ts';
import { brokerContract } from './contract.ts';
import { collector, eventually, numbered } from './support/collect.ts';

const ctx = useTestContext('broker', { sample: false });

brokerContract('embedded', {
  create: () => EmbeddedBroker.start(ctx.pool, { leaseMs: 3_000, pollMs: 500 }),
  crashConsumerArgs: (queue, count) => ['embedded', ctx.db.url, queue, String(count)],
  cleanup: async (queues) => {
    await ctx.pool.query('DELETE FROM pushcdc.broker_queues WHERE name = ANY($1)', [queues]);
  },
});

describe('embedded broker: throughput, wake-ups and leases', () => {
  const brokers: Broker[] = [];

  const open = async (options: EmbeddedBrokerOptions): Promise<Broker> => {
    const broker = await EmbeddedBroker.start(ctx.pool, options);
    brokers.push(broker);
    return broker;
  };
  const newQueue = async (broker: Broker): Promise<string> => {
    const queue = `test.${uniqueKey('embedded')}`;
    await broker.assertQueue(queue);
    return queue;
  };

  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });

  it('publishes and consumes 20,000 messages', async () => {
    const broker = await open({});
    const filler = 'x'.repeat(300);
    const messages: OutgoingMessage[] = Array.from({ length: 20_000 }, (_, n) => ({
      body: JSON.stringify({ n, filler }),
      messageId: `tp-${n}`,
    }));

    const queue = await newQueue(broker);
    let started = performance.now();
    await broker.publish(queue, messages);
    const oneCallRate = messages.length / ((performance.now() - started) / 1000);
    expect((await broker.stats(queue)).messages).toBe(20_000);

    const batched = await newQueue(broker);
    started = performance.now();
    for (let i = 0; i < messages.length; i += 1_000) await broker.publish(batched, messages.slice(i, i + 1_000));
    const batchedRate = messages.length / ((performance.now() - started) / 1000);

    started = performance.now();
    const received = collector((d) => d.ack());
    await broker.consume(queue, received.handler, { prefetch: 1_000 });
    await received.take(20_000, 60_000);
    const consumeRate = 20_000 / ((performance.now() - started) / 1000);
    expect(received.ids()).toEqual(messages.map((m) => m.messageId));
    await eventually(async () => {
      const { rows } = await ctx.pool.query('SELECT count(*)::int AS n FROM pushcdc.broker_messages WHERE queue = $1', [queue]);
      expect(rows[0].n).toBe(0);
    });
    expect((await broker.stats(batched)).messages).toBe(20_000);

    console.info(
      `[broker throughput] embedded: publish ${Math.round(oneCallRate)} msg/s (one call of 20k), ` +
        `${Math.round(batchedRate)} msg/s (batches of 1000); consume+ack ${Math.round(consumeRate)} msg/s (prefetch 1000)`,
    );
  });

  it('wakes a consumer through NOTIFY without waiting for its poll', async () => {
    const broker = await open({ pollMs: 600_000 });
    const queue = await newQueue(broker);
    const received = collector((d) => d.ack());
    await broker.consume(queue, received.handler, { prefetch: 10 });
    await broker.publish(queue, numbered('n', 1));
    await received.take(1, 5_000);
  });

  it('finds messages by polling when no notification came', async () => {
    const broker = await open({ pollMs: 200 });
    const queue = await newQueue(broker);
    const received = collector((d) => d.ack());
    await broker.consume(queue, received.handler, { prefetch: 10 });
    await ctx.pool.query(
      "INSERT INTO pushcdc.broker_messages (queue, body, message_id) VALUES ($1, convert_to('{}', 'UTF8'), 'silent')",
      [queue],
    );
    const [delivery] = await received.take(1, 5_000);
    expect(delivery!.messageId).toBe('silent');
  });

  it('listens again after PostgreSQL drops the LISTEN connection', async () => {
    const broker = await open({ pollMs: 600_000 });
    const queue = await newQueue(broker);
    const received = collector((d) => d.ack());
    await broker.consume(queue, received.handler, { prefetch: 10 });
    const terminated = await ctx.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND query = 'LISTEN pushcdc_broker' AND pid <> pg_backend_pid()`,
    );
    expect(terminated.rowCount).toBe(1);
    await eventually(async () => {
      const { rows } = await ctx.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN pushcdc_broker'",
      );
      expect(rows[0].n).toBe(1);
    }, 10_000);
    await broker.publish(queue, numbered('l', 1));
    await received.take(1, 5_000);
  });

  it('a consumer that lost its lease while alive registers again and gets its messages redelivered', async () => {
    const broker = await open({ leaseMs: 900, pollMs: 200 });
    const queue = await newQueue(broker);
    const received = collector((d, i) => {
      if (i > 0) d.ack();
    });
    await broker.consume(queue, received.handler, { prefetch: 10 });
    await broker.publish(queue, numbered('lease', 1));
    await received.take(1);
    // What a peer's reaper does to a consumer whose lease lapsed.
    await ctx.pool.query('DELETE FROM pushcdc.broker_consumers WHERE queue = $1', [queue]);
    const [first, again] = await received.take(2, 10_000);
    expect(again!.messageId).toBe('lease-0');
    expect(again!.redelivered).toBe(true);
    // Exactly one new registration (an orphan would hold up a single-active-consumer queue).
    const registered = await ctx.pool.query('SELECT count(*)::int AS n FROM pushcdc.broker_consumers WHERE queue = $1', [queue]);
    expect(registered.rows[0].n).toBe(1);
    first!.ack(); // from the lost registration: dropped
    // stats counts ready messages only, so it reads 0 while the redelivery's ack is still being
    // written; the message row itself is what must disappear.
    await eventually(async () => {
      const { rows } = await ctx.pool.query('SELECT count(*)::int AS n FROM pushcdc.broker_messages WHERE queue = $1', [queue]);
      expect(rows[0].n).toBe(0);
    });
    expect(await broker.stats(queue)).toEqual({ queue, messages: 0, consumers: 1 });
  });
});
