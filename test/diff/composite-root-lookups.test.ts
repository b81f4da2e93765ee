import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffSql, type InquiryPlan } from '../../src/diff/plan.ts';
import { findTableScans } from '../../src/diff/table-scans.ts';
import { readDiffRows } from '../support/diff-rows.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import type { AnalyzedPlanNode } from '../support/analyzed-plan.ts';

/**
 * An inquiry with an inner join keeps a support view, and its fresh rows are read from the support
 * view and the result view side by side, each filtered by the roots' keys. A root key of several
 * columns is matched by a semi-join on unnest(...), one more relation per side: four tables make ten,
 * past PostgreSQL's join_collapse_limit (8), and the planner then planned the support side's four
 * tables as a join of their own, without the keys, reading each whole in every batch (reported by
 * `pushcdc explain BC-PUSH-Orders` as sales_order, customer, sales_order_line and inventory_item read
 * whole). The key's types play no part: a char(2) + text key and an integer pair behave alike.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ctx = useTestContext('composite-roots');
let project: ProjectDir;
let plans: Map<string, InquiryPlan>;
let client: pg.Client;

beforeAll(async () => {
  await ctx.pool.query(await readFile(path.join(ROOT, 'sql', 'sample-data', 'demo.sql'), 'utf8'));
  await ctx.pool.query(`CREATE TABLE k_customer (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE k_item (id int PRIMARY KEY, label text NOT NULL);
    CREATE TABLE k_order (kind int, nbr int, customer_id int NOT NULL REFERENCES k_customer, PRIMARY KEY (kind, nbr));
    CREATE TABLE k_line (kind int, nbr int, line int, item_id int NOT NULL REFERENCES k_item, qty int NOT NULL,
                         PRIMARY KEY (kind, nbr, line), FOREIGN KEY (kind, nbr) REFERENCES k_order);
    CREATE INDEX ON k_order (customer_id);
    CREATE INDEX ON k_line (item_id);
    INSERT INTO k_customer SELECT g, 'customer ' || g FROM generate_series(1, 500) g;
    INSERT INTO k_item SELECT g, 'item ' || g FROM generate_series(1, 500) g;
    INSERT INTO k_order SELECT g % 3, g, 1 + g % 500 FROM generate_series(1, 1000) g;
    INSERT INTO k_line SELECT o.kind, o.nbr, l, 1 + (o.nbr + l) % 500, l FROM k_order o, generate_series(1, 2) l;
    ANALYZE;`);
  project = await createProjectDir('composite-roots');
  for (const file of ['BC-PUSH-Orders.sql', 'BC-PUSH-Stocks.json', 'BC-PUSH-AvailabilityStockItem.sql', 'BC-PUSH-Category.sql']) {
    await project.write(`inquiries/${file}`, await readFile(path.join(ROOT, 'inquiries', file), 'utf8'));
  }
  await project.write(
    'inquiries/KOrders.sql',
    `SELECT o.kind, o.nbr, c.name, l.line, i.label, l.qty
       FROM k_order o
       JOIN k_customer c ON c.id = o.customer_id
       LEFT JOIN k_line l ON l.kind = o.kind AND l.nbr = o.nbr
       LEFT JOIN k_item i ON i.id = l.item_id`,
  );
  plans = new Map((await plansWithState(ctx, project.dir)).map((p) => [p.inquiry.name, p]));
  client = await diffSession(ctx);
});
afterAll(async () => {
  await client?.end();
  await project?.cleanup();
});

/** The rows every scan of `table` in the plan read: returned or filtered out, over all its loops. */
function rowsRead(node: AnalyzedPlanNode, table: string): number {
  const own = node['Relation Name'] === table ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'] : 0;
  return own + (node.Plans ?? []).reduce((n, child) => n + rowsRead(child, table), 0);
}

describe('an inquiry with a support view and a root key of several columns', () => {
  it('looks up every table by index: none is read whole', async () => {
    const check = await ctx.pool.connect();
    try {
      const scans = async (name: string) => (await findTableScans(check, plans.get(name)!.inquiry)).map((s) => `${s.alias}: ${s.purpose}`);
      expect({ orders: await scans('BC-PUSH-Orders'), integerPair: await scans('KOrders') }).toEqual({ orders: [], integerPair: [] });
    } finally {
      check.release();
    }
  });

  for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
    it(`${mode}: the diff of two orders reads their rows alone, and finds their changes`, async () => {
      const plan = plans.get('BC-PUSH-Orders')!;
      await client.query(`SET plan_cache_mode = ${mode}`);
      await client.query('BEGIN');
      try {
        // Each line of the two orders leaves the result with its old status and enters with the new.
        const { rows: before } = await client.query<{ order_nbr: string; status: string; lines: number }>(
          `SELECT so.order_nbr, so.status, count(l.*)::int AS lines
             FROM sales_order so LEFT JOIN sales_order_line l ON l.order_type = so.order_type AND l.order_nbr = so.order_nbr
            WHERE so.order_type = 'SO' AND so.order_nbr IN ('000007', '000008') GROUP BY 1, 2`,
        );
        const expected = before.flatMap((o) => Array.from({ length: o.lines }, () => [`D ${o.order_nbr} ${o.status}`, `I ${o.order_nbr} H`]).flat());
        expect(expected.length).toBeGreaterThan(0);
        await client.query(`UPDATE sales_order SET status = 'H' WHERE order_type = 'SO' AND order_nbr IN ('000007', '000008')`);
        await client.query(`PREPARE orders_diff(text[], text[]) AS ${diffSql(plan, 'roots')}`);
        const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: AnalyzedPlanNode }] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE orders_diff('{SO,SO}', '{000007,000008}')`,
        );
        const root = rows[0]!['QUERY PLAN'][0].Plan;
        // By key, a few rows per order (the result side is looked up once per support row, one per
        // line); read whole, 300 orders and 200 customers.
        expect(rowsRead(root, 'sales_order')).toBeLessThan(20);
        expect(rowsRead(root, 'customer')).toBeLessThan(20);
        const changed = (await readDiffRows(client)).map((r) => {
          const row = JSON.parse(r.row) as { OrderNbr: string; Status: string };
          return `${r.op} ${row.OrderNbr} ${row.Status}`;
        });
        expect(changed.sort()).toEqual(expected.sort());
      } finally {
        await client.query('ROLLBACK');
        await client.query('DEALLOCATE ALL');
      }
    });
  }
});

describe('a table read whole by the planner\'s choice', () => {
  it('is not taken for a missing index: a one-page table, or one nested loops look up by its index', async () => {
    // On the demo data the planner reads the 3 warehouses and 30 categories (one page each) whole,
    // and the 500 items and 1,200 stock rows whole when it hashes; each has the index it needs.
    const check = await ctx.pool.connect();
    try {
      const scans = async (name: string) => (await findTableScans(check, plans.get(name)!.inquiry)).map((s) => `${s.table} ${s.alias}: ${s.purpose}`);
      expect({
        stocks: await scans('BC-PUSH-Stocks'),
        availability: await scans('BC-PUSH-AvailabilityStockItem'),
        category: await scans('BC-PUSH-Category'),
      }).toEqual({ stocks: [], availability: [], category: [] });
    } finally {
      check.release();
    }
  });
});
