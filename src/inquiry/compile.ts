import { createHash } from 'node:crypto';
import type { DatabaseError } from 'pg';
import { quoteIdent, type PoolClient } from '../db/pool.ts';
import type { Problem } from '../errors.ts';
import type { Token } from './lexer.ts';
import { findRootPaths, type RootPath } from './root-path.ts';
import { parseRules, type ColumnRef, type ParsedRules } from './rules.ts';
import { analyzeShape, ShapeError, type FromItem, type JoinKind, type StatementShape } from './shape.ts';
import { lookupTable, tableProblem, type TableInfo } from './tables.ts';

/**
 * Compiling an inquiry: its SQL becomes a view with hidden row-identity keys (`__k_<alias>_<col>`,
 * the primary key of every table alias), built from verbatim slices of the user's text. When the
 * inquiry has inner joins or a WHERE that reads more than the root table, a second, keys-only
 * "support" view joins the same tables all with LEFT JOIN and without that filter: the diff engine
 * stores its rows too, so a change that removes a result row without appearing in any result row
 * (an anti-join like `WHERE o.id IS NULL`) still finds the root rows it affects.
 */
export interface InquirySource {
  name: string;
  /** The file, as shown in messages. */
  file: string;
  kind: 'sql' | 'json';
  sql: string;
  /** Line/column in the file for an offset in `sql`. */
  locate(offset: number): { line: number; col: number } | undefined;
}

export interface CompiledTable {
  alias: string;
  join: JoinKind;
  /** The alias this table joins to (the nearest earlier alias its condition names); null for the root. */
  parent: string | null;
  info: TableInfo;
  /** Hidden column names, one per primary-key column, in key order. */
  hiddenKeys: string[];
  /** Columns of this table the inquiry reads (PostgreSQL's own dependency record). */
  trackedColumns: string[];
  /** How the roots of this table's rows are found along its join conditions; null: through the lookup view. */
  rootPath: RootPath | null;
}

export type JsonKind = 'numeric' | 'int8' | 'int' | 'plain';

export interface ResultColumn {
  name: string;
  type: string;
  /** How the value becomes JSON: numbers that a double would round go out as strings. */
  json: JsonKind;
}

export interface CompiledInquiry {
  name: string;
  file: string;
  kind: 'sql' | 'json';
  sourceSql: string;
  tables: CompiledTable[];
  /** SELECT of the result view: hidden keys, then the inquiry's own select list, FROM and WHERE. */
  viewSql: string;
  /** SELECT of the keys-only support view, or null when the result view serves both purposes. */
  supportSql: string | null;
  whereReadsRootOnly: boolean;
  droppedOrderBy: boolean;
  resultColumns: ResultColumn[];
  /**
   * Every hidden key is also a result column, so equal result rows are the same view row: a row
   * cannot leave and re-enter unchanged within one batch, and the multiset cancel can be skipped.
   */
  rowsShowKeys: boolean;
  /** node-sql-parser read it; or only PostgreSQL could (rules then come from the catalog alone). */
  parsedBy: 'node-sql-parser' | 'postgresql';
  definitionHash: string;
}

export const HIDDEN_PREFIX = '__k_';
/** How a column's values are written as JSON (by base type oid): see rowJsonSql. */
function jsonKind(baseType: number): JsonKind {
  if (baseType === 1700) return 'numeric';
  if (baseType === 20) return 'int8';
  if (baseType === 21 || baseType === 23) return 'int';
  return 'plain';
}

/**
 * Part of every definition hash: bump it when the stored state's format changes (say, how a row's
 * JSON is written), so existing states are rebuilt instead of diffed against rows of another format.
 */
const STATE_FORMAT = 2;

const TIME_FUNCTIONS = new Set(['now', 'transaction_timestamp', 'statement_timestamp', 'clock_timestamp', 'timeofday']);
/**
 * Functions PostgreSQL marks stable (not volatile), whose value comes from the session or the
 * transaction rather than from their arguments: a result row using one changes without any row changing.
 */
