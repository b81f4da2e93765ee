import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { waitForCatchUp } from '../support/model.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * Inquiry life cycle across restarts, and a quiet database: a new inquiry starts from its current
 * rows, a changed one rebuilds (its existing rows are its new start, not news), a removed one drops
 * its state, an unchanged one still hears of what happened while capture was down; and a slot on a
 * database whose writes all go to other tables keeps advancing, without answering every keepalive.
 */
const ctx = useTestContext('capture-lifecycle', { sample: false });
let project: ProjectDir;
let reader: QueueReader;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE l_item (id int PRIMARY KEY, name text, price numeric); CREATE TABLE l_other (id serial PRIMARY KEY, note text)`);
  await ctx.pool.query(`INSERT INTO l_item VALUES (1, 'one', 5), (2, 'two', 50)`);
  project = await createProjectDir('lifecycle');
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
});
afterAll(async () => {
  await reader?.close();
  await project?.cleanup();
});

async function registry(): Promise<Record<string, string>> {
  const { rows } = await ctx.pool.query<{ name: string; definition_hash: string }>(`SELECT name, definition_hash FROM "${ctx.names.stateSchema}".inquiries`);
  return Object.fromEntries(rows.map((r) => [r.name, r.definition_hash]));
}

async function stateTables(): Promise<string[]> {
  const { rows } = await ctx.pool.query<{ t: string }>(
    `SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'state:%' ORDER BY 1`,
    [ctx.names.stateSchema],
  );
  return rows.map((r) => r.t);
}

describe('inquiry life cycle', () => {
  it('rebuilds changed, drops removed, starts new inquiries from their rows; unchanged ones get the backlog', async () => {
    await project.write('inquiries/Changed.sql', 'SELECT i.id, i.name FROM l_item i');
    await project.write('inquiries/Removed.sql', 'SELECT i.id FROM l_item i WHERE i.price > 10');
    await project.write('inquiries/Kept.sql', 'SELECT i.id, i.price FROM l_item i');
    let capture = await startTestCapture(ctx, project.dir);
    await waitForCatchUp(ctx, reader);
    expect(reader.messages).toHaveLength(0); // rows that existed at deployment are the start, not news
    const before = await registry();
    await capture.stop();

    // While capture is down: a change, and new definitions.
    await ctx.pool.query(`INSERT INTO l_item VALUES (3, 'three', 500)`);
    await project.write('inquiries/Changed.sql', 'SELECT i.id, i.name, i.price FROM l_item i');
    await project.remove('inquiries/Removed.sql');
    await project.write('inquiries/Added.sql', 'SELECT i.name FROM l_item i');
    capture = await startTestCapture(ctx, project.dir);
    try {
      await waitForCatchUp(ctx, reader);
      const after = await registry();
      expect(Object.keys(after).sort()).toEqual(['Added', 'Changed', 'Kept']);
      expect(after.Changed).not.toBe(before.Changed);
      expect(after.Kept).toBe(before.Kept);
      expect(await stateTables()).toEqual(['state:Added', 'state:Changed', 'state:Kept']);
      // Only the unchanged inquiry reports the insert made while capture was down.
      expect(reader.messages.map((m) => m.envelope.notification.Query)).toEqual(['Kept']);
      expect(reader.for('Kept')[0]!.notification.Inserted).toEqual([{ id: 3, price: 500 }]);

      // From now on, the new definition is what is diffed.
      await ctx.pool.query(`UPDATE l_item SET price = 6 WHERE id = 1`);
      await reader.waitFor(() => reader.for('Changed').length === 1);
      expect(reader.for('Changed')[0]!.notification.Inserted).toEqual([{ id: 1, name: 'one', price: 6 }]);
      expect(reader.for('Added')).toHaveLength(0); // its column did not change
    } finally {
      await capture.stop();
    }
  });
});

describe('a quiet database', () => {
  it('keeps confirming the slot while every write goes to tables no inquiry reads', async () => {
    const capture = await startTestCapture(ctx, project.dir, { idlePingMs: 1000 });
    try {
      await waitForCatchUp(ctx, reader);
      for (let i = 0; i < 20; i++) await ctx.pool.query(`INSERT INTO l_other (note) VALUES (repeat('x', 2000))`);
      const target = (await ctx.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      const deadline = Date.now() + 15_000;
      let advanced = false;
      while (!advanced && Date.now() < deadline) {
        const { rows } = await ctx.pool.query<{ ok: boolean }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
          [ctx.names.slot, target],
        );
        advanced = rows[0]?.ok === true;
        if (!advanced) await new Promise((r) => setTimeout(r, 200));
      }
      expect(advanced, `the slot confirmed past ${target}`).toBe(true);
    } finally {
      await capture.stop();
    }
  });

  it('confirms the slot past its own last batch as soon as the walsender has read it', async () => {
    // Idle confirmations far apart: only the keepalive after capture's own writes can move the slot.
    const capture = await startTestCapture(ctx, project.dir, { idlePingMs: 60_000, idleConfirmMs: 60_000 });
    try {
      await waitForCatchUp(ctx, reader);
      const seen = reader.for('Kept').length;
      // Thousands of rows: the batch writes megabytes of state rows and outbox, far more than the change.
      await ctx.pool.query(`INSERT INTO l_item SELECT g, repeat('n', 300), g FROM generate_series(1000, 3999) g`);
      const changed = (await ctx.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      await reader.waitFor(() => reader.for('Kept').length > seen);
      // Behind the WAL's end by at most a quarter of what was written since the change: the slot
      // confirmed past the batch's writes (the relay's deletes after it may still be unconfirmed).
      const lag = async () =>
        (
          await ctx.pool.query<{ behind: string; written: string }>(
            `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS behind, pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn)::text AS written
               FROM pg_replication_slots WHERE slot_name = $1`,
            [ctx.names.slot, changed],
          )
        ).rows[0]!;
      const deadline = Date.now() + 5_000;
      let last = await lag();
      while (Number(last.behind) * 4 > Number(last.written) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        last = await lag();
      }
      expect(Number(last.written)).toBeGreaterThan(1_000_000);
      expect(Number(last.behind), `${last.behind} bytes behind, ${last.written} written since the change`).toBeLessThan(Number(last.written) / 4);
    } finally {
      await capture.stop();
    }
  });

  it('confirms an idle slot now and then, not on every keepalive the other writes bring', async () => {
    const capture = await startTestCapture(ctx, project.dir, { idlePingMs: 1000, idleConfirmMs: 1500 });
    try {
      await waitForCatchUp(ctx, reader);
      // For 3 s, a commit every few ms to a table no inquiry reads: the walsender sends a keepalive
      // each time it waits for WAL, and the slot's confirmed position is sampled meanwhile.
      const seen = new Set<string>();
      let writing = true;
      const sampling = (async () => {
        while (writing) {
          const { rows } = await ctx.pool.query<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [ctx.names.slot]);
          seen.add(rows[0]!.lsn);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const until = Date.now() + 3000;
      let commits = 0;
      while (Date.now() < until) {
        await ctx.pool.query(`INSERT INTO l_other (note) VALUES ('x')`);
        commits++;
      }
      writing = false;
      await sampling;
      // Confirming each keepalive moved the slot hundreds of times here; once per 1.5 s, 2 or 3 times.
      expect(commits).toBeGreaterThan(100);
      expect(seen.size, `confirmed positions seen: ${[...seen].join(', ')}`).toBeLessThanOrEqual(4);
      expect(seen.size).toBeGreaterThanOrEqual(2);
    } finally {
      await capture.stop();
    }
  });
});
