import type { EntityName } from '../../config/stores.ts';
import type { PoolClient } from '../../db/pool.ts';
import type { LocalRecord } from '../connector.ts';
import { CustomerWriter } from './customer.ts';
import { SalesOrderWriter } from './sales-order.ts';

/**
 * The ERP side of an import (storefront → ERP): one writer per entity, over the sample ERP schema
 * (sql/sample). Writers take and give local records in the entity's push-inquiry columns, the same
 * shape the export reads, so a record written by an import hashes like its export echo. They run
 * inside the import's transaction (import-erp.ts), which also records the sync link.
 */
export interface ErpRecord {
  /** The record as the entity's push inquiry shows it. */
  record: LocalRecord;
  /** Its latest change (over all its rows), ISO 8601 truncated to milliseconds like the stamps in sync_status. */
  modifiedAt: string;
}

export interface ErpWrite {
  localId: string;
  /** `created`: new in the ERP; `linked`: an unlinked ERP record matched by its natural key, then updated; `updated`. */
  operation: 'created' | 'linked' | 'updated';
}

export interface ErpWriter {
  readonly entity: EntityName;
  /** The record with this local id, undefined when the ERP has none. */
  read(client: PoolClient, localId: string): Promise<ErpRecord | undefined>;
  /**
   * Writes the storefront's version. `localId`: the linked record (re-created under that id when the
   * ERP lost it); null: not linked yet, so matched or created. `link` names the sync_status rows whose
   * local ids are taken.
   */
  write(client: PoolClient, record: LocalRecord, localId: string | null, link: { store: string; entity: EntityName }): Promise<ErpWrite>;
}

const WRITERS: readonly ErpWriter[] = [new CustomerWriter(), new SalesOrderWriter()];

/** The entity's ERP writer; undefined where writing imports into the ERP is not built. */
export function erpWriterFor(entity: EntityName): ErpWriter | undefined {
  return WRITERS.find((w) => w.entity === entity);
}
