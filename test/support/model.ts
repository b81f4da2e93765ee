import { outboxTable } from '../../src/outbox/outbox.ts';
import type { NotificationEnvelope } from '../../src/notification.ts';
import type { TestContext } from './isolation.ts';
import type { QueueReader } from './queue-reader.ts';

/** A result row as a canonical string (sorted keys), for multiset comparison. */
export function canonicalRow(row: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(row).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * Applies notifications to a result: Deleted rows out (each must be present — a notification that
 * deletes a row the receiver does not have is a bug), Inserted rows in. Returns the sorted multiset.
 */
export function foldNotifications(start: string[], notifications: NotificationEnvelope[], label: string): string[] {
  const counts = new Map<string, number>();
  for (const r of start) counts.set(r, (counts.get(r) ?? 0) + 1);
  notifications.forEach((n, i) => {
    for (const row of n.notification.Deleted) {
      const key = canonicalRow(row);
      const have = counts.get(key) ?? 0;
      if (have === 0) throw new Error(`${label}: notification ${i} deletes a row the result does not hold: ${key}`);
      counts.set(key, have - 1);
    }
    for (const row of n.notification.Inserted) {
      const key = canonicalRow(row);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  });
  return [...counts.entries()].flatMap(([row, n]) => Array<string>(n).fill(row)).sort();
}

/**
 * Waits until capture has processed everything written so far: the slot confirmed past the current
 * WAL position, the outbox is empty, and the reader has been quiet for a moment.
 */
export async function waitForCatchUp(ctx: TestContext, reader: QueueReader, timeoutMs = 60_000): Promise<void> {
  const target = (await ctx.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  const deadline = Date.now() + timeoutMs;
  let lastCount = -1;
  let quietSince = Date.now();
  // When the outbox was last seen drained: the relay deletes a row once RabbitMQ confirmed it, and the
  // reader may still be receiving (and parsing) it then, so its count must stay still after that.
  let drainedSince: number | null = null;
  for (;;) {
    const { rows } = await ctx.pool.query<{ done: boolean; outbox: string }>(
      `SELECT coalesce((SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1), false) AS done,
              (SELECT count(*) FROM ${outboxTable(ctx.names.stateSchema)})::text AS outbox`,
      [ctx.names.slot, target],
    );
    if (reader.messages.length !== lastCount) {
      lastCount = reader.messages.length;
      quietSince = Date.now();
    }
    const drained = rows[0]!.done && rows[0]!.outbox === '0';
    drainedSince = drained ? (drainedSince ?? Date.now()) : null;
    if (drainedSince !== null && Date.now() - Math.max(quietSince, drainedSince) > 400) return;
    if (Date.now() > deadline) throw new Error(`capture did not catch up with ${target} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
