import { parentPort, workerData } from 'node:worker_threads';
import amqp from 'amqplib';
import { parseQueueMessage } from '../src/notification.ts';
import { versionsOf } from './workload.ts';

/**
 * The bench's consumer of primaryQueue, on a thread of its own. Reading a notification of 20,000 rows
 * (about 4 MB of JSON) takes 30-40 ms; on the engine's own thread that held back its relay, which
 * learnt of RabbitMQ's confirm only after the parse: a backlog's publish measured 80-170 ms where it
 * takes 15-30 ms with the parse out of the way. Here the parse costs the engine's thread nothing but
 * one small message per delivery.
 */
export interface DeliveryWorkerData {
  amqpUrl: string;
  queue: string;
  /** Subscribe only when the engine's thread posts 'consume' (see DeliveryConsumer.consume). */
  deferred: boolean;
}

/**
 * What the worker posts per delivered message: its id and the versions its Inserted rows show (pairs,
 * see versionsOf), in a typed array (doubles: every rowKey fits) whose memory moves to the engine's thread without a copy. As
 * objects, one per row, the structured clone of a 20,000-row notification held the engine's thread
 * for 20-30 ms on arrival, often just before the relay's confirm.
 */
export interface DeliveredMessage {
  kind: 'delivered';
  messageId: string;
  versions: Float64Array;
}

/** Posted once the consumer is subscribed (deferred: once it is connected). */
export interface ConsumerReady {
  kind: 'ready';
}

export type DeliveryWorkerMessage = DeliveredMessage | ConsumerReady;

const port = parentPort!;
const { amqpUrl, queue, deferred } = workerData as DeliveryWorkerData;
const connection = await amqp.connect(amqpUrl, { noDelay: true });
const channel = await connection.createChannel();
await channel.assertQueue(queue, { durable: true });
await channel.prefetch(2000);
const subscribe = () =>
  channel.consume(queue, (msg) => {
    if (!msg) return;
    const { notification } = parseQueueMessage(msg.content.toString('utf8'));
    const pairs: number[] = [];
    for (const row of notification.Inserted) versionsOf(row, pairs);
    const versions = new Float64Array(pairs);
    const delivered: DeliveredMessage = { kind: 'delivered', messageId: String(msg.properties.messageId), versions };
    port.postMessage(delivered, [versions.buffer]);
    channel.ack(msg);
  });
if (!deferred) await subscribe();
port.postMessage({ kind: 'ready' } satisfies ConsumerReady);
port.on('message', (message: unknown) => {
  if (message === 'consume') void subscribe();
  if (message !== 'close') return;
  void connection.close().finally(() => port.close());
});
