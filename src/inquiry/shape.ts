import { findSequence, findTopLevel, tokenize, LexError, type Token } from './lexer.ts';

/**
 * The top-level shape of an inquiry's SELECT, as positions in its text: the select list, each FROM
 * item with its join kind and condition, the WHERE condition, and an ORDER BY to drop. Views are built
 * from these verbatim slices. Anything the rules forbid at the top level is reported with its offset.
 */
export type JoinKind = 'root' | 'inner' | 'left';

export interface Span {
  start: number;
  end: number;
}

export interface FromItem {
  /** Schema as PostgreSQL resolves it (unquoted names fold to lower case); null = search_path. */
  schema: string | null;
  table: string;
  alias: string;
  join: JoinKind;
  /** `schema.table alias` as written. */
  ref: Span;
  /** ON or USING, and the condition text after it (for USING, the parenthesised column list). */
  conditionKeyword: 'on' | 'using' | null;
  condition: Span | null;
}

export interface StatementShape {
  /** The statement without a trailing semicolon. */
  text: string;
  tokens: Token[];
  selectList: Span;
  from: FromItem[];
  where: Span | null;
  /** Where the part kept in the view ends: before ORDER BY, or the end. */
  bodyEnd: number;
  orderBy: Span | null;
}

export class ShapeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const FORBIDDEN_TOP_LEVEL: [string[], string][] = [
  [['group', 'by'], 'GROUP BY is not allowed: an inquiry watches rows, not groups (no aggregation)'],
  [['having'], 'HAVING is not allowed: an inquiry watches rows, not groups (no aggregation)'],
  [['limit'], 'LIMIT is not allowed: the result must be a function of the current rows alone'],
  [['offset'], 'OFFSET is not allowed: the result must be a function of the current rows alone'],
  [['fetch'], 'FETCH FIRST is not allowed: the result must be a function of the current rows alone'],
  [['window'], 'WINDOW is not allowed: window functions are not allowed in an inquiry'],
  [['union'], 'UNION is not allowed: set operations are not allowed in an inquiry'],
  [['intersect'], 'INTERSECT is not allowed: set operations are not allowed in an inquiry'],
  [['except'], 'EXCEPT is not allowed: set operations are not allowed in an inquiry'],
  [['for'], 'FOR UPDATE/SHARE is not allowed in an inquiry'],
  [['into'], 'SELECT INTO is not allowed: an inquiry is a plain SELECT'],
];

const JOIN_WORDS = ['join', 'inner', 'left', 'right', 'full', 'cross', 'natural', 'outer'];

/** An identifier as PostgreSQL sees it: unquoted folds to lower case, quoted is exact. */
export function identifierName(token: Token): string {
  if (token.kind === 'quoted') return token.text.slice(1, -1).replace(/""/g, '"');
  return token.lower;
}

function isIdentifier(token: Token | undefined): token is Token {
  return token !== undefined && (token.kind === 'word' || token.kind === 'quoted');
}

