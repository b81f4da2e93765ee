import type { Env } from '../config/env.ts';
import { findStore, findStoreEntity, type EntityName, type StoreConfig } from '../config/stores.ts';
import type { Pool } from '../db/pool.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { recordEvent } from '../monitor/events.ts';
import type { Connector } from './connector.ts';
import { createConnector } from './connectors/index.ts';
import type { CommerceDirection } from './message.ts';
import { setRealtimeStatus, type RealtimeStatus } from './realtime-state.ts';
import { webhookTarget } from './webhook-target.ts';

/**
 * Start / Stop Real-Time Sync for one entity of one store (the ERP's Entities form). Each direction
 * gets its own status: `not-supported` when the entity's configured direction excludes it or the
 * connector has no processor for it; otherwise `running` after start and `stopped` after stop.
 * Starting an import registers the storefront's webhooks (before the status says running, so a
 * failed registration leaves it stopped); stopping removes them. Each call is a system event.
 */
export interface RealtimeChange {
  store: string;
  entity: EntityName;
  export: RealtimeStatus;
  import: RealtimeStatus;
  /** Storefront webhook ids registered (start) or how many were removed (stop). */
  webhooks: string[] | number;
}

export interface RealtimeControlOptions {
  pool: Pool;
  stores: StoreConfig[];
  env: Env;
  logger: Logger;
  connectorFor?: (store: StoreConfig) => Connector;
}

function wanted(config: { direction: 'export' | 'import' | 'bidirectional' }, direction: CommerceDirection): boolean {
  return config.direction === 'bidirectional' || config.direction === direction;
}

export async function changeRealtime(
  options: RealtimeControlOptions,
  action: 'start' | 'stop',
  storeName: string,
  entityName: string,
): Promise<RealtimeChange> {
  const store = findStore(options.stores, storeName);
  const { name: entity, config } = findStoreEntity(store, entityName);
  const connector = (options.connectorFor ?? ((s) => createConnector(s, options.logger)))(store);
  const supported = (d: CommerceDirection) => wanted(config, d) && connector.supports(entity, d);
  const next = (d: CommerceDirection): RealtimeStatus => (!supported(d) ? 'not-supported' : action === 'start' ? 'running' : 'stopped');

  let webhooks: string[] | number = action === 'start' ? [] : 0;
  if (supported('import')) {
    const target = webhookTarget(store, options.env);
    try {
      webhooks = action === 'start' ? await connector.startWebhooks(entity, target) : await connector.stopWebhooks(entity, target);
    } catch (err) {
      const message = `${action === 'start' ? 'Start' : 'Stop'} real-time sync of ${entity} (store ${store.name}) failed: cannot ${action === 'start' ? 'register' : 'remove'} the storefront webhooks: ${errorMessage(err)}`;
      await recordEvent(options.pool, { level: 'error', source: 'commerce', message }, options.env.PUSHCDC_COMPANY);
      throw new PushcdcError('STOREFRONT', message, { cause: err });
    }
  }
  const change: RealtimeChange = { store: store.name, entity, export: next('export'), import: next('import'), webhooks };
  await setRealtimeStatus(options.pool, store.name, entity, 'export', change.export);
  await setRealtimeStatus(options.pool, store.name, entity, 'import', change.import);
  const hooks = Array.isArray(webhooks) ? `${webhooks.length} webhooks registered` : `${webhooks} webhooks removed`;
  await recordEvent(
    options.pool,
    {
      level: 'information',
      source: 'commerce',
      message: `Real-time sync ${action === 'start' ? 'started' : 'stopped'}: ${entity} of store ${store.name} (export ${change.export}, import ${change.import}${supported('import') ? `, ${hooks}` : ''})`,
      details: { ...change },
    },
    options.env.PUSHCDC_COMPANY,
  );
  return change;
}
