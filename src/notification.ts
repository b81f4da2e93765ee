import { PushcdcError } from './errors.ts';

/**
 * The push notification (SPEC section 5) and the envelope it travels in through primaryQueue.
 * TimeStamp is .NET ticks, above 2^53: it is a bigint in memory and an exact integer in JSON text.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type ResultRow = Record<string, JsonValue>;
/** The hidden row identity of a result row: its key values (as text) for every table alias. */
export type RowKey = (string | null)[];

export interface Notification {
  Inserted: ResultRow[];
  Deleted: ResultRow[];
  Query: string;
  CompanyId: string;
  Id: string;
  TimeStamp: bigint;
  AdditionalInfo: Record<string, JsonValue>;
}

export interface NotificationEnvelope {
  notification: Notification;
  /** Row identities parallel to Inserted and Deleted, so an update pairs its two rows. */
  keys: { Inserted: RowKey[]; Deleted: RowKey[] };
  /** The commit LSN of the last transaction the notification covers. */
  lsn: string;
}

const TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000n;
/** Ticks from microseconds since 1970-01-01 (how pg-logical-replication reports commit times). */
export function ticksFromUnixMicros(micros: bigint): bigint {
  return micros * 10n + TICKS_AT_UNIX_EPOCH;
}

export function ticksFromDate(date: Date): bigint {
  return BigInt(date.getTime()) * 10_000n + TICKS_AT_UNIX_EPOCH;
}

/**
 * The public payload as JSON text, TimeStamp written as an exact integer. Built field by field (no
 * placeholder replacing), so no row value can collide with the ticks.
 */
export function serializeNotification(n: Notification): string {
  const head = JSON.stringify({ Inserted: n.Inserted, Deleted: n.Deleted, Query: n.Query, CompanyId: n.CompanyId, Id: n.Id });
  return `${head.slice(0, -1)},"TimeStamp":${n.TimeStamp.toString()},"AdditionalInfo":${JSON.stringify(n.AdditionalInfo)}}`;
}

export function serializeEnvelope(e: NotificationEnvelope): string {
  const { notification, ...rest } = e;
  // timeStamp repeats the ticks as a string so readers without bigint JSON keep them exact.
  return `{"notification":${serializeNotification(notification)},"timeStamp":"${notification.TimeStamp}",${JSON.stringify(rest).slice(1)}`;
}

/** Reads a primaryQueue message: an envelope, or (SPEC allows it) a bare payload. */
export function parseQueueMessage(text: string): NotificationEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PushcdcError('INTERNAL', `primaryQueue message is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const record = parsed as Record<string, unknown>;
  const isEnvelope = typeof record.notification === 'object' && record.notification !== null;
  const payload = (isEnvelope ? record.notification : record) as Record<string, unknown>;
  if (!Array.isArray(payload.Inserted) || !Array.isArray(payload.Deleted) || typeof payload.Query !== 'string') {
    throw new PushcdcError('INTERNAL', 'primaryQueue message has no Inserted/Deleted/Query');
  }
  const exactTicks =
    (isEnvelope && typeof record.timeStamp === 'string' && record.timeStamp) ||
    /"TimeStamp"\s*:\s*(\d+)/.exec(text)?.[1] ||
    '0';
  const notification: Notification = {
    Inserted: payload.Inserted as ResultRow[],
    Deleted: payload.Deleted as ResultRow[],
    Query: payload.Query,
    CompanyId: String(payload.CompanyId ?? ''),
    Id: String(payload.Id ?? ''),
    TimeStamp: BigInt(exactTicks),
    AdditionalInfo: (payload.AdditionalInfo as Record<string, JsonValue>) ?? {},
  };
  const keys = isEnvelope ? (record.keys as NotificationEnvelope['keys'] | undefined) : undefined;
  return {
    notification,
    keys: keys ?? { Inserted: [], Deleted: [] },
    lsn: isEnvelope && typeof record.lsn === 'string' ? record.lsn : '',
  };
}
