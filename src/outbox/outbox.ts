import { quoteIdent, type Pool } from '../db/pool.ts';

/**
 * The transactional outbox: notifications are inserted in the same transaction that writes the diff
 * state, and leave for primaryQueue only after that commit. A crash before the commit replays the WAL
 * and recomputes (nothing was sent); after it, the replay diffs to nothing and the relay sends the
 * stored rows — with their stored Id.
 */
export function outboxTable(stateSchema: string): string {
  return `${quoteIdent(stateSchema)}.outbox`;
}

export async function ensureOutbox(pool: Pool, stateSchema: string): Promise<void> {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(stateSchema)}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${outboxTable(stateSchema)} (
       seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       inquiry text NOT NULL,
       notification_id uuid NOT NULL,
       payload text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now())`,
  );
  // Rows live for milliseconds: compressing a megabyte payload on insert and again on read costs more
  // than the bytes it saves.
  await pool.query(`ALTER TABLE ${outboxTable(stateSchema)} ALTER COLUMN payload SET STORAGE EXTERNAL`);
}

export interface OutboxEntry {
  inquiry: string;
  notificationId: string;
  /** The primaryQueue message text (the envelope). */
  payload: string;
}

export async function insertOutbox(
  client: { query(text: string, values: unknown[]): Promise<unknown> },
  stateSchema: string,
  entries: OutboxEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  await client.query(
    `INSERT INTO ${outboxTable(stateSchema)} (inquiry, notification_id, payload)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])`,
    [entries.map((e) => e.inquiry), entries.map((e) => e.notificationId), entries.map((e) => e.payload)],
  );
}
