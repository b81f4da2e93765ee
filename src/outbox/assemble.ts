import { randomUUID } from 'node:crypto';
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

/** One inquiry's notification, whole. $4 inquiry, $5 notification id. No sort, no window. */
function wholeSql(stateSchema: string): string {
  return `INSERT INTO ${outboxTable(stateSchema)} (inquiry, notification_id, payload)
SELECT inquiry, id::uuid, ${ENVELOPE}
  FROM (SELECT $4::text AS inquiry, $5::text AS id, 0 AS part, 1 AS parts, ${AGGREGATES}
          FROM ${DIFF_ROWS_TABLE} WHERE inquiry = $4) n`;
}

/**
 * One inquiry's notification in parts of about $6 bytes, cut at row identities (the bytes before an
 * identity's first row), so the two rows of an update always share a part. $4 inquiry.
 */
function splitSql(stateSchema: string): string {
  return `INSERT INTO ${outboxTable(stateSchema)} (inquiry, notification_id, payload)
SELECT inquiry, id::uuid, ${ENVELOPE}
  FROM (SELECT g.*, gen_random_uuid()::text AS id, count(*) OVER () AS parts
          FROM (SELECT $4::text AS inquiry, part, ${AGGREGATES}
                  FROM (SELECT op, keys, row,
                               (sum(${ROW_BYTES}) OVER (ORDER BY keys COLLATE "C") - sum(${ROW_BYTES}) OVER (PARTITION BY keys)) / $5::bigint AS part
                          FROM ${DIFF_ROWS_TABLE} WHERE inquiry = $4) r
                 GROUP BY part) g) n
 ORDER BY part
RETURNING notification_id::text AS id`;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function assembleNotifications(
  client: Queryable,
  stateSchema: string,
  meta: NotificationMeta,
  maxBytes: number,
): Promise<AssembledNotification[]> {
  await client.query(prepared(CANCEL_UNCHANGED_SQL));
  const { rows: sizes } = await client.query<{ inquiry: string; bytes: string }>(
    prepared(`SELECT inquiry, sum(${ROW_BYTES})::bigint AS bytes FROM ${DIFF_ROWS_TABLE} GROUP BY inquiry ORDER BY inquiry`),
  );
  const common = [meta.companyJson, meta.ticks.toString(), meta.lsn];
  const made: AssembledNotification[] = [];
  // In name order, so a batch's notifications leave in the same order every time.
  for (const { inquiry, bytes } of sizes) {
    if (Number(bytes) <= maxBytes) {
      const notificationId = randomUUID();
      await client.query(prepared(wholeSql(stateSchema), [...common, inquiry, notificationId]));
      made.push({ inquiry, notificationId });
    } else {
      const { rows } = await client.query<{ id: string }>(prepared(splitSql(stateSchema), [...common, inquiry, maxBytes]));
      for (const r of rows) made.push({ inquiry, notificationId: r.id });
    }
  }
  return made;
}
