import type pg from 'pg';
import { DIFF_ROWS_TABLE } from '../../src/diff/diff-rows.ts';

/** One diff row as the diff-rows table holds it, a chunk's rows taken apart (see DIFF_ROWS_TABLE). */
export interface DiffRow {
  inquiry: string;
  op: string;
  /** The row's keys, as text. */
  keys: string[];
  /**
   * The row as JSON text, parsed and written again (a chunk's rows are cut apart so): compare rows
   * read here with each other, not with PostgreSQL's text (a number past 2^53 would differ).
   */
  row: string;
}

/** The rows in a session's diff-rows table, each chunk taken apart into its rows (in its order). */
export async function readDiffRows(session: Pick<pg.ClientBase, 'query'>, where = 'true'): Promise<DiffRow[]> {
  const { rows } = await session.query<{ inquiry: string; op: string; keys: string; row: string }>(
    `SELECT inquiry, op, keys, row FROM ${DIFF_ROWS_TABLE} WHERE ${where}`,
  );
  return rows.flatMap((entry) => {
    const keys = JSON.parse(`[${entry.keys}]`) as string[][];
    const values = JSON.parse(`[${entry.row}]`) as unknown[];
    if (values.length !== keys.length) throw new Error(`a diff-rows entry holds ${values.length} rows and ${keys.length} keys`);
    return values.map((value, i) => ({ inquiry: entry.inquiry, op: entry.op, keys: keys[i]!, row: JSON.stringify(value) }));
  });
}
