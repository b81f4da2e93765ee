import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { TouchedTable } from '../capture/accumulator.ts';
import type { RowKey } from '../notification.ts';
import { diffSql, rootKeysSql, type InquiryPlan } from './plan.ts';

/**
 * One inquiry's diff for one batch: the roots the touched keys reach, then the result rows that
 * left and entered. Runs inside the batch's transaction (and snapshot).
 */
export interface DiffRow {
  key: RowKey;
  /** The result row as JSON text. */
  row: string;
}

export interface InquiryDiff {
  deleted: DiffRow[];
  inserted: DiffRow[];
}

export interface DiffLimits {
  /** Past this many root keys one full diff is cheaper than that many index lookups. */
  maxRootsPerDiff: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

const statementNames = new Map<string, string>();
/** Named (prepared) statements: the text is fixed per inquiry, so PostgreSQL plans it once. */
function named(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `pushcdc_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}

export async function diffInquiry(
  client: Queryable,
  plan: InquiryPlan,
  touched: Map<string, TouchedTable>,
  limits: DiffLimits,
): Promise<InquiryDiff> {
  let everything = false;
  const roots = new Map<string, string[]>();
  const addRoot = (values: string[]) => roots.set(values.length === 1 ? values[0]! : JSON.stringify(values), values);
  const lookups: { alias: string; hidden: InquiryPlan['hidden']; keys: string[][] }[] = [];
  const rootAlias = plan.inquiry.tables[0]!.alias;

  for (const [table, aliases] of plan.aliasesByTable) {
    const t = touched.get(table);
    if (!t) continue;
    if (t.everything) {
      everything = true;
      break;
    }
    const keys = [...t.keys.values()];
    for (const a of aliases) {
      if (a.alias === rootAlias) keys.forEach(addRoot);
      else lookups.push({ alias: a.alias, hidden: a.hidden, keys });
    }
  }

  if (!everything && lookups.length > 0) {
    const text = rootKeysSql(plan, lookups);
    const values = lookups.flatMap((l) => l.hidden.map((_, i) => l.keys.map((k) => k[i]!)));
    const { rows } = await client.query<Record<string, string>>({ name: named(text), text, values });
    for (const r of rows) addRoot(plan.rootHidden.map((_, i) => r[`r${i}`]!));
  }
  if (!everything && roots.size === 0) return { deleted: [], inserted: [] };

  const mode = everything || roots.size > limits.maxRootsPerDiff ? 'all' : 'roots';
  const text = diffSql(plan, mode);
  const rootValues = [...roots.values()];
  const values = mode === 'all' ? [] : plan.rootHidden.map((_, i) => rootValues.map((r) => r[i]!));
  const { rows } = await client.query<{ op: 'D' | 'I'; keys: RowKey; row: string }>({ name: named(text), text, values });
  return cancelUnchanged(rows);
}

/**
 * A row that leaves and re-enters with identical values (say, a joined row's key changed but not
 * what the result shows) did not change the result: drop such pairs, as a multiset.
 */
function cancelUnchanged(rows: { op: 'D' | 'I'; keys: RowKey; row: string }[]): InquiryDiff {
  const deleted = rows.filter((r) => r.op === 'D');
  const inserted = rows.filter((r) => r.op === 'I');
  const pending = new Map<string, number>();
  for (const d of deleted) pending.set(d.row, (pending.get(d.row) ?? 0) + 1);
  const cancelled = new Map<string, number>();
  const keptInserted = inserted.filter((i) => {
    const left = pending.get(i.row) ?? 0;
    if (left === 0) return true;
    pending.set(i.row, left - 1);
    cancelled.set(i.row, (cancelled.get(i.row) ?? 0) + 1);
    return false;
  });
  const keptDeleted = deleted.filter((d) => {
    const c = cancelled.get(d.row) ?? 0;
    if (c === 0) return true;
    cancelled.set(d.row, c - 1);
    return false;
  });
  return {
    deleted: keptDeleted.map((d) => ({ key: d.keys, row: d.row })),
    inserted: keptInserted.map((i) => ({ key: i.keys, row: i.row })),
  };
}
