import { ENTITY_NAMES, type StoreConfig } from '../config/stores.ts';
import type { Pool } from '../db/pool.ts';
import { PushcdcError } from '../errors.ts';
import { getRealtimeStatus, type RealtimeStatus } from '../commerce/realtime-state.ts';

/**
 * Whether the ERP would act on a webhook (erp-facts "Hook processing"): the store and the entity are
 * active, the entity's direction is not export-only, and its real-time import is running. Anything
 * else is ignored. The commerce worker checks the same again when the message comes out of the
 * queue; checking here keeps hooks nobody will process out of the queue and tells the storefront so.
 *
 * The real-time status is read from pushcdc.realtime_state and trusted for `ttlMs`, so a burst of
 * callbacks costs one query per (store, entity) and a `pushcdc realtime stop` elsewhere takes
 * effect within ttlMs.
 */
export interface Ignored {
  /** Stable per cause, for throttling the system events about it. */
  key: string;
  reason: string;
}

export class ImportGate {
  private readonly cache = new Map<string, { status: RealtimeStatus; until: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly ttlMs: number,
  ) {}

  /** Undefined when the hook should be queued. Throws a DATABASE error when the status cannot be read. */
  async ignoredBecause(store: StoreConfig, entityName: string): Promise<Ignored | undefined> {
    const at = (cause: string, reason: string): Ignored => ({ key: `${store.name}|${entityName}|${cause}`, reason });
    if (!store.active) return at('store-inactive', `store ${store.name} is inactive`);
    const entity = ENTITY_NAMES.find((e) => e === entityName);
    const config = entity ? store.entities[entity] : undefined;
    if (!config) return at('not-configured', `store ${store.name} does not configure ${entityName}`);
    if (!config.active) return at('entity-inactive', `${entityName} is inactive in store ${store.name}`);
    if (config.direction === 'export') return at('export-only', `${entityName} of store ${store.name} is export-only`);
    const status = await this.status(store.name, entityName);
    if (status !== 'running') return at(`realtime-${status}`, `real-time import of ${entityName} (store ${store.name}) is ${status}`);
    return undefined;
  }

  private async status(store: string, entity: string): Promise<RealtimeStatus> {
    const key = `${store}|${entity}`;
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.status;
    let status: RealtimeStatus;
    try {
      status = await getRealtimeStatus(this.pool, store, entity, 'import');
    } catch (err) {
      throw new PushcdcError('DATABASE', `cannot read the real-time import status of ${entity} (store ${store})`, { cause: err });
    }
    this.cache.set(key, { status, until: now + this.ttlMs });
    return status;
  }
}
