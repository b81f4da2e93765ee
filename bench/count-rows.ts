/**
 * Counts the rows in a primaryQueue message's `Inserted` array without JSON.parse: a notification of a
 * 1M-row transaction is ~100 MB of JSON, and parsing it would inflate the bench process (which shares
 * the machine with the engine being measured) to several times that. One pass over the bytes, tracking
 * strings and nesting; it accepts the envelope (`{"notification":{"Inserted":[…]}}`) and the bare
 * payload (`{"Inserted":[…]}`), as parseQueueMessage does. Only keys at the top two levels are decoded.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

export function countInsertedRows(json: Uint8Array): number {
  // The key each open container sits under (null for the root and for array elements).
  const path: (string | null)[] = [];
  let lastString: string | null = null;
  let pendingKey: string | null = null;
  let count = 0;
  const decoder = new TextDecoder();
  for (let i = 0; i < json.length; i++) {
    const byte = json[i]!;
    if (byte === QUOTE) {
      const start = i + 1;
      for (i = start; i < json.length && json[i] !== QUOTE; i++) if (json[i] === BACKSLASH) i++;
      // Row values are never keys we look for: skip decoding strings below the notification level.
      lastString = path.length <= 2 ? decoder.decode(json.subarray(start, i)) : null;
    } else if (byte === COLON) {
      pendingKey = lastString;
    } else if (byte === COMMA) {
      pendingKey = null;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (byte === OPEN_OBJECT && insideInserted(path)) count++;
      path.push(pendingKey);
      pendingKey = null;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      path.pop();
    }
  }
  return count;
}

/** Whether an object opened now is an element of the top-level or the notification's Inserted array. */
function insideInserted(path: (string | null)[]): boolean {
  if (path.at(-1) !== 'Inserted') return false;
  return path.length === 2 || (path.length === 3 && path[1] === 'notification');
}
