import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCAN_WHOLE_TABLES_SQL } from '../../src/diff/diff.ts';
import { diffSql, shareRootsSql, type InquiryPlan } from '../../src/diff/plan.ts';
import { readDiffRows } from '../support/diff-rows.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * The diff statement is prepared once and run for every batch; after five runs PostgreSQL may switch
 * it to a generic plan, made without the key arrays' contents. Both kinds of plan must find the
 * stored rows to rewrite by Tid lookups, one per row — a generic plan that rescans an array of
 * row ids for each row made a 15,000-root diff take a second instead of a quarter of one. And an
 * inquiry over one table must meet its fresh and stored rows by key, one index lookup each, without
 * the identity text, sorts and full join the general comparison needs. A diff by key stays on index
 * lookups however many roots it is given (a full diff scans).
 */
const ctx = useTestContext('diff-plan', { sample: false });
let project: ProjectDir;
let plan: InquiryPlan;
let joinPlan: InquiryPlan;
let client: pg.Client;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE p_item (id int PRIMARY KEY, label text NOT NULL);
    INSERT INTO p_item SELECT g, 'item ' || g FROM generate_series(1, 2000) g;
    CREATE TABLE p_customer (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE p_order (id int PRIMARY KEY, customer_id int NOT NULL, amount int NOT NULL);
    CREATE INDEX ON p_order (customer_id);
    INSERT INTO p_customer SELECT g, 'customer ' || g FROM generate_series(1, 20000) g;
    INSERT INTO p_order SELECT g, g, g % 100 FROM generate_series(1, 20000) g;
    ANALYZE p_customer, p_order;`);
  project = await createProjectDir('diff-plan');
  await project.write('inquiries/PItems.sql', 'SELECT i.id, i.label FROM p_item i');
  await project.write('inquiries/POrders.sql', 'SELECT c.id, c.name, o.id AS order_id, o.amount FROM p_customer c LEFT JOIN p_order o ON o.customer_id = c.id');
  [plan, joinPlan] = (await plansWithState(ctx, project.dir)) as [InquiryPlan, InquiryPlan];
  client = await diffSession(ctx);
  await client.query(`PREPARE diff_roots(text[]) AS ${diffSql(plan, 'roots')}`);
});
afterAll(async () => {
  await client?.end();
  await project?.cleanup();
});

async function planOf(mode: 'force_custom_plan' | 'force_generic_plan', roots = 1500): Promise<string> {
  await ctx.pool.query(`UPDATE p_item SET label = label || '!' WHERE id <= $1`, [roots]);
  const keys = `{${Array.from({ length: roots }, (_, i) => i + 1).join(',')}}`;
  await client.query(`SET plan_cache_mode = ${mode}`);
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE diff_roots('${keys}')`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('the diff statement plan', () => {
  for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
    it(`${mode}: rewrites stored rows by one Tid lookup each, with no array rescanned per row`, async () => {
      const text = await planOf(mode);
      // The UPDATE of the 1,500 changed rows: a Tid scan per row, driven by the arrays' unnest.
      expect(text).toMatch(/Tid Scan on "state:PItems" \w+ \(actual rows=1 loops=1500\)\n\s+TID Cond: \(ctid = u\.tid\)/);
      expect(text).not.toMatch(/Filter: \(ctid = ANY/);
    });
  }

  for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
    it(`${mode}: a one-table inquiry's roots are looked up by key, fresh and stored, with nothing sorted or merged`, async () => {
      const text = await planOf(mode, 40);
      expect(text).toMatch(/Index Scan using p_item_pkey on p_item i \(actual rows=1 loops=40\)/);
      expect(text).toMatch(/Index Scan using "state:PItems_\w+" on "state:PItems" s \(actual rows=1 loops=40\)/);
      expect(text).not.toMatch(/Full Join|Sort Key: .*COLLATE/);
    });
  }

  it('looks the rows of a join inquiry up by key even for a quarter of its roots, where the planner would hash whole tables', async () => {
    const keys = Array.from({ length: 5000 }, (_, i) => String(4 * i + 1));
    const explain = async () => {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>({ text: `EXPLAIN (COSTS OFF) ${diffSql(joinPlan, 'roots')}`, values: [keys] });
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    const keyed = await explain();
    expect(keyed).toMatch(/Index Scan using p_order_customer_id_idx on p_order o/);
    expect(keyed).not.toMatch(/Seq Scan/);
    // The same statement planned as a full diff's session plans: whole-table scans, hashed.
    await client.query('BEGIN');
    try {
      await client.query(SCAN_WHOLE_TABLES_SQL);
      expect(await explain()).toMatch(/Seq Scan on p_order o/);
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${diffSql(joinPlan, 'all')}`);
      expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Seq Scan on p_customer c/);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('cuts the roots of a shared batch into the shares a full diff gives each session', async () => {
    await ctx.pool.query(`UPDATE p_item SET label = label || '?'`);
    const keys = Array.from({ length: 2000 }, (_, i) => String(i + 1));
    const { rows } = await client.query<{ share: number; k0: string[] }>(shareRootsSql(plan, 2), [keys]);
    const cut = new Map(rows.map((r) => [r.share, [...r.k0].sort()]));
    expect([...cut.keys()].sort()).toEqual([0, 1]);
    expect([...cut.values()].flat().sort()).toEqual([...keys].sort());
    for (const share of [0, 1]) {
      await client.query('BEGIN');
      try {
        await client.query(diffSql(plan, 'all', 2), [share]);
        const entered = await readDiffRows(client, "op = 'I'");
        expect(entered.map((r) => r.keys[0]!).sort()).toEqual(cut.get(share));
      } finally {
        await client.query('ROLLBACK');
      }
    }
  });
});
