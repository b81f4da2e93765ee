import { describe, expect, it } from 'vitest';
import { useTestContext } from '../support/isolation.ts';

/**
 * pushcdc.json_exact writes every numeric result column of every row a diff reads. What it writes is
 * SPEC 5's: plain where a double holds the value, a string where a double would round it. It must
 * also stay inlinable (a SQL-function call per value cost about 3 µs; the diff of a 15,000-root
 * batch of a join inquiry with one numeric column spent 45 ms in it).
 */
const ctx = useTestContext('json_exact', { sample: false });

async function render(values: string[]): Promise<(string | null)[]> {
  const { rows } = await ctx.pool.query<{ json: string | null }>(
    'SELECT pushcdc.json_exact(v)::text AS json FROM unnest($1::numeric[]) WITH ORDINALITY AS u(v, n) ORDER BY n',
    [values],
  );
  return rows.map((r) => r.json);
}

describe('pushcdc.json_exact', () => {
  it('writes numbers a double holds plain and the others as strings', async () => {
    expect(await render(['12.50', '-0.0001', '123456789012345', '-12345678901.23', '1000000000000000000000', '0.000000000000000000001'])).toEqual([
      '12.50',
      '-0.0001',
      '123456789012345',
      '-12345678901.23',
      '1000000000000000000000',
      '0.000000000000000000001',
    ]);
    expect(await render(['1234567890123456', '12345678901234567.8900', '0.1000000000000000000001'])).toEqual([
      '"1234567890123456"',
      '"12345678901234567.8900"',
      '"0.1000000000000000000001"',
    ]);
    expect(await render(['NaN', 'Infinity', '-Infinity'])).toEqual(['"NaN"', '"Infinity"', '"-Infinity"']);
    const { rows } = await ctx.pool.query<{ json: string | null }>('SELECT pushcdc.json_exact(NULL::numeric)::text AS json');
    expect(rows[0]!.json).toBeNull();
  });

  it('writes a value beyond a double’s range as a string instead of failing', async () => {
    const huge = `1${'0'.repeat(400)}`;
    const tiny = `0.${'0'.repeat(400)}1`;
    expect(await render([huge, `-${huge}`, tiny])).toEqual([`"${huge}"`, `"-${huge}"`, `"${tiny}"`]);
  });

  it('keeps bigints beyond 2^53 as strings', async () => {
    const { rows } = await ctx.pool.query<{ json: string }>(
      `SELECT pushcdc.json_exact(v)::text AS json FROM unnest(ARRAY[9007199254740991, 9007199254740992, -9007199254740992]::bigint[]) WITH ORDINALITY AS u(v, n) ORDER BY n`,
    );
    expect(rows.map((r) => r.json)).toEqual(['9007199254740991', '"9007199254740992"', '"-9007199254740992"']);
  });

  it('is inlined into the statement that calls it, not called per value', async () => {
    const { rows } = await ctx.pool.query<{ 'QUERY PLAN': string }>(
      'EXPLAIN VERBOSE SELECT pushcdc.json_exact(v::numeric), pushcdc.json_exact(v::bigint) FROM generate_series(1, 3) AS v',
    );
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('to_json');
    expect(plan).not.toContain('json_exact');
  });
});
