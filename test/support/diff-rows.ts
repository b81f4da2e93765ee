import type pg from 'pg';
import { DIFF_ROWS_TABLE } from '../../src/diff/diff-rows.ts';

/** One diff row as the diff-rows table holds it, a chunk's rows taken apart (see DIFF_ROWS_TABLE). */
export interface DiffRow {
  inquiry: string;
  op: string;
  /** The row's keys, as text. */
  keys: string[];
  /** The row's JSON text, as PostgreSQL wrote it. */
  row: string;
}

/** The rows in a session's diff-rows table, each chunk taken apart into its rows (in its order). */
export async function readDiffRows(session: Pick<pg.ClientBase, 'query'>, where = 'true'): Promise<DiffRow[]> {
  const { rows } = await session.query<{ inquiry: string; op: string; keys: string; row: string }>(
    `SELECT inquiry, op, keys, row FROM ${DIFF_ROWS_TABLE} WHERE ${where}`,
  );
  return rows.flatMap((entry) => {
    const keys = JSON.parse(`[${entry.keys}]`) as string[][];
    // Row texts are JSON objects: re-rendered from their parse, they would lose exact numbers, so
    // each is cut out of the chunk at the top-level commas between objects.
    const texts = splitObjects(entry.row);
    if (texts.length !== keys.length) throw new Error(`a diff-rows chunk holds ${texts.length} rows and ${keys.length} keys`);
    return texts.map((row, i) => ({ inquiry: entry.inquiry, op: entry.op, keys: keys[i]!, row }));
  });
}

/** `{…},{…}` into its objects' texts, skipping commas inside strings and nested values. */
function splitObjects(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}
