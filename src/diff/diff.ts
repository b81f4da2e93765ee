import type pg from 'pg';
import type { TouchedTable } from '../capture/accumulator.ts';
import { keyedStatement, prepared } from '../db/statements.ts';
import { assistedDiffsTotal } from '../capture/metrics.ts';
import { rootShare } from './share-hash.ts';
import { applyComparedSql, compareSql, diffRowsWritten, diffSql, rootKeysSql, shareRootsSql, type AliasLookup, type InquiryPlan } from './plan.ts';

/**
 * One inquiry's diff for one batch: the roots the touched keys reach, then the result rows that left
 * and entered, written to the session's diff-rows table. Runs inside the batch's transaction (and
 * snapshot) — or, for a big batch, in several sessions sharing that snapshot, each diffing its share
 * of the roots into its own diff-rows table. Returns how many rows were written.
 */
export interface DiffLimits {
  /** Past this many root keys one full diff is cheaper than that many index lookups. */
  maxRootsPerDiff: number;
  /** From this many roots on, assistants (when there are) compare part of them; fewer are quicker alone. */
  minRootsPerAssistedDiff: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * Before a statement that reads whole tables (a full diff, or any of an inquiry whose lookups lack an
 * index): the diff sessions plan without seq scans (see diffSettingsSql). LOOK_UP_BY_KEY_SQL after it
 * puts the sessions' own setting back for the next statement; a batch that fails in between rolls
 * both back with its transaction.
 */
export const SCAN_WHOLE_TABLES_SQL = 'SET LOCAL enable_seqscan = on';
export const LOOK_UP_BY_KEY_SQL = 'SET LOCAL enable_seqscan = off';

/** Runs `statement` in `session` planned with seq scans (see SCAN_WHOLE_TABLES_SQL). */
async function scanningWhole<R>(session: Queryable, statement: () => Promise<R>): Promise<R> {
  await session.query(SCAN_WHOLE_TABLES_SQL);
  const result = await statement();
  await session.query(LOOK_UP_BY_KEY_SQL);
  return result;
}

/**
 * Runs a statement of `plan` in `session`, planned as the inquiry needs: with seq scans when one of
 * its lookups has no index (plan.readsWhole) — with them off, the planner reads such a table through
 * some other index, whole and in key order, which is slower than the scan it replaces (see
 * diffSettingsSql) — and without them otherwise. Per statement, so one inquiry without its index
 * does not put every other inquiry's diffs on seq scans: two round trips more for each of its
 * statements, which read a whole table anyway.
 */
export function planFor<R>(session: Queryable, plan: InquiryPlan, statement: () => Promise<R>): Promise<R> {
  return plan.readsWhole ? scanningWhole(session, statement) : statement();
}

/**
 * The roots one inquiry has diffed, or is diffing, in the current batch. Every diff of a batch reads
 * the same snapshot, so a root diffed once holds exactly its snapshot rows: diffing it again (a row
 * touched again later in a backlog) finds nothing, and is skipped. A root is claimed as soon as a
 * diff has found it, before that diff runs: a comparison started meanwhile in another session (see
 * DiffAhead) must not take it too, since it would not see the claiming diff's writes. After a full
 * diff, everything is claimed. Remembers at most `MAX_REMEMBERED` roots: skipping saves work,
 * forgetting costs none of correctness — but a batch that forgot some cannot be compared ahead.
 */
export class DiffedRoots {
  static readonly MAX_REMEMBERED = 200_000;
  private readonly roots = new Set<string>();
  everything = false;
  /** A root was not remembered: some diffed root may not be known as such. */
  forgot = false;
  skipped = 0;

  has(root: string): boolean {
    return this.everything || this.roots.has(root);
  }

  add(root: string): void {
    if (this.roots.size < DiffedRoots.MAX_REMEMBERED) this.roots.add(root);
    else this.forgot = true;
  }

