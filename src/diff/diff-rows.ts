import type { InquiryPlan } from './plan.ts';

/**
 * A batch's diff rows, per capture session: each inquiry's diff statement puts the rows that left
 * ('D') and entered ('I') its result here, and the notifications are assembled from this table inside
 * PostgreSQL. The engine never holds a batch's rows, so a million-row transaction costs it no memory.
 *
 * An entry is one row, or — from a diff by key of an inquiry whose rows show every key, so none
 * cancels (see CANCEL_UNCHANGED_SQL, and writeCtes in plan.ts) — a chunk: all the rows of one diff
 * statement with one op and one hash slot (see ROW_SLOT), their `row` texts joined by commas and
 * their `keys` likewise, in the same order.
 * The notification's text is the rows joined by commas either way, and a part takes whole slots, so
 * the assembly reads chunks as it reads rows; their bytes (ROW_BYTES) add up to the same. Aggregated
 * in the diff statement, the rows are not written one by one and read back three times: measured, a
 * 39,000-root diff at a million rows with the assembly's passes over its rows, 771 → 615 ms (medians
 * of 12, interleaved). Chunks past 2 kB go to the table's TOAST uncompressed (STORAGE EXTERNAL):
 * compressing them would cost more than it saves, they live only until the batch commits.
 *
 * Emptied by the assembly, in the batch's transaction (see assembleNotifications), not ON COMMIT
 * DELETE ROWS: that truncates the table's file at every commit, which cost a small batch's commit
 * 0.9 ms of its 1.8 (measured, 20 rows, p50; p90 2.4 → 1.3 ms). A rolled-back batch takes its rows
 * with it.
 */
export const DIFF_ROWS_TABLE = 'pg_temp.pushcdc_diff_rows';

/** `slot`: a chunk's hash slot; NULL for a single row (its slot is then its keys' hash: ROW_SLOT). */
export const CREATE_DIFF_ROWS_SQL = `CREATE TEMP TABLE IF NOT EXISTS pushcdc_diff_rows (
  inquiry text NOT NULL,
  op text NOT NULL,
  slot int,
  keys text NOT NULL,
  row text NOT NULL
);
ALTER TABLE pg_temp.pushcdc_diff_rows ALTER COLUMN keys SET STORAGE EXTERNAL, ALTER COLUMN row SET STORAGE EXTERNAL`;

/**
 * Rows are placed in parts by a hash of their identity (their keys' JSON text), so the two rows of an
 * update always share a part. An inquiry's rows too big for one message have their sizes read per
 * hash slot; a split into a power of two parts takes whole slots (part = slot mod parts), so each
 * part's size is known before it is built (see assembleNotifications).
 */
export const SLOTS = 1024;
/** The hash slot of a row's keys (`keys` as the JSON text of one row's keys). */
export const keysSlot = (keys: string) => `(hashtext(${keys}) & ${SLOTS - 1})`;
/** The hash slot of an entry of the diff-rows table: a chunk's own, a single row's from its keys. */
export const ROW_SLOT = `coalesce(slot, ${keysSlot('keys')})`;

/**
 * A row that leaves and re-enters with identical values (say, a joined row's key changed but not what
 * the result shows) did not change the result: drop such pairs, as a multiset (k copies leaving and
 * j entering cancel min(k, j) of each, the first by ctid). $1: the inquiries to look at (those whose
 * rows do not show every key; for the others equal rows are the same view row, which a diff never
 * emits twice). Counted in one sorted pass, with no join: this table never has statistics, and
 * pairing leaving with entering rows by a self-join was planned as a nested loop that compared every
 * pair (measured: 20,000 pairs, 53 s).
 */
export const CANCEL_UNCHANGED_SQL = `DELETE FROM ${DIFF_ROWS_TABLE} WHERE ctid = ANY (ARRAY(
  SELECT tid FROM (
    SELECT ctid AS tid,
           row_number() OVER (PARTITION BY inquiry, row, op ORDER BY ctid) AS n,
           count(*) FILTER (WHERE op = 'D') OVER (PARTITION BY inquiry, row) AS leaving,
           count(*) FILTER (WHERE op = 'I') OVER (PARTITION BY inquiry, row) AS entering
      FROM ${DIFF_ROWS_TABLE} WHERE inquiry = ANY ($1::text[])) counted
   WHERE n <= least(leaving, entering)))`;

/** The inquiries CANCEL_UNCHANGED_SQL looks at ($1): those whose rows do not show every key. */
export function cancellingInquiries(plans: InquiryPlan[]): string[] {
  return plans.filter((p) => !p.inquiry.rowsShowKeys).map((p) => p.inquiry.name);
}
