import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/db/pool.ts';
import { planInquiry, type InquiryPlan } from '../../src/diff/plan.ts';
import { buildState, ensureStateSchema, syncStates } from '../../src/diff/state.ts';
import { loadInquiriesOrThrow } from '../../src/inquiry/load.ts';
import { applyViews } from '../../src/inquiry/views.ts';
import { rootLogger } from '../../src/log.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * A starting state is built in chunks, each committed on its own (the walsender then decodes small
 * transactions instead of spilling one huge one to disk), yet as the result at one instant: every
 * chunk reads the snapshot the build took first. A build cut short leaves no registry row, so the
 * next start builds that state again.
 */
const ctx = useTestContext('state-build', { sample: false });
const ITEMS = 6_000;
/** Small enough that the test's state takes many transactions. */
const TRANSACTION_BYTES = 64 * 1024;
let project: ProjectDir;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE b_item (id int PRIMARY KEY, name text, price int, divisor int);
    INSERT INTO b_item SELECT g, 'item ' || g, 0, 1 FROM generate_series(1, ${ITEMS}) g;
    ANALYZE b_item;`);
  project = await createProjectDir('state-build');
  await project.write('inquiries/Items.sql', 'SELECT i.id, i.name, i.price FROM b_item i');
  await project.write('inquiries/Ratios.sql', 'SELECT i.id, 100 / i.divisor AS ratio FROM b_item i');
});
afterAll(async () => {
  await project?.cleanup();
});

async function plans(): Promise<Map<string, InquiryPlan>> {
  const { inquiries } = await loadInquiriesOrThrow(ctx.pool, project.dir);
  await inTransaction(ctx.pool, (c) => applyViews(c, inquiries, ctx.names.viewSchema));
  return new Map(inquiries.map((i) => [i.name, planInquiry(i, ctx.names.viewSchema, ctx.names.stateSchema)]));
}

async function registered(name: string): Promise<number | null> {
  const { rows } = await ctx.pool.query<{ n: string }>(`SELECT state_rows AS n FROM "${ctx.names.stateSchema}".inquiries WHERE name = $1`, [name]);
  return rows[0] ? Number(rows[0].n) : null;
}

describe('building a starting state', () => {
  it('commits it in many transactions, all reading the snapshot the build took first', async () => {
    const items = (await plans()).get('Items')!;
    await ensureStateSchema(ctx.pool, ctx.names.stateSchema);
    // A writer keeps moving the first and the last item to the same new price, in one transaction:
    // in any one snapshot they are equal, while the build reads them in its first and last chunk.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        writes++;
        await ctx.pool.query(`UPDATE b_item SET price = $1 WHERE id IN (1, ${ITEMS})`, [writes]);
      }
    })();
    let rows: number;
    try {
      // Let a few writes land first, so the build does not start on a quiet table.
      while (writes < 5) await new Promise((r) => setTimeout(r, 5));
      rows = await buildState(ctx.pool, ctx.names.stateSchema, items, rootLogger, { transactionBytes: TRANSACTION_BYTES });
    } finally {
      writing = false;
      await writer;
    }
    expect(rows).toBe(ITEMS);
    expect(await registered('Items')).toBe(ITEMS);
    const key = (plan: InquiryPlan) => `"${plan.rootHidden[0]!.name}"`;
    const { rows: state } = await ctx.pool.query<{ row: string }>(
      `SELECT __row AS row FROM ${items.stateTable} WHERE ${key(items)} IN (1, ${ITEMS}) ORDER BY ${key(items)}`,
    );
    const prices = state.map((r) => (JSON.parse(r.row) as { price: number }).price);
    expect(prices[0]).toBe(prices[1]);
    // The writer went on while the chunks were written: a build reading a fresh snapshot per chunk
    // would have seen the last item at a later price than the first.
    expect(writes).toBeGreaterThan(prices[0]! + 1);
    const { rows: transactions } = await ctx.pool.query<{ n: string }>(`SELECT count(DISTINCT xmin::text) AS n FROM ${items.stateTable}`);
    expect(Number(transactions[0]!.n)).toBeGreaterThan(5);
    // And it is the inquiry's result at that instant, row for row, but for the two moved prices.
    const { rows: differing } = await ctx.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${items.stateTable} s JOIN ${items.resultView} v ON v.id = s.${key(items)} WHERE s.__row IS DISTINCT FROM
         '{"id":' || v.id || ',"name":' || to_json(v.name)::text || ',"price":' || v.price || '}'`,
    );
    expect(Number(differing[0]!.n)).toBe(2);
  });

  it('leaves no registry row when cut short, so the next start builds it again', async () => {
    const all = await plans();
    const ratios = all.get('Ratios')!;
    await syncStates(ctx.pool, ctx.names.stateSchema, [ratios], rootLogger);
    expect(await registered('Ratios')).toBe(ITEMS);

    // A rebuild that fails in a late chunk (a division by zero the view meets there).
    await ctx.pool.query(`UPDATE b_item SET divisor = 0 WHERE id = ${ITEMS - 10}`);
    await expect(buildState(ctx.pool, ctx.names.stateSchema, ratios, rootLogger, { transactionBytes: TRANSACTION_BYTES })).rejects.toThrow(/division by zero/);
    expect(await registered('Ratios')).toBeNull();
    const { rows: partial } = await ctx.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${ratios.stateTable}`);
    expect(Number(partial[0]!.n)).toBeGreaterThan(0);
    expect(Number(partial[0]!.n)).toBeLessThan(ITEMS);

    // The next start finds no registry row and builds the whole state again.
    await ctx.pool.query(`UPDATE b_item SET divisor = 2 WHERE id = ${ITEMS - 10}`);
    const sync = await syncStates(ctx.pool, ctx.names.stateSchema, [ratios], rootLogger);
    expect(sync.built).toEqual(['Ratios']);
    expect(await registered('Ratios')).toBe(ITEMS);
    const { rows: row } = await ctx.pool.query<{ row: string }>(`SELECT __row AS row FROM ${ratios.stateTable} WHERE "${ratios.rootHidden[0]!.name}" = ${ITEMS - 10}`);
    expect(row[0]!.row).toBe(`{"id":${ITEMS - 10},"ratio":50}`);
  });

  it('leaves room on every page for many rewrites, and keeps the least reserve that makes pages prunable', async () => {
    const items = (await plans()).get('Items')!;
    await syncStates(ctx.pool, ctx.names.stateSchema, [items], rootLogger);
    // Per page: its rows' bytes (tuple and line pointer). Built this full, a page takes many HOT
    // rewrites before its free space falls under the reserve, where every read would prune it.
    const { rows: pages } = await ctx.pool.query<{ fullest: number; pages: number }>(
      `SELECT max(bytes)::int AS fullest, count(*)::int AS pages
         FROM (SELECT (ctid::text::point)[0] AS page, sum(pg_column_size(s.*) + 4) AS bytes FROM ${items.stateTable} s GROUP BY 1) p`,
    );
    expect(pages[0]!.pages).toBeGreaterThan(10);
    expect(pages[0]!.fullest).toBeLessThanOrEqual(0.6 * 8192);
    const { rows: options } = await ctx.pool.query<{ options: string[] }>(`SELECT reloptions AS options FROM pg_class WHERE oid = $1::regclass`, [items.stateTable]);
    expect(options[0]!.options).toEqual(['fillfactor=90']);
  });
});
