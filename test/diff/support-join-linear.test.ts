import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffSql, type InquiryPlan } from '../../src/diff/plan.ts';
import { readDiffRows } from '../support/diff-rows.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import type { AnalyzedPlanNode } from '../support/analyzed-plan.ts';

/**
 * The diff of an inquiry with a support view reads its fresh rows from the support view and the
 * result view side by side, each filtered by the batch's root keys, and joins them. Planned as a
 * LEFT JOIN, the planner sized both sides from the keys' unnest, which it cannot size (a generic plan
 * guesses ten keys) and which shrinks to a row or two when the inquiry's WHERE fixes a root key
 * column (BC-PUSH-Orders: `so.order_type = 'SO'` joins the key's equivalence class): it then nested
 * loops over the two sides, quadratic in the batch — a Materialize of the result side rescanned per
 * support row (custom plan, all 280 demo orders: 700 rows x 700 loops), or the result side looked up
 * per support row with the keys' unnest rescanned in every lookup (generic plan: 5,000 orders took
 * 12.7 s, 10,000 took 48 s, against 0.7 s once linear). A batch's diff must do work in proportion to
 * its roots: no plan node may handle more than ROWS_PER_ROOT rows per root of the batch, over all
 * its loops (the orders here have one to four lines, so each handles a few per root at most).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROWS_PER_ROOT = 20;
const ctx = useTestContext('support-join');
let project: ProjectDir;
let plans: Map<string, InquiryPlan>;
let client: pg.Client;

beforeAll(async () => {
  await ctx.pool.query(await readFile(path.join(ROOT, 'sql', 'sample-data', 'demo.sql'), 'utf8'));
  // A thousand orders more than the demo's 300 (one in ten a quote), one to four lines each, and a
  // shipment of each sales order's lines.
  await ctx.pool.query(`INSERT INTO sales_order (order_type, order_nbr, customer_id, status, order_date, order_total)
      SELECT CASE WHEN g % 10 = 0 THEN 'QT' ELSE 'SO' END, 'B' || lpad(g::text, 6, '0'), 1 + g % 200, 'N', date '2024-06-01' + g % 90, g
        FROM generate_series(1, 1000) g;
    INSERT INTO sales_order_line (order_type, order_nbr, line_nbr, inventory_id, order_qty, unit_price, line_amount)
      SELECT so.order_type, so.order_nbr, l, 1 + (so.order_total::int + l) % 500, l, 10, 10 * l
        FROM sales_order so, generate_series(1, 4) l
       WHERE so.order_nbr LIKE 'B%' AND l <= 1 + so.order_total::int % 4;
    INSERT INTO shipment (shipment_nbr, customer_id, warehouse_id, status, shipment_date)
      SELECT order_nbr, customer_id, 1, (ARRAY['F', 'C', 'I', 'N'])[order_total::int % 4 + 1], order_date
        FROM sales_order WHERE order_type = 'SO' AND order_nbr LIKE 'B%';
    INSERT INTO shipment_line (shipment_nbr, line_nbr, order_type, order_nbr, order_line_nbr, inventory_id, shipped_qty)
      SELECT order_nbr, line_nbr, order_type, order_nbr, line_nbr, inventory_id, order_qty
        FROM sales_order_line WHERE order_type = 'SO' AND order_nbr LIKE 'B%';
    ANALYZE;`);
  project = await createProjectDir('support-join');
  // The shipped inquiry (a composite root key, a WHERE fixing one of its columns); the same without
  // the WHERE (a composite root key alone); and a support view over a root key of one column.
  const orders = await readFile(path.join(ROOT, 'inquiries', 'BC-PUSH-Orders.sql'), 'utf8');
  await project.write('inquiries/BC-PUSH-Orders.sql', orders);
  await project.write('inquiries/AllOrders.sql', orders.replace(/\nWHERE so\.order_type = 'SO';/, ';'));
  await project.write('inquiries/BC-PUSH-Shipments.json', await readFile(path.join(ROOT, 'inquiries', 'BC-PUSH-Shipments.json'), 'utf8'));
  plans = new Map((await plansWithState(ctx, project.dir)).map((p) => [p.inquiry.name, p]));
  client = await diffSession(ctx);
});
afterAll(async () => {
  await client?.end();
  await project?.cleanup();
});

/** Every node of the plan that handled more than `limit` rows over all its loops. */
function busyNodes(node: AnalyzedPlanNode, limit: number): string[] {
  const handled = node['Actual Rows'] * node['Actual Loops'];
  const own = handled > limit ? [`${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}: ${node['Actual Rows']} rows x ${node['Actual Loops']} loops`] : [];
  return [...own, ...(node.Plans ?? []).flatMap((child) => busyNodes(child, limit))];
}

