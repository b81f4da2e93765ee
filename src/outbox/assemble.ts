import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { rawBytesQuery } from '../db/raw-bytes.ts';
import { prepared } from '../db/statements.ts';
import { CANCEL_UNCHANGED_SQL, DIFF_ROWS_TABLE, ROW_SLOT, SLOTS } from '../diff/diff-rows.ts';
import { outboxTable } from './outbox.ts';

/**
 * Turns a batch's diff rows into outbox rows, inside PostgreSQL: one notification per inquiry whose
 * result changed, its text concatenated from the stored row JSON (the same envelope, byte for byte,
 * as `serializeEnvelope` writes). Rows never travel to the engine and back.
 *
 * A notification larger than `maxBytes` would be refused by the broker (RabbitMQ's max_message_size:
 * 128 MiB in 3.x, 16 MiB from 4.0) and block everything behind it, so it leaves as several
 * notifications of at most about `maxBytes` each, in order, with `AdditionalInfo: {"Part": n,
 * "Parts": N}`. Each is a valid notification and folding them all gives the batch's diff; rows are
 * placed by row identity, so an update's Deleted and Inserted rows share a part.
 */
export interface NotificationMeta {
  /** `CompanyId`, already JSON text. */
  companyJson: string;
  /** `TimeStamp`: .NET ticks. */
  ticks: bigint;
  lsn: string;
}

export interface AssembledNotification {
  inquiry: string;
  notificationId: string;
  /** Its outbox row. */
  seq: string;
  /** Its payload as the outbox holds it (UTF-8), when the batch's were handed back (see handOverUpTo). */
  body: Buffer | null;
}

/** Budget per row in the text: the row, its keys, and two commas. */
const ROW_BYTES = 'octet_length(row) + octet_length(keys) + 2';

/**
 * The envelope from aggregated rows. One concat() call: chained || would copy the growing text once
 * per piece, megabytes each for a big batch. $1 CompanyId JSON, $2 ticks, $3 lsn.
 */
const ENVELOPE = `concat('{"notification":{"Inserted":[', ins, '],"Deleted":[', del, '],"Query":', to_json(inquiry)::text,
  ',"CompanyId":', $1::text, ',"Id":"', id, '","TimeStamp":', $2::text, ',"AdditionalInfo":',
  CASE WHEN parts > 1 THEN concat('{"Part":', part + 1, ',"Parts":', parts, '}') ELSE '{}' END,
  '},"timeStamp":"', $2::text, '","keys":{"Inserted":[', ins_keys, '],"Deleted":[', del_keys, ']},"lsn":"', $3::text, '"}')`;

// Rows, keys and their order: Inserted rows and their keys stay parallel because the aggregates of
// one group read the same input rows in the same order (which order does not matter).
const AGGREGATES = `string_agg(row, ',') FILTER (WHERE op = 'I') AS ins,
  string_agg(keys, ',') FILTER (WHERE op = 'I') AS ins_keys,
  string_agg(row, ',') FILTER (WHERE op = 'D') AS del,
  string_agg(keys, ',') FILTER (WHERE op = 'D') AS del_keys`;

/**
 * The outbox insert: `seq` given (see reserveSeqs) when `seq` is an expression, else the identity's
 * next value.
 */
function insertInto(stateSchema: string, seq: string | null): { columns: string; values: string } {
  return seq === null
    ? { columns: `INSERT INTO ${outboxTable(stateSchema)} (inquiry, notification_id, payload)`, values: '' }
    : { columns: `INSERT INTO ${outboxTable(stateSchema)} (seq, inquiry, notification_id, payload) OVERRIDING SYSTEM VALUE`, values: `${seq}, ` };
}

/**
 * What an outbox insert returns: each row's id and seq, and its payload's bytes when `withBodies`
 * (text in binary format: its bytes in the client encoding, which node-postgres sets to UTF-8).
 */
const returning = (withBodies: boolean) => `RETURNING notification_id::text AS id, seq::text AS seq${withBodies ? ', payload AS body' : ''}`;

