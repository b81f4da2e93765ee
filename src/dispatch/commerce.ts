import type { Broker } from '../broker/broker.ts';
import type { DestinationConfig } from '../config/destinations.ts';
import type { EntityName, StoreConfig } from '../config/stores.ts';
import type { Pool } from '../db/pool.ts';
import { getRealtimeStatus } from '../commerce/realtime-state.ts';
import type { Notification } from '../notification.ts';
import { commerceMessages } from './commerce-messages.ts';
import type { Destination } from './destination.ts';

/**
 * `commerce`, the Commerce Push Destination: turns a notification into per-record messages on
 * commerceQueue for every store that wants the inquiry's entity now: store and entity active, the
 * entity exported (export or bidirectional), and real-time export started (`pushcdc realtime start`).
 * Accepted means the broker confirmed every message.
 */
export interface CommerceDeps {
  broker: Broker;
  pool: Pool;
  stores: StoreConfig[];
  commerceQueue: string;
  /** How long a real-time status read from the database is trusted. */
  statusTtlMs?: number;
}

export function createCommerceDestination(config: DestinationConfig, deps: CommerceDeps): Destination {
  const mappings = new Map(config.inquiries.flatMap((i) => (i.commerce ? [[i.inquiry, i.commerce] as const] : [])));
  const running = realtimeCache(deps.pool, deps.statusTtlMs ?? 2_000);

  const eligibleStores = async (entity: EntityName): Promise<string[]> => {
    const candidates = deps.stores.filter((store) => {
      const settings = store.active ? store.entities[entity] : undefined;
      return settings?.active === true && (settings.direction === 'export' || settings.direction === 'bidirectional');
    });
    const checks = await Promise.all(candidates.map(async (store) => ((await running(store.name, entity)) ? [store.name] : [])));
    return checks.flat();
  };

  return {
    name: config.name,
    type: 'commerce',
    async send(notification: Notification): Promise<void> {
      const mapping = mappings.get(notification.Query);
      if (!mapping) return;
      const stores = await eligibleStores(mapping.entity);
      const messages = commerceMessages(notification, mapping, stores);
      if (messages.length === 0) return;
      await deps.broker.publish(
        deps.commerceQueue,
        messages.map((m) => ({
          body: JSON.stringify(m),
          messageId: `${notification.Id}|${m.store}|${m.entity}|${m.localId ?? ''}`,
        })),
      );
    },
    close: async () => undefined,
  };
}

/** Real-time export status per (store, entity), read at most once per ttl: the check is per notification. */
function realtimeCache(pool: Pool, ttlMs: number): (store: string, entity: string) => Promise<boolean> {
  const cache = new Map<string, { running: boolean; until: number }>();
  return async (store, entity) => {
    const key = `${store}|${entity}`;
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.running;
    const isRunning = (await getRealtimeStatus(pool, store, entity, 'export')) === 'running';
    cache.set(key, { running: isRunning, until: Date.now() + ttlMs });
    return isRunning;
  };
}
