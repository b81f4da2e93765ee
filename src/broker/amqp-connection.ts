import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { PushcdcError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { redactUrl } from './amqp-errors.ts';

export interface AmqpConnectionOptions {
  url: string;
  /** Shown by RabbitMQ (`rabbitmqctl list_connections client_properties`, management UI). */
  connectionName: string;
  connectTimeoutMs: number;
  backoff: BackoffOptions;
  log: Logger;
}

/**
 * One AMQP connection that heals itself: when it drops it is dialled again with jittered backoff,
 * and every `onUp` listener is told so it can re-open its channels. While it is down, `current()`
 * fails at once, so callers get an error instead of queueing work behind an outage.
 */
export class AmqpConnection {
  private model: ChannelModel | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private readonly upListeners = new Set<(model: ChannelModel) => void>();
  private readonly log: Logger;
  readonly where: string;

  private constructor(private readonly options: AmqpConnectionOptions) {
    this.log = options.log;
    this.where = redactUrl(options.url);
  }

  /** Dials once; the first connection failing is an error (a typo in AMQP_URL should not retry forever). */
  static async open(options: AmqpConnectionOptions): Promise<AmqpConnection> {
    const connection = new AmqpConnection(options);
    try {
      connection.attach(await connection.dial());
    } catch (err) {
      throw new PushcdcError('BROKER', `cannot connect to RabbitMQ at ${connection.where}: ${errorMessage(err)}`, { cause: err });
    }
    return connection;
  }

  /** The live connection, or a BROKER error straight away while it is down or closed. */
  current(): ChannelModel {
    if (this.closed) throw new PushcdcError('BROKER', 'the RabbitMQ broker connection is closed');
    if (this.model === undefined) {
      throw new PushcdcError(
        'BROKER',
        `RabbitMQ at ${this.where} is unreachable (${this.lastError ? errorMessage(this.lastError) : 'connection lost'}); reconnecting`,
        { cause: this.lastError },
      );
    }
    return this.model;
  }

  get isUp(): boolean {
    return this.model !== undefined && !this.closed;
  }

  /** Called after every reconnection (not the first connection). Returns an unsubscribe function. */
  onUp(listener: (model: ChannelModel) => void): () => void {
    this.upListeners.add(listener);
    return () => this.upListeners.delete(listener);
  }

  async openChannel(purpose: string): Promise<Channel> {
    const model = this.current();
    try {
      return this.watchChannel(await model.createChannel(), purpose);
    } catch (err) {
      throw new PushcdcError('BROKER', `cannot open a RabbitMQ channel (${purpose}): ${errorMessage(err)}`, { cause: err });
    }
  }

  async openConfirmChannel(purpose: string): Promise<ConfirmChannel> {
    const model = this.current();
    try {
      return this.watchChannel(await model.createConfirmChannel(), purpose);
    } catch (err) {
      throw new PushcdcError('BROKER', `cannot open a RabbitMQ channel (${purpose}): ${errorMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.upListeners.clear();
    const model = this.model;
    this.model = undefined;
    if (model) {
      await model.close().catch((err: unknown) => this.log.debug({ err }, 'RabbitMQ connection was already closed'));
    }
  }

  // An 'error' event with no listener is thrown by the emitter and kills the process. Channel errors
  // also reach whoever awaits the failed operation, so the listener only records them.
  private watchChannel<C extends Channel>(channel: C, purpose: string): C {
    channel.on('error', (err: Error) => this.log.debug({ err, purpose }, 'RabbitMQ channel closed with an error'));
    return channel;
  }

  private dial(): Promise<ChannelModel> {
    return amqp.connect(this.options.url, {
      timeout: this.options.connectTimeoutMs,
      // amqplib writes a message above 2 KiB as separate frames; with Nagle's algorithm the body frame
      // waits for the server's delayed ACK of the header: 40 ms added to every such publish, measured.
      noDelay: true,
      clientProperties: { connection_name: this.options.connectionName },
    });
  }

  private attach(model: ChannelModel): void {
    this.model = model;
    model.on('error', (err: Error) => this.log.warn({ err }, 'RabbitMQ connection error'));
    model.on('blocked', (reason: string) =>
      this.log.warn({ reason }, 'RabbitMQ blocked this connection (resource alarm); publishes will wait'),
    );
    model.on('unblocked', () => this.log.info('RabbitMQ unblocked this connection'));
    model.on('close', (err?: Error) => {
      if (this.model !== model) return;
      this.model = undefined;
      if (this.closed) return;
      this.lastError = err ?? new Error('connection closed by the server');
      this.log.warn({ err }, `lost the connection to RabbitMQ at ${this.where}; reconnecting`);
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = backoffDelay(this.attempt, this.options.backoff);
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconnect();
    }, delay);
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    let model: ChannelModel;
    try {
      model = await this.dial();
    } catch (err) {
      this.lastError = err instanceof Error ? err : new Error(String(err));
      this.log.warn({ err, attempt: this.attempt }, `reconnecting to RabbitMQ at ${this.where} failed; will retry`);
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      model.on('error', (err: Error) => this.log.debug({ err }, 'RabbitMQ connection error while closing'));
      await model.close().catch((err: unknown) => this.log.debug({ err }, 'closing a connection opened during close'));
      return;
    }
    this.attempt = 0;
    this.attach(model);
    this.log.info(`reconnected to RabbitMQ at ${this.where}`);
    for (const listener of [...this.upListeners]) {
      try {
        listener(model);
      } catch (err) {
        this.log.error({ err }, 'a RabbitMQ reconnect listener failed');
      }
    }
  }
}
