import type pg from 'pg';
import type { TouchedTable } from '../capture/accumulator.ts';
import { prepared } from '../db/statements.ts';
import { diffSql, rootKeysSql, type InquiryPlan } from './plan.ts';

/**
 * One inquiry's diff for one batch: the roots the touched keys reach, then the result rows that left
 * and entered, written to the session's diff-rows table. Runs inside the batch's transaction (and
 * snapshot) — or, for a big batch, in several sessions sharing that snapshot, each diffing its share
 * of the roots into its own diff-rows table. Returns how many rows were written.
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
  sessions: Queryable[],
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
    // Each session looks up its own slice of the keys. Any session's view of the stored rows will do:
    // one that misses another session's rewrites of this batch still sees the rows they replaced,
    // and finds a few roots more, never fewer.
    const found = await Promise.all(
      sessions.map(async (session, n) => {
        const slice = lookups.map((l) => ({ ...l, keys: l.keys.filter((_, i) => i % sessions.length === n) }));
        if (slice.every((l) => l.keys.length === 0)) return [];
        const values = slice.flatMap((l) => l.hidden.map((_, i) => l.keys.map((k) => k[i]!)));
        return (await session.query<Record<string, string>>(prepared(rootKeysSql(plan, slice), values))).rows;
      }),
    );
    for (const r of found.flat()) addRoot(plan.rootHidden.map((_, i) => r[`r${i}`]!));
  }
  if (!everything && roots.size === 0) return 0;

  const mode = everything || roots.size > limits.maxRootsPerDiff ? 'all' : 'roots';
  const rootValues = [...roots.values()];
  const values = mode === 'all' ? [] : plan.rootHidden.map((_, i) => rootValues.map((r) => r[i]!));
  // Sessions diff their shares of the roots at once; one session takes them all.
  const sql = diffSql(plan, mode, sessions.length);
  const results = await Promise.all(
    sessions.map((session, share) => session.query(prepared(sql, sessions.length > 1 ? [...values, share] : values))),
  );
  if (mode === 'all') diffed.everything = true;
  else for (const key of roots.keys()) diffed.add(key);
  return results.reduce((n, r) => n + (r.rowCount ?? 0), 0);
}
