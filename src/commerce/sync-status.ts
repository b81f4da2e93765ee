import type { Pool } from '../db/pool.ts';
import { contentHash } from './hash.ts';
import type { CommerceDirection } from './message.ts';

/**
 * The commerce role's writes to pushcdc.sync_status (SPEC section 8, the ERP's BCSyncStatus).
 * A record is keyed by (store, entity, local_id) for exports and (store, entity, extern_id) for
 * imports. local_ts / extern_ts hold the stamps of the last successful sync; pending_ts the stamp of
 * the change waiting to be synced, so "changed since the last sync" is `pending_ts > local_ts`.
 */
export type SyncStatusValue = 'prepared' | 'processed' | 'failed' | 'aborted' | 'skipped' | 'deleted' | 'filtered' | 'invalid';

export const SYNC_STATUSES: readonly SyncStatusValue[] = [
  'prepared',
  'processed',
  'failed',
  'aborted',
  'skipped',
  'deleted',
  'filtered',
  'invalid',
];

export interface PreparedRow {
  id: string;
  status: SyncStatusValue;
  externId: string | null;
  attemptCount: number;
  /** The storefront's stamp at the last sync, in ms since 1970. */
  externSyncedMs: number | null;
  /** The newest pending version of the record: what is to be synced. */
  payload: Record<string, unknown>;
  /** Hash of what the last successful sync wrote (extern_hash). */
  externHash: string | null;
}

export interface PrepareInput {
  store: string;
  entity: string;
  direction: CommerceDirection;
  /** The record's id on its own side: local_id for exports, extern_id for imports. */
  id: string;
  payload: unknown;
  at: string;
  operation: string;
  /** Also mark it `sync_in_process` (the ERP's lock while the storefront is called). */
  process: boolean;
}

/**
 * Upserts the record as `prepared` with its latest version pending. Returns undefined when the
 * change is older than the last sync of that side (an out-of-order message: the ERP skips those
 * too). An equal stamp is processed again: change times have millisecond precision, so two commits
 * can share one, and a repeated update is harmless where a lost one is not. An `aborted` record stays aborted: it gave up after maxFailedAttempts and
 * real-time changes do not restart it; its pending version is still kept for a manual retry.
 */
export async function prepareRecord(pool: Pool, input: PrepareInput): Promise<PreparedRow | undefined> {
  const idColumn = input.direction === 'export' ? 'local_id' : 'extern_id';
  const stampColumn = input.direction === 'export' ? 'local_ts' : 'extern_ts';
  const { rows } = await pool.query<{
    id: string;
    status: SyncStatusValue;
    extern_id: string | null;
    attempt_count: number;
    extern_ms: number | null;
    pending_payload: Record<string, unknown>;
    extern_hash: string | null;
  }>(
    `INSERT INTO pushcdc.sync_status AS s
       (store, entity, ${idColumn}, status, pending_sync, sync_in_process, pending_payload, pending_ts, direction, last_operation)
     VALUES ($1, $2, $3, 'prepared', true, $4, $5, $6, $7, $8)
     ON CONFLICT (store, entity, ${idColumn}) WHERE ${idColumn} IS NOT NULL DO UPDATE SET
       status = CASE WHEN s.status = 'aborted' THEN 'aborted' ELSE 'prepared' END,
       pending_sync = true,
       sync_in_process = EXCLUDED.sync_in_process AND s.status <> 'aborted',
       -- A late, older message (redelivered after a failure) must not replace a newer pending version.
       -- Nothing pending (the last sync took it): the message's version is the one, whatever its stamp;
       -- an import's storefront time and an export's commit time are not comparable on one row.
       pending_payload = CASE WHEN s.pending_payload IS NULL OR s.pending_ts IS NULL OR EXCLUDED.pending_ts >= s.pending_ts
                              THEN EXCLUDED.pending_payload ELSE s.pending_payload END,
       pending_ts = CASE WHEN s.pending_payload IS NULL THEN EXCLUDED.pending_ts ELSE GREATEST(s.pending_ts, EXCLUDED.pending_ts) END,
       direction = EXCLUDED.direction,
       last_operation = EXCLUDED.last_operation,
       updated_at = now()
     WHERE s.${stampColumn} IS NULL OR EXCLUDED.pending_ts >= s.${stampColumn}
     RETURNING id, status, extern_id, attempt_count, (extract(epoch FROM extern_ts) * 1000)::float8 AS extern_ms, pending_payload, extern_hash`,
    [input.store, input.entity, input.id, input.process, JSON.stringify(input.payload), input.at, input.direction, input.operation],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id,
    status: row.status,
    externId: row.extern_id,
    attemptCount: row.attempt_count,
    externSyncedMs: row.extern_ms,
    payload: row.pending_payload,
    externHash: row.extern_hash,
  };
}

