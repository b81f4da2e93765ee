import { ENTITY_NAMES, type EntityName, type StoreConfig, type StoreEntityConfig } from '../config/stores.ts';
import type { Pool } from '../db/pool.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { recordEvent } from '../monitor/events.ts';
import type { Connector, ExportOutcome } from './connector.ts';
import { createConnector } from './connectors/index.ts';
import { chooseDirection, externChangedSince } from './direction.ts';
import type { CommerceMessage } from './message.ts';
import type { RecordBatch } from './pipeline.ts';
import { RealtimeGate } from './realtime-gate.ts';
import { InvalidRecordError } from './record-fields.ts';
import { contentHash } from './hash.ts';
import { erpWriterFor } from './erp/writer.ts';
import { importIntoErp } from './import-erp.ts';
import { externIdOf, prepareRecord, recordExported, recordUnchanged, recordFailure, recordFinal, recordImportFetched, type PreparedRow } from './sync-status.ts';

/**
 * What happens to one record once its delay is over (the ERP's commerce thread): check the store,
 * entity and real-time status; write the record to sync_status as prepared; in prepare-and-process
 * mode pick the direction and call the storefront through the connector (an import also writes the
 * fetched record into the ERP where the entity has an ERP writer: import-erp.ts); record the outcome. The
 * batch's deliveries are acknowledged only after that write. A database error rejects (the pipeline
 * requeues the messages); a storefront error is the record's outcome (`failed` / `aborted`).
 */
export type Outcome =
  | 'unknown'
  | 'inactive'
  | 'stopped'
  | 'stale'
  | 'prepared'
  | 'processed'
  | 'unchanged'
  | 'failed'
  | 'aborted'
  | 'skipped'
  | 'invalid'
  | 'deleted';

export interface WorkerOptions {
  pool: Pool;
  stores: StoreConfig[];
  logger: Logger;
  /** The tenant written with system events (PUSHCDC_COMPANY). */
  company: string;
  gate?: RealtimeGate;
  connectorFor?: (store: StoreConfig) => Connector;
}

export class CommerceWorker {
  readonly counts = new Map<Outcome, number>();
  private readonly stores: Map<string, StoreConfig>;
  private readonly connectors = new Map<string, Connector>();
  private readonly warned = new Set<string>();
  private readonly gate: RealtimeGate;

  constructor(private readonly options: WorkerOptions) {
    this.stores = new Map(options.stores.map((s) => [s.name, s]));
    this.gate = options.gate ?? new RealtimeGate(options.pool);
  }

  async process(batch: RecordBatch): Promise<void> {
    const outcome = await this.handle(batch.message);
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
    for (const delivery of batch.deliveries) delivery.ack();
  }

  private async handle(m: CommerceMessage): Promise<Outcome> {
    const store = this.stores.get(m.store);
    const entity = ENTITY_NAMES.find((e) => e === m.entity);
    const config = store && entity ? store.entities[entity] : undefined;
    if (!store || !entity || !config) {
      await this.warnOnce(`${m.store}|${m.entity}`, `commerceQueue has messages for store "${m.store}", entity "${m.entity}", which no store file configures; they are acknowledged without processing`);
      return 'unknown';
    }
    if (!store.active || !config.active) return 'inactive';
    // Stopped real-time sync means the user does not want these changes pushed now; they are
    // acknowledged and dropped, not kept (see role.ts for why).
    if (!(await this.gate.isRunning(store.name, entity, m.direction))) return 'stopped';
    return m.direction === 'export' ? this.exportRecord(store, entity, config, m) : this.importRecord(store, entity, config, m);
  }

