import type { Broker } from './broker.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import { EmbeddedBroker } from './embedded.ts';
import { RabbitMqBroker } from './rabbitmq.ts';

/**
 * The broker of a deployment (SPEC section 3): RabbitMQ when AMQP_URL is set, else the embedded broker
 * in the pushcdc schema of `pool` (its migrations must be applied). A RabbitMQ that cannot be reached
 * at start is a BROKER error naming the URL (password masked); later outages are retried.
 */
export async function connectBroker(options: { amqpUrl: string | undefined; pool: Pool; logger?: Logger }): Promise<Broker> {
  const common = options.logger ? { logger: options.logger } : {};
  if (options.amqpUrl !== undefined && options.amqpUrl !== '') return RabbitMqBroker.connect(options.amqpUrl, common);
  return EmbeddedBroker.start(options.pool, common);
}