export interface ExportSuccess {
  externId: string;
  /** extern_hash: the hash of the processor's content, else of what was sent. */
  hash?: string | undefined;
  externModifiedAt: string | null;
  sent: unknown;
  description: string;
  operation: string;
}

/** The export reached the storefront: `processed`, attempts reset, the pending change now synced. */
export async function recordExported(pool: Pool, id: string, result: ExportSuccess): Promise<void> {
  await pool.query(
    `UPDATE pushcdc.sync_status SET
       status = 'processed', extern_id = $2, extern_ts = COALESCE($3::timestamptz, now()), extern_hash = $4,
       last_sent = $5, extern_description = $6, last_operation = $7, local_ts = pending_ts,
       attempt_count = 0, last_error = NULL, pending_sync = false, sync_in_process = false,
       pending_payload = NULL, last_attempt_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, result.externId, result.externModifiedAt, result.hash ?? contentHash(result.sent), JSON.stringify(result.sent), result.description, result.operation],
  );
}

/** The storefront already has this version (same content hash, not changed there): synced, no call. */
export async function recordUnchanged(pool: Pool, id: string): Promise<void> {
  await pool.query(
    `UPDATE pushcdc.sync_status SET
       status = 'processed', last_operation = 'unchanged', local_ts = pending_ts, attempt_count = 0, last_error = NULL,
       pending_sync = false, sync_in_process = false, pending_payload = NULL, last_attempt_at = now(), updated_at = now()
     WHERE id = $1`,
    [id],
  );
}

/** A webhook's record fetched from the storefront; writing it into the ERP is left to a processor. */
export async function recordImportFetched(
  pool: Pool,
  id: string,
  result: { externModifiedAt: string | null; received: unknown; description: string },
): Promise<void> {
  await pool.query(
    `UPDATE pushcdc.sync_status SET
       status = 'prepared', pending_payload = $2, extern_hash = $3, extern_description = $4,
       last_operation = 'import-fetched', sync_in_process = false, last_error = NULL, last_attempt_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, JSON.stringify(result.received), contentHash(result.received), result.description],
  );
}

/** A failed attempt: `failed`, or `aborted` once attempt_count reaches maxFailedAttempts. */
export async function recordFailure(
  pool: Pool,
  id: string,
  error: string,
  maxFailedAttempts: number,
): Promise<{ status: 'failed' | 'aborted'; attemptCount: number }> {
  const { rows } = await pool.query<{ status: 'failed' | 'aborted'; attempt_count: number }>(
    `UPDATE pushcdc.sync_status SET
       attempt_count = attempt_count + 1,
       status = CASE WHEN attempt_count + 1 >= $3 THEN 'aborted' ELSE 'failed' END,
       last_error = $2, sync_in_process = false, last_attempt_at = now(), updated_at = now()
     WHERE id = $1
     RETURNING status, attempt_count`,
    [id, error, maxFailedAttempts],
  );
  const row = rows[0];
  return { status: row?.status ?? 'failed', attemptCount: row?.attempt_count ?? 0 };
}

/** A final state that is no error of the storefront: `invalid`, `skipped`, `deleted`. */
export async function recordFinal(
  pool: Pool,
  id: string,
  status: 'invalid' | 'skipped' | 'deleted',
  reason: string | null,
  operation: string,
): Promise<void> {
  await pool.query(
    `UPDATE pushcdc.sync_status SET
       status = $2, last_error = $3, last_operation = $4, pending_sync = $2 = 'skipped', sync_in_process = false,
       last_attempt_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, status, reason, operation],
  );
}

/** The storefront id a record of the store got at its last successful export, if any. */
export async function externIdOf(pool: Pool, store: string, entity: string, localId: string): Promise<string | null> {
  const { rows } = await pool.query<{ extern_id: string | null }>(
    'SELECT extern_id FROM pushcdc.sync_status WHERE store = $1 AND entity = $2 AND local_id = $3',
    [store, entity, localId],
  );
  return rows[0]?.extern_id ?? null;
}
