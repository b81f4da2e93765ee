import { PushcdcError } from './errors.ts';

/**
 * Where JSON values sit in a text, found without building them. A parsed value has lost its text
 * (JSON.parse turns `7.000000` into 7 and `0.0000001` into 1e-7), and some texts must travel on
 * exactly as they came (SPEC section 5: row values as PostgreSQL rendered them). Only boundaries are
 * found, so the text must be JSON that JSON.parse accepts: parse it first; what is not JSON can fail
 * here or give wrong boundaries. One pass over the characters, no string building. Positions are
 * UTF-16 indexes into the text; every boundary is at an ASCII character, so a slice never cuts one.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;

function isWhitespace(c: number): boolean {
  return c === SPACE || c === LINE_FEED || c === CARRIAGE_RETURN || c === TAB;
}

/** The index of the first character at or after `at` that is not JSON whitespace. */
export function skipWhitespace(text: string, at: number): number {
  let i = at;
  while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
  return i;
}

/** The index just past the JSON value whose first character is at `at`. */
export function valueEnd(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c === QUOTE) return stringEnd(text, at);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) return containerEnd(text, at);
  // A number, true, false or null: it runs to the next delimiter.
  let i = at;
  while (i < text.length) {
    const d = text.charCodeAt(i);
    if (d === COMMA || d === CLOSE_ARRAY || d === CLOSE_OBJECT || isWhitespace(d)) break;
    i++;
  }
  if (i === at) throw malformed(text, at, 'a value');
  return i;
}

/**
 * Reads the array whose `[` is at `at`, calling `onElement(start, end)` for each element:
 * text.slice(start, end) is its text, without the whitespace around it. Returns the index just past `]`.
 */
export function readArray(text: string, at: number, onElement: (start: number, end: number) => void): number {
  if (text.charCodeAt(at) !== OPEN_ARRAY) throw malformed(text, at, '[');
  let i = skipWhitespace(text, at + 1);
  if (text.charCodeAt(i) === CLOSE_ARRAY) return i + 1;
  for (;;) {
    const end = valueEnd(text, i);
    onElement(i, end);
    i = skipWhitespace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_ARRAY) return i + 1;
    if (c !== COMMA) throw malformed(text, i, ', or ]');
    i = skipWhitespace(text, i + 1);
  }
}

/**
 * Reads the object whose `{` is at `at`. For each member, `onMember(key, valueStart)` gets the decoded
 * key and the index of the value's first character, and returns the index just past the value, having
 * read it (readArray, readObject) or skipped it (valueEnd). Returns the index just past `}`.
 */
export function readObject(text: string, at: number, onMember: (key: string, valueStart: number) => number): number {
  if (text.charCodeAt(at) !== OPEN_OBJECT) throw malformed(text, at, '{');
  let i = skipWhitespace(text, at + 1);
  if (text.charCodeAt(i) === CLOSE_OBJECT) return i + 1;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) throw malformed(text, i, 'a member name');
    const keyEnd = stringEnd(text, i);
    // Member names are short and rarely escaped: decode only when they are.
    const raw = text.slice(i + 1, keyEnd - 1);
    const key = raw.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : raw;
    i = skipWhitespace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) throw malformed(text, i, ':');
    i = skipWhitespace(text, onMember(key, skipWhitespace(text, i + 1)));
    const c = text.charCodeAt(i);
    if (c === CLOSE_OBJECT) return i + 1;
    if (c !== COMMA) throw malformed(text, i, ', or }');
    i = skipWhitespace(text, i + 1);
  }
}

/** The index just past the string whose opening quote is at `at`. */
function stringEnd(text: string, at: number): number {
  let from = at + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) throw malformed(text, at, 'the end of the string starting');
    // Escaped only when an odd number of backslashes precedes it (`\\"` ends the string).
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index just past the object or array whose opening bracket is at `at`. */
function containerEnd(text: string, at: number): number {
  let depth = 0;
  for (let i = at; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i) - 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
    } else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --depth === 0) {
      return i + 1;
    }
  }
  throw malformed(text, at, 'the end of the value starting');
}

function malformed(text: string, at: number, expected: string): PushcdcError {
  const near = JSON.stringify(text.slice(Math.max(0, at - 20), at + 20));
  return new PushcdcError('INTERNAL', `JSON text: expected ${expected} at index ${at} (near ${near})`);
}
