import sqlParser from 'node-sql-parser';

/**
 * The rules SPEC section 4 states that need the parse tree: aggregates and window functions (by
 * name, wherever they hide in an expression), and which tables a WHERE condition reads. The lexer
 * (shape.ts) has already rejected what is visible at the top level; the catalog check after
 * PostgreSQL creates the view is the last word (it also sees user-defined aggregates).
 */
const parser = new sqlParser.Parser();
const DIALECT = { database: 'PostgresQL' } as const;

export interface ColumnRef {
  /** The qualifier as the parser returns it (case not reliable), or null when unqualified. */
  table: string | null;
  column: string;
}

export interface ParsedRules {
  /** Violations found in the tree: a message and a word to locate it in the text. */
  violations: { message: string; near: string }[];
  /** Column references inside WHERE, for deciding whether it reads the root table only. */
  whereColumns: ColumnRef[] | null;
  /**
   * Select-list items that are a bare column (or `*`, `t.*`), names as PostgreSQL folds them:
   * for deciding whether the result rows show every key.
   */
  selectColumns: ColumnRef[];
}

export type ParseResult = { ok: true; rules: ParsedRules } | { ok: false; message: string; offset: number | undefined };

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null;
}

function walk(value: unknown, visit: (node: Node) => boolean | void): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, visit);
  } else if (isNode(value)) {
    if (visit(value) === false) return;
    for (const v of Object.values(value)) walk(v, visit);
  }
}

function functionName(node: Node): string {
  const name = node.name;
  if (typeof name === 'string') return name;
  if (isNode(name) && Array.isArray(name.name)) {
    return name.name.map((part) => (isNode(part) ? String(part.value) : String(part))).join('.');
  }
  return 'function';
}

function columnName(column: unknown): string {
  if (typeof column === 'string') return column;
  if (isNode(column) && isNode(column.expr)) return String(column.expr.value);
  return String(column);
}

export function parseRules(sql: string): ParseResult {
  let ast: unknown;
  try {
    ast = parser.astify(sql, DIALECT);
  } catch (err) {
    const location = (err as { location?: { start?: { offset?: number } } }).location;
    return { ok: false, message: (err as Error).message, offset: location?.start?.offset };
  }
  const statements = Array.isArray(ast) ? ast : [ast];
  const select = statements[0];
  if (!isNode(select)) return { ok: false, message: 'empty statement', offset: 0 };
  const violations: ParsedRules['violations'] = [];
  walk(select, (node) => {
    if (node.type === 'aggr_func') {
      const name = functionName(node);
      violations.push({ message: `aggregate function ${name}() is not allowed: an inquiry watches rows, not groups`, near: name });
    } else if (node.type === 'window_func' || (node.type === 'function' && isNode(node.over))) {
      const name = functionName(node);
      violations.push({ message: `window function ${name}() is not allowed: each result row must depend on its own rows only`, near: name });
    }
  });
  let whereColumns: ColumnRef[] | null = null;
  if (select.where) {
    whereColumns = [];
    const found = whereColumns;
    walk(select.where, (node) => {
      if (node.type === 'column_ref') {
        found.push({ table: qualifierOf(node), column: columnName(node.column) });
        return false;
      }
      return true;
    });
  }
  return { ok: true, rules: { violations, whereColumns, selectColumns: selectColumnsOf(select.columns) } };
}

function selectColumnsOf(columns: unknown): ColumnRef[] {
  if (!Array.isArray(columns)) return [];
  const found: ColumnRef[] = [];
  for (const item of columns) {
    const expr = isNode(item) ? item.expr : undefined;
    if (!isNode(expr) || expr.type !== 'column_ref') continue;
    found.push({ table: qualifierOf(expr), column: foldedColumnName(expr.column) });
  }
  return found;
}

/** A column reference's qualifier as the parser returns it (a string, or a node for `t.*`), or null. */
function qualifierOf(ref: Node): string | null {
  const table = ref.table;
  return typeof table === 'string' ? table : isNode(table) ? String(table.value) : null;
}

/** An unquoted name folds to lower case; a quoted one keeps its case; `*` stays `*`. */
function foldedColumnName(column: unknown): string {
  if (isNode(column) && isNode(column.expr)) {
    const value = String(column.expr.value);
    return column.expr.type === 'double_quote_string' ? value : value.toLowerCase();
  }
  return String(column);
}