const SESSION_FUNCTIONS = new Set([
  'current_setting',
  'pg_backend_pid',
  'txid_current',
  'txid_current_if_assigned',
  'txid_current_snapshot',
  'pg_current_xact_id',
  'pg_current_xact_id_if_assigned',
  'pg_current_snapshot',
  'inet_client_addr',
  'inet_client_port',
  'pg_trigger_depth',
  'pg_my_temp_schema',
]);
const SQL_VALUE_FUNCTIONS: Record<string, string> = {
  current_date: 'the current date',
  current_time: 'the current time',
  current_timestamp: 'the current time',
  localtime: 'the current time',
  localtimestamp: 'the current time',
  current_user: 'the session',
  session_user: 'the session',
  current_role: 'the session',
  user: 'the session',
  current_schema: 'the session',
  current_catalog: 'the session',
};

class CompileProblem extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

export async function compileInquiry(client: PoolClient, source: InquirySource): Promise<{ inquiry?: CompiledInquiry; problems: Problem[] }> {
  const problem = (message: string, offset?: number): Problem => {
    const at = offset === undefined ? undefined : source.locate(offset);
    return { file: source.file, line: at?.line, col: at?.col, message };
  };
  let shape: StatementShape;
  try {
    shape = analyzeShape(source.sql);
  } catch (err) {
    if (err instanceof ShapeError) return { problems: [problem(err.message, err.offset)] };
    throw err;
  }
  const parsed = parseRules(shape.text);
  if (parsed.ok && parsed.rules.violations.length > 0) {
    return {
      problems: parsed.rules.violations.map((v) => problem(v.message, findWord(shape.tokens, v.near))),
    };
  }
  for (const t of shape.tokens) {
    const reason = t.kind === 'word' ? SQL_VALUE_FUNCTIONS[t.lower] : undefined;
    if (reason) {
      return { problems: [problem(`${t.text.toUpperCase()} depends on ${reason}: the result must be a function of the current rows alone`, t.start)] };
    }
  }

  await client.query('SAVEPOINT pushcdc_compile');
  try {
    return await compileWithCatalog(client, source, shape, parsed.ok ? parsed.rules : null, problem);
  } catch (err) {
    if (err instanceof CompileProblem) return { problems: [problem(err.message, err.offset)] };
    throw err;
  } finally {
    await client.query('ROLLBACK TO SAVEPOINT pushcdc_compile');
  }
}

