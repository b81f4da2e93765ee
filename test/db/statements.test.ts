import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { lastResultOf } from '../../src/db/statements.ts';
import { ADMIN_DATABASE_URL } from '../support/services.ts';

/**
 * Several statements in one round trip: each runs, in order, in the same session; the caller gets
 * the last one's rows. A batch opens this way (its transaction, its table locks, then its snapshot).
 */
describe('statements in one round trip', () => {
  it('runs them in order and returns the last result; an error stops the rest', async () => {
    const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await client.connect();
    try {
      const result = await lastResultOf<{ level: string; inside: boolean }>(client, [
        'BEGIN ISOLATION LEVEL REPEATABLE READ',
        "SET LOCAL application_name = 'one round trip'",
        "SELECT current_setting('transaction_isolation') AS level, current_setting('application_name') = 'one round trip' AS inside",
      ]);
      expect(result.rows).toEqual([{ level: 'repeatable read', inside: true }]);
      await client.query('ROLLBACK');
      // One statement alone is answered as a single result by node-postgres: the same shape comes back.
      expect((await lastResultOf<{ n: number }>(client, ['SELECT 1 AS n'])).rows).toEqual([{ n: 1 }]);
      await expect(lastResultOf(client, ['BEGIN', 'SELECT 1/0', 'SELECT 2 AS n'])).rejects.toThrow(/division by zero/);
      // The transaction the first statement opened is left aborted, for the caller to roll back.
      await expect(client.query('SELECT 3')).rejects.toThrow(/current transaction is aborted/);
      await client.query('ROLLBACK');
      expect((await client.query<{ n: number }>('SELECT 3 AS n')).rows).toEqual([{ n: 3 }]);
    } finally {
      await client.end();
    }
  });
});
