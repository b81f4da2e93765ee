import type { Pool } from '../db/pool.ts';
import type { CommerceDirection } from './message.ts';
import { getRealtimeStatus, type RealtimeStatus } from './realtime-state.ts';

/**
 * Real-time status as the commerce role sees it: read from pushcdc.realtime_state and kept for
 * `ttlMs`, so a burst of messages costs one query per (store, entity, direction) and a
 * `pushcdc realtime start|stop` in another process takes effect within ttlMs.
 */
export class RealtimeGate {
  private readonly cache = new Map<string, { status: RealtimeStatus; until: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly ttlMs = 1000,
  ) {}

  async isRunning(store: string, entity: string, direction: CommerceDirection): Promise<boolean> {
    const key = `${store}|${entity}|${direction}`;
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.status === 'running';
    const status = await getRealtimeStatus(this.pool, store, entity, direction);
    this.cache.set(key, { status, until: now + this.ttlMs });
    return status === 'running';
  }
}