/** Per inquiry: its root table, the table's key columns, and a change to a root's row. */
const roots: Record<string, { table: string; keys: string[]; change: string }> = {
  'BC-PUSH-Orders': { table: 'sales_order', keys: ['order_type', 'order_nbr'], change: `status = CASE status WHEN 'H' THEN 'N' ELSE 'H' END` },
  AllOrders: { table: 'sales_order', keys: ['order_type', 'order_nbr'], change: `status = CASE status WHEN 'H' THEN 'N' ELSE 'H' END` },
  'BC-PUSH-Shipments': { table: 'shipment', keys: ['shipment_nbr'], change: `carrier = coalesce(carrier, '') || '+'` },
};

describe('the diff of an inquiry with a support view', () => {
  for (const [name, root] of Object.entries(roots)) {
    for (const batch of [300, 1000] as const) {
      for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
        it(`${name}, ${batch} roots, ${mode}: does work in proportion to the roots, and finds every change`, async () => {
          const plan = plans.get(name)!;
          const keys = root.keys.join(', ');
          const chosen = `SELECT ${keys} FROM ${root.table} ORDER BY ${keys} LIMIT ${batch}`;
          await client.query(`SET plan_cache_mode = ${mode}`);
          await client.query('BEGIN');
          try {
            const { rows: keyRows } = await client.query<Record<string, string[]>>(
              `SELECT ${root.keys.map((k, i) => `array_agg(${k}::text) AS k${i}`).join(', ')} FROM (${chosen}) r`,
            );
            const arrays = root.keys.map((_, i) => keyRows[0]![`k${i}`]!);
            expect(arrays[0]).toHaveLength(batch);
            const { rows: counted } = await client.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM ${plan.resultView} v WHERE (${plan.rootHidden.map((h) => `v."${h.name}"`).join(', ')}) IN (${chosen})`,
            );
            const resultRows = counted[0]!.n;
            expect(resultRows).toBeGreaterThan(batch / 2);
            // Each of their result rows changes: it leaves the result with its old values and enters with the new.
            await client.query(`UPDATE ${root.table} SET ${root.change} WHERE (${keys}) IN (${chosen})`);
            await client.query(`PREPARE batch_diff(${arrays.map(() => 'text[]').join(', ')}) AS ${diffSql(plan, 'roots')}`);
            const literals = arrays.map((a) => `'{${a.map((k) => `"${k}"`).join(',')}}'`).join(', ');
            const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: AnalyzedPlanNode }] }>(
              `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE batch_diff(${literals})`,
            );
            expect(busyNodes(rows[0]!['QUERY PLAN'][0].Plan, ROWS_PER_ROOT * batch)).toEqual([]);
            const diffRows = await readDiffRows(client);
            expect({ left: diffRows.filter((r) => r.op === 'D').length, entered: diffRows.filter((r) => r.op === 'I').length }).toEqual({
              left: resultRows,
              entered: resultRows,
            });
          } finally {
            await client.query('ROLLBACK');
            await client.query('DEALLOCATE ALL');
          }
        });
      }
    }
  }
});
