/**
 * A batch's diff rows, per capture session: each inquiry's diff statement puts the rows that left
 * ('D') and entered ('I') its result here, and the notifications are assembled from this table inside
 * PostgreSQL. The engine never holds a batch's rows, so a million-row transaction costs it no memory.
 * Emptied at every commit.
 */
export const DIFF_ROWS_TABLE = 'pg_temp.pushcdc_diff_rows';

export const CREATE_DIFF_ROWS_SQL = `CREATE TEMP TABLE IF NOT EXISTS pushcdc_diff_rows (
  inquiry text NOT NULL,
  op text NOT NULL,
  keys text NOT NULL,
  row text NOT NULL
) ON COMMIT DELETE ROWS`;

/**
 * A row that leaves and re-enters with identical values (say, a joined row's key changed but not what
 * the result shows) did not change the result: drop such pairs, as a multiset (k copies leaving and
 * j entering cancel min(k, j) of each). $1: the inquiries to look at (those whose rows do not show
 * every key; for the others equal rows are the same view row, which a diff never emits twice).
 */
export const CANCEL_UNCHANGED_SQL = `WITH twins AS (
  SELECT inquiry, row FROM ${DIFF_ROWS_TABLE} WHERE inquiry = ANY ($1::text[])
   GROUP BY inquiry, row HAVING bool_or(op = 'D') AND bool_or(op = 'I')
), numbered AS (
  SELECT r.ctid AS tid, r.op, r.inquiry, r.row,
         row_number() OVER (PARTITION BY r.inquiry, r.row, r.op ORDER BY r.ctid) AS n
    FROM ${DIFF_ROWS_TABLE} r JOIN twins t ON t.inquiry = r.inquiry AND t.row = r.row
), pairs AS (
  SELECT d.tid AS d_tid, i.tid AS i_tid
    FROM numbered d JOIN numbered i ON i.inquiry = d.inquiry AND i.row = d.row AND i.n = d.n
   WHERE d.op = 'D' AND i.op = 'I'
)
DELETE FROM ${DIFF_ROWS_TABLE} WHERE ctid = ANY (ARRAY(SELECT d_tid FROM pairs UNION ALL SELECT i_tid FROM pairs))`;
