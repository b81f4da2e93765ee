import type { Broker } from '../broker/broker.ts';
import type { DestinationConfig } from '../config/destinations.ts';
import type { StoreConfig } from '../config/stores.ts';
import type { Pool } from '../db/pool.ts';
import { createCommerceDestination } from './commerce.ts';
import type { Destination } from './destination.ts';
import { createModuleDestination } from './module.ts';
import { createWebhookDestination } from './webhook.ts';

export interface DestinationDeps {
  /** Asked for only by a commerce destination (the CLI connects to the broker only then). */
  broker: () => Promise<Broker>;
  pool: Pool;
  /** The store bindings, needed by a commerce destination only. */
  stores: () => Promise<StoreConfig[]>;
  commerceQueue: string;
}

/** The sender for one destination file. */
export async function createDestination(config: DestinationConfig, deps: DestinationDeps): Promise<Destination> {
  switch (config.type) {
    case 'webhook':
      return createWebhookDestination(config);
    case 'module':
      return createModuleDestination(config);
    case 'commerce':
      return createCommerceDestination(config, {
        broker: await deps.broker(),
        pool: deps.pool,
        stores: await deps.stores(),
        commerceQueue: deps.commerceQueue,
      });
  }
}
