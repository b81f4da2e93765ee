import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepared } from '../../src/db/statements.ts';
import { CANCEL_UNCHANGED_SQL, CREATE_DIFF_ROWS_SQL, DIFF_ROWS_TABLE } from '../../src/diff/diff-rows.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * The rows that leave and re-enter a result unchanged cancel out, as a multiset, in the session's
 * diff-rows table, a temporary table that never has statistics. Pairing them with a self-join was
 * planned as a nested loop over both sides: 20,000 pairs took 53 s.
 */
const ctx = useTestContext('cancel-unchanged', { sample: false });
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: ctx.db.url });
  await client.connect();
  await client.query(`SET jit = off; ${CREATE_DIFF_ROWS_SQL}`);
});
afterAll(async () => {
  await client?.end();
});

type Row = [inquiry: string, op: 'D' | 'I', row: string];

/** Writes the rows, cancels for inquiry Q, and returns what is left (sorted), in one transaction. */
async function cancel(rows: Row[], explain = false): Promise<{ left: string[]; plan: string }> {
  await client.query('BEGIN');
  try {
    await client.query(`INSERT INTO ${DIFF_ROWS_TABLE} (inquiry, op, keys, row) SELECT i, o, '[]', r FROM unnest($1::text[], $2::text[], $3::text[]) AS u(i, o, r)`, [
      rows.map((r) => r[0]),
      rows.map((r) => r[1]),
      rows.map((r) => r[2]),
    ]);
    let plan = '';
    if (explain) {
      const { name, text } = prepared(CANCEL_UNCHANGED_SQL);
      const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE ${name}('{Q}')`);
      plan = result.rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(text).toContain('DELETE');
    } else await client.query(prepared(CANCEL_UNCHANGED_SQL, [['Q']]));
    const { rows: left } = await client.query<{ r: string }>(`SELECT inquiry || ' ' || op || ' ' || row AS r FROM ${DIFF_ROWS_TABLE} ORDER BY 1`);
    return { left: left.map((r) => r.r), plan };
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('cancelling rows that left and re-entered unchanged', () => {
  it('cancels min(leaving, entering) copies of each row, only for the inquiries named', async () => {
    const rows: Row[] = [
      ['Q', 'D', 'a'], ['Q', 'D', 'a'], ['Q', 'D', 'a'], ['Q', 'I', 'a'], ['Q', 'I', 'a'],
      ['Q', 'D', 'b'],
      ['Q', 'I', 'c'], ['Q', 'D', 'c'], ['Q', 'I', 'c'], ['Q', 'D', 'c'],
      ['Q', 'I', 'd'], ['Q', 'I', 'd'],
      ['R', 'D', 'a'], ['R', 'I', 'a'],
    ];
    expect((await cancel(rows)).left).toEqual(['Q D a', 'Q D b', 'Q I d', 'Q I d', 'R D a', 'R I a']);
  });

  it('pairs thousands of rows in one pass, even on the generic plan small batches leave', async () => {
    for (let run = 0; run < 8; run++) expect((await cancel([['Q', 'D', 'x'], ['Q', 'I', 'x'], ['Q', 'D', 'y']])).left).toEqual(['Q D y']);
    const { rows } = await client.query<{ n: string }>(
      `SELECT generic_plans AS n FROM pg_prepared_statements WHERE name = $1`,
      [prepared(CANCEL_UNCHANGED_SQL).name],
    );
    expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    const pairs = 5000;
    const big: Row[] = Array.from({ length: pairs }, (_, i): Row[] => [['Q', 'D', `{"id":${i}}`], ['Q', 'I', `{"id":${i}}`]]).flat();
    const { left, plan } = await cancel(big, true);
    expect(left).toEqual([]);
    expect(plan).toContain(`(actual rows=${2 * pairs} loops=1)`);
    expect(plan).not.toMatch(/Nested Loop|Rows Removed by Join Filter/);
  });
});
