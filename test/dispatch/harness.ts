import type { Broker } from '../../src/broker/broker.ts';
import { RabbitMqBroker } from '../../src/broker/rabbitmq.ts';
import { loadEnv } from '../../src/config/env.ts';
import { startDispatch } from '../../src/dispatch/role.ts';
import { destinationQueue } from '../../src/dispatch/queues.ts';
import type { RunningRole } from '../../src/engine/role.ts';
import type { InquiryCatalog } from '../../src/inquiry/catalog.ts';
import { rootLogger } from '../../src/log.ts';
import { deleteQueues, type TestContext } from '../support/isolation.ts';
import { TEST_AMQP_URL } from '../support/services.ts';

/** A broker for the test file, and the queues its dispatchers created, deleted afterwards. */
export class DispatchHarness {
  broker!: Broker;
  private readonly queues = new Set<string>();

  constructor(private readonly t: TestContext) {}

  async open(): Promise<void> {
    this.broker = await RabbitMqBroker.connect(TEST_AMQP_URL, { connectionName: `test-${this.t.instance}` });
  }

  async close(): Promise<void> {
    await this.broker?.close();
    await deleteQueues([...this.queues]);
  }

  track(destination: string): string {
    const queue = destinationQueue(this.t.names.primaryQueue, destination);
    this.queues.add(queue);
    return queue;
  }

  /** Starts the dispatch role in this process, as `pushcdc start --roles dispatch` would. */
  async start(dir: string, catalog: InquiryCatalog, destinations: string[]): Promise<RunningRole> {
    for (const d of destinations) this.track(d);
    return startDispatch({
      dir,
      env: loadEnv(this.t.env),
      names: this.t.names,
      databaseUrl: this.t.db.url,
      pool: this.t.pool,
      broker: this.broker,
      logger: rootLogger,
      catalog,
      inquiries: [],
    });
  }
}

