import type pg from 'pg';
import { prepared } from '../db/statements.ts';
import { CANCEL_UNCHANGED_SQL, DIFF_ROWS_TABLE } from '../diff/diff-rows.ts';
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
}

/** Budget per row in the text: the row, its keys, and two commas. */
const ROW_BYTES = 'octet_length(row) + octet_length(keys) + 2';

function envelopeSql(): string {
  // $1 CompanyId JSON, $2 ticks, $3 lsn.
  return `'{"notification":{"Inserted":[' || coalesce(ins, '') || '],"Deleted":[' || coalesce(del, '')
    || '],"Query":' || to_json(inquiry)::text || ',"CompanyId":' || $1::text || ',"Id":"' || id
    || '","TimeStamp":' || $2::text || ',"AdditionalInfo":'
    || CASE WHEN parts > 1 THEN '{"Part":' || (part + 1) || ',"Parts":' || parts || '}' ELSE '{}' END
    || '},"timeStamp":"' || $2::text || '","keys":{"Inserted":[' || coalesce(ins_keys, '') || '],"Deleted":['
    || coalesce(del_keys, '') || ']},"lsn":"' || $3::text || '"}'`;
}

/** `rows` must yield (tid, inquiry, op, keys, row, part). */
function insertSql(stateSchema: string, rows: string): string {
  return `INSERT INTO ${outboxTable(stateSchema)} (inquiry, notification_id, payload)
SELECT inquiry, id, ${envelopeSql()}
  FROM (SELECT g.*, gen_random_uuid() AS id, count(*) OVER (PARTITION BY inquiry) AS parts
          FROM (SELECT inquiry, part,
                       string_agg(row, ',' ORDER BY tid) FILTER (WHERE op = 'I') AS ins,
                       string_agg(keys, ',' ORDER BY tid) FILTER (WHERE op = 'I') AS ins_keys,
                       string_agg(row, ',' ORDER BY tid) FILTER (WHERE op = 'D') AS del,
                       string_agg(keys, ',' ORDER BY tid) FILTER (WHERE op = 'D') AS del_keys
                  FROM (${rows}) r
                 GROUP BY inquiry, part) g) n
 ORDER BY inquiry, part
RETURNING inquiry, notification_id::text AS id`;
}

const wholeRows = `SELECT ctid AS tid, inquiry, op, keys, row, 0 AS part FROM ${DIFF_ROWS_TABLE}`;
// Parts are cut at row identities (the bytes before this identity's first row), so the two rows of
// an update always share a part.
const splitRows = `SELECT ctid AS tid, inquiry, op, keys, row,
       (sum(${ROW_BYTES}) OVER (PARTITION BY inquiry ORDER BY keys COLLATE "C") - sum(${ROW_BYTES}) OVER (PARTITION BY inquiry, keys)) / $4::bigint AS part
  FROM ${DIFF_ROWS_TABLE}`;

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function assembleNotifications(
  client: Queryable,
  stateSchema: string,
  meta: NotificationMeta,
  maxBytes: number,
): Promise<AssembledNotification[]> {
  await client.query(prepared(CANCEL_UNCHANGED_SQL));
  const { rows: sizes } = await client.query<{ bytes: string }>(
    prepared(`SELECT sum(${ROW_BYTES})::bigint AS bytes FROM ${DIFF_ROWS_TABLE} GROUP BY inquiry`),
  );
  if (sizes.length === 0) return [];
  const split = sizes.some((s) => Number(s.bytes) > maxBytes);
  const values: unknown[] = [meta.companyJson, meta.ticks.toString(), meta.lsn];
  const { rows } = await client.query<{ inquiry: string; id: string }>(
    prepared(insertSql(stateSchema, split ? splitRows : wholeRows), split ? [...values, maxBytes] : values),
  );
  return rows.map((r) => ({ inquiry: r.inquiry, notificationId: r.id }));
}
