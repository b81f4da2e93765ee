import type { Pool } from '../db/pool.ts';

/**
 * pushcdc.failed_notifications: notifications a destination did not accept after the last attempt
 * (the ERP's "Process Push Notifications" list). The payload is the exact JSON text that was sent,
 * kept up to 500,000 characters; a longer one is cut and marked truncated (it can be read, not resent).
 */
export const MAX_STORED_PAYLOAD = 500_000;
export const KEEP_HOURS = 48;

export interface FailedNotification {
  id: string;
  destination: string;
  query: string;
  error: string;
  payload: string;
  truncated: boolean;
  notificationId: string | null;
  attempts: number;
  createdAt: string;
}

export async function storeFailed(
  pool: Pool,
  row: { destination: string; query: string; error: string; payload: string; notificationId: string; attempts: number },
): Promise<string> {
  const truncated = row.payload.length > MAX_STORED_PAYLOAD;
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO pushcdc.failed_notifications (destination, query, error, payload, truncated, notification_id, attempts)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text`,
    [
      row.destination,
      row.query,
      row.error,
      truncated ? row.payload.slice(0, MAX_STORED_PAYLOAD) : row.payload,
      truncated,
      uuidOrNull(row.notificationId),
      row.attempts,
    ],
  );
  return rows[0]!.id;
}

const SELECT = `SELECT id::text, destination, query, error, payload, truncated, notification_id::text AS "notificationId",
  attempts, created_at::text AS "createdAt" FROM pushcdc.failed_notifications`;

export async function listFailed(pool: Pool): Promise<FailedNotification[]> {
  return (await pool.query<FailedNotification>(`${SELECT} ORDER BY id`)).rows;
}

export async function getFailed(pool: Pool, id: string): Promise<FailedNotification | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  return (await pool.query<FailedNotification>(`${SELECT} WHERE id = $1`, [id])).rows[0];
}

export async function deleteFailed(pool: Pool, id: string): Promise<boolean> {
  if (!/^\d{1,18}$/.test(id)) return false;
  return ((await pool.query('DELETE FROM pushcdc.failed_notifications WHERE id = $1', [id])).rowCount ?? 0) > 0;
}

/** A resend that failed again: the row stays, with the new error and the attempts added up. */
export async function recordResendFailure(pool: Pool, id: string, error: string): Promise<void> {
  await pool.query('UPDATE pushcdc.failed_notifications SET error = $2, attempts = attempts + 1 WHERE id = $1', [id, error]);
}

/** Drops what is older than KEEP_HOURS (SPEC: kept 48 hours); returns how many. */
export async function purgeFailed(pool: Pool): Promise<number> {
  const result = await pool.query(
    `DELETE FROM pushcdc.failed_notifications WHERE created_at < now() - make_interval(hours => $1)`,
    [KEEP_HOURS],
  );
  return result.rowCount ?? 0;
}

function uuidOrNull(id: string): string | null {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id) ? id : null;
}
