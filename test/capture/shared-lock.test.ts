import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sharedBatchesTotal } from '../../src/capture/metrics.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * A batch shares its diff with helper sessions, which must take the batch's table locks too. With a
 * TRUNCATE queued behind the batch's own lock, a helper's request would queue behind the TRUNCATE,
 * which waits for the batch: a deadlock PostgreSQL cannot see (the batch waits in Node). The helpers
 * ask with NOWAIT and the batch falls back to one session.
 */
const ctx = useTestContext('capture-shared-lock', { sample: false });
let project: ProjectDir;
let reader: QueueReader;
let capture: RunningCapture;
const held: pg.PoolClient[] = [];

beforeAll(async () => {
  await ctx.pool.query('CREATE TABLE sl_item (id int PRIMARY KEY, note text); CREATE TABLE sl_other (id int PRIMARY KEY)');
  project = await createProjectDir('capture-shared-lock');
  await project.write('inquiries/Items.sql', 'SELECT i.id AS "ID", i.note AS "Note" FROM sl_item i');
  await project.write('inquiries/Others.sql', 'SELECT o.id AS "ID" FROM sl_other o');
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
  capture = await startTestCapture(ctx, project.dir, { diffSessions: 2, minBytesPerSharedBatch: 0 });
});
afterAll(async () => {
  for (const client of held) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
  await capture?.stop();
  await reader?.close();
  await project?.cleanup();
});

const shared = async () => (await sharedBatchesTotal.get()).values[0]?.value ?? 0;
const lockWaiters = async (mode: string) =>
  Number(
    (
      await ctx.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
          WHERE c.relname = 'sl_other' AND l.mode = $1 AND NOT l.granted`,
        [mode],
      )
    ).rows[0]!.n,
  );
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await check()); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('a shared batch with a TRUNCATE queued behind its lock', () => {
  it('is diffed in one session, without waiting, and the TRUNCATE follows it', async () => {
    const before = await shared();
    await ctx.pool.query("INSERT INTO sl_item VALUES (1, 'shared')");
    await reader.waitFor(() => reader.for('Items').length === 1);
    // Without a lock queued, every batch is shared here.
    expect(await shared()).toBeGreaterThan(before);

    // The next batch queues for its table locks behind an exclusive lock; a TRUNCATE queues behind it.
    const blocker = await ctx.pool.connect();
    held.push(blocker);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE sl_other IN ACCESS EXCLUSIVE MODE');
    await ctx.pool.query("INSERT INTO sl_item VALUES (2, 'alone')");
    await until(async () => (await lockWaiters('AccessShareLock')) === 1, 'the batch to queue for its lock');
    const truncater = await ctx.pool.connect();
    held.push(truncater);
    await truncater.query('BEGIN');
    const truncated = truncater.query('TRUNCATE sl_other');
    await until(async () => (await lockWaiters('AccessExclusiveLock')) === 1, 'the TRUNCATE to queue');

    // The batch gets its lock first; the TRUNCATE now waits for the batch, and so would a helper.
    const sharedBefore = await shared();
    await blocker.query('ROLLBACK');
    // Well within a helper's 10 s lock_timeout, which one that queued for its lock would wait out first
    // (the margin is for a loaded CI machine; unloaded, the batch takes about 50 ms).
    await reader.waitFor(() => reader.for('Items').length === 2, 8_000);
    expect(reader.for('Items')[1]!.notification.Inserted).toEqual([{ ID: 2, Note: 'alone' }]);
    expect(await shared()).toBe(sharedBefore);
    await truncated;
    await truncater.query('COMMIT');

    // The batch neither failed nor waited for a helper's lock_timeout: capture never restarted.
    const { rows } = await ctx.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM pushcdc.system_events WHERE source = 'capture' AND message LIKE 'capture restarts%'",
    );
    expect(rows[0]!.n).toBe('0');
  }, 60_000);
});
