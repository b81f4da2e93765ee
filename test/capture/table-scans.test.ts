import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareCapture } from '../../src/capture/prepare.ts';
import { diffInquiry } from '../../src/diff/diff.ts';
import { findTableScans } from '../../src/diff/table-scans.ts';
import type { CompiledInquiry } from '../../src/inquiry/compile.ts';
import { loadInquiriesOrThrow } from '../../src/inquiry/load.ts';
import { runCli } from '../support/cli.ts';
import { diffSession } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * A diff by key looks rows up by index; a join column with no index (PostgreSQL indexes primary
 * keys, not the columns that reference them) leaves a lookup that reads the whole table in every
 * batch. `pushcdc explain` names such tables, capture's start warns of them, and the check leaves
 * nothing behind.
 */
const ctx = useTestContext('table-scans', { sample: false });
let project: ProjectDir;
let inquiries: Map<string, CompiledInquiry>;

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE t_customer (id int PRIMARY KEY, name text);
    CREATE TABLE t_order (nbr int PRIMARY KEY, customer_id int, amount int);
    CREATE TABLE t_line (id int PRIMARY KEY, order_nbr int, qty int);
    CREATE INDEX ON t_line (order_nbr);
    INSERT INTO t_customer SELECT g, 'customer ' || g FROM generate_series(1, 1000) g;
    INSERT INTO t_order SELECT g, g, g FROM generate_series(1, 1000) g;
    INSERT INTO t_line SELECT g, g, 1 FROM generate_series(1, 1000) g;
    ANALYZE t_customer, t_order, t_line;`);
  project = await createProjectDir('table-scans');
  await project.write(
    'inquiries/Lines.sql',
    `SELECT c.id, c.name, o.nbr, o.amount, l.id AS line, l.qty
       FROM t_customer c
       LEFT JOIN t_order o ON o.customer_id = c.id
       LEFT JOIN t_line l ON l.order_nbr = o.nbr`,
  );
  await project.write('inquiries/Orders.sql', 'SELECT c.id, c.name, o.nbr, o.amount FROM t_customer c LEFT JOIN t_order o ON o.customer_id = c.id');
  await project.write('inquiries/OrderLines.sql', 'SELECT o.nbr, o.amount, l.id AS line, l.qty FROM t_order o LEFT JOIN t_line l ON l.order_nbr = o.nbr');
  inquiries = new Map((await loadInquiriesOrThrow(ctx.pool, project.dir)).inquiries.map((i) => [i.name, i]));
});
afterAll(async () => {
  await project?.cleanup();
});

describe('tables a diff by key reads whole', () => {
  it('names the joined table whose join column has no index, for the lookup that reads it', async () => {
    const client = await ctx.pool.connect();
    try {
      const scan = { purpose: 'the fresh rows of the roots a batch touched', table: 'public.t_order', alias: 'o', rows: 1000 };
      // Read by a seq scan; and, where the next join can use the order of its primary key, through that
      // index with no condition.
      expect(await findTableScans(client, inquiries.get('Orders')!)).toEqual([scan]);
      expect(await findTableScans(client, inquiries.get('Lines')!)).toEqual([scan]);
      // Nothing left behind on the connection: no prepared statement, no temporary view.
      const { rows } = await client.query<{ prepared: number; views: number }>(
        `SELECT (SELECT count(*) FROM pg_prepared_statements)::int AS prepared,
                (SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relkind = 'v')::int AS views`,
      );
      expect(rows[0]).toEqual({ prepared: 0, views: 0 });
    } finally {
      client.release();
    }
  });

  it('finds none when every lookup has an index, and says so in pushcdc explain', async () => {
    const client = await ctx.pool.connect();
    try {
      expect(await findTableScans(client, inquiries.get('OrderLines')!)).toEqual([]);
    } finally {
      client.release();
    }
    const ok = await runCli(['explain', 'OrderLines', '--dir', project.dir], ctx.env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Lookups by key: every one goes through an index');
    const scanned = await runCli(['explain', 'Lines', '--dir', project.dir], ctx.env);
    expect(scanned.code).toBe(0);
    expect(scanned.stdout).toMatch(/public\.t_order o, about 1,000 rows: read whole for the fresh rows of the roots a batch touched/);
  });

  it('warns of them as capture starts, and hands them on', async () => {
    const logged: { level: number; table?: string; alias?: string; inquiry?: string; lookup?: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as (typeof logged)[number]) });
    const prepared = await prepareCapture(ctx.pool, ctx.names, [...inquiries.values()], logger, { company: 'c', maxNotificationBytes: 1 << 20 });
    // What decides how each inquiry's statements are planned (see planFor).
    expect(prepared.plans.map((p) => [p.inquiry.name, p.readsWhole])).toEqual([
      ['Lines', true],
      ['OrderLines', false],
      ['Orders', true],
    ]);
    const scans = logged.filter((l) => l.table !== undefined);
    const warning = { level: 40, table: 'public.t_order', alias: 'o', lookup: 'the fresh rows of the roots a batch touched' };
    expect(scans).toEqual([expect.objectContaining({ ...warning, inquiry: 'Lines' }), expect.objectContaining({ ...warning, inquiry: 'Orders' })]);
  });

  it("plans an inquiry's statements with seq scans when a lookup of its own reads a table whole, and no other inquiry's", async () => {
    const silent = pino({ level: 'silent' });
    const { plans } = await prepareCapture(ctx.pool, ctx.names, [...inquiries.values()], silent, { company: 'c', maxNotificationBytes: 1 << 20 });
    const plan = (name: string) => plans.find((p) => p.inquiry.name === name)!;
    const ids = Array.from({ length: 50 }, (_, i) => String(i + 1));
    const touched = (table: string) => new Map([[table, { keys: new Map(ids.map((id) => [id, [id]])), everything: false }]]);
    const limits = { maxRootsPerDiff: 10_000, minRootsPerAssistedDiff: 10_000 };
    await ctx.pool.query(`UPDATE t_customer SET name = name || '!' WHERE id <= 50; UPDATE t_line SET qty = qty + 1 WHERE id <= 50`);
    const session = await diffSession(ctx);
    // The scans of a table that running `work` in the session adds (the session's counts not yet
    // reported, which span transactions until they are).
    const scansDuring = async (table: string, work: () => Promise<unknown>) => {
      const count = async () =>
        (await session.query<{ seq: number; idx: number }>('SELECT seq_scan::int AS seq, idx_scan::int AS idx FROM pg_stat_xact_user_tables WHERE relid = $1::regclass', [table])).rows[0]!;
      const before = await count();
      await work();
      const after = await count();
      return { seq: after.seq - before.seq, idx: after.idx - before.idx };
    };
    try {
      await session.query('BEGIN');
      // t_order's customer_id has no index: the Lines diff reads t_order with a seq scan, then the
      // session plans without seq scans again.
      const lines = () => diffInquiry([session], plan('Lines'), touched('public.t_customer'), limits);
      expect((await scansDuring('t_order', lines)).seq).toBe(1);
      expect((await session.query<{ enable_seqscan: string }>('SHOW enable_seqscan')).rows[0]!.enable_seqscan).toBe('off');
      // OrderLines, in the same batch, has an index for every lookup: it reads no table whole. (With
      // seq scans on, as every inquiry's diffs were planned while any one had a table scan, this diff
      // read t_line whole twice and t_order once.)
      const orderLines = () => diffInquiry([session], plan('OrderLines'), touched('public.t_line'), limits);
      const line = await scansDuring('t_line', orderLines);
      expect(line.seq).toBe(0);
      expect(line.idx).toBeGreaterThan(0);
      await session.query('ROLLBACK');
      // Planned as the other inquiries are, the Lines diff would read all of t_order through its primary key.
      await session.query('BEGIN');
      const linesByKey = () => diffInquiry([session], { ...plan('Lines'), readsWhole: false }, touched('public.t_customer'), limits);
      const byKey = await scansDuring('t_order', linesByKey);
      expect(byKey.seq).toBe(0);
      expect(byKey.idx).toBeGreaterThan(0);
    } finally {
      await session.query('ROLLBACK');
      await session.end();
    }
  });
});
