import { quoteIdent, type PoolClient } from '../db/pool.ts';
import type { Token } from './lexer.ts';
import { identifierName, type FromItem, type StatementShape } from './shape.ts';
import type { TableInfo } from './tables.ts';

/**
 * How capture finds the roots of a joined table's rows by walking its join conditions up to the
 * root, instead of reading the lookup view: the view joins every table of the inquiry, while a row's
 * root only needs the tables between it and the root. For `c LEFT JOIN o ON o.customer_id = c.id
 * LEFT JOIN l ON l.order_id = o.id`, an order's root is its `customer_id` (one index lookup, not
 * three) and a line's is its order's (measured at a million rows, 6,667 order and 6,667 line keys:
 * 200 ms through the view, 145 ms along the paths).
 *
 * A path may find more roots than the view, never fewer, which is what the diff needs (an extra root
 * diffs to nothing): every table on it joins its parent by a top-level `child.x = parent.y`
 * conjunct, so wherever a result row holds the table's row, it holds each ancestor's too, and each
 * condition (run as an INNER JOIN, other conjuncts included) held for them. Conditions naming a
 * table off the path, USING, or a top-level OR leave the table without a path (the view serves).
 */
export interface RootPath {
  /** The path's tables, each as written, INNER JOINed on its own condition, in FROM order. */
  from: string;
  /** Expressions giving the root key, in key order: the root's columns, or its child's (see below). */
  rootKeys: string[];
  /**
   * The root key is read from the root's child (`o.customer_id`), whose condition equates every root
   * key column with a column of the same type, typmod and collation: the root table is left out.
   * Its values can be NULL, and are then dropped.
   */
  keysFromChild: boolean;
}

/** `child.col = other.col`, a top-level conjunct of the child's ON condition. */
interface Equality {
  childColumn: string;
  otherAlias: string;
  otherColumn: string;
}

/** The paths of the inquiry's tables (null for the root and for tables without one), checked by PostgreSQL. */
export async function findRootPaths(client: PoolClient, shape: StatementShape, infos: TableInfo[], parents: (string | null)[]): Promise<(RootPath | null)[]> {
  const paths: (RootPath | null)[] = [null];
  for (let i = 1; i < shape.from.length; i++) paths.push(await pathOf(client, shape, infos, parents, i));
  return paths;
}

async function pathOf(client: PoolClient, shape: StatementShape, infos: TableInfo[], parents: (string | null)[], index: number): Promise<RootPath | null> {
  const from = shape.from;
  const root = from[0]!;
  // From the table up to the root's child: each joins its parent by a strict equality.
  const steps: number[] = [];
  let rootEqualities: Equality[] = [];
  for (let at = index; at !== 0; ) {
    const item = from[at]!;
    const parent = parents[at];
    const equalities = item.conditionKeyword === 'on' && item.condition ? strictEqualities(shape, item) : null;
    const toParent = equalities?.filter((e) => e.otherAlias === parent) ?? [];
    if (parent === null || parent === undefined || toParent.length === 0) return null;
    steps.unshift(at);
    const next = from.findIndex((f) => f.alias === parent);
    if (next < 0 || next >= at) return null;
    if (next === 0) rootEqualities = toParent;
    at = next;
  }
  const slice = (span: { start: number; end: number }) => shape.text.slice(span.start, span.end);
  const joined = (indices: number[]) => indices.map((n) => `JOIN ${slice(from[n]!.ref)} ON (${slice(from[n]!.condition!)})`);
  const child = from[steps[0]!]!;
  const childKeys = infos[0]!.keyColumns.map((k) => rootEqualities.find((e) => e.otherColumn === k.name)?.childColumn ?? null);
  const candidates: RootPath[] = [];
  if (childKeys.every((c) => c !== null) && (await sameColumnTypes(client, infos[steps[0]!]!, infos[0]!, childKeys as string[]))) {
    candidates.push({
      from: [slice(child.ref), ...joined(steps.slice(1))].join(' '),
      rootKeys: (childKeys as string[]).map((c) => `${quoteIdent(child.alias)}.${quoteIdent(c)}`),
      keysFromChild: true,
    });
  }
  candidates.push({
    from: [slice(root.ref), ...joined(steps)].join(' '),
    rootKeys: infos[0]!.keyColumns.map((k) => `${quoteIdent(root.alias)}.${quoteIdent(k.name)}`),
    keysFromChild: false,
  });
  // PostgreSQL resolves the names: a condition naming a table off the path fails here.
  for (const path of candidates) if (await resolves(client, path)) return path;
  return null;
}