/**
 * One session's rows of an inquiry as one notification: part $6 (from 0) of $7. $4 inquiry, $5
 * notification id, $8 its seq when reserved. No sort, no window. `consume`: the rows are deleted as
 * they are read (see MAX_CONSUMED_FILE_BYTES).
 */
function wholeSql(stateSchema: string, reserved: boolean, withBodies: boolean, consume: boolean): string {
  const insert = insertInto(stateSchema, reserved ? '$8::bigint' : null);
  const rows = consume ? 'consumed' : `${DIFF_ROWS_TABLE} WHERE inquiry = $4`;
  return `${consume ? `WITH consumed AS (DELETE FROM ${DIFF_ROWS_TABLE} WHERE inquiry = $4 RETURNING op, keys, row)\n` : ''}${insert.columns}
SELECT ${insert.values}inquiry, id::uuid, ${ENVELOPE}
  FROM (SELECT $4::text AS inquiry, $5::text AS id, $6::int AS part, $7::int AS parts, ${AGGREGATES}
          FROM ${rows}) n
${returning(withBodies)}`;
}

/**
 * Bytes per inquiry (most batches' notifications fit in one message, and need no slots), and the
 * size of the table's files, dead rows included, its TOAST (where chunks go) too (see
 * MAX_CONSUMED_FILE_BYTES). A chunk's bytes by ROW_BYTES are its rows' (n rows: n - 1 commas in
 * each of its texts, and 2 more), so the sums do not depend on how the rows were chunked.
 */
const TOTALS_SQL = `SELECT t.inquiry, t.bytes, f.file_bytes
  FROM (SELECT pg_table_size('${DIFF_ROWS_TABLE}') AS file_bytes) f
  LEFT JOIN (SELECT inquiry, sum(${ROW_BYTES})::bigint AS bytes FROM ${DIFF_ROWS_TABLE} GROUP BY inquiry) t ON true`;

/**
 * How the diff-rows table is emptied once a session's notifications are in the outbox. A small
 * batch's rows are deleted by the statements that read them (`consume`): nothing more to run. But
 * deleted rows leave their pages behind, which every later scan still reads, and nothing vacuums a
 * temporary table: once its file passes this size, or a batch is cut into parts, the table is
 * truncated instead (a millisecond or two, for a batch that big or once in many small ones).
 */
const MAX_CONSUMED_FILE_BYTES = 1024 * 1024;

const TRUNCATE_DIFF_ROWS_SQL = `TRUNCATE ${DIFF_ROWS_TABLE}`;

/**
 * Bytes per slot of inquiry $1 (one to split). One inquiry at a time, grouped by the slot alone:
 * grouped by inquiry and slot, the rows were sorted comparing the inquiry's name as well (measured:
 * 142,000 rows, 135-230 ms; by the slot alone, 40-52). Grouped by position: `GROUP BY slot` would
 * name the table's column, not this expression.
 */
const SIZES_SQL = `SELECT ${ROW_SLOT} AS slot, sum(${ROW_BYTES})::bigint AS bytes
  FROM ${DIFF_ROWS_TABLE} WHERE inquiry = $1 GROUP BY 1`;

/**
 * One session's rows of an inquiry cut into $5 buckets (a power of two), one part per non-empty
 * bucket, numbered from part $6 of $7. Grouping by a hash costs one pass; cutting at exact byte
 * offsets would sort the rows (0.9 s for 360,000 of them). $4 inquiry; $8 the parts' seqs, in
 * order, when reserved.
 */
