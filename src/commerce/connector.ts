import type { EntityName, StoreConfig } from '../config/stores.ts';
import type { CommerceDirection } from './message.ts';

/**
 * The seams between the commerce role and a storefront (DESIGN "The commerce side", modelled on the
 * ERP's IConnector / IProcessor): one Connector per storefront kind, one Processor per entity.
 * Processors map a local record to the storefront's API and back; the role owns sync_status.
 */
export type LocalRecord = Record<string, unknown>;

/** What a processor knows about the record's last sync, and how it finds related records' links. */
export interface SyncLink {
  externId: string | null;
  /** The storefront id of another record of the same store (e.g. a shipment's order), if synced. */
  externIdOf?: (entity: EntityName, localId: string) => Promise<string | null>;
}

export interface ExportOutcome {
  externId: string;
  /** The storefront's modification time after our write (ISO 8601), when it tells. */
  externModifiedAt: string | null;
  /** What was sent: stored and hashed, so a later look shows what the storefront got. */
  sent: unknown;
  /** A human label of the storefront record (the ERP's "external description"). */
  description: string;
  /** `created`, `updated`, or `linked` (an existing storefront record found by its natural key). */
  operation: 'created' | 'updated' | 'linked';
}

export interface ImportOutcome {
  externId: string;
  externModifiedAt: string | null;
  /** The storefront record as fetched. */
  received: unknown;
  description: string;
}

export interface Processor {
  readonly entity: EntityName;
  /** Storefront webhook scopes/topics the entity imports through; empty: it cannot be imported. */
  readonly webhookScopes: readonly string[];
  exportRecord?(record: LocalRecord, link: SyncLink): Promise<ExportOutcome>;
  /**
   * What an export of the record would write, without ids the store assigns: its hash is kept as
   * extern_hash, and an equal hash means the storefront already has this version (no call needed).
   */
  content?(record: LocalRecord): unknown;
  /** The storefront's current modification time of a record, to pick the sync direction. */
  externModifiedAt?(externId: string): Promise<string | null>;
  /** Fetches what a webhook announced (webhook bodies are thin: a scope and an id). */
  importRecord?(hook: LocalRecord, link: SyncLink): Promise<ImportOutcome>;
  /**
   * The fetched storefront record (ImportOutcome.received) as a local record in the entity's push
   * inquiry columns, for the ERP writer; throws InvalidRecordError when it cannot be mapped.
   */
  localRecord?(received: unknown): LocalRecord;
}

/** Where storefront webhooks call us back, and the values they must echo (SPEC section 7). */
export interface WebhookTarget {
  destination: string;
  headers: { type: string; company: string; validation: string };
}

export interface Connector {
  readonly kind: StoreConfig['connector'];
  supports(entity: EntityName, direction: CommerceDirection): boolean;
  /** Registers the entity's webhooks (idempotent); returns the storefront's hook ids. */
  startWebhooks(entity: EntityName, target: WebhookTarget): Promise<string[]>;
  /** Removes the entity's webhooks that point at the target; returns how many were removed. */
  stopWebhooks(entity: EntityName, target: WebhookTarget): Promise<number>;
  processPush(entity: EntityName, record: LocalRecord, link: SyncLink): Promise<ExportOutcome>;
  /** The processor's `content` of the record; undefined when the processor has none. */
  contentOf(entity: EntityName, record: LocalRecord): unknown;
  processHook(entity: EntityName, hook: LocalRecord, link: SyncLink): Promise<ImportOutcome>;
  /** The processor's `localRecord` of a fetched record; undefined when the processor maps none back. */
  localRecordOf(entity: EntityName, received: unknown): LocalRecord | undefined;
  /** Null when the storefront cannot tell (or the processor does not ask). */
  externModifiedAt(entity: EntityName, externId: string): Promise<string | null>;
}
