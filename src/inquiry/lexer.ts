/**
 * A PostgreSQL-aware tokenizer that keeps exact positions. The compiler builds views from verbatim
 * slices of the user's SQL (so nothing is lost to an SQL printer), and it needs to know where clauses
 * start and end at the top level: this finds them, skipping strings, quoted identifiers, dollar quotes,
 * comments and parentheses.
 */
export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'symbol';

export interface Token {
  kind: TokenKind;
  text: string;
  /** Lower-cased text for words, for keyword comparisons. */
  lower: string;
  start: number;
  end: number;
  /** Parenthesis depth at the token (0 = top level of the statement). */
  depth: number;
}

export class LexError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let depth = 0;
  const push = (kind: TokenKind, start: number, end: number) => {
    const text = sql.slice(start, end);
    tokens.push({ kind, text, lower: kind === 'word' ? text.toLowerCase() : text, start, end, depth });
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      // PostgreSQL block comments nest.
      const start = i;
      let nesting = 0;
      do {
        if (sql.startsWith('/*', i)) {
          nesting++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          nesting--;
          i += 2;
        } else i++;
      } while (nesting > 0 && i < sql.length);
      if (nesting > 0) throw new LexError('unterminated /* comment', start);
    } else if (c === "'" || ((c === 'E' || c === 'e') && next === "'")) {
      const start = i;
      const backslashEscapes = c !== "'";
      i += backslashEscapes ? 2 : 1;
      for (;;) {
        if (i >= sql.length) throw new LexError('unterminated string literal', start);
        if (backslashEscapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
      push('string', start, i);
    } else if (c === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= sql.length) throw new LexError('unterminated quoted identifier', start);
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') break;
        else i++;
      }
      i++;
      push('quoted', start, i);
    } else if (c === '$' && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i, i + 64))) {
      const start = i;
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) throw new LexError(`unterminated dollar-quoted string ${tag}`, start);
      i = close + tag.length;
      push('string', start, i);
    } else if (/[0-9]/.test(c) || (c === '.' && next !== undefined && /[0-9]/.test(next))) {
      const start = i;
      while (i < sql.length && /[0-9.eE_]/.test(sql[i]!)) {
        if ((sql[i] === 'e' || sql[i] === 'E') && (sql[i + 1] === '-' || sql[i + 1] === '+')) i++;
        i++;
      }
      push('number', start, i);
    } else if (WORD_START.test(c)) {
      const start = i;
      while (i < sql.length && WORD_PART.test(sql[i]!)) i++;
      push('word', start, i);
    } else if (c === '(') {
      push('symbol', i, i + 1);
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      if (depth < 0) throw new LexError('unbalanced )', i);
      push('symbol', i, i + 1);
      i++;
    } else {
      const start = i;
      // Operators are runs of operator characters (PostgreSQL's rule); punctuation is single.
      if (/[+\-*/<>=~!@#%^&|`?:]/.test(c)) {
        while (i < sql.length && /[+\-*/<>=~!@#%^&|`?:]/.test(sql[i]!) && !sql.startsWith('--', i) && !sql.startsWith('/*', i)) i++;
        if (i === start) i++;
      } else i++;
      push('symbol', start, i);
    }
  }
  if (depth !== 0) throw new LexError('unbalanced (', sql.length);
  return tokens;
}

/** Index of the first top-level token at or after `from` that is one of `words`; -1 if none. */
export function findTopLevel(tokens: Token[], words: string[], from = 0): number {
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.depth === 0 && t.kind === 'word' && words.includes(t.lower)) return i;
  }
  return -1;
}

/** Index of the first top-level keyword sequence (e.g. ['order','by']) at or after `from`. */
export function findSequence(tokens: Token[], words: string[], from = 0): number {
  for (let i = from; i + words.length <= tokens.length; i++) {
    if (words.every((w, k) => tokens[i + k]!.depth === 0 && tokens[i + k]!.kind === 'word' && tokens[i + k]!.lower === w)) return i;
  }
  return -1;
}