export function analyzeShape(sql: string): StatementShape {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (err) {
    if (err instanceof LexError) throw new ShapeError(err.message, err.offset);
    throw err;
  }
  while (tokens.length > 0 && tokens.at(-1)!.text === ';') tokens.pop();
  if (tokens.length === 0) throw new ShapeError('the inquiry is empty: write one SELECT statement', 0);
  const text = sql.slice(0, tokens.at(-1)!.end);
  const semicolon = tokens.find((t) => t.text === ';');
  if (semicolon) throw new ShapeError('an inquiry is exactly one SELECT statement (found a second one after ";")', semicolon.start);

  const first = tokens[0]!;
  if (first.lower === 'with') throw new ShapeError('WITH (a common table expression) is a subquery: not allowed in an inquiry', first.start);
  if (first.lower !== 'select') throw new ShapeError(`an inquiry is one SELECT statement; this one starts with "${first.text}"`, first.start);
  const afterSelect = tokens[1];
  if (afterSelect?.lower === 'distinct') throw new ShapeError('DISTINCT is not allowed: each result row must come from one row of each table', afterSelect.start);
  if (afterSelect?.lower === 'all') throw new ShapeError('SELECT ALL is not needed; remove ALL', afterSelect.start);

  for (const [words, message] of FORBIDDEN_TOP_LEVEL) {
    const at = findSequence(tokens, words, 1);
    if (at >= 0) throw new ShapeError(message, tokens[at]!.start);
  }
  const nestedSelect = tokens.find((t) => t.depth > 0 && t.kind === 'word' && t.lower === 'select');
  if (nestedSelect) {
    throw new ShapeError('subqueries are not allowed: the result must be a function of the current rows of its own tables', nestedSelect.start);
  }

  const fromAt = findTopLevel(tokens, ['from'], 1);
  if (fromAt < 0) throw new ShapeError('an inquiry reads tables: FROM is missing', text.length);
  if (fromAt === 1) throw new ShapeError('the select list is empty', tokens[fromAt]!.start);
  const whereAt = findTopLevel(tokens, ['where'], fromAt + 1);
  const orderAt = findSequence(tokens, ['order', 'by'], fromAt + 1);
  const fromEnd = whereAt >= 0 ? whereAt : orderAt >= 0 ? orderAt : tokens.length;
  const whereEnd = orderAt >= 0 ? orderAt : tokens.length;

  const from = splitFrom(tokens.slice(fromAt + 1, fromEnd), tokens[fromAt]!);
  const spanOf = (a: number, b: number): Span => ({ start: tokens[a]!.start, end: tokens[b - 1]!.end });
  if (whereAt >= 0 && whereAt + 1 >= whereEnd) throw new ShapeError('WHERE has no condition', tokens[whereAt]!.start);

  return {
    text,
    tokens,
    selectList: spanOf(1, fromAt),
    from,
    where: whereAt >= 0 ? spanOf(whereAt + 1, whereEnd) : null,
    bodyEnd: orderAt >= 0 ? tokens[orderAt - 1]!.end : text.length,
    orderBy: orderAt >= 0 ? spanOf(orderAt, tokens.length) : null,
  };
}

/** True at `JOIN`, `INNER JOIN`, `LEFT [OUTER] JOIN`, `RIGHT…`, `FULL…`, `CROSS JOIN`, `NATURAL…`. */
function isJoinStart(tokens: Token[], i: number): boolean {
  const t = tokens[i]!;
  if (t.depth !== 0 || t.kind !== 'word') return false;
  const next = tokens[i + 1]?.lower;
  const afterNext = tokens[i + 2]?.lower;
  switch (t.lower) {
    case 'join':
      return true;
    case 'inner':
    case 'cross':
      return next === 'join';
    case 'left':
    case 'right':
    case 'full':
      return next === 'join' || (next === 'outer' && afterNext === 'join');
    case 'natural':
      return true;
    default:
      return false;
  }
}

