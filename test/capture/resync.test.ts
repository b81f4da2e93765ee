import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
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

    await ctx.pool.query('SELECT pg_drop_replication_slot($1)', [ctx.names.slot]);
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
      const { rows } = await ctx.pool.query<{ message: string }>(
        `SELECT message FROM pushcdc.system_events WHERE source = 'capture' AND level = 'warning' AND message LIKE '%was missing%'`,
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.message).toContain(ctx.names.slot);
      expect(rows[0]!.message).toContain('2 notification(s)');

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
    const start = { Customers: await result('Customers'), Orders: await result('Orders') };
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
      for (const inquiry of Object.keys(INQUIRIES) as Inquiry[]) {
        expect(foldNotifications(start[inquiry], reader.messages.slice(before).map((m) => m.envelope).filter((e) => e.notification.Query === inquiry), inquiry), inquiry).toEqual(
          await result(inquiry),
        );
      }
      const { rows } = await ctx.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM pushcdc.system_events WHERE source = 'capture' AND message LIKE '%was missing and was created anew%'`,
      );
      expect(Number(rows[0]!.n)).toBe(2);
    } finally {
      await capture.stop();
    }
  });
});
