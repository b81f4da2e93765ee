import type { Broker, QueueStats } from '../broker/broker.ts';
import { slotHealth, type SlotHealth } from '../capture/publication.ts';
import type { InstanceNames } from '../config/env.ts';
import type { DestinationConfig } from '../config/destinations.ts';
import { quoteIdent, type Pool } from '../db/pool.ts';
import { destinationQueue } from '../dispatch/queues.ts';
import { errorMessage } from '../errors.ts';
import { outboxTable } from '../outbox/outbox.ts';

/**
 * The queue monitor (the ERP's System Queue Monitor): every queue of the instance with its messages,
 * consumers and how fast it grows or drains, the replication slot's lag, the outbox backlog, and the
 * destinations with their failed notifications.
 */
export interface QueueStatus extends Partial<QueueStats> {
  queue: string;
  /** Change in waiting messages per second over the sampling interval (+ growing, − draining). */
  netPerSecond?: number;
  error?: string;
}

export interface InstanceStatus {
  instance: string;
  slot: (SlotHealth & { name: string }) | null;
  outboxWaiting: number | null;
  queues: QueueStatus[];
  destinations: { name: string; type: string; active: boolean; inquiries: string[]; queue: string; failed: number }[];
  inquiries: { name: string; stateRows: number; builtAt: string }[];
}

async function queueStats(broker: Broker, queue: string): Promise<QueueStatus> {
  try {
    return { ...(await broker.stats(queue)) };
  } catch (err) {
    return { queue, error: errorMessage(err) };
  }
}

/** Whether a table exists yet (capture creates the outbox and registry on its first start). */
async function tableExists(pool: Pool, qualified: string): Promise<boolean> {
  const { rows } = await pool.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [qualified]);
  return rows[0]?.found === true;
}

export async function instanceStatus(
  pool: Pool,
  broker: Broker,
  names: InstanceNames,
  destinations: DestinationConfig[],
  sampleMs: number,
): Promise<InstanceStatus> {
  const queueNames = [
    names.primaryQueue,
    ...destinations.map((d) => destinationQueue(names.primaryQueue, d.name)),
    names.commerceQueue,
  ];
  const first = await Promise.all(queueNames.map((q) => queueStats(broker, q)));
  if (sampleMs > 0) await new Promise((r) => setTimeout(r, sampleMs));
  const second = await Promise.all(queueNames.map((q) => queueStats(broker, q)));
  const queues = second.map((s, i) => {
    const before = first[i]!;
    if (s.messages === undefined || before.messages === undefined || sampleMs === 0) return s;
    return { ...s, netPerSecond: ((s.messages - before.messages) * 1000) / sampleMs };
  });

  const failedByDestination = new Map(
    (
      await pool.query<{ destination: string; n: string }>(
        'SELECT destination, count(*)::text AS n FROM pushcdc.failed_notifications GROUP BY destination',
      )
    ).rows.map((r) => [r.destination, Number(r.n)]),
  );
  const slot = await slotHealth(pool, names.slot);
  const registry = `${quoteIdent(names.stateSchema)}.inquiries`;
  return {
    instance: names.slot.replace(/^pushcdc_/, ''),
    slot: slot ? { name: names.slot, ...slot } : null,
    outboxWaiting: (await tableExists(pool, outboxTable(names.stateSchema)))
      ? Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${outboxTable(names.stateSchema)}`)).rows[0]!.n)
      : null,
    queues,
    destinations: destinations.map((d) => ({
      name: d.name,
      type: d.type,
      active: d.active,
      inquiries: d.inquiries.filter((i) => i.active).map((i) => i.inquiry),
      queue: destinationQueue(names.primaryQueue, d.name),
      failed: failedByDestination.get(d.name) ?? 0,
    })),
    inquiries: (await tableExists(pool, registry))
      ? (
          await pool.query<{ name: string; state_rows: string; built_at: Date }>(`SELECT name, state_rows::text, built_at FROM ${registry} ORDER BY name`)
        ).rows.map((r) => ({ name: r.name, stateRows: Number(r.state_rows), builtAt: new Date(r.built_at).toISOString() }))
      : [],
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
