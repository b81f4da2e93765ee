import amqp from 'amqplib';
import { parseQueueMessage, type NotificationEnvelope } from '../../src/notification.ts';
import { TEST_AMQP_URL } from './services.ts';

/**
 * Reads a queue the way an outside consumer would (plain amqplib), keeping every message, with
 * waits for "n messages" or "a message matching". Acks as it reads.
 */
export class QueueReader {
  readonly messages: { envelope: NotificationEnvelope; raw: string; messageId: string | undefined; redelivered: boolean }[] = [];
  private connection: amqp.ChannelModel | null = null;
  private listeners: (() => void)[] = [];

  constructor(private readonly queue: string) {}

  async start(): Promise<void> {
    this.connection = await amqp.connect(TEST_AMQP_URL);
    const channel = await this.connection.createChannel();
    await channel.assertQueue(this.queue, { durable: true });
    await channel.prefetch(1000);
    await channel.consume(this.queue, (msg) => {
      if (!msg) return;
      const raw = msg.content.toString('utf8');
      this.messages.push({ envelope: parseQueueMessage(raw), raw, messageId: msg.properties.messageId as string | undefined, redelivered: msg.fields.redelivered });
      channel.ack(msg);
      for (const l of this.listeners) l();
    });
  }

  /** Notifications for one inquiry, in arrival order. */
  for(query: string): NotificationEnvelope[] {
    return this.messages.map((m) => m.envelope).filter((e) => e.notification.Query === query);
  }

  async waitFor(predicate: () => boolean, timeoutMs = 15_000, what = 'messages'): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; have ${this.messages.length} messages`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
