import type { NotificationEnvelope, ResultRow, RowKey } from '../notification.ts';

/**
 * Field tracking (`trackAllFields: false`): a destination hears of a change only when one of its
 * tracked columns changed. An update arrives as a Deleted and an Inserted row with the same row
 * identity (the envelope's hidden `keys`); such a pair is dropped when every tracked column is
 * equal on both sides. Rows without a partner (a real insert or delete) always count. The rows that
 * remain still carry all columns, and their texts (`rowTexts`) stay with them.
 */
export function filterTrackedChanges(envelope: NotificationEnvelope, tracked: readonly string[]): NotificationEnvelope {
  const { notification, keys } = envelope;
  // Without a key for every row (a bare payload in the queue) rows cannot be paired: keep them all
  // rather than guess which ones belong together.
  if (keys.Inserted.length !== notification.Inserted.length || keys.Deleted.length !== notification.Deleted.length) {
    return envelope;
  }
  const insertedByKey = new Map<string, number[]>();
  keys.Inserted.forEach((key, i) => {
    const id = keyId(key);
    const list = insertedByKey.get(id);
    if (list) list.push(i);
    else insertedByKey.set(id, [i]);
  });
  const dropInserted = new Set<number>();
  const dropDeleted = new Set<number>();
  keys.Deleted.forEach((key, d) => {
    const candidates = insertedByKey.get(keyId(key));
    const i = candidates?.shift();
    if (i === undefined) return;
    if (!trackedChanged(notification.Deleted[d]!, notification.Inserted[i]!, tracked)) {
      dropDeleted.add(d);
      dropInserted.add(i);
    }
  });
  if (dropInserted.size === 0 && dropDeleted.size === 0) return envelope;
  const keepI = (_: unknown, i: number) => !dropInserted.has(i);
  const keepD = (_: unknown, d: number) => !dropDeleted.has(d);
  const { rowTexts } = envelope;
  return {
    ...envelope,
    notification: {
      ...notification,
      Inserted: notification.Inserted.filter(keepI),
      Deleted: notification.Deleted.filter(keepD),
    },
    keys: { Inserted: keys.Inserted.filter(keepI), Deleted: keys.Deleted.filter(keepD) },
    ...(rowTexts && { rowTexts: { Inserted: rowTexts.Inserted.filter(keepI), Deleted: rowTexts.Deleted.filter(keepD) } }),
  };
}

export function isEmpty(envelope: NotificationEnvelope): boolean {
  return envelope.notification.Inserted.length === 0 && envelope.notification.Deleted.length === 0;
}

function keyId(key: RowKey): string {
  return JSON.stringify(key);
}

function trackedChanged(before: ResultRow, after: ResultRow, tracked: readonly string[]): boolean {
  // JSON text compares nested values (json columns) by content; key order comes from one view, so it
  // is the same on both sides.
  return tracked.some((column) => JSON.stringify(before[column] ?? null) !== JSON.stringify(after[column] ?? null));
}
