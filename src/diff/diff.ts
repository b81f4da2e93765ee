import type pg from 'pg';
import type { TouchedTable } from '../capture/accumulator.ts';
import { prepared } from '../db/statements.ts';
import { diffSql, rootKeysSql, type InquiryPlan } from './plan.ts';

/**
 * One inquiry's diff for one batch: the roots the touched keys reach, then the result rows that left
 * and entered, written to the session's diff-rows table. Runs inside the batch's transaction (and
 * snapshot). Returns how many rows it wrote there.
 */
export interface DiffLimits {
  /** Past this many root keys one full diff is cheaper than that many index lookups. */
  maxRootsPerDiff: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * The roots one inquiry has already diffed in the current batch. Every diff of a batch reads the same
 * snapshot, so a root diffed once holds exactly its snapshot rows: diffing it again (a row touched
 * again later in a backlog) finds nothing, and is skipped. After a full diff, everything is.
 * Remembers at most `MAX_REMEMBERED` roots: skipping saves work, forgetting costs none of correctness.
 */
export class DiffedRoots {
  static readonly MAX_REMEMBERED = 200_000;
  private readonly roots = new Set<string>();
  everything = false;
  skipped = 0;

  has(root: string): boolean {
    return this.everything || this.roots.has(root);
  }

  add(root: string): void {
    if (this.roots.size < DiffedRoots.MAX_REMEMBERED) this.roots.add(root);
  }
}

export async function diffInquiry(
  client: Queryable,
  plan: InquiryPlan,
  touched: Map<string, TouchedTable>,
  limits: DiffLimits,
  diffed: DiffedRoots = new DiffedRoots(),
): Promise<number> {
  if (diffed.everything) return 0;
  let everything = false;
  const roots = new Map<string, string[]>();
  const addRoot = (values: string[]) => {
    const key = values.length === 1 ? values[0]! : JSON.stringify(values);
    if (diffed.has(key)) diffed.skipped++;
    else roots.set(key, values);
  };
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
    const values = lookups.flatMap((l) => l.hidden.map((_, i) => l.keys.map((k) => k[i]!)));
    const { rows } = await client.query<Record<string, string>>(prepared(rootKeysSql(plan, lookups), values));
    for (const r of rows) addRoot(plan.rootHidden.map((_, i) => r[`r${i}`]!));
  }
  if (!everything && roots.size === 0) return 0;

  const mode = everything || roots.size > limits.maxRootsPerDiff ? 'all' : 'roots';
  const rootValues = [...roots.values()];
  const values = mode === 'all' ? [] : plan.rootHidden.map((_, i) => rootValues.map((r) => r[i]!));
  const result = await client.query(prepared(diffSql(plan, mode), values));
  if (mode === 'all') diffed.everything = true;
  else for (const key of roots.keys()) diffed.add(key);
  return result.rowCount ?? 0;
}
