import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * The share of a shared batch a root belongs to, computed in the engine exactly as PostgreSQL
 * computes it (see shareHash in plan.ts: `hashtext(ROW(key)::text) & 2147483647`, modulo the
 * sessions). A full diff later in the same batch picks its share in SQL, and both must agree: a root
 * one session diffed must not be diffed again by another, which cannot see the first one's writes.
 * Cutting the roots here saves sending them all to PostgreSQL and back as text arrays before every
 * shared diff by key.
 *
 * Exact only where the engine's key text is the text PostgreSQL renders for the typed key (see
 * ENGINE_RENDERED_TYPES), and only against a server whose hashtext gives what hashBytes gives (a
 * little-endian machine, keys hashed as UTF-8): serverHashesAsEngine checks that once, at start.
 */

/**
 * PostgreSQL's hash_bytes (Bob Jenkins' lookup3, as src/common/hashfn.c has it) on a little-endian
 * machine, over the first `length` bytes of `k`. Int32 arithmetic throughout (`| 0`), unsigned at the end.
 */
export function hashBytes(k: Uint8Array, length = k.length): number {
  let a = (0x9e3779b9 + length + 3923095) | 0;
  let b = a;
  let c = a;
  let i = 0;
  let left = length;
  while (left >= 12) {
    a = (a + (k[i]! | (k[i + 1]! << 8) | (k[i + 2]! << 16) | (k[i + 3]! << 24))) | 0;
    b = (b + (k[i + 4]! | (k[i + 5]! << 8) | (k[i + 6]! << 16) | (k[i + 7]! << 24))) | 0;
    c = (c + (k[i + 8]! | (k[i + 9]! << 8) | (k[i + 10]! << 16) | (k[i + 11]! << 24))) | 0;
    // mix(a, b, c)
    a = (a - c) | 0; a ^= (c << 4) | (c >>> 28); c = (c + b) | 0;
    b = (b - a) | 0; b ^= (a << 6) | (a >>> 26); a = (a + c) | 0;
    c = (c - b) | 0; c ^= (b << 8) | (b >>> 24); b = (b + a) | 0;
    a = (a - c) | 0; a ^= (c << 16) | (c >>> 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= (a << 19) | (a >>> 13); a = (a + c) | 0;
    c = (c - b) | 0; c ^= (b << 4) | (b >>> 28); b = (b + a) | 0;
    i += 12;
    left -= 12;
  }
  // The last 0-11 bytes, in the words' byte positions — except c's lowest byte, which the length
  // (added above) takes: its bytes go one place up.
  if (left >= 11) c = (c + (k[i + 10]! << 24)) | 0;
  if (left >= 10) c = (c + (k[i + 9]! << 16)) | 0;
  if (left >= 9) c = (c + (k[i + 8]! << 8)) | 0;
  if (left >= 8) b = (b + (k[i + 7]! << 24)) | 0;
  if (left >= 7) b = (b + (k[i + 6]! << 16)) | 0;
  if (left >= 6) b = (b + (k[i + 5]! << 8)) | 0;
  if (left >= 5) b = (b + k[i + 4]!) | 0;
  if (left >= 4) a = (a + (k[i + 3]! << 24)) | 0;
  if (left >= 3) a = (a + (k[i + 2]! << 16)) | 0;
  if (left >= 2) a = (a + (k[i + 1]! << 8)) | 0;
  if (left >= 1) a = (a + k[i]!) | 0;
  // final(a, b, c)
  c ^= b; c = (c - ((b << 14) | (b >>> 18))) | 0;
  a ^= c; a = (a - ((c << 11) | (c >>> 21))) | 0;
  b ^= a; b = (b - ((a << 25) | (a >>> 7))) | 0;
  c ^= b; c = (c - ((b << 16) | (b >>> 16))) | 0;
  a ^= c; a = (a - ((c << 4) | (c >>> 28))) | 0;
  b ^= a; b = (b - ((a << 14) | (a >>> 18))) | 0;
  c ^= b; c = (c - ((b << 24) | (b >>> 8))) | 0;
  return c >>> 0;
}

/** A record's text as record_out writes it: `(v1,v2)`, a value quoted where it must be. */
function recordText(values: string[]): string {
  if (values.length === 1) return `(${recordValue(values[0]!)})`;
  return `(${values.map(recordValue).join(',')})`;
}

/**
 * What record_out quotes: an empty value, or one holding `"`, `\`, `(`, `)`, `,` or a byte C's
 * isspace() takes for white space (ASCII only: in a UTF-8 server no byte of a wider character is).
 */
const NEEDS_QUOTES = /["\\(),\t\n\v\f\r ]/;

function recordValue(value: string): string {
  if (value !== '' && !NEEDS_QUOTES.test(value)) return value;
  return `"${value.replace(/["\\]/g, '$&$&')}"`;
}

/**
 * Key types whose text in the engine (from pgoutput, or `::text` in a root lookup) is what
 * `ROW(key)::text` renders for the typed value, in any session: their output depends on no
 * setting. Dates and times depend on DateStyle and TimeZone; those roots are cut in SQL.
 */
const ENGINE_RENDERED_TYPES = /^(smallint|integer|bigint|text|uuid|character varying(\(\d+\))?)$/;

export function renderedInEngine(type: string): boolean {
  return ENGINE_RENDERED_TYPES.test(type);
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/** Writes `text` as UTF-8 into `bytes`; returns the length. ASCII (most keys) copied by hand: quicker than encodeInto for a few bytes. */
function utf8Into(text: string, bytes: Uint8Array): number {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) return encoder.encodeInto(text, bytes).written;
    bytes[i] = unit;
  }
  return text.length;
}

/** The share (0 … sessions - 1) of a root, given its key values' text. */
export function rootShare(values: string[], sessions: number): number {
  const text = recordText(values);
  // At most three UTF-8 bytes per UTF-16 unit.
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  return (hashBytes(scratch, utf8Into(text, scratch)) & 0x7fffffff) % sessions;
}

/**
 * Texts whose hashes tell whether the server hashes as the engine does: every tail length of
 * hash_bytes (0-11 bytes past its 12-byte blocks) over two blocks, a quoted record, and characters
 * beyond ASCII.
 */
const HASH_PROBES = [...Array.from({ length: 25 }, (_, n) => '(0123456789,abcdefghijk)'.slice(0, n)), '("a ""b"" c")', '(ÿé€𝄞,x)'];

/**
 * Whether the server's hashtext agrees with hashBytes on HASH_PROBES (run once, at start). Only a
 * UTF-8 server can: the engine hashes its keys' UTF-8 bytes, PostgreSQL its own encoding's (and a
 * probe beyond ASCII may not even exist in that encoding).
 */
export async function serverHashesAsEngine(client: Queryable): Promise<boolean> {
  const { rows: encoding } = await client.query<{ utf8: boolean }>("SELECT current_setting('server_encoding') = 'UTF8' AS utf8");
  if (!encoding[0]?.utf8) return false;
  const { rows } = await client.query<{ h: number }>('SELECT hashtext(p) AS h FROM unnest($1::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n', [HASH_PROBES]);
  return HASH_PROBES.every((probe, n) => rows[n]?.h === (hashBytes(encoder.encode(probe)) | 0));
}
