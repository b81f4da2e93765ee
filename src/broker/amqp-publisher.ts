import type { ConfirmChannel, Message, Options } from 'amqplib';
import type { OutgoingMessage } from './broker.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AmqpConnection } from './amqp-connection.ts';

/**
 * Publishes on one confirm channel. Messages of a batch are written back to back (pausing on 'drain'
 * when the socket buffer is full) and the batch resolves once RabbitMQ has confirmed every one of
 * them: awaiting each confirm in turn caps throughput near 800 msg/s, pipelining reaches ~10k+.
 *
 * Each message carries its own confirm callback rather than relying on `waitForConfirms`: that call
 * waits for everything outstanding on the channel, so with two callers publishing at once (the outbox
 * relay and the webhook receiver) a nack of one caller's message would fail the other's batch too.
 * The callbacks give the same guarantee (resolve only when all of this batch are acked), per batch.
 *
 * Messages are `mandatory`: if the queue vanished after we checked it, RabbitMQ returns the message
 * (then still acks it), and the batches in flight to that queue fail instead of losing it silently.
 */
export class AmqpPublisher {
  private channel: Promise<ConfirmChannel> | undefined;
  private readonly inFlight = new Set<BatchConfirms>();
  /** Queues seen to exist on the current connection (publishing to a missing queue silently drops). */
  private readonly knownQueues = new Set<string>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly checkQueue: (queue: string) => Promise<void>,
    private readonly confirmTimeoutMs: number,
    private readonly log: Logger,
  ) {
    connection.onUp(() => {
      this.channel = undefined;
      this.knownQueues.clear();
    });
  }

  /** Records that `queue` exists (after assertQueue), saving the check on the first publish. */
  markKnown(queue: string): void {
    this.knownQueues.add(queue);
  }

  async publish(queue: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    if (!this.knownQueues.has(queue)) {
      // The default exchange drops a message for a queue that does not exist and still confirms it.
      await this.checkQueue(queue);
      this.knownQueues.add(queue);
    }
    const channel = await this.confirmChannel();
    const confirms = new BatchConfirms(queue, messages.length);
    this.inFlight.add(confirms);
    const deadline = new Deadline(
      this.confirmTimeoutMs,
      () =>
        new PushcdcError(
          'BROKER',
          `RabbitMQ did not confirm ${confirms.pending} of ${messages.length} messages to "${queue}" within ${this.confirmTimeoutMs} ms; publish them again`,
        ),
    );
    try {
      for (const message of messages) {
        if (confirms.failed) break;
        let writable: boolean;
        try {
          writable = channel.sendToQueue(queue, toBuffer(message.body), publishOptions(message), confirms.callback);
        } catch (err) {
          // amqplib throws synchronously once the channel or connection is closing, and for a
          // message it cannot encode (headers over 64 KiB).
          confirms.fail(
            new PushcdcError('BROKER', `publishing to "${queue}" failed: ${errorMessage(err)}`, { cause: err }),
          );
          break;
        }
        if (!writable) await drainedOrClosed(channel, deadline.expired);
      }
      await Promise.race([confirms.done, deadline.expired]);
    } finally {
      deadline.clear();
      this.inFlight.delete(confirms);
    }
  }

  async close(): Promise<void> {
    const opening = this.channel;
    this.channel = undefined;
    if (!opening) return;
    // A channel that failed to open was reported to the publish that awaited it; nothing to close.
    const channel = await opening.catch(() => undefined);
    if (channel) await channel.close().catch((err: unknown) => this.log.debug({ err }, 'publish channel was already closed'));
  }

  private onReturn(queue: string): void {
    this.knownQueues.delete(queue);
    this.log.error({ queue }, 'RabbitMQ returned a message: its queue does not exist any more');
    for (const batch of this.inFlight) {
      if (batch.queue === queue) {
        batch.fail(new PushcdcError('BROKER', `queue "${queue}" does not exist any more; RabbitMQ returned a message published to it`));
      }
    }
  }

  private confirmChannel(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    const opening = this.connection.openConfirmChannel('publish');
    this.channel = opening;
    opening.then(
      (channel) => {
        channel.on('close', () => {
          if (this.channel === opening) this.channel = undefined;
        });
        channel.on('return', (message: Message) => this.onReturn(message.fields.routingKey));
      },
      () => {
        if (this.channel === opening) this.channel = undefined;
      },
    );
    return opening;
  }
}

function toBuffer(body: string | Buffer): Buffer {
  return typeof body === 'string' ? Buffer.from(body) : body;
}

function publishOptions(message: OutgoingMessage): Options.Publish {
  const options: Options.Publish = { persistent: true, mandatory: true, contentType: 'application/json' };
  if (message.messageId !== undefined) options.messageId = message.messageId;
  if (message.headers !== undefined) options.headers = message.headers;
  return options;
}

function channelLost(queue: string, cause: unknown): PushcdcError {
  return new PushcdcError(
    'BROKER',
    `the RabbitMQ channel closed before messages to "${queue}" were confirmed (${errorMessage(cause)}); publish them again`,
    { cause },
  );
}

/** Waits for the socket buffer to drain (or the channel to close); gives up at the deadline. */
function drainedOrClosed(channel: ConfirmChannel, deadline: Promise<never>): Promise<void> {
  return new Promise((resolve, reject) => {
    const stopListening = (): void => {
      channel.off('drain', done);
      channel.off('close', done);
    };
    const done = (): void => {
      stopListening();
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
    deadline.catch((err: unknown) => {
      stopListening();
      reject(err);
    });
  });
}

/** Settles once all `count` confirm callbacks reported an ack, or at the first nack or channel loss. */
class BatchConfirms {
  pending: number;
  failed = false;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: PushcdcError) => void;

  constructor(
    readonly queue: string,
    count: number,
  ) {
    this.pending = count;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A batch abandoned at its deadline may still fail later; that rejection has nobody to tell.
    this.done.catch(() => undefined);
  }

  readonly callback = (err: unknown): void => {
    if (this.failed) return;
    if (err) {
      const nacked = errorMessage(err) === 'message nacked';
      this.fail(
        nacked
          ? new PushcdcError('BROKER', `RabbitMQ refused (nack) a message published to "${this.queue}"; publish it again`, { cause: err })
          : channelLost(this.queue, err),
      );
      return;
    }
    this.pending -= 1;
    if (this.pending === 0) this.resolve();
  };

  fail(err: PushcdcError): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(err);
  }
}

/** A timer as a promise that rejects, for racing against waits that could otherwise last forever. */
class Deadline {
  readonly expired: Promise<never>;
  private timer: NodeJS.Timeout | undefined;

  constructor(ms: number, error: () => PushcdcError) {
    this.expired = new Promise<never>((_, reject) => {
      this.timer = setTimeout(() => reject(error()), ms);
    });
    this.expired.catch(() => undefined);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
