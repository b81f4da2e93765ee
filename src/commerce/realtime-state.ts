import type { Pool } from '../db/pool.ts';
import type { CommerceDirection } from './message.ts';

/** Real-time sync status per store, entity and direction, kept in pushcdc.realtime_state. */
export type RealtimeStatus = 'running' | 'stopped' | 'not-supported';

export interface RealtimeEntry {
  store: string;
  entity: string;
  direction: CommerceDirection;
  status: RealtimeStatus;
}

export async function getRealtimeStatus(
  pool: Pool,
  store: string,
  entity: string,
  direction: CommerceDirection,
): Promise<RealtimeStatus> {
  const { rows } = await pool.query<{ status: RealtimeStatus }>(
    'SELECT status FROM pushcdc.realtime_state WHERE store = $1 AND entity = $2 AND direction = $3',
    [store, entity, direction],
  );
  return rows[0]?.status ?? 'stopped';
}

export async function setRealtimeStatus(
  pool: Pool,
  store: string,
  entity: string,
  direction: CommerceDirection,
  status: RealtimeStatus,
): Promise<void> {
  await pool.query(
    `INSERT INTO pushcdc.realtime_state (store, entity, direction, status) VALUES ($1, $2, $3, $4)
     ON CONFLICT (store, entity, direction) DO UPDATE SET status = EXCLUDED.status, updated_at = now()`,
    [store, entity, direction, status],
  );
}

export async function listRealtimeState(pool: Pool): Promise<RealtimeEntry[]> {
  const { rows } = await pool.query<RealtimeEntry>(
    'SELECT store, entity, direction, status FROM pushcdc.realtime_state ORDER BY store, entity, direction',
  );
  return rows;
}