async function compileWithCatalog(
  client: PoolClient,
  source: InquirySource,
  shape: StatementShape,
  rules: ParsedRules | null,
  problem: (message: string, offset?: number) => Problem,
): Promise<{ inquiry?: CompiledInquiry; problems: Problem[] }> {
  const infos: TableInfo[] = [];
  const problems: Problem[] = [];
  for (const item of shape.from) {
    const written = shape.text.slice(item.ref.start, item.ref.end).split(/\s/)[0]!;
    const info = await lookupTable(client, item.schema, item.table);
    if (!info) {
      const name = item.schema ? `${item.schema}.${item.table}` : item.table;
      problems.push(problem(`table ${name} does not exist`, item.ref.start));
      continue;
    }
    const why = tableProblem(info, written);
    if (why) problems.push(problem(why, item.ref.start));
    infos.push(info);
  }
  if (problems.length > 0) return { problems };

  const hidden = shape.from.map((item, i) =>
    infos[i]!.keyColumns.map((k) => ({ item, column: k.name, name: `${HIDDEN_PREFIX}${item.alias}_${k.name}` })),
  );
  for (const h of hidden.flat()) {
    if (Buffer.byteLength(h.name) > 63) {
      throw new CompileProblem(`the hidden key column ${h.name} is longer than PostgreSQL's 63-byte limit; use a shorter alias`, h.item.ref.start);
    }
  }
  const hiddenSelect = hidden
    .flat()
    .map((h) => `${quoteIdent(h.item.alias)}.${quoteIdent(h.column)} AS ${quoteIdent(h.name)}`)
    .join(', ');

  const viewSql = `SELECT ${hiddenSelect}, ${shape.text.slice(shape.selectList.start, shape.bodyEnd)}`;
  const whereReadsRootOnly = shape.where === null || readsRootOnly(rules?.whereColumns ?? null, shape.from, infos);
  const needsSupport = shape.from.some((f) => f.join === 'inner') || !whereReadsRootOnly;
  const supportSql = needsSupport ? buildSupportSql(shape, hiddenSelect, whereReadsRootOnly) : null;

  // PostgreSQL has the last word: create the views (temporary, rolled back) and read them back.
  const createPrefix = 'CREATE TEMP VIEW pushcdc_check AS ';
  try {
    await client.query(createPrefix + viewSql);
  } catch (err) {
    const pgErr = err as DatabaseError;
    if (!pgErr.code) throw err;
    const prefixLength = createPrefix.length + `SELECT ${hiddenSelect}, `.length;
    const position = pgErr.position ? Number(pgErr.position) - 1 - prefixLength : undefined;
    const offset = position !== undefined && position >= 0 ? shape.selectList.start + position : undefined;
    if (pgErr.code === '42701') {
      const name = /column "(.+)" specified more than once/.exec(pgErr.message)?.[1];
      const dup = name ? findDuplicateName(shape, name) : undefined;
      throw new CompileProblem(`result column "${name ?? '?'}" appears more than once; result column names must be unique (rename one with AS)`, dup);
    }
    throw new CompileProblem(pgErr.message, offset);
  }
  if (supportSql) await client.query(`CREATE TEMP VIEW pushcdc_check_support AS ${supportSql}`);

  const viewOid = (await client.query<{ oid: number }>(`SELECT 'pushcdc_check'::regclass::oid::int AS oid`)).rows[0]!.oid;
  const resultColumns = await readResultColumns(client, viewOid, new Set(hidden.flat().map((h) => h.name)));
  for (const c of resultColumns) {
    if (c.name.startsWith(HIDDEN_PREFIX)) {
      throw new CompileProblem(`result column "${c.name}" uses the prefix ${HIDDEN_PREFIX}, which pushcdc reserves for hidden keys`, findWord(shape.tokens, c.name));
    }
  }
  await checkFunctions(client, shape.tokens);
  await checkReadsOwnTablesOnly(client, viewOid, shape, infos);
  const tracked = await readTrackedColumns(client, viewOid);

  const parents = shape.from.map((item, i) => (i === 0 ? null : parentAlias(shape, item, shape.from.slice(0, i))));
  const rootPaths = await findRootPaths(client, shape, infos, parents);
  const tables: CompiledTable[] = shape.from.map((item, i) => ({
    alias: item.alias,
    join: item.join,
    parent: parents[i] ?? null,
    info: infos[i]!,
    hiddenKeys: hidden[i]!.map((h) => h.name),
    trackedColumns: tracked.get(infos[i]!.oid) ?? [],
    rootPath: rootPaths[i] ?? null,
  }));
  const definitionHash = createHash('sha256')
    .update(JSON.stringify({ STATE_FORMAT, viewSql, supportSql, resultColumns, keys: tables.map((t) => [t.info.oid, t.info.keyColumns]) }))
    .digest('hex')
    .slice(0, 32);
  return {
    problems: [],
    inquiry: {
      name: source.name,
      file: source.file,
      kind: source.kind,
      sourceSql: shape.text,
      tables,
      viewSql,
      supportSql,
      whereReadsRootOnly,
      droppedOrderBy: shape.orderBy !== null,
      resultColumns,
      rowsShowKeys: rules !== null && showsEveryKey(rules.selectColumns, shape.from, infos),
      parsedBy: rules ? 'node-sql-parser' : 'postgresql',
      definitionHash,
    },
  };
}

/**
 * True when, for every table, each of its key columns is a bare column of the select list (or under
 * `*`). Unsure (an ambiguous qualifier, an expression) counts as false: only the cancel step runs.
 */
function showsEveryKey(columns: ColumnRef[], from: FromItem[], infos: TableInfo[]): boolean {
  const shown = columns.map((c) => ({ owner: c.table === null && c.column === '*' ? 'all' : ownerOf(c, from, infos), column: c.column }));
  return infos.every((info, i) =>
    info.keyColumns.every((k) => shown.some((s) => (s.owner === 'all' || s.owner === i) && (s.column === '*' || s.column === k.name))),
  );
}

/**
 * The FROM item (its index) a column reference belongs to, or null when unsure. The parser does not
 * say whether a qualifier was quoted: it matches case-insensitively, and only when no other alias
 * could be the one meant; an unqualified column, when exactly one table has it.
 */