function splitSql(stateSchema: string, reserved: boolean, withBodies: boolean): string {
  const insert = insertInto(stateSchema, reserved ? '($8::bigint[])[part - $6::int + 1]' : null);
  return `${insert.columns}
SELECT ${insert.values}inquiry, id::uuid, ${ENVELOPE}
  FROM (SELECT g.*, $6::int + row_number() OVER (ORDER BY g.bucket) - 1 AS part, $7::int AS parts, gen_random_uuid()::text AS id
          FROM (SELECT $4::text AS inquiry, ${ROW_SLOT} % $5::int AS bucket, ${AGGREGATES}
                  FROM ${DIFF_ROWS_TABLE} WHERE inquiry = $4 GROUP BY 2) g) n
 ORDER BY part
${returning(withBodies)}`;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Runs an outbox insert (wholeSql or splitSql): the notifications it wrote, in seq order. */
async function insertNotifications(session: Queryable, inquiry: string, sql: string, params: unknown[], withBodies: boolean): Promise<AssembledNotification[]> {
  if (!withBodies) {
    const { rows } = await session.query<{ id: string; seq: string }>(prepared(sql, params));
    return rows.map((r) => ({ inquiry, notificationId: r.id, seq: r.seq, body: null }));
  }
  const { rows } = await session.query<{ id: Buffer; seq: Buffer; body: Buffer }>(rawBytesQuery(prepared(sql, params)));
  return rows.map((r) => ({ inquiry, notificationId: r.id.toString('utf8'), seq: r.seq.toString('utf8'), body: r.body }));
}

/**
 * Assembles the notifications of a batch diffed in one or more sessions (see diffInquiry): each
 * session writes its own rows to the outbox, and an inquiry with rows in several sessions leaves in
 * parts numbered across them. `cancelFor`: the inquiries whose identical leaving and entering rows
 * must cancel (those whose rows do not show every key; see CANCEL_UNCHANGED_SQL) — always diffed in
 * the first session alone, so their pairs meet there. `handOverUpTo`: a batch whose rows come to at
 * most this many bytes gets its payloads back as well, for the relay to send without reading them
 * from the outbox again (see OutboxRelay.offer); a bigger one (a huge transaction) would hold them
 * all in the engine's memory at once.
 */
export async function assembleNotifications(
  sessions: Queryable[],
  stateSchema: string,
  meta: NotificationMeta,
  maxBytes: number,
  cancelFor: string[],
  handOverUpTo = 0,
): Promise<AssembledNotification[]> {
  if (cancelFor.length > 0) await sessions[0]!.query(prepared(CANCEL_UNCHANGED_SQL, [cancelFor]));
  const read = await Promise.all(sessions.map((session) => readSplits(session, maxBytes)));
  const splits = read.map((r) => r.splits);
  const withBodies = read.reduce((bytes, r) => bytes + r.bytes, 0) <= handOverUpTo;
  const common = [meta.companyJson, meta.ticks.toString(), meta.lsn];
  // Per inquiry (in name order, so a batch's notifications leave in the same order every time): how
  // each session cuts its rows, and where its parts start in the numbering across sessions.
  const layouts = [...new Set(splits.flatMap((bySession) => [...bySession.keys()]))].sort().map((inquiry) => {
    const plans = splits.map((bySession) => bySession.get(inquiry) ?? null);
    const firsts: number[] = [];
    let total = 0;
    for (const plan of plans) {
      firsts.push(total);
      total += plan?.parts ?? 0;
    }
    return { inquiry, plans, firsts, total };
  });
  // Outbox seqs must rise in the order the sessions commit (see CaptureLoop.runBatch): the relay
  // never looks below a seq it has sent. One session inserts in that order anyway; several build
  // their parts at once, into seqs reserved beforehand in session order (a 100,000-change join
  // backlog's last batch, 163,000 rows in two sessions: 687-865 ms one after the other, 558-692 at once).
  const partCounts = sessions.map((_, n) => layouts.reduce((sum, l) => sum + (l.plans[n]?.parts ?? 0), 0));
  const busy = partCounts.filter((parts) => parts > 0).length;
  const seqs = busy > 1 ? await reserveSeqs(sessions[0]!, stateSchema, partCounts) : null;
  const made = await Promise.all(
    sessions.map(async (session, n) => {
      const mine: AssembledNotification[] = [];
      const consume = read[n]!.fileBytes <= MAX_CONSUMED_FILE_BYTES && [...splits[n]!.values()].every((plan) => plan.buckets === 1);
      let next = 0;
      for (const { inquiry, plans, firsts, total } of layouts) {
        const plan = plans[n];
        if (!plan) continue;
        const partSeqs = seqs?.[n]!.slice(next, next + plan.parts) ?? null;
        next += plan.parts;
        if (plan.buckets === 1) {
          const params = [...common, inquiry, randomUUID(), firsts[n], total, ...(partSeqs ? [partSeqs[0]] : [])];
          mine.push(...(await insertNotifications(session, inquiry, wholeSql(stateSchema, partSeqs !== null, withBodies, consume), params, withBodies)));
        } else {
          const params = [...common, inquiry, plan.buckets, firsts[n], total, ...(partSeqs ? [partSeqs] : [])];
          mine.push(...(await insertNotifications(session, inquiry, splitSql(stateSchema, partSeqs !== null, withBodies), params, withBodies)));
        }
      }
      if (!consume) await session.query(TRUNCATE_DIFF_ROWS_SQL);
      return mine;
    }),
  );
  return made.flat();
}

/**
 * Takes `counts[n]` outbox seqs for session n, every one of session n's below every one of session
 * n + 1's. A sequence never hands a value out twice, and what is not used stays a gap, as after a
 * rollback.
 */
async function reserveSeqs(session: Queryable, stateSchema: string, counts: number[]): Promise<string[][]> {
  const { rows } = await session.query<{ seq: string }>(
    prepared(`SELECT nextval(pg_get_serial_sequence($1, 'seq'))::text AS seq FROM generate_series(1, $2::int)`, [
      outboxTable(stateSchema),
      counts.reduce((a, b) => a + b, 0),
    ]),
  );
  const ascending = rows.map((r) => BigInt(r.seq)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let from = 0;
  return counts.map((count) => {
    const mine = ascending.slice(from, from + count).map(String);
    from += count;
    return mine;
  });
}

/**
 * How a session cuts its rows of each inquiry it has rows of: whole when they fit in `maxBytes`, else
 * by its bytes per slot (read for those inquiries only: the slot pass costs a 20,000-change batch
 * 9-10 ms, the totals 3-4). Also the bytes of all its rows, and the size of the table's file.
 */
async function readSplits(
  session: Queryable,
  maxBytes: number,
): Promise<{ splits: Map<string, { buckets: number; parts: number }>; bytes: number; fileBytes: number }> {
  const { rows: sized } = await session.query<{ inquiry: string | null; bytes: string; file_bytes: string }>(prepared(TOTALS_SQL));
  // One row with no inquiry when the table holds no rows (only its file's size).
  const totals = sized.filter((r): r is { inquiry: string; bytes: string; file_bytes: string } => r.inquiry !== null);
  const splits = new Map<string, { buckets: number; parts: number }>();
  const over: string[] = [];
  let bytes = 0;
  for (const t of totals) {
    bytes += Number(t.bytes);
    if (Number(t.bytes) <= maxBytes) splits.set(t.inquiry, { buckets: 1, parts: 1 });
    else over.push(t.inquiry);
  }
  for (const inquiry of over) {
    const { rows } = await session.query<{ slot: number; bytes: string }>(prepared(SIZES_SQL, [inquiry]));
    const slots = new Array<number>(SLOTS).fill(0);
    for (const r of rows) slots[r.slot] = Number(r.bytes);
    splits.set(inquiry, splitPlan(slots, maxBytes));
  }
  return { splits, bytes, fileBytes: Number(sized[0]?.file_bytes ?? 0) };
}

/** How one session's rows of an inquiry are cut: into `buckets`, of which `parts` hold rows. */
function splitPlan(slots: number[], maxBytes: number): { buckets: number; parts: number } {
  const buckets = bucketsFor(slots, maxBytes);
  const used = new Set<number>();
  slots.forEach((bytes, slot) => bytes > 0 && used.add(slot % buckets));
  return { buckets, parts: used.size };
}

/**
 * The fewest buckets (a power of two) that keep each within `maxBytes`. Only a slot bigger than that
 * by itself (a few huge rows) stays over, in the finest split.
 */
function bucketsFor(slots: number[], maxBytes: number): number {
  for (let parts = 1; parts < SLOTS; parts *= 2) {
    const sizes = new Array<number>(parts).fill(0);
    slots.forEach((bytes, slot) => (sizes[slot % parts]! += bytes));
    if (Math.max(...sizes) <= maxBytes) return parts;
  }
  return SLOTS;
}