/**
 * The top-level conjuncts of an ON condition of the form `a.x = b.y` with one side the joined table
 * (qualified by its alias); null when the condition is not a conjunction (a top-level OR), or
 * when its ANDs may not all join conjuncts (a top-level BETWEEN).
 */
function strictEqualities(shape: StatementShape, item: FromItem): Equality[] | null {
  let tokens = shape.tokens.filter((t) => t.start >= item.condition!.start && t.end <= item.condition!.end);
  // `ON (…)`: the parentheses around the whole condition.
  while (tokens.length > 2 && tokens[0]!.text === '(' && closes(tokens) === tokens.length - 1) tokens = tokens.slice(1, -1);
  const depth = tokens[0]?.depth ?? 0;
  const conjuncts: Token[][] = [[]];
  for (const t of tokens) {
    // OR: not a conjunction. BETWEEN's own AND would be taken for one.
    if (t.depth === depth && t.kind === 'word' && (t.lower === 'or' || t.lower === 'between')) return null;
    if (t.depth === depth && t.kind === 'word' && t.lower === 'and') conjuncts.push([]);
    else conjuncts.at(-1)!.push(t);
  }
  const equalities: Equality[] = [];
  for (const c of conjuncts) {
    if (c.length !== 7 || c[1]!.text !== '.' || c[3]!.text !== '=' || c[5]!.text !== '.') continue;
    const names = [c[0]!, c[2]!, c[4]!, c[6]!];
    if (!names.every((t) => t.kind === 'word' || t.kind === 'quoted')) continue;
    const [leftAlias, leftColumn, rightAlias, rightColumn] = names.map(identifierName) as [string, string, string, string];
    if (leftAlias === item.alias && rightAlias !== item.alias) equalities.push({ childColumn: leftColumn, otherAlias: rightAlias, otherColumn: rightColumn });
    else if (rightAlias === item.alias && leftAlias !== item.alias) equalities.push({ childColumn: rightColumn, otherAlias: leftAlias, otherColumn: leftColumn });
  }
  return equalities;
}

/** The index of the token closing the parenthesis tokens[0] opens. */
function closes(tokens: Token[]): number {
  return tokens.findIndex((t, i) => i > 0 && t.text === ')' && t.depth === tokens[0]!.depth);
}

/**
 * Whether each of the child's columns has the type, typmod and collation of the root's key column in
 * its place, and that type writes equal values as equal text (integers, uuid): a root is known by
 * its key's text, and the same root under two texts (numeric 1.0 and 1.00, or 'A' and 'a' in a
 * case-insensitive collation) could be claimed by two diffs at once (see DiffedRoots).
 */
async function sameColumnTypes(client: PoolClient, child: TableInfo, root: TableInfo, childColumns: string[]): Promise<boolean> {
  const { rows } = await client.query<{ same: boolean }>(
    `SELECT bool_and(c.atttypid = r.atttypid AND c.atttypmod = r.atttypmod AND c.attcollation = r.attcollation
                     AND r.atttypid = ANY ('{int2,int4,int8,uuid}'::regtype[]::oid[])) AND count(*) = $5 AS same
       FROM unnest($2::text[], $4::text[]) AS p(child_column, root_column)
       JOIN pg_attribute c ON c.attrelid = $1 AND c.attname = p.child_column
       JOIN pg_attribute r ON r.attrelid = $3 AND r.attname = p.root_column`,
    [child.oid, childColumns, root.oid, root.keyColumns.map((k) => k.name), childColumns.length],
  );
  return rows[0]?.same === true;
}

async function resolves(client: PoolClient, path: RootPath): Promise<boolean> {
  await client.query('SAVEPOINT pushcdc_root_path');
  try {
    await client.query(`SELECT ${path.rootKeys.join(', ')} FROM ${path.from} WHERE false`);
    await client.query('RELEASE SAVEPOINT pushcdc_root_path');
    return true;
  } catch (err) {
    if (!(err as { code?: string }).code) throw err;
    await client.query('ROLLBACK TO SAVEPOINT pushcdc_root_path');
    return false;
  }
}