  private async exportRecord(store: StoreConfig, entity: EntityName, config: StoreEntityConfig, m: CommerceMessage): Promise<Outcome> {
    const deleting = m.operation === 'delete';
    const processNow = config.realtimeMode === 'prepare-and-process' && !deleting;
    const row = await prepareRecord(this.options.pool, {
      store: store.name,
      entity,
      direction: 'export',
      id: m.localId ?? '',
      payload: m.payload,
      at: m.at,
      operation: deleting ? 'delete' : 'push',
      process: processNow,
    });
    if (!row) return 'stale';
    // A record deleted in the ERP is marked, not deleted on the storefront: its orders and history
    // there stay intact, as with the ERP's own connector.
    if (deleting) {
      await recordFinal(this.options.pool, row.id, 'deleted', null, 'delete');
      return 'deleted';
    }
    if (row.status === 'aborted') return 'aborted';
    if (!processNow) return 'prepared';

    const connector = this.connector(store);
    const label = `${entity} ${m.localId} (store ${store.name})`;
    let externChanged: boolean;
    try {
      externChanged = row.externId ? externChangedSince(await connector.externModifiedAt(entity, row.externId), row.externSyncedMs) : false;
    } catch (err) {
      return this.failed(row, config, label, 'export', err);
    }
    if (chooseDirection({ localChanged: true, externChanged, primarySystem: config.primarySystem }) === 'import') {
      await recordFinal(
        this.options.pool,
        row.id,
        'skipped',
        'the storefront changed this record after the last sync and the primary system is external: the storefront version wins',
        'export-skipped',
      );
      return 'skipped';
    }
    let hash: string | undefined;
    try {
      const content = connector.contentOf(entity, row.payload);
      hash = content === undefined ? undefined : contentHash(content);
    } catch (err) {
      return this.failed(row, config, label, 'export', err);
    }
    // Only columns the storefront does not get changed (LastModified, CreditLimit...): nothing to send.
    if (hash !== undefined && row.externId !== null && hash === row.externHash && !externChanged) {
      await recordUnchanged(this.options.pool, row.id);
      return 'unchanged';
    }
    let result: ExportOutcome;
    try {
      result = await connector.processPush(entity, row.payload, {
        externId: row.externId,
        externIdOf: (other, localId) => externIdOf(this.options.pool, store.name, other, localId),
      });
    } catch (err) {
      return this.failed(row, config, label, 'export', err);
    }
    try {
      await recordExported(this.options.pool, row.id, { ...result, hash });
    } catch (err) {
      // The unique (store, entity, extern_id): another local record is linked to that storefront record.
      if ((err as { code?: string }).code !== '23505') throw err;
      return this.failed(row, config, label, 'export', new Error(`storefront record ${result.externId} is already linked to another ${entity} of this store`));
    }
    return 'processed';
  }

  private async importRecord(store: StoreConfig, entity: EntityName, config: StoreEntityConfig, m: CommerceMessage): Promise<Outcome> {
    const row = await prepareRecord(this.options.pool, {
      store: store.name,
      entity,
      direction: 'import',
      id: m.externId ?? '',
      payload: m.payload,
      at: m.at,
      operation: m.operation === 'delete' ? 'delete' : 'hook',
      process: config.realtimeMode === 'prepare-and-process',
    });
    if (!row) return 'stale';
    // Gone from the storefront: nothing to fetch; writing the deletion into the ERP is not built.
    if (m.operation === 'delete') {
      await recordFinal(this.options.pool, row.id, 'deleted', null, 'hook-delete');
      return 'deleted';
    }
    if (row.status === 'aborted') return 'aborted';
    if (config.realtimeMode === 'prepare') return 'prepared';
    const connector = this.connector(store);
    const writer = erpWriterFor(entity);
    try {
      const fetched = await connector.processHook(entity, row.payload, { externId: row.externId });
      const record = writer ? connector.localRecordOf(entity, fetched.received) : undefined;
      if (!writer || !record) {
        // No ERP writer for this entity (or the connector maps none back): the fetched record waits, prepared.
        await recordImportFetched(this.options.pool, row.id, fetched);
        return 'prepared';
      }
      return await importIntoErp(this.options.pool, {
        store: store.name,
        entity,
        config,
        rowId: row.id,
        fetched,
        record,
        writer,
        contentOf: (local) => connector.contentOf(entity, local),
      });
    } catch (err) {
      return this.failed(row, config, `${entity} ${m.externId} (store ${store.name})`, 'import', err);
    }
  }

  private async failed(row: PreparedRow, config: StoreEntityConfig, label: string, direction: string, err: unknown): Promise<Outcome> {
    const message = errorMessage(err);
    if (err instanceof InvalidRecordError) {
      await recordFinal(this.options.pool, row.id, 'invalid', message, direction);
      await this.event(`${label}: ${direction} impossible, the record is invalid: ${message}`, { syncId: row.id });
      return 'invalid';
    }
    const failure = await recordFailure(this.options.pool, row.id, message, config.maxFailedAttempts);
    const state = failure.status === 'aborted' ? 'aborted after' : 'failed, attempt';
    await this.event(`${label}: ${direction} ${state} ${failure.attemptCount} of ${config.maxFailedAttempts}: ${message}`, { syncId: row.id });
    return failure.status;
  }

  private event(message: string, details: Record<string, unknown>): Promise<void> {
    return recordEvent(this.options.pool, { level: 'error', source: 'commerce', message, details }, this.options.company);
  }

  private async warnOnce(key: string, message: string): Promise<void> {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    await recordEvent(this.options.pool, { level: 'warning', source: 'commerce', message }, this.options.company);
  }

  private connector(store: StoreConfig): Connector {
    let connector = this.connectors.get(store.name);
    if (!connector) {
      connector = (this.options.connectorFor ?? ((s) => createConnector(s, this.options.logger)))(store);
      this.connectors.set(store.name, connector);
    }
    return connector;
  }
}