function ownerOf(c: ColumnRef, from: FromItem[], infos: TableInfo[]): number | null {
  const candidates =
    c.table !== null
      ? from.flatMap((f, i) => (f.alias.toLowerCase() === c.table!.toLowerCase() ? [i] : []))
      : infos.flatMap((info, i) => (info.columns.includes(c.column) || info.columns.includes(c.column.toLowerCase()) ? [i] : []));
  return candidates.length === 1 ? candidates[0]! : null;
}

/**
 * True when every column the WHERE names belongs to the root table. Unsure (unparsed, ambiguous,
 * unknown qualifier) counts as false: the support view is always correct, only a little slower.
 */
function readsRootOnly(columns: ColumnRef[] | null, from: FromItem[], infos: TableInfo[]): boolean {
  if (columns === null) return false;
  return columns.every((c) => ownerOf(c, from, infos) === 0);
}

function buildSupportSql(shape: StatementShape, hiddenSelect: string, whereReadsRootOnly: boolean): string {
  const slice = (s: { start: number; end: number }) => shape.text.slice(s.start, s.end);
  const [root, ...joined] = shape.from;
  let sql = `SELECT ${hiddenSelect} FROM ${slice(root!.ref)}`;
  for (const item of joined) {
    const condition = slice(item.condition!);
    sql += item.conditionKeyword === 'using' ? ` LEFT JOIN ${slice(item.ref)} USING ${condition}` : ` LEFT JOIN ${slice(item.ref)} ON (${condition})`;
  }
  if (shape.where && whereReadsRootOnly) sql += ` WHERE ${slice(shape.where)}`;
  return sql;
}

/** The nearest earlier alias the join condition names (for explain's join tree). */
function parentAlias(shape: StatementShape, item: FromItem, earlier: FromItem[]): string | null {
  if (!item.condition) return null;
  const names = new Set<string>();
  for (const t of shape.tokens) {
    if (t.start < item.condition.start || t.end > item.condition.end) continue;
    const next = shape.tokens[shape.tokens.indexOf(t) + 1];
    if ((t.kind === 'word' || t.kind === 'quoted') && next?.text === '.') {
      names.add(t.kind === 'quoted' ? t.text.slice(1, -1) : t.lower);
    }
  }
  for (let i = earlier.length - 1; i >= 0; i--) if (names.has(earlier[i]!.alias)) return earlier[i]!.alias;
  return item.conditionKeyword === 'using' ? earlier.at(-1)!.alias : null;
}

