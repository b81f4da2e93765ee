import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TouchedTable } from '../../src/capture/accumulator.ts';
import { MAX_KEYS_PER_GENERIC_PLAN } from '../../src/db/statements.ts';
import { diffInquiry } from '../../src/diff/diff.ts';
import { diffSql, type InquiryPlan } from '../../src/diff/plan.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * Plans made for fewer keys than a diff gets. A running engine diffs small batches for hours, and
 * PostgreSQL settles its prepared diff statements on generic plans, made for ten or so keys; a share
 * of a shared batch was an array no plan could size. For an anti-join inquiry, whose support rows
 * meet the result's by identity, such a plan nested loops over both, quadratic in the keys (55 s
 * for 20,000 roots, measured). Three guards, each tested here: big diffs are planned for their
 * keys, shares are cut before the diff, and the support rows are matched by root key.
 */
const ctx = useTestContext('generic-plan', { sample: false });
const CUSTOMERS = 2000;
const limits = { maxRootsPerDiff: 100_000, minRootsPerAssistedDiff: 100_000 };
let project: ProjectDir;
let plan: InquiryPlan;
let sharedPlan: InquiryPlan;
let client: pg.Client;
let second: pg.Client;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE g_customer (id int PRIMARY KEY, name text);
    CREATE TABLE g_order (nbr int PRIMARY KEY, customer_id int, status text);
    CREATE INDEX ON g_order (customer_id);
    INSERT INTO g_customer SELECT g, 'customer ' || g FROM generate_series(1, ${CUSTOMERS}) g;
    INSERT INTO g_order SELECT g, g, CASE WHEN g % 2 = 0 THEN 'open' ELSE 'done' END FROM generate_series(1, ${CUSTOMERS}) g;
    ANALYZE g_customer, g_order;`);
  project = await createProjectDir('generic-plan');
  const noOpenOrders = `FROM g_customer c LEFT JOIN g_order o ON o.customer_id = c.id AND o.status = 'open' WHERE o.nbr IS NULL`;
  await project.write('inquiries/NoOpenOrders.sql', `SELECT c.id, c.name ${noOpenOrders}`);
  // Shows every key (the order's, always null here): its big batches are shared among sessions.
  await project.write('inquiries/NoOpenOrdersKeys.sql', `SELECT c.id, c.name, o.nbr ${noOpenOrders}`);
  const plans = await plansWithState(ctx, project.dir);
  [plan, sharedPlan] = ['NoOpenOrders', 'NoOpenOrdersKeys'].map((name) => plans.find((p) => p.inquiry.name === name)!) as [InquiryPlan, InquiryPlan];
  expect(plan.inquiry.supportSql && sharedPlan.inquiry.supportSql).toBeTruthy();
  expect(sharedPlan.inquiry.rowsShowKeys).toBe(true);
  client = await diffSession(ctx);
  second = await diffSession(ctx);
});
afterAll(async () => {
  await client?.end();
  await second?.end();
  await project?.cleanup();
});

function touchedCustomers(ids: number[]): Map<string, TouchedTable> {
  return new Map([['public.g_customer', { keys: new Map(ids.map((id) => [String(id), [String(id)]])), everything: false }]]);
}

async function diffInTransaction(ids: number[]): Promise<number> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    return await diffInquiry([client], plan, touchedCustomers(ids), limits);
  } finally {
    await client.query('ROLLBACK');
  }
}

/** Executions of the prepared diff statement on a generic plan. */
async function genericRuns(): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    "SELECT coalesce(sum(generic_plans), 0) AS n FROM pg_prepared_statements WHERE statement LIKE 'WITH fresh AS MATERIALIZED%'",
  );
  return Number(rows[0]!.n);
}

describe('a big diff after many small ones', () => {
  it('is planned for its own keys, not run on the generic plan the small ones left', async () => {
    await ctx.pool.query(`UPDATE g_customer SET name = name || '!'`);
    for (let run = 0; run < 8; run++) expect(await diffInTransaction([1, 3, 5, 7, 9])).toBe(10);
    // The premise: PostgreSQL has settled the small diffs on a generic plan.
    const settled = await genericRuns();
    expect(settled).toBeGreaterThan(0);

    const all = Array.from({ length: CUSTOMERS }, (_, i) => i + 1);
    expect(all.length).toBeGreaterThan(MAX_KEYS_PER_GENERIC_PLAN);
    // The odd customers (no open order) are in the result, each renamed: a row leaves, one enters.
    expect(await diffInTransaction(all)).toBe(CUSTOMERS);
    expect(await genericRuns()).toBe(settled);
  });
});

describe('an anti-join diff on a generic plan', () => {
  it('matches support and result rows by root key: no nested loop compares every pair', async () => {
    await client.query(`PREPARE generic_diff(text[]) AS ${diffSql(plan, 'roots')}`);
    await client.query('SET plan_cache_mode = force_generic_plan');
    await client.query('BEGIN');
    try {
      const keys = `{${Array.from({ length: CUSTOMERS }, (_, i) => i + 1).join(',')}}`;
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE generic_diff('${keys}')`);
      const text = rows.map((r) => r['QUERY PLAN']).join('\n');
      const compared = [...text.matchAll(/Rows Removed by Join Filter: (\d+)/g)].map((m) => Number(m[1]));
      expect(Math.max(0, ...compared)).toBeLessThan(CUSTOMERS);
    } finally {
      await client.query('ROLLBACK');
      await client.query('RESET plan_cache_mode; DEALLOCATE generic_diff');
    }
  });
});

describe('a big diff shared among sessions', () => {
  it('gives each session its share as arrays the planner can size: no nested loop compares every pair of rows', async () => {
    await ctx.pool.query(`UPDATE g_customer SET name = name || '?'`);
    // Every plan the sessions run, as notices (auto_explain, for these two sessions only).
    const plans: string[] = [];
    const sessions = [client, second];
    for (const session of sessions) {
      session.on('notice', (notice) => plans.push(notice.message ?? ''));
      await session.query(`LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
        SET auto_explain.log_timing = off; SET auto_explain.log_level = notice; SET client_min_messages = notice`);
    }
    try {
      await Promise.all(sessions.map((s) => s.query('BEGIN ISOLATION LEVEL REPEATABLE READ')));
      const all = Array.from({ length: CUSTOMERS }, (_, i) => i + 1);
      expect(await diffInquiry(sessions, sharedPlan, touchedCustomers(all), limits)).toBe(CUSTOMERS);
    } finally {
      await Promise.all(sessions.map((s) => s.query('ROLLBACK')));
      for (const session of sessions) {
        await session.query('SET auto_explain.log_min_duration = -1; SET client_min_messages = warning');
        session.removeAllListeners('notice');
      }
    }
    // Both sessions diffed (two diff statements), and no join compared more rows than a share holds.
    expect(plans.filter((p) => p.includes('CTE fresh')).length).toBe(2);
    const compared = plans.flatMap((p) => [...p.matchAll(/Rows Removed by Join Filter: (\d+)/g)].map((m) => Number(m[1])));
    expect(Math.max(0, ...compared)).toBeLessThan(CUSTOMERS);
  });
});
