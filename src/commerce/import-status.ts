import type { PoolClient } from '../db/pool.ts';

/**
 * The sync_status writes of an import into the ERP (import-erp.ts), made inside the transaction that
 * writes the ERP record, so the ERP record and its link commit together: a crash between the two
 * would otherwise leave a customer the next attempt cannot find and creates again.
 */
export interface ImportLink {
  localId: string | null;
  /** Stamps of the last successful sync, in ms since 1970. */
  localSyncedMs: number | null;
  externSyncedMs: number | null;
}

/** Locks the record's sync row (a concurrent export of the same record waits) and reads its link. */
export async function lockImportLink(client: PoolClient, id: string): Promise<ImportLink> {
  const { rows } = await client.query<{ local_id: string | null; local_ms: number | null; extern_ms: number | null }>(
    `SELECT local_id, (extract(epoch FROM local_ts) * 1000)::float8 AS local_ms, (extract(epoch FROM extern_ts) * 1000)::float8 AS extern_ms
       FROM pushcdc.sync_status WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = rows[0];
  return { localId: row?.local_id ?? null, localSyncedMs: row?.local_ms ?? null, externSyncedMs: row?.extern_ms ?? null };
}

export interface ImportSuccess {
  localId: string;
  /** The ERP record's change time after the write: local_ts, so its export echo is not newer than the sync. */
  localModifiedAt: string;
  externModifiedAt: string | null;
  /**
   * extern_hash: the export `content` of the record as the ERP now has it. The storefront holds the
   * same, so the export echo of this write hashes equal and is not pushed back. Null when the
   * record cannot be exported.
   */
  hash: string | null;
  description: string;
  /** `import-created`, `import-linked`, `import-updated`, `import-unchanged`. */
  operation: string;
}

/** The storefront record is in the ERP: `processed`, linked, attempts reset, nothing pending. */
export async function recordImported(client: PoolClient, id: string, result: ImportSuccess): Promise<void> {
  await client.query(
    `UPDATE pushcdc.sync_status SET
       status = 'processed', local_id = $2, local_ts = $3::timestamptz, extern_ts = COALESCE($4::timestamptz, now()),
       extern_hash = $5, extern_description = $6, last_operation = $7,
       attempt_count = 0, last_error = NULL, pending_sync = false, sync_in_process = false,
       pending_payload = NULL, last_attempt_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, result.localId, result.localModifiedAt, result.externModifiedAt, result.hash, result.description, result.operation],
  );
}

/** Both sides changed and the ERP is the primary system: the import is skipped, the ERP's version stays pending. */
export async function recordImportSkipped(client: PoolClient, id: string, reason: string): Promise<void> {
  await client.query(
    `UPDATE pushcdc.sync_status SET
       status = 'skipped', last_error = $2, last_operation = 'import-skipped', pending_sync = true, sync_in_process = false,
       last_attempt_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, reason],
  );
}
