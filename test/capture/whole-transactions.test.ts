import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { earlyDiffsTotal } from '../../src/capture/metrics.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { waitForCatchUp } from '../support/model.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * A notification covers whole transactions, never part of one — in a backlog too, where the batch
 * diffs keys early, while the rest of the backlog is still being decoded, in a snapshot that sees all
 * of it: a root diffed early already shows what later transactions of the backlog did to it, so the
 * rest of those transactions must leave in the same notification.
 */
const ctx = useTestContext('whole-transactions', { sample: false });
let project: ProjectDir;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE w_customer (id int PRIMARY KEY, tx int NOT NULL DEFAULT 0);
    INSERT INTO w_customer SELECT g, 0 FROM generate_series(1, 200) g`);
  project = await createProjectDir('whole-transactions');
  await project.write('inquiries/WCustomers.sql', 'SELECT c.id, c.tx FROM w_customer c');
});
afterAll(async () => {
  await project?.cleanup();
});

describe('a backlog drained with early diffs', () => {
  it('leaves each transaction whole, in one notification', async () => {
    // The stream held at 2 keys, every arrived key diffed at once: many early diffs in one batch.
    const limits = { minKeysPerEarlyDiff: 1, maxKeysWaiting: 2 };
    const reader = new QueueReader(ctx.names.primaryQueue);
    await reader.start();
    // Started once to create the slot and the state, stopped while the backlog is written.
    let capture: RunningCapture | null = await startTestCapture(ctx, project.dir, limits);
    try {
      await capture.stop();
      capture = null;
      // Transactions 1-60 each write two customers of their own; 61-100 each write one that an early
      // transaction wrote (61 writes customer 1, …) and one no other touches (121, …).
      for (let tx = 1; tx <= 60; tx++) await ctx.pool.query('UPDATE w_customer SET tx = $1 WHERE id = ANY($2::int[])', [tx, [2 * tx - 1, 2 * tx]]);
      for (let tx = 61; tx <= 100; tx++) await ctx.pool.query('UPDATE w_customer SET tx = $1 WHERE id = ANY($2::int[])', [tx, [tx - 60, tx + 60]]);
      const early = (await earlyDiffsTotal.get()).values[0]?.value ?? 0;
      capture = await startTestCapture(ctx, project.dir, limits);
      await waitForCatchUp(ctx, reader);
      expect((await earlyDiffsTotal.get()).values[0]?.value ?? 0).toBeGreaterThan(early);
    } finally {
      await capture?.stop();
      await reader.close();
    }
    // Which notifications carry each transaction's rows: exactly one each, holding both its rows.
    const carriers = new Map<number, Set<string>>();
    const rows = new Map<number, number[]>();
    for (const m of reader.messages) {
      const { Inserted, Id } = m.envelope.notification;
      for (const row of Inserted as { id: number; tx: number }[]) {
        carriers.set(row.tx, (carriers.get(row.tx) ?? new Set()).add(Id));
        rows.set(row.tx, [...(rows.get(row.tx) ?? []), row.id].sort((a, b) => a - b));
      }
    }
    const split = [...carriers].filter(([, ids]) => ids.size > 1).map(([tx]) => tx);
    expect(split, 'transactions whose rows left in more than one notification').toEqual([]);
    // Customers 1-40 end as 61-100 wrote them (a batch coalesces its transactions: 1-20 show nothing).
    for (let tx = 21; tx <= 60; tx++) expect(rows.get(tx), `transaction ${tx}`).toEqual([2 * tx - 1, 2 * tx]);
    for (let tx = 61; tx <= 100; tx++) expect(rows.get(tx), `transaction ${tx}`).toEqual([tx - 60, tx + 60]);
  }, 60_000);
});
