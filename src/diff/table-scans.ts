import type { PoolClient } from '../db/pool.ts';
import { diffSettingsSql } from '../capture/diff-sessions.ts';
import type { CompiledInquiry } from '../inquiry/compile.ts';
import { viewStatements } from '../inquiry/views.ts';
import { planInquiry, sourceLookupsSql } from './plan.ts';

/**
 * A table a diff by key reads whole, for want of an index to look its rows up by: every batch that
 * needs that lookup scans it (a join column without an index, say `orders.customer_id`, is common:
 * PostgreSQL indexes primary keys, not the columns that reference them).
 */
export interface TableScan {
  /** What the lookup is for (see sourceLookupsSql). */
  purpose: string;
  /** `schema.name` of the table read whole. */
  table: string;
  /** The alias the inquiry gives it. */
  alias: string;
  /** The planner's estimate of its rows. */
  rows: number;
}

/** A node of `EXPLAIN (VERBOSE, FORMAT JSON)`, as far as this reads it. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Alias?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** A scan node's table and alias, to match it across two plans of one lookup. */
const scanKey = (node: PlanNode) => `${node.Schema ?? ''}.${node['Relation Name'] ?? ''} ${node.Alias ?? ''}`;

/**
 * Scans that read a whole table: a seq scan, or — with seq scans off, when the index's order serves
 * a merge or the next join — an index scan with no condition.
 */
function* wholeTableScans(node: PlanNode): Generator<PlanNode> {
  const type = node['Node Type'];
  if (type === 'Seq Scan' || ((type === 'Index Scan' || type === 'Index Only Scan') && node['Index Cond'] === undefined)) yield node;
  for (const child of node.Plans ?? []) yield* wholeTableScans(child);
}

/**
 * The tables an inquiry's diffs by key read whole. Each lookup is planned with seq scans off, as the
 * diff sessions plan while every lookup has an index (so a table still read whole has none to look
 * its rows up by), as a generic plan (no keys needed), against the inquiry's views created as
 * temporary views in a transaction rolled back: nothing is left behind, and a running engine's views
 * are not touched.
 */
export async function findTableScans(client: PoolClient, inquiry: CompiledInquiry): Promise<TableScan[]> {
  const plan = planInquiry(inquiry, 'pg_temp', 'pg_temp');
  const scans: TableScan[] = [];
  // Prepared statements outlive the transaction: deallocated after it, even when it failed.
  const prepared: string[] = [];
  await client.query('BEGIN');
  try {
    await client.query(`${diffSettingsSql('SET LOCAL')}; SET LOCAL plan_cache_mode = force_generic_plan`);
    for (const statement of viewStatements(inquiry, 'pg_temp')) await client.query(statement);
    // Each plan from a statement prepared under the settings of the moment: a prepared statement
    // keeps the generic plan it made first, whatever is set afterwards.
    const wholeIn = async (lookup: { sql: string; params: number }): Promise<PlanNode[]> => {
      const name = `pushcdc_lookup_${prepared.length}`;
      await client.query(`PREPARE ${name} AS ${lookup.sql}`);
      prepared.push(name);
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE ${name}(${new Array(lookup.params).fill('NULL').join(', ')})`,
      );
      return [...wholeTableScans(rows[0]!['QUERY PLAN'][0].Plan)];
    };
    for (const lookup of sourceLookupsSql(plan)) {
      const whole = await wholeIn(lookup);
      if (whole.length === 0) continue;
      // A small table is read whole by choice (cheaper than its index), which is no missing index:
      // only what nested loops, each row looked up by the next table's index, still read whole has
      // no index to look its rows up by (the sample's 500 items and 1,200 stock rows have theirs).
      await client.query(`SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off`);
      const stillWhole = new Set((await wholeIn(lookup)).map(scanKey));
      await client.query(`SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT`);
      for (const node of whole.filter((n) => stillWhole.has(scanKey(n)))) {
        const { rows: size } = await client.query<{ rows: number; pages: number }>(
          `SELECT greatest(reltuples, 0)::float8 AS rows, relpages AS pages FROM pg_class WHERE oid = to_regclass(format('%I.%I', $1::text, $2::text))`,
          [node.Schema, node['Relation Name']],
        );
        // A table of one page is read whole as cheaply as through any index: nothing to warn of.
        if ((size[0]?.pages ?? 0) <= 1) continue;
        scans.push({ purpose: lookup.purpose, table: `${node.Schema}.${node['Relation Name']}`, alias: node.Alias ?? '', rows: size[0]?.rows ?? 0 });
      }
    }
  } finally {
    await client.query('ROLLBACK');
    for (const name of prepared) await client.query(`DEALLOCATE ${name}`);
  }
  return scans;
}
