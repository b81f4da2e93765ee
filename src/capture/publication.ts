import { quoteIdent, type Pool } from '../db/pool.ts';
import { PushcdcError } from '../errors.ts';
import type { TableRef } from './changes.ts';

/**
 * The publication and the logical slot of one deployment (`pushcdc_<instance>`). The publication
 * lists exactly the tables the inquiries read, so changes to any other table are not even decoded.
 */
export async function ensurePublication(pool: Pool, publication: string, tables: TableRef[]): Promise<void> {
  const list = [...new Map(tables.map((t) => [`${t.schema}.${t.name}`, t])).values()]
    .map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`)
    .sort()
    .join(', ');
  const exists = await pool.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (exists.rows.length === 0) {
    // Partitioned tables publish their changes under the parent's name, which is what inquiries name.
    await pool.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list} WITH (publish_via_partition_root = true)`);
  } else {
    await pool.query(`ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${list}`);
  }
}

export async function ensureSlot(pool: Pool, slot: string): Promise<'created' | 'existing'> {
  const { rows } = await pool.query<{ plugin: string; database: string; current: string }>(
    'SELECT plugin, database, current_database() AS current FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const existing = rows[0];
  if (existing) {
    if (existing.plugin !== 'pgoutput' || existing.database !== existing.current) {
      throw new PushcdcError(
        'CONFIG',
        `replication slot ${slot} exists but belongs to database ${existing.database} with plugin ${existing.plugin}; set PUSHCDC_INSTANCE to another name or drop the slot`,
      );
    }
    return 'existing';
  }
  try {
    await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  } catch (err) {
    const message = (err as Error).message;
    if (/wal_level/.test(message)) {
      throw new PushcdcError('CONFIG', `cannot create replication slot ${slot}: ${message} (set wal_level = logical and restart PostgreSQL)`, { cause: err });
    }
    throw new PushcdcError('DATABASE', `cannot create replication slot ${slot}: ${message}`, { cause: err });
  }
  return 'created';
}

export interface SlotHealth {
  active: boolean;
  /** WAL the slot holds back: from its confirmed position to the current WAL end. */
  lagBytes: number;
  /** How much more WAL may be written before max_slot_wal_keep_size invalidates the slot (null: unlimited). */
  safeWalBytes: number | null;
  walStatus: string;
}

export async function slotHealth(pool: Pool, slot: string): Promise<SlotHealth | null> {
  const { rows } = await pool.query<{ active: boolean; lag: string | null; safe: string | null; wal_status: string }>(
    `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag,
            safe_wal_size::text AS safe, wal_status
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    active: row.active,
    lagBytes: Number(row.lag ?? 0),
    safeWalBytes: row.safe === null ? null : Number(row.safe),
    walStatus: row.wal_status,
  };
}
