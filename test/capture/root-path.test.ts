import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TouchedTable } from '../../src/capture/accumulator.ts';
import { diffInquiry } from '../../src/diff/diff.ts';
import { rootKeysSql, type InquiryPlan } from '../../src/diff/plan.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * Roots found along join conditions (see RootPath) rather than through the view: orders that move
 * between customers, to and from no customer, and to a customer that does not exist; a line that
 * moves between orders. After one diff of the touched keys, the state must hold exactly the view's
 * rows, and no lookup may hand the diff a NULL root.
 */
const ctx = useTestContext('root-path', { sample: false });
const limits = { maxRootsPerDiff: 100_000, minRootsPerAssistedDiff: 100_000 };
let project: ProjectDir;
let plan: InquiryPlan;
let client: pg.Client;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE r_customer (id int PRIMARY KEY, name text);
    CREATE TABLE r_order (nbr int PRIMARY KEY, customer_id int, amount int);
    CREATE TABLE r_line (id int PRIMARY KEY, order_nbr int, qty int);
    INSERT INTO r_customer SELECT g, 'customer ' || g FROM generate_series(1, 5) g;
    INSERT INTO r_order VALUES (1, 1, 10), (2, NULL, 20), (3, 4, 30), (4, 5, 40);
    INSERT INTO r_line VALUES (10, 3, 1), (11, 1, 2), (12, 4, 3);`);
  project = await createProjectDir('root-path');
  await project.write(
    'inquiries/Lines.sql',
    `SELECT c.id, c.name, o.nbr, o.amount, l.id AS line, l.qty
       FROM r_customer c
       LEFT JOIN r_order o ON o.customer_id = c.id
       LEFT JOIN r_line l ON l.order_nbr = o.nbr`,
  );
  [plan] = (await plansWithState(ctx, project.dir)) as [InquiryPlan];
  client = await diffSession(ctx);
});
afterAll(async () => {
  await client?.end();
  await project?.cleanup();
});

function touched(orders: number[], lines: number[]): Map<string, TouchedTable> {
  const keys = (ids: number[]) => ({ keys: new Map(ids.map((id) => [String(id), [String(id)]])), everything: false });
  return new Map([
    ['public.r_order', keys(orders)],
    ['public.r_line', keys(lines)],
  ]);
}

/** Rows of the state not in the view, and of the view not in the state (by hidden keys). */
async function stateAgainstView(): Promise<{ extra: number; missing: number }> {
  const keys = plan.hidden.map((h) => `"${h.name}"`).join(', ');
  const count = async (sql: string) => Number((await ctx.pool.query<{ n: string }>(`SELECT count(*) AS n FROM (${sql}) d`)).rows[0]!.n);
  const state = `SELECT ${keys} FROM ${plan.stateTable}`;
  const view = `SELECT ${keys} FROM ${plan.resultView}`;
  return { extra: await count(`${state} EXCEPT ALL ${view}`), missing: await count(`${view} EXCEPT ALL ${state}`) };
}

describe('roots along join conditions', () => {
  it('the joined tables of a plain chain have paths, the order table reading its root from customer_id', () => {
    const paths = [...plan.aliasesByTable.values()].flat().map((a) => [a.alias, a.rootPath?.keysFromChild ?? null]);
    expect(paths).toEqual([
      ['c', null],
      ['o', true],
      ['l', true],
    ]);
  });

  it('orders and lines that move, to and from no customer, leave the state equal to the view', async () => {
    await ctx.pool.query(`UPDATE r_order SET customer_id = NULL WHERE nbr = 1;
      UPDATE r_order SET customer_id = 2 WHERE nbr = 2;
      UPDATE r_order SET customer_id = 3 WHERE nbr = 3;
      INSERT INTO r_order VALUES (5, 99, 50);
      UPDATE r_line SET order_nbr = 4 WHERE id = 11;
      UPDATE r_line SET qty = qty + 1 WHERE id = 12;`);
    expect(await stateAgainstView()).not.toEqual({ extra: 0, missing: 0 });
    const keys = touched([1, 2, 3, 5], [11, 12]);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    try {
      const aliases = [...plan.aliasesByTable.values()].flat().filter((a) => a.rootPath !== null);
      const { rows } = await client.query<{ r0: string | null }>(rootKeysSql(plan, aliases), [['1', '2', '3', '5'], ['11', '12']]);
      // Order 1 has no customer now, order 5 one that does not exist: no NULL root, and 99 is harmless.
      expect(rows.map((r) => r.r0).sort()).toEqual(['1', '2', '3', '4', '5', '99']);
      const written = await diffInquiry([client], plan, keys, limits);
      expect(written).toBeGreaterThan(0);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
    expect(await stateAgainstView()).toEqual({ extra: 0, missing: 0 });
  });
});
