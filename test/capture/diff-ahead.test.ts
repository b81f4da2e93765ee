import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TouchedTable } from '../../src/capture/accumulator.ts';
import { DiffAhead } from '../../src/capture/diff-ahead.ts';
import { DiffedRoots, diffInquiry, type DiffLimits } from '../../src/diff/diff.ts';
import type { InquiryPlan } from '../../src/diff/plan.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { readDiffRows } from '../support/diff-rows.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * A batch's rest compared ahead by a helper while the main session still runs an early diff (see
 * DiffAhead). The two share keys — a customer touched in both halves, an order whose customer the
 * early diff already has — and whichever claims a root first must be the only one to diff it: the
 * diff rows must be exactly those of one diff of all the keys, in every interleaving.
 */
const ctx = useTestContext('diff-ahead', { sample: false });
const CUSTOMERS = 400;
const limits: DiffLimits = { maxRootsPerDiff: 100_000, minRootsPerAssistedDiff: 100_000 };
let project: ProjectDir;
let plans: InquiryPlan[];
let main: pg.Client;
let helper: pg.Client;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE a_customer (id int PRIMARY KEY, name text);
    CREATE TABLE a_order (nbr int PRIMARY KEY, customer_id int, amount int);
    CREATE INDEX ON a_order (customer_id);
    INSERT INTO a_customer SELECT g, 'customer ' || g FROM generate_series(1, ${CUSTOMERS}) g;
    INSERT INTO a_order SELECT g, 1 + g % ${CUSTOMERS}, g FROM generate_series(1, ${2 * CUSTOMERS}) g;
    ANALYZE a_customer, a_order;`);
  project = await createProjectDir('diff-ahead');
  const join = 'FROM a_customer c LEFT JOIN a_order o ON o.customer_id = c.id';
  await project.write('inquiries/Orders.sql', `SELECT c.id, c.name, o.nbr, o.amount ${join}`);
  // Rows without their keys: leaving and entering rows can cancel, all in the main session.
  await project.write('inquiries/Amounts.sql', `SELECT c.name, o.amount ${join} WHERE o.amount > 10`);
  plans = await plansWithState(ctx, project.dir);
  main = await diffSession(ctx);
  helper = await diffSession(ctx);
  // Changes the state does not know yet: renamed customers, re-assigned and re-valued orders.
  await ctx.pool.query(`UPDATE a_customer SET name = name || '*' WHERE id % 3 = 0;
    UPDATE a_order SET customer_id = 1 + (customer_id + 7) % ${CUSTOMERS} WHERE nbr % 5 = 0;
    UPDATE a_order SET amount = amount + 100 WHERE nbr % 7 = 0;`);
});
afterAll(async () => {
  await main?.end();
  await helper?.end();
  await project?.cleanup();
});

const range = (from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
const customersTouched = range(3, CUSTOMERS, 3);
const ordersTouched = [...new Set([...range(5, 2 * CUSTOMERS, 5), ...range(7, 2 * CUSTOMERS, 7)])];

function touched(customers: number[], orders: number[]): Map<string, TouchedTable> {
  const keys = (ids: number[]) => ({ keys: new Map(ids.map((id) => [String(id), [String(id)]])), everything: false });
  return new Map([
    ['public.a_customer', keys(customers)],
    ['public.a_order', keys(orders)],
  ]);
}

/** The diff rows the main session wrote, per inquiry, as a sorted multiset. */
async function diffRows(): Promise<string[]> {
  return (await readDiffRows(main)).map((r) => `${r.inquiry} ${r.op} ${r.row}`).sort();
}

async function inBatch<T>(run: () => Promise<T>): Promise<T> {
  await main.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const { rows } = await main.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    await helper.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await helper.query(`SET TRANSACTION SNAPSHOT '${rows[0]!.id}'`);
    return await run();
  } finally {
    await helper.query('ROLLBACK');
    await main.query('ROLLBACK');
  }
}

/** One diff of every key, in the main session alone. */
async function reference(): Promise<string[]> {
  return inBatch(async () => {
    const all = touched(customersTouched, ordersTouched);
    for (const plan of plans) await diffInquiry([main], plan, all, limits);
    return diffRows();
  });
}

/**
 * An early diff of `early` keys in the main session, the rest compared ahead from the moment
 * `startAhead` says, then finished as runBatch finishes a batch.
 */
async function withAhead(
  early: Map<string, TouchedTable>,
  rest: Map<string, TouchedTable>,
  startAhead: 'before' | 'during' | 'after-lookups',
  earlyLimits: DiffLimits = limits,
): Promise<{ rows: string[]; handled: number }> {
  return inBatch(async () => {
    const diffed = new Map(plans.map((p) => [p, new DiffedRoots()]));
    const diffedFor = (plan: InquiryPlan) => diffed.get(plan)!;
    const earlyDiff = async () => {
      for (const plan of plans) await diffInquiry([main], plan, early, earlyLimits, diffedFor(plan));
    };
    let ahead: DiffAhead;
    let diffing: Promise<void>;
    if (startAhead === 'before') {
      ahead = new DiffAhead([helper], plans, rest, limits, diffedFor);
      diffing = earlyDiff();
    } else if (startAhead === 'during') {
      diffing = earlyDiff();
      ahead = new DiffAhead([helper], plans, rest, limits, diffedFor);
    } else {
      // The early diff has found (and claimed) its roots, through its lookups, before the rest starts.
      diffing = earlyDiff();
      await new Promise((r) => setTimeout(r, 30));
      ahead = new DiffAhead([helper], plans, rest, limits, diffedFor);
    }
    await diffing;
    const done = await ahead.finish(main);
    for (const plan of plans.filter((p) => !done.handled.has(p))) await diffInquiry([main], plan, rest, limits, diffedFor(plan));
    return { rows: await diffRows(), handled: done.handled.size };
  });
}

describe('the rest of a batch compared ahead while an early diff runs', () => {
  let expected: string[];
  beforeAll(async () => {
    expected = await reference();
    // The premise: the changes reach both inquiries, through both tables.
    expect(expected.filter((r) => r.startsWith('Orders ')).length).toBeGreaterThan(100);
    expect(expected.filter((r) => r.startsWith('Amounts ')).length).toBeGreaterThan(50);
  });

  const half = Math.floor(customersTouched.length / 2);
  // Overlapping halves: the first customers and the first orders early, the rest after — with a third
  // of the early customers touched again in the rest, and orders of early customers in it too.
  const early = touched(customersTouched.slice(0, half), ordersTouched.slice(0, 40));
  const rest = touched([...customersTouched.slice(half), ...customersTouched.slice(0, half / 3)], ordersTouched.slice(20));

  for (const when of ['before', 'during', 'after-lookups'] as const) {
    it(`gives the diff rows of one diff of every key, the rest started ${when} the early diff's lookups`, async () => {
      const { rows, handled } = await withAhead(early, rest, when);
      expect(handled).toBe(plans.length);
      expect(rows).toEqual(expected);
    });
  }

  it('drops what it compared when the early diff turns out to be a full one, which diffed every root', async () => {
    const { rows } = await withAhead(early, rest, 'during', { ...limits, maxRootsPerDiff: 5 });
    expect(rows).toEqual(expected);
  });

  it('leaves an inquiry whose rest touches a table entirely (a TRUNCATE) to the main session', async () => {
    const everything = new Map(rest);
    everything.set('public.a_order', { keys: new Map(), everything: true });
    const { rows, handled } = await withAhead(early, everything, 'during');
    expect(handled).toBe(0);
    expect(rows).toEqual(expected);
  });
});
