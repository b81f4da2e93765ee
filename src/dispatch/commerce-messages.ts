import type { CommerceMapping } from '../config/destinations.ts';
import type { CommerceMessage } from '../commerce/message.ts';
import type { JsonValue, Notification, ResultRow } from '../notification.ts';

/**
 * What the Commerce Push Destination makes of one notification: one message per record (the record
 * is identified by the inquiry's key columns, joined with '|') and per eligible store. A record with
 * an Inserted row is an upsert carrying its latest row; a record that only has Deleted rows left the
 * result and is a delete.
 */
const TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000n;
const TICKS_PER_MS = 10_000n;

export function isoFromTicks(ticks: bigint): string {
  return new Date(Number((ticks - TICKS_AT_UNIX_EPOCH) / TICKS_PER_MS)).toISOString();
}

export function recordLocalId(row: ResultRow, keyFields: readonly string[]): string {
  return keyFields.map((field) => keyText(row[field])).join('|');
}

function keyText(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export interface RecordChange {
  localId: string;
  operation: 'upsert' | 'delete';
  row: ResultRow;
}

export function recordChanges(notification: Notification, keyFields: readonly string[]): RecordChange[] {
  const changes = new Map<string, RecordChange>();
  for (const row of notification.Inserted) {
    const localId = recordLocalId(row, keyFields);
    // Several rows of one record (a join): the last one is its latest state.
    changes.set(localId, { localId, operation: 'upsert', row });
  }
  for (const row of notification.Deleted) {
    const localId = recordLocalId(row, keyFields);
    if (!changes.has(localId)) changes.set(localId, { localId, operation: 'delete', row });
  }
  return [...changes.values()];
}

export function commerceMessages(
  notification: Notification,
  mapping: CommerceMapping,
  stores: readonly string[],
): CommerceMessage[] {
  const changes = recordChanges(notification, mapping.keyFields);
  const at = isoFromTicks(notification.TimeStamp);
  return stores.flatMap((store) =>
    changes.map((change) => ({
      store,
      entity: mapping.entity,
      direction: 'export' as const,
      localId: change.localId,
      operation: change.operation,
      payload: change.row,
      at,
      sourceId: notification.Id,
    })),
  );
}
