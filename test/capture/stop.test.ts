import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { startTestCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * A stop ends even when the batch in flight cannot: here it waits on another session's table lock.
 * The batch is abandoned (its sessions ended, its WAL unacknowledged) and replayed at the next start.
 */
const ctx = useTestContext('capture-stop', { sample: false });
let project: ProjectDir;
let reader: QueueReader;
let blocker: pg.PoolClient | undefined;

beforeAll(async () => {
  await ctx.pool.query('CREATE TABLE st_item (id int PRIMARY KEY, note text); CREATE TABLE st_other (id int PRIMARY KEY)');
  project = await createProjectDir('capture-stop');
  await project.write('inquiries/Items.sql', 'SELECT i.id AS "ID", i.note AS "Note" FROM st_item i');
  await project.write('inquiries/Others.sql', 'SELECT o.id AS "ID" FROM st_other o');
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
});
afterAll(async () => {
  await blocker?.query('ROLLBACK').catch(() => undefined);
  blocker?.release();
  await reader?.close();
  await project?.cleanup();
});

const diffSessions = async () =>
  Number(
    (await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [`pushcdc-diff-${ctx.names.slot}`]))
      .rows[0]!.n,
  );

describe('stopping capture', () => {
  it('abandons a batch stuck on a table lock within stopTimeoutMs, and the next start delivers its change', async () => {
    let capture = await startTestCapture(ctx, project.dir, { stopTimeoutMs: 1_000 });
    await ctx.pool.query("INSERT INTO st_item VALUES (1, 'before')");
    await reader.waitFor(() => reader.for('Items').length === 1);

    // Every batch locks all watched tables before its snapshot: an exclusive lock on one holds it.
    blocker = await ctx.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE st_other IN ACCESS EXCLUSIVE MODE');
    await ctx.pool.query("INSERT INTO st_item VALUES (2, 'stuck')");
    const committed = (await ctx.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    for (let waiting = 0; waiting === 0; await new Promise((r) => setTimeout(r, 50))) {
      const { rows } = await ctx.pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [`pushcdc-diff-${ctx.names.slot}`],
      );
      waiting = Number(rows[0]!.n);
    }

    await capture.stop();
    // Its sessions are gone, not left waiting on the lock with their transaction open.
    for (let deadline = Date.now() + 10_000; (await diffSessions()) > 0; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error('the abandoned batch sessions are still there');
    }
    // Not acknowledged: the slot still holds the transaction (its commit ends before `committed`).
    const { rows } = await ctx.pool.query<{ before: boolean }>(
      'SELECT confirmed_flush_lsn < $2::pg_lsn AS before FROM pg_replication_slots WHERE slot_name = $1',
      [ctx.names.slot, committed],
    );
    expect(rows[0]!.before).toBe(true);
    expect(reader.for('Items')).toHaveLength(1);

    await blocker.query('ROLLBACK');
    capture = await startTestCapture(ctx, project.dir);
    try {
      await reader.waitFor(() => reader.for('Items').length === 2);
      expect(reader.for('Items')[1]!.notification.Inserted).toEqual([{ ID: 2, Note: 'stuck' }]);
    } finally {
      await capture.stop();
    }
  }, 60_000);
});