/** Splits the FROM clause into items: `ref`, then `[INNER|LEFT [OUTER]] JOIN ref ON|USING cond`… */
function splitFrom(tokens: Token[], fromToken: Token): FromItem[] {
  if (tokens.length === 0) throw new ShapeError('FROM names no table', fromToken.end);
  const items: FromItem[] = [];
  let i = 0;
  let join: JoinKind = 'root';
  for (;;) {
    const startTok = tokens[i];
    if (!startTok) throw new ShapeError('a table name is missing after JOIN', fromToken.end);
    if (startTok.text === '(') {
      throw new ShapeError('parenthesised FROM items (subqueries or nested joins) are not allowed: write a flat chain of JOINs', startTok.start);
    }
    // The table reference: name [. name] [[AS] alias]
    const refStart = i;
    if (!isIdentifier(tokens[i])) throw new ShapeError(`expected a table name, found "${startTok.text}"`, startTok.start);
    let schema: string | null = null;
    let table = identifierName(tokens[i]!);
    i++;
    if (tokens[i]?.text === '.') {
      if (!isIdentifier(tokens[i + 1])) throw new ShapeError('expected a table name after "."', tokens[i]!.start);
      schema = table;
      table = identifierName(tokens[i + 1]!);
      i += 2;
    }
    if (tokens[i]?.text === '(') {
      throw new ShapeError(`"${table}(...)" is a function call; an inquiry reads tables only`, tokens[i]!.start);
    }
    let alias = table;
    if (tokens[i]?.lower === 'as') i++;
    const maybeAlias = tokens[i];
    if (isIdentifier(maybeAlias) && !(maybeAlias.kind === 'word' && [...JOIN_WORDS, 'on', 'using'].includes(maybeAlias.lower))) {
      alias = identifierName(maybeAlias);
      i++;
    }
    const ref: Span = { start: tokens[refStart]!.start, end: tokens[i - 1]!.end };

    let conditionKeyword: FromItem['conditionKeyword'] = null;
    let condition: Span | null = null;
    const next = tokens[i];
    if (join !== 'root') {
      if (next?.lower !== 'on' && next?.lower !== 'using') {
        throw new ShapeError(`JOIN ${table} needs an ON condition`, next?.start ?? tokens[i - 1]!.end);
      }
      conditionKeyword = next.lower as 'on' | 'using';
      const condStart = i + 1;
      i = condStart;
      while (i < tokens.length && !isJoinStart(tokens, i) && !(tokens[i]!.depth === 0 && tokens[i]!.text === ',')) i++;
      if (i === condStart) throw new ShapeError(`the ${conditionKeyword.toUpperCase()} condition of JOIN ${table} is empty`, next.end);
      condition = { start: tokens[condStart]!.start, end: tokens[i - 1]!.end };
    } else if (next && next.lower === 'on') {
      throw new ShapeError('ON without JOIN', next.start);
    }
    items.push({ schema, table, alias, join, ref, conditionKeyword, condition });

    const t = tokens[i];
    if (!t) break;
    if (t.text === ',') {
      throw new ShapeError('comma joins (FROM a, b) are not allowed: write INNER JOIN or LEFT JOIN with an ON condition', t.start);
    }
    // Join keywords: [INNER] JOIN | LEFT [OUTER] JOIN; others are rejected with a reason.
    const kw = t.lower;
    if (kw === 'right' || kw === 'full') {
      throw new ShapeError(`${kw.toUpperCase()} JOIN is not allowed: joins are INNER or LEFT, in a tree rooted at the first table of FROM`, t.start);
    }
    if (kw === 'cross' || kw === 'natural') {
      throw new ShapeError(`${kw.toUpperCase()} JOIN is not allowed: write INNER JOIN or LEFT JOIN with an ON condition`, t.start);
    }
    if (kw === 'join') {
      join = 'inner';
      i += 1;
    } else if (kw === 'inner' && tokens[i + 1]?.lower === 'join') {
      join = 'inner';
      i += 2;
    } else if (kw === 'left' && tokens[i + 1]?.lower === 'join') {
      join = 'left';
      i += 2;
    } else if (kw === 'left' && tokens[i + 1]?.lower === 'outer' && tokens[i + 2]?.lower === 'join') {
      join = 'left';
      i += 3;
    } else {
      throw new ShapeError(`unexpected "${t.text}" in FROM`, t.start);
    }
    if (tokens[i]?.lower === 'lateral') throw new ShapeError('LATERAL is not allowed: an inquiry reads tables only', tokens[i]!.start);
  }
  const seen = new Map<string, FromItem>();
  for (const item of items) {
    if (seen.has(item.alias)) {
      throw new ShapeError(`the alias "${item.alias}" is used twice in FROM; give each table its own alias`, item.ref.start);
    }
    seen.set(item.alias, item);
  }
  return items;
}