  /** Whether `more` roots fit: while they do, a root not remembered was not diffed in this batch. */
  canRemember(more: number): boolean {
    return !this.everything && this.roots.size + more <= DiffedRoots.MAX_REMEMBERED;
  }
}

/** The roots a batch's touched keys reach in one inquiry, claimed by the caller; or every root. */
interface FoundRoots {
  everything: boolean;
  roots: Map<string, string[]>;
}

/**
 * The roots the touched keys reach: the touched root rows themselves, and — through the other
 * tables' keys — the roots of stored and fresh rows holding them (looked up by `lookupSessions`,
 * each its slice of the keys). Each root is claimed as it is found, in the same turn as the check
 * that no other diff claimed it first (left out then): two diffs finding roots at once never both
 * take one. With a table to recompute entirely, nothing is claimed: the caller claims everything.
 */
async function findRoots(lookupSessions: Queryable[], plan: InquiryPlan, touched: Map<string, TouchedTable>, diffed: DiffedRoots): Promise<FoundRoots> {
  const roots = new Map<string, string[]>();
  const addRoot = (values: string[]) => {
    const key = values.length === 1 ? values[0]! : JSON.stringify(values);
    if (diffed.has(key)) diffed.skipped++;
    else {
      roots.set(key, values);
      diffed.add(key);
    }
  };
  const lookups: { alias: AliasLookup; keys: string[][] }[] = [];
  const rootAlias = plan.inquiry.tables[0]!.alias;

  for (const [table] of plan.aliasesByTable) {
    if (touched.get(table)?.everything) return { everything: true, roots };
  }
  for (const [table, aliases] of plan.aliasesByTable) {
    const t = touched.get(table);
    if (!t) continue;
    const keys = [...t.keys.values()];
    for (const a of aliases) {
      if (a.alias === rootAlias) keys.forEach(addRoot);
      else lookups.push({ alias: a, keys });
    }
  }
  if (lookups.length === 0) return { everything: false, roots };

  // Each session looks up its own slice of the keys. Any session's view of the stored rows will do:
  // one that misses another session's rewrites of this batch still sees the rows they replaced, and
  // finds a few roots more, never fewer.
  const found = await Promise.all(
    lookupSessions.map(async (session, n) => {
      const slice = lookups.map((l) => ({ ...l, keys: l.keys.filter((_, i) => i % lookupSessions.length === n) }));
      if (slice.every((l) => l.keys.length === 0)) return [];
      const values = slice.flatMap((l) => l.alias.hidden.map((_, i) => l.keys.map((k) => k[i]!)));
      const keys = slice.reduce((n, l) => n + l.keys.length, 0);
      const statement = keyedStatement(rootKeysSql(plan, slice.map((l) => l.alias)), values, keys);
      return (await planFor(session, plan, () => session.query<Record<string, string>>(statement))).rows;
    }),
  );
  for (const r of found.flat()) addRoot(plan.rootHidden.map((_, i) => r[`r${i}`]!));
  return { everything: false, roots };
}

export async function diffInquiry(
  sessions: Queryable[],
  plan: InquiryPlan,
  touched: Map<string, TouchedTable>,
  limits: DiffLimits,
  diffed: DiffedRoots = new DiffedRoots(),
  assistants: Queryable[] = [],
): Promise<number> {
  // Assistants help a diff of one session only (a shared batch already has every session at work).
  const helping = sessions.length === 1 ? assistants : [];
  if (diffed.everything) return 0;
  const { everything, roots } = await findRoots([...sessions, ...helping], plan, touched, diffed);
  if (diffed.everything) return 0;
  if (!everything && roots.size === 0) return 0;

  const mode = everything || roots.size > limits.maxRootsPerDiff ? 'all' : 'roots';
  // Before it runs: a comparison ahead started meanwhile finds every root claimed.
  if (mode === 'all') diffed.everything = true;
  if (mode === 'roots' && helping.length > 0 && roots.size >= limits.minRootsPerAssistedDiff && !diffed.forgot) {
    return assistedDiff(sessions[0]!, helping, plan, [...roots.values()]);
  }
  if (mode === 'roots') return diffRoots(sessions, plan, [...roots.values()]);
  // A full diff takes no keys (each session its share of the state, when there are several).
  const results = await Promise.all(
    sessions.map((session, share) =>
      scanningWhole(session, () => session.query(prepared(diffSql(plan, 'all', sessions.length), sessions.length > 1 ? [share] : []))),
    ),
  );
  return results.reduce((n, r) => n + diffRowsWritten(r), 0);
}

/**
 * For a comparison ahead (see DiffAhead): the roots the touched keys reach in one inquiry, found by
 * `helpers` and claimed; null (nothing claimed) when the inquiry may need a full diff or its batch
 * could forget what it claimed — then its diff is left to the main session. Whatever is claimed
 * must be diffed by the caller, however many roots it comes to.
 */
export async function claimRootsAhead(
  helpers: Queryable[],
  plan: InquiryPlan,
  touched: Map<string, TouchedTable>,
  limits: DiffLimits,
  diffed: DiffedRoots,
): Promise<string[][] | null> {
  // About as many roots as keys (a joined row has one root); every root must stay remembered.
  let keys = 0;
  for (const [table, aliases] of plan.aliasesByTable) keys += (touched.get(table)?.keys.size ?? 0) * aliases.length;
  if (diffed.everything || diffed.forgot || keys > limits.maxRootsPerDiff || !diffed.canRemember(2 * keys)) return null;
  const { everything, roots } = await findRoots(helpers, plan, touched, diffed);
  return everything ? null : [...roots.values()];
}

/** Diffs the given roots in one session. */
export async function diffRootsIn(session: Queryable, plan: InquiryPlan, roots: string[][]): Promise<number> {
  const statement = keyedStatement(diffSql(plan, 'roots'), keyArrays(plan, roots), roots.length);
  return diffRowsWritten(await planFor(session, plan, () => session.query(statement)));
}

/**
 * An assistant's comparison of the given roots (read-only, in the batch's snapshot): one row of
 * arrays, in PostgreSQL's binary form, for applyCompared.
 */
export async function compareRoots(session: Queryable, plan: InquiryPlan, roots: string[][]): Promise<unknown[]> {
  const statement = { ...keyedStatement(compareSql(plan), keyArrays(plan, roots), roots.length), rowMode: 'array' as const };
  return (await planFor(session, plan, () => session.query<unknown[]>(statement))).rows[0]!;
}

/** The main session writes what an assistant compared (of `roots` roots); returns the diff rows. */
export async function applyCompared(main: Queryable, plan: InquiryPlan, compared: unknown[], roots: number): Promise<number> {
  // Buffers (bytea) go back as binary parameters: PostgreSQL reads the arrays as they were sent.
  return diffRowsWritten(await main.query(keyedStatement(applyComparedSql(plan), compared, roots)));
}

/** Diffs the given roots: in one session, or each session its share of them at once. Returns the diff rows. */
async function diffRoots(sessions: Queryable[], plan: InquiryPlan, roots: string[][]): Promise<number> {
  if (sessions.length === 1) return diffRootsIn(sessions[0]!, plan, roots);
  const shares = plan.sharesInEngine ? cutInEngine(plan, roots, sessions.length) : await cutInServer(sessions[0]!, plan, roots, sessions.length);
  const results = await Promise.all(
    shares.map(({ share, arrays }) => {
      const session = sessions[share]!;
      return planFor(session, plan, () => session.query(keyedStatement(diffSql(plan, 'roots'), arrays, arrays[0]!.length)));
    }),
  );
  return results.reduce((n, r) => n + diffRowsWritten(r), 0);
}

/** A session's share of a batch's roots: their key arrays (see keyArrays). */
interface Share {
  share: number;
  arrays: string[][];
}

/** The roots cut into shares by the engine (see share-hash.ts); shares without roots are left out. */
function cutInEngine(plan: InquiryPlan, roots: string[][], sessions: number): Share[] {
  const shares: Share[] = Array.from({ length: sessions }, (_, share) => ({ share, arrays: plan.rootHidden.map(() => []) }));
  for (const root of roots) {
    const { arrays } = shares[rootShare(root, sessions)]!;
    for (let i = 0; i < arrays.length; i++) arrays[i]!.push(root[i]!);
  }
  return shares.filter((s) => s.arrays[0]!.length > 0);
}

/** The roots cut into shares by PostgreSQL (see shareRootsSql): a round trip there and back. */
async function cutInServer(session: Queryable, plan: InquiryPlan, roots: string[][], sessions: number): Promise<Share[]> {
  const { rows } = await session.query<ShareRow>(keyedStatement(shareRootsSql(plan, sessions), keyArrays(plan, roots), roots.length));
  return rows.map((row) => ({ share: row.share, arrays: plan.rootHidden.map((_, i) => row[`k${i}`]!) }));
}

/** A row of shareRootsSql: a share and its roots' key arrays. */
type ShareRow = { share: number } & { [column: `k${number}`]: string[] };

/** Roots (each its key values) as the key arrays the statements take, one per root key column. */
function keyArrays(plan: InquiryPlan, roots: string[][]): string[][] {
  return plan.rootHidden.map((_, i) => roots.map((r) => r[i]!));
}

/**
 * A diff of one session with assistants: they compare their parts of the roots in the batch's
 * snapshot (read-only) while the main session diffs its own; then the main session writes what they
 * compared. Every write stays in the main session, so the batch leaves as one notification. Exact
 * only for roots the batch has not diffed yet (the caller makes sure): the main session's earlier
 * writes are invisible to the assistants.
 *
 * The roots are cut into equal parts, one per session (the main one takes what does not divide).
 * Comparing is most of a diff's cost, and the main session writes the assistants' parts after its
 * own (measured, 20,000 roots at a million rows, one assistant: the main session diffing 30%, 40%,
 * 45%, 50% of them took 215-228, 185-193, 176-185, 162-185 ms; alone, 230-240).
 */
async function assistedDiff(main: Queryable, assistants: Queryable[], plan: InquiryPlan, roots: string[][]): Promise<number> {
  const per = Math.floor(roots.length / (assistants.length + 1));
  const own = roots.length - per * assistants.length;
  const rest = roots.slice(own);
  const [ownRows, compared] = await Promise.all([
    diffRootsIn(main, plan, roots.slice(0, own)),
    Promise.all(assistants.map((a, n) => compareRoots(a, plan, rest.slice(n * per, (n + 1) * per)))),
  ]);
  let total = ownRows;
  for (const arrays of compared) total += await applyCompared(main, plan, arrays, per);
  assistedDiffsTotal.inc();
  return total;
}
