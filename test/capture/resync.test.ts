import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { dropSlotOnceFree, useTestContext } from '../support/isolation.ts';
import { canonicalRow, foldNotifications, waitForCatchUp } from '../support/model.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * A slot created anew under kept states — dropped by someone while capture was down (PostgreSQL
 * invalidating it past max_slot_wal_keep_size leads to the same restart): the changes in between are
 * in no slot, yet folding every notification onto the results at deployment must still give the
 * current results, for a single-table inquiry with a filter and for a LEFT JOIN.
 */
const ctx = useTestContext('capture-resync', { sample: false });
let project: ProjectDir;
let reader: QueueReader;

const INQUIRIES = {
  Customers: `SELECT c.id, c.name FROM rs_customer c WHERE c.name <> 'hidden'`,
  Orders: `SELECT c.id, c.name, o.id AS order_id, o.qty FROM rs_customer c LEFT JOIN rs_order o ON o.customer_id = c.id`,
} as const;
type Inquiry = keyof typeof INQUIRIES;

async function result(inquiry: Inquiry): Promise<string[]> {
  const { rows } = await ctx.pool.query<Record<string, unknown>>(INQUIRIES[inquiry]);
  return rows.map(canonicalRow).sort();
}

/** Capture's warnings matching a LIKE pattern. */
async function events(pattern: string): Promise<number> {
  const { rows } = await ctx.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM pushcdc.system_events WHERE source = 'capture' AND level = 'warning' AND message LIKE $1`,
    [pattern],
  );
  return Number(rows[0]!.n);
}

/** Folding every notification since `from` onto `start` gives each inquiry's current result. */
async function expectFoldsToResults(start: Record<Inquiry, string[]>, from: number): Promise<void> {
  for (const inquiry of Object.keys(INQUIRIES) as Inquiry[]) {
    const notifications = reader.messages.slice(from).map((m) => m.envelope).filter((e) => e.notification.Query === inquiry);
    expect(foldNotifications(start[inquiry], notifications, inquiry), inquiry).toEqual(await result(inquiry));
  }
}

async function results(): Promise<Record<Inquiry, string[]>> {
  return { Customers: await result('Customers'), Orders: await result('Orders') };
}

beforeAll(async () => {
  await ctx.pool.query(`
    CREATE TABLE rs_customer (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE rs_order (id int PRIMARY KEY, customer_id int, qty int);
    INSERT INTO rs_customer VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'hidden');
    INSERT INTO rs_order VALUES (10, 1, 5), (20, 2, 7), (30, 3, 9)`);
  project = await createProjectDir('resync');
  for (const [name, sql] of Object.entries(INQUIRIES)) await project.write(`inquiries/${name}.sql`, sql);
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
});
afterAll(async () => {
  await reader?.close();
  await project?.cleanup();
});

describe('a slot created anew under kept states', () => {
  it('reports what changed while no slot kept the changes, then streams as before', async () => {
    const start = { Customers: await result('Customers'), Orders: await result('Orders') };
    let capture = await startTestCapture(ctx, project.dir);
    await ctx.pool.query(`UPDATE rs_order SET qty = 6 WHERE id = 10`);
    await waitForCatchUp(ctx, reader);
    await capture.stop();
    const before = reader.messages.length;
    expect(before).toBe(1); // Orders, the live change

    await dropSlotOnceFree(ctx.pool, ctx.names.slot);
    // Unseen by any slot: a new row, a renamed one, one filtered out and one filtered in, a deleted
    // customer with its order, an order moved to another customer, a new order.
    await ctx.pool.query(`
      INSERT INTO rs_customer VALUES (5, 'five');
      UPDATE rs_customer SET name = 'ONE' WHERE id = 1;
      UPDATE rs_customer SET name = 'hidden' WHERE id = 3;
      UPDATE rs_customer SET name = 'four' WHERE id = 4;
      DELETE FROM rs_order WHERE customer_id = 2; DELETE FROM rs_customer WHERE id = 2;
      UPDATE rs_order SET customer_id = 5 WHERE id = 30;
      INSERT INTO rs_order VALUES (40, 4, 1)`);

    capture = await startTestCapture(ctx, project.dir);
    try {
      await waitForCatchUp(ctx, reader);
      const resynced = reader.messages.slice(before).map((m) => m.envelope.notification.Query).sort();
      expect(resynced).toEqual(['Customers', 'Orders']); // one notification per inquiry: the gap's net change
      for (const inquiry of Object.keys(INQUIRIES) as Inquiry[]) {
        expect(foldNotifications(start[inquiry], reader.for(inquiry), inquiry), inquiry).toEqual(await result(inquiry));
      }
      expect(await events(`replication slot ${ctx.names.slot} was missing; Customers, Orders compared whole%: 2 notification(s)%`)).toBe(1);

      // The new slot streams: a change now arrives as usual.
      await ctx.pool.query(`UPDATE rs_customer SET name = 'FIVE' WHERE id = 5`);
      await reader.waitFor(() => reader.for('Customers').length === 2);
      await waitForCatchUp(ctx, reader);
      for (const inquiry of Object.keys(INQUIRIES) as Inquiry[]) {
        expect(foldNotifications(start[inquiry], reader.for(inquiry), inquiry), inquiry).toEqual(await result(inquiry));
      }
    } finally {
      await capture.stop();
    }

    // A restart on the same slot compares nothing whole: no notification without a change.
    const settled = reader.messages.length;
    capture = await startTestCapture(ctx, project.dir);
    try {
      await waitForCatchUp(ctx, reader);
      expect(reader.messages.length).toBe(settled);
    } finally {
      await capture.stop();
    }
  });

  it('replaces a slot dropped while capture runs, before its next restart', async () => {
    const start = await results();
    const before = reader.messages.length;
    const capture = await startTestCapture(ctx, project.dir);
    try {
      await waitForCatchUp(ctx, reader);
      // Cut the stream and drop the slot while capture waits to restart (a second at first).
      const deadline = Date.now() + 20_000;
      for (;;) {
        const { rows } = await ctx.pool.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [ctx.names.slot]);
        if (rows.length === 0) break;
        if (rows[0]!.pid !== null) await ctx.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        else await ctx.pool.query('SELECT pg_drop_replication_slot($1)', [ctx.names.slot]).catch(() => undefined);
        if (Date.now() > deadline) throw new Error('could not drop the slot between restarts');
        await new Promise((r) => setTimeout(r, 20));
      }
      await ctx.pool.query(`
        INSERT INTO rs_customer VALUES (6, 'six');
        UPDATE rs_order SET qty = qty + 1 WHERE id = 40;
        DELETE FROM rs_order WHERE id = 30`);
      await reader.waitFor(() => reader.messages.length >= before + 2, 30_000, 'the resync or the stream');
      await waitForCatchUp(ctx, reader);
      await expectFoldsToResults(start, before);
      expect(await events(`replication slot ${ctx.names.slot} was missing;%`)).toBe(2);
    } finally {
      await capture.stop();
    }
  });
  it('creates a publication dropped while capture was down, and the slot anew (PostgreSQL cannot decode across the gap)', async () => {
    const start = await results();
    const before = reader.messages.length;
    await ctx.pool.query(`DROP PUBLICATION ${ctx.names.publication}`);
    await ctx.pool.query(`UPDATE rs_customer SET name = 'SIX' WHERE id = 6; INSERT INTO rs_order VALUES (60, 6, 3)`);
    const capture = await startTestCapture(ctx, project.dir);
    try {
      await waitForCatchUp(ctx, reader);
      expect(reader.messages.length).toBe(before + 2);
      await expectFoldsToResults(start, before);
      expect(await events(`publication ${ctx.names.publication} was missing; Customers, Orders compared whole%`)).toBe(1);
      await ctx.pool.query(`UPDATE rs_order SET qty = 4 WHERE id = 60`);
      await reader.waitFor(() => reader.messages.length === before + 3);
      await expectFoldsToResults(start, before);
    } finally {
      await capture.stop();
    }
  });

  it('puts back a table someone removed from the publication while capture runs, with what it missed', async () => {
    const start = await results();
    const before = reader.messages.length;
    const capture = await startTestCapture(ctx, project.dir, { healthCheckMs: 300 });
    try {
      await waitForCatchUp(ctx, reader);
      // Removed and changed at once: the order's change is never decoded for this publication.
      await ctx.pool.query(`BEGIN; ALTER PUBLICATION ${ctx.names.publication} DROP TABLE rs_order; UPDATE rs_order SET qty = 99 WHERE id = 40; COMMIT`);
      await reader.waitFor(() => reader.for('Orders').some((n) => n.notification.Inserted.some((row) => row.qty === 99)), 20_000, 'the missed change');
      await waitForCatchUp(ctx, reader);
      await expectFoldsToResults(start, before);
      expect(await events(`publication ${ctx.names.publication} no longer listed public.rs_order; Orders compared whole%: 1 notification(s)%`)).toBe(1);
    } finally {
      await capture.stop();
    }
  });
});
