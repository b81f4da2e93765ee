/**
 * The one seam between pushcdc and its message broker. RabbitMQ implements it for deployments; the
 * embedded broker implements it for a machine with nothing installed. Every queue is durable and
 * every published message persistent; `publish` resolves only once the broker has confirmed all of
 * the messages, so callers may then forget them.
 */
export interface OutgoingMessage {
  body: string | Buffer;
  /** Stable id (the notification Id): lets consumers drop repeats. */
  messageId?: string;
  headers?: Record<string, string | number | boolean>;
}

export interface Delivery {
  body: Buffer;
  messageId: string | undefined;
  headers: Record<string, unknown>;
  /** True when the broker delivered this message before and it was not acknowledged. */
  redelivered: boolean;
  ack(): void;
  /** Gives the message back: `requeue` true to retry later, false to drop it. */
  nack(requeue: boolean): void;
}

export interface ConsumeOptions {
  /** How many unacknowledged messages this consumer may hold at once. */
  prefetch: number;
  /** One consumer at a time receives (RabbitMQ x-single-active-consumer); others wait as standbys. */
  singleActiveConsumer?: boolean;
}

export interface Consumer {
  /** Stops new deliveries; messages already delivered can still be acknowledged. */
  cancel(): Promise<void>;
}

export interface QueueStats {
  queue: string;
  messages: number;
  consumers: number;
}

export interface Broker {
  assertQueue(queue: string, options?: { singleActiveConsumer?: boolean }): Promise<void>;
  publish(queue: string, messages: OutgoingMessage[]): Promise<void>;
  consume(queue: string, handler: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer>;
  stats(queue: string): Promise<QueueStats>;
  /** Removes every message in the queue (queue monitor "clear"). */
  purge(queue: string): Promise<number>;
  close(): Promise<void>;
}
