import { describe, expect, it } from 'vitest';
import { createPool, fillPool } from '../../src/db/pool.ts';
import { ADMIN_DATABASE_URL } from '../support/services.ts';

/**
 * A pool filled at start: every connection made and set up (onConnect) before any work checks one
 * out, and kept; a later checkout takes one of them instead of opening another.
 */
describe('a filled pool', () => {
  it('has every connection open and set up, and hands those out', async () => {
    const setUp: number[] = [];
    const pool = createPool(ADMIN_DATABASE_URL, {
      max: 2,
      keepIdle: true,
      onConnect: async (client) => {
        setUp.push((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      },
    });
    try {
      await fillPool(pool, 2);
      expect(setUp).toHaveLength(2);
      expect(pool.totalCount).toBe(2);
      expect(pool.idleCount).toBe(2);
      const [a, b] = await Promise.all([pool.connect(), pool.connect()]);
      const pids = await Promise.all([a, b].map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
      a.release();
      b.release();
      expect(pids.sort()).toEqual([...setUp].sort());
      expect(setUp).toHaveLength(2);
    } finally {
      await pool.end();
    }
  });
});
