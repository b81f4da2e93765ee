import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffSql, planInquiry, shareRootsSql, type InquiryPlan } from '../../src/diff/plan.ts';
import { hashBytes, rootShare, serverHashesAsEngine } from '../../src/diff/share-hash.ts';
import { readDiffRows } from '../support/diff-rows.ts';
import { diffSession, plansWithState } from '../support/diff-state.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { createTestDatabase, useTestContext } from '../support/isolation.ts';

/**
 * A shared batch's roots are cut into the sessions' shares in the engine, and a full diff later in
 * the same batch picks its share in SQL: a root whose share the two disagreed on would be diffed by
 * two sessions, the second blind to the first's writes (its rows notified twice). So the engine's
 * hash must be PostgreSQL's, to the bit, for every key it cuts.
 */
const ctx = useTestContext('share-hash', { sample: false });
let project: ProjectDir;
let plans: Map<string, InquiryPlan>;

/** Key texts that record_out must quote, or that cross hash_bytes' 12-byte blocks and tails. */
const AWKWARD_TEXTS = ['', ' ', 'a b', 'a,b', '(x)', 'say "hi"', 'back\\slash', 'tab\there', 'new\nline', 'nbsp\u00a0inside', 'é', '€uro', '𝄞 clef', 'x'.repeat(47)];

beforeAll(async () => {
  await ctx.pool.query(`
    CREATE TABLE h_int (id int PRIMARY KEY, v int);
    CREATE TABLE h_big (id bigint PRIMARY KEY, v int);
    CREATE TABLE h_text (code text PRIMARY KEY, v int);
    CREATE TABLE h_varchar (code varchar(60) PRIMARY KEY, v int);
    CREATE TABLE h_uuid (id uuid PRIMARY KEY, v int);
    CREATE TABLE h_pair (company int, code text, v int, PRIMARY KEY (company, code));
    CREATE TABLE h_when (at timestamptz PRIMARY KEY, v int);`);
  project = await createProjectDir('share-hash');
  for (const table of ['int', 'big', 'text', 'varchar', 'uuid', 'pair', 'when']) {
    await project.write(`inquiries/H_${table}.sql`, `SELECT t.v FROM h_${table} t`);
  }
  plans = new Map((await plansWithState(ctx, project.dir)).map((p) => [p.inquiry.name, p]));
});
afterAll(async () => {
  await project?.cleanup();
});

describe('the engine hashes as PostgreSQL does', () => {
  it('hashBytes gives hashtext for texts of every length up to 60 bytes, and beyond ASCII', async () => {
    const texts = [...AWKWARD_TEXTS];
    for (let length = 0; length <= 60; length++) texts.push(Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7 + length) % 94))).join(''));
    const { rows } = await ctx.pool.query<{ h: number }>('SELECT hashtext(t) AS h FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n) ORDER BY n', [texts]);
    expect(texts.map((t) => hashBytes(new TextEncoder().encode(t)) | 0)).toEqual(rows.map((r) => r.h));
  });

  it('this server passes the check capture makes at start', async () => {
    expect(await serverHashesAsEngine(ctx.pool)).toBe(true);
  });

  it('a database in another encoding fails it (its bytes are not the UTF-8 the engine hashes), without an error', async () => {
    const latin1 = await createTestDatabase('share-hash-latin1', { encoding: 'LATIN1' });
    const client = new pg.Client({ connectionString: latin1.url });
    try {
      await client.connect();
      expect(await serverHashesAsEngine(client)).toBe(false);
    } finally {
      await client.end();
      await latin1.drop();
    }
  });

  const keys: Record<string, string[][]> = {
    H_int: Array.from({ length: 300 }, (_, i) => [String(i * 7919 - 1_000_000)]).concat([['-2147483648'], ['2147483647']]),
    H_big: Array.from({ length: 300 }, (_, i) => [String(BigInt(i) * 30_000_000_019n - 4_000_000_000_000n)]),
    H_text: AWKWARD_TEXTS.concat(Array.from({ length: 200 }, (_, i) => `customer ${i}`)).map((t) => [t]),
    H_varchar: AWKWARD_TEXTS.map((t) => [t]),
    H_uuid: Array.from({ length: 100 }, (_, i) => [`${i.toString(16).padStart(8, '0')}-1234-4abc-8def-${(i * 977).toString(16).padStart(12, '0')}`]),
    H_pair: Array.from({ length: 200 }, (_, i) => [String(i % 7), AWKWARD_TEXTS[i % AWKWARD_TEXTS.length]! + i]),
  };
  for (const [inquiry, roots] of Object.entries(keys)) {
    it(`cuts ${inquiry}'s roots into the shares PostgreSQL gives them`, async () => {
      const plan = plans.get(inquiry)!;
      const arrays = plan.rootHidden.map((_, i) => roots.map((r) => r[i]!));
      const { rows } = await ctx.pool.query<{ share: number } & Record<string, string[]>>(shareRootsSql(plan, 3), arrays);
      const inServer = new Map<string, number>();
      for (const row of rows) row.k0!.forEach((_, n) => inServer.set(JSON.stringify(plan.rootHidden.map((__, i) => row[`k${i}`]![n])), row.share));
      expect(new Set(inServer.values())).toEqual(new Set([0, 1, 2]));
      const inEngine = new Map(roots.map((r) => [JSON.stringify(r), rootShare(r, 3)]));
      expect(inEngine).toEqual(inServer);
    });
  }

  it("gives each root the share a full diff later in the batch gives it: the session's own", async () => {
    const plan = plans.get('H_pair')!;
    const roots = keys.H_pair!;
    await ctx.pool.query('INSERT INTO h_pair (company, code, v) SELECT c::int, code, 1 FROM unnest($1::text[], $2::text[]) AS r(c, code)', [
      roots.map((r) => r[0]),
      roots.map((r) => r[1]),
    ]);
    const session = await diffSession(ctx);
    try {
      for (const share of [0, 1, 2]) {
        await session.query('BEGIN');
        try {
          await session.query(diffSql(plan, 'all', 3), [share]);
          const entered = await readDiffRows(session, "op = 'I'");
          const diffed = entered.map((r) => JSON.stringify(r.keys.slice(0, 2))).sort();
          expect(diffed).toEqual(roots.filter((r) => rootShare(r, 3) === share).map((r) => JSON.stringify(r)).sort());
        } finally {
          await session.query('ROLLBACK');
        }
      }
    } finally {
      await session.end();
    }
  });

  it('leaves roots whose key text depends on session settings (dates, times) to PostgreSQL', () => {
    const facts = { serverHashesAsEngine: true };
    const replan = (name: string) => planInquiry(plans.get(name)!.inquiry, ctx.names.viewSchema, ctx.names.stateSchema, facts).sharesInEngine;
    expect(['H_int', 'H_big', 'H_text', 'H_varchar', 'H_uuid', 'H_pair', 'H_when'].map(replan)).toEqual([true, true, true, true, true, true, false]);
    expect(planInquiry(plans.get('H_int')!.inquiry, ctx.names.viewSchema, ctx.names.stateSchema).sharesInEngine).toBe(false);
  });
});