async function readResultColumns(client: PoolClient, viewOid: number, hiddenNames: Set<string>): Promise<ResultColumn[]> {
  const { rows } = await client.query<{ name: string; type: string; base: number }>(
    `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
            (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::int AS base
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [viewOid],
  );
  return rows.filter((r) => !hiddenNames.has(r.name)).map((r) => ({ name: r.name, type: r.type, json: jsonKind(r.base) }));
}

/**
 * Aggregates, window functions, set-returning, volatile and time-dependent functions. Every `name(`
 * in the text is looked up in pg_proc (the view's pg_depend rows do not list built-in functions:
 * they are pinned). A name is rejected when all its overloads are aggregates, window functions,
 * set-returning or volatile.
 */
async function checkFunctions(client: PoolClient, tokens: Token[]): Promise<void> {
  const calls = new Map<string, number>();
  tokens.forEach((t, i) => {
    if ((t.kind === 'word' || t.kind === 'quoted') && tokens[i + 1]?.text === '(') {
      const name = t.kind === 'quoted' ? t.text.slice(1, -1) : t.lower;
      // age(ts) measures from today; age(a, b) is a plain function of its arguments.
      if (name === 'age' && argumentCount(tokens, i + 1) === 1) {
        throw new CompileProblem('age() with one argument depends on the current date: the result must be a function of the current rows alone', t.start);
      }
      if (!calls.has(name)) calls.set(name, t.start);
    }
  });
  if (calls.size === 0) return;
  const { rows } = await client.query<{ name: string; kinds: string[]; volatilities: string[]; nargs: number[]; sets: boolean }>(
    `SELECT proname::text AS name, array_agg(DISTINCT prokind::text) AS kinds,
            array_agg(DISTINCT provolatile::text) AS volatilities, array_agg(DISTINCT pronargs::int) AS nargs,
            bool_and(proretset) AS sets
       FROM pg_proc WHERE proname = ANY($1::text[]) GROUP BY proname`,
    [[...calls.keys()]],
  );
  for (const f of rows) {
    const at = calls.get(f.name);
    const only = (values: string[], value: string) => values.length === 1 && values[0] === value;
    if (only(f.kinds, 'a')) throw new CompileProblem(`aggregate function ${f.name}() is not allowed: an inquiry watches rows, not groups`, at);
    if (only(f.kinds, 'w')) throw new CompileProblem(`window function ${f.name}() is not allowed: each result row must depend on its own rows only`, at);
    // Several result rows from one row of each table would share one row identity, which the diff
    // keys its stored rows by.
    if (f.sets) throw new CompileProblem(`set-returning function ${f.name}() is not allowed: each result row must come from one row of each table`, at);
    if (TIME_FUNCTIONS.has(f.name)) {
      throw new CompileProblem(`${f.name}() depends on the current time: the result must be a function of the current rows alone`, at);
    }
    if (SESSION_FUNCTIONS.has(f.name)) {
      throw new CompileProblem(`${f.name}() depends on the session: the result must be a function of the current rows alone`, at);
    }
    if (only(f.volatilities, 'v')) {
      throw new CompileProblem(`${f.name}() is a volatile function: the result must be a function of the current rows alone`, at);
    }
  }
}

/** Number of top-level arguments of the call whose "(" is at tokens[open]. */
function argumentCount(tokens: Token[], open: number): number {
  const depth = tokens[open]!.depth;
  let count = 0;
  for (let i = open + 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.text === ')' && t.depth === depth) return count + (i > open + 1 ? 1 : 0);
    if (t.text === ',' && t.depth === depth + 1) count++;
  }
  return count;
}

/**
 * PostgreSQL's own list of the relations the view reads must hold the inquiry's tables and nothing
 * else. A table read anywhere else — `IN (TABLE other)`, or any subquery the lexer's check (which
 * looks for a nested SELECT) or the parser cannot see — is not watched, so its changes would never
 * reach the result's diff: refused, naming the table.
 */
async function checkReadsOwnTablesOnly(client: PoolClient, viewOid: number, shape: StatementShape, infos: TableInfo[]): Promise<void> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT DISTINCT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_rewrite r
       JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
       JOIN pg_class c ON c.oid = d.refobjid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE r.ev_class = $1 AND d.refobjid <> $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND NOT d.refobjid = ANY ($2::oid[])
      ORDER BY 1, 2`,
    [viewOid, infos.map((i) => i.oid)],
  );
  const other = rows[0];
  if (!other) return;
  throw new CompileProblem(
    `${other.schema}.${other.name} is read outside the FROM list (a subquery): its changes would not be watched; join it in FROM instead`,
    findWord(shape.tokens, other.name),
  );
}

async function readTrackedColumns(client: PoolClient, viewOid: number): Promise<Map<number, string[]>> {
  const { rows } = await client.query<{ table_oid: number; columns: string[] }>(
    `SELECT d.refobjid::int AS table_oid, array_agg(DISTINCT a.attname::text ORDER BY a.attname::text) AS columns
       FROM pg_rewrite r
       JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                       AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE r.ev_class = $1 AND d.refobjid <> $1
      GROUP BY d.refobjid`,
    [viewOid],
  );
  return new Map(rows.map((r) => [r.table_oid, r.columns]));
}

/** Offset of the first token spelling `word` (case-insensitive), for pointing at a construct. */
function findWord(tokens: Token[], word: string): number | undefined {
  const lower = word.toLowerCase();
  return tokens.find((t) => (t.kind === 'word' && t.lower === lower) || (t.kind === 'quoted' && t.text.slice(1, -1) === word))?.start;
}

function findDuplicateName(shape: StatementShape, name: string): number | undefined {
  const inList = shape.tokens.filter(
    (t) => t.start >= shape.selectList.start && t.end <= shape.selectList.end && ((t.kind === 'quoted' && t.text.slice(1, -1) === name) || (t.kind === 'word' && t.lower === name)),
  );
  return (inList[1] ?? inList[0])?.start;
}
