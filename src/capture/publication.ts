import { quoteIdent, quoteTable, type Pool } from '../db/pool.ts';
import { PushcdcError } from '../errors.ts';
import { tableKey, type TableRef } from './changes.ts';

/**
 * The publication and the logical slot of one deployment (`pushcdc_<instance>`). The publication
 * lists exactly the tables the inquiries read, so changes to any other table are not even decoded.
 */
export interface PublicationCheck {
  /** There was no publication: it was created. */
  created: boolean;
  /** Wanted tables (`schema.name`) it did not list before (all of them when it was created). */
  missing: Set<string>;
}

export async function ensurePublication(pool: Pool, publication: string, tables: TableRef[]): Promise<PublicationCheck> {
  const wanted = new Map(tables.map((t) => [tableKey(t), t]));
  const list = [...wanted.values()]
    .map(quoteTable)
    .sort()
    .join(', ');
  const listed = await publishedTables(pool, publication);
  const missing = new Set([...wanted.keys()].filter((t) => !listed?.has(t)));
  if (listed === null) {
    // Partitioned tables publish their changes under the parent's name, which is what inquiries name.
    await pool.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list} WITH (publish_via_partition_root = true)`);
    return { created: true, missing };
  }
  await pool.query(`ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${list}`);
  return { created: false, missing };
}

/** The tables (`schema.name`) the publication lists; null when there is no such publication. */
export async function publishedTables(pool: Pool, publication: string): Promise<Set<string> | null> {
  const { rows } = await pool.query<{ t: string | null }>(
    `SELECT pt.schemaname || '.' || pt.tablename AS t
       FROM pg_publication p LEFT JOIN pg_publication_tables pt ON pt.pubname = p.pubname
      WHERE p.pubname = $1`,
    [publication],
  );
  if (rows.length === 0) return null;
  return new Set(rows.flatMap((r) => (r.t === null ? [] : [r.t])));
}

/**
 * `created`: there was none. `replaced`: there was one, but PostgreSQL had invalidated it (it fell
 * more than max_slot_wal_keep_size behind, and the WAL it needed is gone), so it was dropped and
 * created anew. Either way changes before the new slot are in no slot (see resyncStates).
 */
export type SlotOrigin = 'created' | 'existing' | 'replaced';

export async function ensureSlot(pool: Pool, slot: string): Promise<SlotOrigin> {
  const { rows } = await pool.query<{ plugin: string; database: string; current: string; wal_status: string | null }>(
    'SELECT plugin, database, current_database() AS current, wal_status FROM pg_replication_slots WHERE slot_name = $1',
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
    if (existing.wal_status !== 'lost') return 'existing';
    // Streaming from it would fail for good ("can no longer get changes"): only a new slot can stream.
    await replaceSlot(pool, slot);
    return 'replaced';
  }
  await createSlot(pool, slot);
  return 'created';
}

/** Drops the slot (not in use: the capture lock is held) and creates it anew, starting now. */
export async function replaceSlot(pool: Pool, slot: string): Promise<void> {
  await pool.query('SELECT pg_drop_replication_slot($1)', [slot]);
  await createSlot(pool, slot);
}

async function createSlot(pool: Pool, slot: string): Promise<void> {
  try {
    await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  } catch (err) {
    const message = (err as Error).message;
    if (/wal_level/.test(message)) {
      throw new PushcdcError('CONFIG', `cannot create replication slot ${slot}: ${message} (set wal_level = logical and restart PostgreSQL)`, { cause: err });
    }
    throw new PushcdcError('DATABASE', `cannot create replication slot ${slot}: ${message}`, { cause: err });
  }
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
