import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * A named (prepared) statement for a fixed SQL text: PostgreSQL parses it once per connection and
 * can reuse its plan. The name is derived from the text, so two texts never share one.
 */
export interface NamedStatement {
  name: string;
  text: string;
  values?: unknown[];
}

const names = new Map<string, string>();

export function prepared(text: string, values?: unknown[]): NamedStatement {
  let name = names.get(text);
  if (!name) {
    name = `pushcdc_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  return values ? { name, text, values } : { name, text };
}

/**
 * A statement given key arrays, of `keys` keys. While they are few it is prepared, and PostgreSQL
 * may settle on a generic plan (after five runs, when that plan costs no more): cheaper to run, and
 * harmless at that size. With many keys it is sent unnamed, so it is planned for the arrays it got:
 * a generic plan is made for ten or so keys, and a join the planner thinks small may nest loops
 * that are quadratic in the keys. Measured on an anti-join inquiry before its support rows were
 * matched by root key (see freshSql): a 20,000-root diff took 55 s on the generic plan five small
 * batches had left behind, a quarter of a second planned afresh.
 */
export const MAX_KEYS_PER_GENERIC_PLAN = 200;

export function keyedStatement(text: string, values: unknown[], keys: number): NamedStatement | { text: string; values: unknown[] } {
  return keys <= MAX_KEYS_PER_GENERIC_PLAN ? prepared(text, values) : { text, values };
}

/**
 * Runs several statements in one round trip (the simple query protocol, so no parameters) and
 * returns the result of the last. Each round trip to a local server costs 0.3-0.5 ms on this kind of
 * machine, more under load: worth saving on the path every batch takes.
 */
export async function lastResultOf<R extends pg.QueryResultRow>(client: Pick<pg.ClientBase, 'query'>, statements: string[]): Promise<pg.QueryResult<R>> {
  // node-postgres answers a multi-statement text with an array of results, one per statement, though
  // its type says one result.
  const results: unknown = await client.query<R>(statements.join(';\n'));
  return (Array.isArray(results) ? results.at(-1) : results) as pg.QueryResult<R>;
}
