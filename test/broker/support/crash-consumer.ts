/**
 * A consumer process for the crash tests: takes `count` messages from a queue without acknowledging
 * them, prints HOLDING, and waits to be killed with SIGKILL (no close, no cleanup: a real crash).
 * Usage: node --import tsx crash-consumer.ts <rabbitmq|embedded> <url> <queue> <count> [sac]
 */
import type { Broker } from '../../../src/broker/broker.ts';
import { EmbeddedBroker } from '../../../src/broker/embedded.ts';
import { RabbitMqBroker } from '../../../src/broker/rabbitmq.ts';
import { createPool } from '../../../src/db/pool.ts';

const [kind, url, queue, countText, sac] = process.argv.slice(2);
if (!kind || !url || !queue || !countText) throw new Error('usage: crash-consumer <rabbitmq|embedded> <url> <queue> <count>');
const count = Number(countText);

const broker: Broker =
  kind === 'embedded'
    ? await EmbeddedBroker.start(createPool(url, { max: 2, application: 'crash-consumer' }), { leaseMs: 1_500 })
    : await RabbitMqBroker.connect(url, { connectionName: 'pushcdc-crash-consumer' });

let received = 0;
await broker.consume(
  queue,
  () => {
    received += 1;
    if (received === count) process.stdout.write('HOLDING\n');
  },
  { prefetch: count, singleActiveConsumer: sac === 'sac' },
);
