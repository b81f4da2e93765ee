import type { Channel } from 'amqplib';
import type { Broker, ConsumeOptions, Consumer, Delivery, OutgoingMessage, QueueStats } from './broker.ts';
import { PushcdcError } from '../errors.ts';
import { scopedLogger, type Logger } from '../log.ts';
import { AmqpConnection } from './amqp-connection.ts';
import { AmqpConsumer } from './amqp-consumer.ts';
import { queueError } from './amqp-errors.ts';
import { AmqpPublisher } from './amqp-publisher.ts';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';

export interface RabbitMqOptions {
  logger?: Logger;
  /** How the connection is named in RabbitMQ's connection list. */
  connectionName?: string;
  connectTimeoutMs?: number;
  /** A publish not confirmed in this time rejects (e.g. a connection blocked by a resource alarm). */
  confirmTimeoutMs?: number;
  reconnect?: Partial<BackoffOptions>;
}

/**
 * The Broker on RabbitMQ (amqplib, promise API). Queues are durable, messages persistent, publishes
 * confirmed. `consume` declares its queue with the consumer's `singleActiveConsumer` setting, so a
 * consumer and the queue's other users must agree on it (RabbitMQ refuses a mismatch: a BROKER error
 * naming the queue). Queue administration uses a short-lived channel per call because RabbitMQ answers
 * a failed declaration by closing the channel it came on, and that must not take a consumer or the
 * publisher down with it.
 */
export class RabbitMqBroker implements Broker {
  private readonly consumers = new Set<AmqpConsumer>();
  private readonly publisher: AmqpPublisher;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly connection: AmqpConnection,
    confirmTimeoutMs: number,
    private readonly backoff: BackoffOptions,
    private readonly log: Logger,
  ) {
    this.publisher = new AmqpPublisher(connection, (queue) => this.checkExists(queue), confirmTimeoutMs, log);
  }

  static async connect(url: string, options: RabbitMqOptions = {}): Promise<RabbitMqBroker> {
    const log = (options.logger ?? scopedLogger({})).child({ component: 'broker', broker: 'rabbitmq' });
    const backoff = { ...DEFAULT_BACKOFF, ...options.reconnect };
    const connection = await AmqpConnection.open({
      url,
      connectionName: options.connectionName ?? 'pushcdc',
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      backoff,
      log,
    });
    const broker = new RabbitMqBroker(connection, options.confirmTimeoutMs ?? 60_000, backoff, log);
    log.info(`connected to RabbitMQ at ${connection.where}`);
    return broker;
  }

  async assertQueue(queue: string, options: { singleActiveConsumer?: boolean } = {}): Promise<void> {
    await this.declare(queue, options.singleActiveConsumer === true);
  }

  publish(queue: string, messages: OutgoingMessage[]): Promise<void> {
    return this.publisher.publish(queue, messages);
  }

  async consume(queue: string, handler: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 65_535) {
      throw new PushcdcError('BROKER', `prefetch for queue "${queue}" must be a whole number from 1 to 65535, got ${options.prefetch}`);
    }
    const consumer: AmqpConsumer = new AmqpConsumer(
      {
        connection: this.connection,
        declare: (q, sac) => this.declare(q, sac),
        backoff: this.backoff,
        log: this.log,
        onEnd: () => this.consumers.delete(consumer),
      },
      queue,
      handler,
      options,
    );
    this.consumers.add(consumer);
    await consumer.start();
    return consumer;
  }

  async stats(queue: string): Promise<QueueStats> {
    const ok = await this.withAdminChannel(queue, 'queue check', (channel) => channel.checkQueue(queue));
    return { queue, messages: ok.messageCount, consumers: ok.consumerCount };
  }

  async purge(queue: string): Promise<number> {
    const ok = await this.withAdminChannel(queue, 'purge', (channel) => channel.purgeQueue(queue));
    return ok.messageCount;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const consumers = [...this.consumers];
    this.consumers.clear();
    await Promise.all(consumers.map((consumer) => consumer.shutdown()));
    await this.publisher.close();
    await this.connection.close();
    this.log.info('RabbitMQ broker closed');
  }

  private async declare(queue: string, singleActiveConsumer: boolean): Promise<void> {
    await this.withAdminChannel(queue, 'queue declaration', (channel) =>
      channel.assertQueue(queue, {
        durable: true,
        arguments: singleActiveConsumer ? { 'x-single-active-consumer': true } : {},
      }),
    );
    this.publisher.markKnown(queue);
  }

  private async checkExists(queue: string): Promise<void> {
    await this.withAdminChannel(queue, 'queue check', (channel) => channel.checkQueue(queue));
  }

  private async withAdminChannel<T>(queue: string, operation: string, work: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await this.connection.openChannel(operation);
    let open = true;
    channel.on('close', () => {
      open = false;
    });
    try {
      return await work(channel);
    } catch (err) {
      throw queueError(err, queue, operation);
    } finally {
      if (open) await channel.close().catch((err: unknown) => this.log.debug({ err }, 'admin channel was already closed'));
    }
  }
}
