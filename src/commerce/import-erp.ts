import type { EntityName, StoreEntityConfig } from '../config/stores.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { PushcdcError } from '../errors.ts';
import type { ImportOutcome, LocalRecord } from './connector.ts';
import { chooseDirection, externChangedSince } from './direction.ts';
import type { ErpWriter } from './erp/writer.ts';
import { contentHash } from './hash.ts';
import { lockImportLink, recordImported, recordImportSkipped } from './import-status.ts';
import { InvalidRecordError } from './record-fields.ts';

/**
 * The process step of a prepare-and-process import: the fetched storefront record, mapped to a local
 * record, goes into the ERP through the entity's writer, and the outcome and link are recorded — all
 * in one transaction. The direction follows the ERP's rule (direction.ts): a linked ERP record that
 * changed since the last sync while the storefront changed too keeps the primary system's version;
 * a storefront record unchanged since the last sync (the webhook of our own export) is not written.
 */
export interface ImportInput {
  store: string;
  entity: EntityName;
  config: StoreEntityConfig;
  /** The sync_status row of the record (prepareRecord). */
  rowId: string;
  fetched: ImportOutcome;
  /** The fetched record in the entity's push-inquiry columns (the connector's localRecordOf). */
  record: LocalRecord;
  writer: ErpWriter;
  /** The export `content` of a local record (Connector.contentOf): hashed as extern_hash. */
  contentOf: (record: LocalRecord) => unknown;
}

export type ImportResult = 'processed' | 'unchanged' | 'skipped';

export function importIntoErp(pool: Pool, input: ImportInput): Promise<ImportResult> {
  return inTransaction(pool, async (client) => {
    const link = await lockImportLink(client, input.rowId);
    const localId = link.localId;
    const existing = localId === null ? undefined : await input.writer.read(client, localId);
    if (existing && localId !== null) {
      // Never synced from the storefront, or the storefront cannot tell its stamp: take its word (the webhook) that it changed.
      const externChanged =
        link.externSyncedMs === null || input.fetched.externModifiedAt === null || externChangedSince(input.fetched.externModifiedAt, link.externSyncedMs);
      const localChanged = link.localSyncedMs !== null && Date.parse(existing.modifiedAt) > link.localSyncedMs;
      const direction = chooseDirection({ localChanged, externChanged, primarySystem: input.config.primarySystem });
      if (direction === 'export') {
        await recordImportSkipped(
          client,
          input.rowId,
          externChanged
            ? 'the ERP changed this record after the last sync and the primary system is the ERP: the ERP version wins'
            : 'only the ERP changed this record since the last sync: its version goes to the storefront',
        );
        return 'skipped';
      }
      if (direction === 'none') {
        await recordImported(client, input.rowId, {
          localId,
          localModifiedAt: existing.modifiedAt,
          externModifiedAt: input.fetched.externModifiedAt,
          hash: hashOf(input, existing.record),
          description: input.fetched.description,
          operation: 'import-unchanged',
        });
        return 'unchanged';
      }
    }
    const written = await input.writer.write(client, input.record, link.localId, { store: input.store, entity: input.entity });
    const after = await input.writer.read(client, written.localId);
    if (!after) throw new PushcdcError('INTERNAL', `the ${input.entity} ${written.localId} just written is not in the ERP`);
    try {
      await recordImported(client, input.rowId, {
        localId: written.localId,
        localModifiedAt: after.modifiedAt,
        externModifiedAt: input.fetched.externModifiedAt,
        hash: hashOf(input, after.record),
        description: input.fetched.description,
        operation: `import-${written.operation}`,
      });
    } catch (err) {
      // The unique (store, entity, local_id): another storefront record is linked to that ERP record.
      if ((err as { code?: string }).code !== '23505') throw err;
      throw new PushcdcError('STORE', `ERP ${input.entity} ${written.localId} is already linked to another storefront record of this store`, { cause: err });
    }
    return 'processed';
  });
}

/** The export content hash of the ERP's record; null when the record cannot be exported (the echo is then invalid, not pushed). */
function hashOf(input: ImportInput, record: LocalRecord): string | null {
  try {
    const content = input.contentOf(record);
    return content === undefined ? null : contentHash(content);
  } catch (err) {
    if (err instanceof InvalidRecordError) return null;
    throw err;
  }
}
