import type { Channel, ConsumeMessage } from 'amqplib';
import type { ConsumeOptions, Consumer, Delivery } from './broker.ts';
import type { Logger } from '../log.ts';
import type { AmqpConnection } from './amqp-connection.ts';
import { queueError } from './amqp-errors.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { createDelivery, runHandler, type Settlement } from './delivery.ts';

/** One channel's consumption: deliveries made on it can only be settled on it while it is open. */
interface Subscription {
  channel: Channel;
  tag: string;
  open: boolean;
  unsettled: number;
  droppedSettlements: number;
  /**
   * A basic.cancel awaits its reply: the channel must stay open until it comes (a last ack meanwhile
   * leaves closing to cancel(); closing under it failed the cancel and logged a false warning).
   */
  cancelling: boolean;
}

export interface AmqpConsumerDeps {
  connection: AmqpConnection;
  /** Declares the queue the way this consumer expects it (a mismatch is a clear BROKER error). */
  declare: (queue: string, singleActiveConsumer: boolean) => Promise<void>;
  backoff: BackoffOptions;
  log: Logger;
  /** Told once the consumer stops for good (cancelled, closed, or cancelled by RabbitMQ). */
  onEnd: () => void;
}

/**
 * A consumer on its own channel (its own prefetch, manual ack) that outlives its channel: when the
 * channel or the whole connection is lost it subscribes again with the same handler and options.
 * Messages delivered on a lost channel cannot be acknowledged any more; RabbitMQ requeues them and
 * delivers them again (redelivered: true), so their late acks are dropped with a log line.
 */
export class AmqpConsumer implements Consumer {
  private subscription: Subscription | undefined;
  private state: 'active' | 'cancelled' | 'closed' = 'active';
  private subscribing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;
  private readonly stopListening: () => void;
  private readonly log: Logger;

  constructor(
    private readonly deps: AmqpConsumerDeps,
    readonly queue: string,
    private readonly handler: (delivery: Delivery) => void,
    private readonly options: ConsumeOptions,
  ) {
    this.log = deps.log.child({ queue });
    this.stopListening = deps.connection.onUp(() => void this.resubscribe());
  }

  /** The first subscription: failures go to the caller of `consume`. */
  async start(): Promise<void> {
    try {
      await this.subscribe();
    } catch (err) {
      this.end('closed');
      throw err;
    }
  }

  async cancel(): Promise<void> {
    if (this.state !== 'active') return;
    this.end('cancelled');
    const sub = this.subscription;
    if (!sub?.open) return;
    sub.cancelling = true;
    try {
      await sub.channel.cancel(sub.tag);
    } catch (err) {
      this.log.warn({ err }, 'cancelling a RabbitMQ consumer failed; closing its channel instead');
      await this.closeChannel(sub);
      return;
    } finally {
      sub.cancelling = false;
    }
    // Delivered messages can still be acknowledged after a cancel; the channel goes when they are.
    if (sub.unsettled === 0) await this.closeChannel(sub);
  }

  /** Broker shutdown: closing the channel hands every unacknowledged message back to the queue. */
  async shutdown(): Promise<void> {
    if (this.state !== 'closed') this.end('closed');
    const sub = this.subscription;
    if (sub) await this.closeChannel(sub);
  }

  private end(state: 'cancelled' | 'closed'): void {
    if (this.state === 'active') this.deps.onEnd();
    this.state = state;
    this.stopListening();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async subscribe(): Promise<void> {
    await this.deps.declare(this.queue, this.options.singleActiveConsumer === true);
    const channel = await this.deps.connection.openChannel(`consume ${this.queue}`);
    const sub: Subscription = { channel, tag: '', open: true, unsettled: 0, droppedSettlements: 0, cancelling: false };
    channel.on('close', () => {
      sub.open = false;
      if (this.subscription !== sub) return;
      this.subscription = undefined;
      this.onLost();
    });
    try {
      await channel.prefetch(this.options.prefetch);
      const ok = await channel.consume(this.queue, (message) => this.onMessage(sub, message), { noAck: false });
      sub.tag = ok.consumerTag;
    } catch (err) {
      await this.closeChannel(sub);
      throw queueError(err, this.queue, 'consume');
    }
    if (!sub.open) throw queueError(new Error('channel closed while subscribing'), this.queue, 'consume');
    if (this.state !== 'active') {
      await this.closeChannel(sub);
      return;
    }
    this.subscription = sub;
  }

  private onLost(): void {
    if (this.state !== 'active') return;
    // With the connection down, the reconnect (onUp) subscribes again; otherwise only this channel
    // died (e.g. the server closed it) and we retry on our own.
    if (this.deps.connection.isUp) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.state !== 'active') return;
    const delay = backoffDelay(this.retryAttempt, this.deps.backoff);
    this.retryAttempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.resubscribe();
    }, delay);
  }

  private async resubscribe(): Promise<void> {
    // A channel closes just before its connection reports the loss; the reconnect (onUp) takes over.
    if (this.state !== 'active' || this.subscribing || this.subscription || !this.deps.connection.isUp) return;
    this.subscribing = true;
    try {
      await this.subscribe();
      this.retryAttempt = 0;
      this.log.info('RabbitMQ consumer re-established');
    } catch (err) {
      this.log.warn({ err }, 're-establishing the RabbitMQ consumer failed; will retry');
      if (this.deps.connection.isUp) this.scheduleRetry();
    } finally {
      this.subscribing = false;
    }
  }

  private onMessage(sub: Subscription, message: ConsumeMessage | null): void {
    if (message === null) {
      // RabbitMQ cancels consumers of a queue that was deleted. Subscribing again would re-create
      // the queue behind the operator's back, so this consumer stops and says so.
      this.log.error('RabbitMQ cancelled this consumer (was the queue deleted?); it receives no more messages');
      if (this.state === 'active') this.end('cancelled');
      if (sub.unsettled === 0) void this.closeChannel(sub);
      return;
    }
    sub.unsettled += 1;
    const properties = message.properties;
    const delivery = createDelivery(
      {
        body: message.content,
        messageId: typeof properties.messageId === 'string' ? properties.messageId : undefined,
        headers: properties.headers ?? {},
        redelivered: message.fields.redelivered,
        settle: (settlement) => this.settle(sub, message, settlement),
      },
      this.log,
    );
    runHandler(this.handler, delivery, this.queue, this.log);
  }

  private settle(sub: Subscription, message: ConsumeMessage, settlement: Settlement): void {
    sub.unsettled -= 1;
    if (!sub.open) {
      // Acking on a dead channel would throw; RabbitMQ has already requeued the message.
      sub.droppedSettlements += 1;
      const level = sub.droppedSettlements === 1 ? 'warn' : 'debug';
      this.log[level](
        { messageId: message.properties.messageId, settlement: settlement.kind },
        'the channel this message came on is closed; dropping its ack/nack (RabbitMQ delivers it again)',
      );
      return;
    }
    try {
      if (settlement.kind === 'ack') sub.channel.ack(message);
      else sub.channel.nack(message, false, settlement.requeue);
    } catch (err) {
      this.log.warn({ err, messageId: message.properties.messageId }, 'ack/nack failed (channel closing); RabbitMQ delivers the message again');
    }
    if (this.state !== 'active' && sub.unsettled === 0 && !sub.cancelling) void this.closeChannel(sub);
  }

  private async closeChannel(sub: Subscription): Promise<void> {
    if (!sub.open) return;
    sub.open = false;
    await sub.channel.close().catch((err: unknown) => this.log.debug({ err }, 'consumer channel was already closed'));
  }
}
