import { PushcdcError } from './errors.ts';
import { readArray, readObject, skipWhitespace, valueEnd } from './json-text.ts';

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
  /** Set by readQueueMessage: the rows' texts as the message carried them, written out instead of the parsed rows. */
  rowTexts?: RowTexts;
}

/**
 * Each row's JSON text as a queue message carried it, parallel to Inserted and Deleted. A parsed row
 * has lost its text (`7.000000` became 7, `0.0000001` became 1e-7, `1000000000000000000000` became
 * 1e21), and SPEC section 5 promises receivers the values as PostgreSQL rendered them: what leaves as
 * JSON text is written from these.
 */
export interface RowTexts {
  Inserted: string[];
  Deleted: string[];
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
 * placeholder replacing), so no row value can collide with the ticks. With `rowTexts` the rows are
 * written as those texts, byte for byte; without, from the parsed rows.
 */
export function serializeNotification(n: Notification, rowTexts?: RowTexts): string {
  const inserted = rowTexts ? `[${rowTexts.Inserted.join(',')}]` : JSON.stringify(n.Inserted);
  const deleted = rowTexts ? `[${rowTexts.Deleted.join(',')}]` : JSON.stringify(n.Deleted);
  const scalars = JSON.stringify({ Query: n.Query, CompanyId: n.CompanyId, Id: n.Id });
  return `{"Inserted":${inserted},"Deleted":${deleted},${scalars.slice(1, -1)},"TimeStamp":${n.TimeStamp.toString()},"AdditionalInfo":${JSON.stringify(n.AdditionalInfo)}}`;
}

export function serializeEnvelope(e: NotificationEnvelope): string {
  const { notification, rowTexts, ...rest } = e;
  // timeStamp repeats the ticks as a string so readers without bigint JSON keep them exact.
  return `{"notification":${serializeNotification(notification, rowTexts)},"timeStamp":"${notification.TimeStamp}",${JSON.stringify(rest).slice(1)}`;
}

/** Reads a primaryQueue message: an envelope, or (SPEC allows it) a bare payload. */
export function parseQueueMessage(text: string): NotificationEnvelope {
  const message = parseMessage(text);
  return envelopeOf(message, message.ticks ?? locate(text, message.isEnvelope).ticks);
}

/**
 * Reads a primaryQueue message as parseQueueMessage does, and also finds each row's text in it
 * (`rowTexts`), for everything that writes the notification out again as JSON.
 */
export function readQueueMessage(text: string): NotificationEnvelope & { rowTexts: RowTexts } {
  const message = parseMessage(text);
  const located = locate(text, message.isEnvelope);
  const envelope = envelopeOf(message, message.ticks ?? located.ticks);
  const { Inserted, Deleted } = located.rowTexts;
  if (Inserted.length !== envelope.notification.Inserted.length || Deleted.length !== envelope.notification.Deleted.length) {
    throw new PushcdcError(
      'INTERNAL',
      `primaryQueue message: found ${Inserted.length} Inserted and ${Deleted.length} Deleted row texts for ${envelope.notification.Inserted.length} and ${envelope.notification.Deleted.length} rows`,
    );
  }
  return { ...envelope, rowTexts: located.rowTexts };
}

interface ParsedMessage {
  record: Record<string, unknown>;
  payload: Record<string, unknown>;
  isEnvelope: boolean;
  /** The envelope's exact ticks (its `timeStamp` string), when it has them. */
  ticks: string | undefined;
}

function parseMessage(text: string): ParsedMessage {
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
  const ticks = isEnvelope && typeof record.timeStamp === 'string' && record.timeStamp ? record.timeStamp : undefined;
  return { record, payload, isEnvelope, ticks };
}

function envelopeOf({ record, payload, isEnvelope }: ParsedMessage, ticks: string | undefined): NotificationEnvelope {
  const notification: Notification = {
    Inserted: payload.Inserted as ResultRow[],
    Deleted: payload.Deleted as ResultRow[],
    Query: payload.Query as string,
    CompanyId: String(payload.CompanyId ?? ''),
    Id: String(payload.Id ?? ''),
    TimeStamp: BigInt(ticks ?? '0'),
    AdditionalInfo: (payload.AdditionalInfo as Record<string, JsonValue>) ?? {},
  };
  const keys = isEnvelope ? (record.keys as NotificationEnvelope['keys'] | undefined) : undefined;
  return {
    notification,
    keys: keys ?? { Inserted: [], Deleted: [] },
    lsn: isEnvelope && typeof record.lsn === 'string' ? record.lsn : '',
  };
}

/**
 * The payload's row texts and its TimeStamp's text (when an integer), found in the message text:
 * the payload's own members only, so a row column named TimeStamp is not taken for it. A repeated
 * member counts by its last occurrence, as in JSON.parse. One pass over the text.
 */
function locate(text: string, isEnvelope: boolean): { rowTexts: RowTexts; ticks: string | undefined } {
  const rowTexts: RowTexts = { Inserted: [], Deleted: [] };
  let ticks: string | undefined;
  const readPayload = (at: number): number =>
    readObject(text, at, (key, valueStart) => {
      if (key === 'Inserted' || key === 'Deleted') {
        const texts: string[] = [];
        const end = readArray(text, valueStart, (start, elementEnd) => texts.push(text.slice(start, elementEnd)));
        rowTexts[key] = texts;
        return end;
      }
      const end = valueEnd(text, valueStart);
      if (key === 'TimeStamp') {
        const value = text.slice(valueStart, end);
        ticks = /^\d+$/.test(value) ? value : undefined;
      }
      return end;
    });
  const root = skipWhitespace(text, 0);
  if (isEnvelope) readObject(text, root, (key, valueStart) => (key === 'notification' ? readPayload(valueStart) : valueEnd(text, valueStart)));
  else readPayload(root);
  return { rowTexts, ticks };
}
