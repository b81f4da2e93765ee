import amqp from 'amqplib';
import { instanceNames } from '../src/config/env.ts';
import type { Pool } from '../src/db/pool.ts';

/**
 * The pushcdc instance of the bench named `name` (see BenchOptions.name) for one inquiry kind, or
 * `mem` for the memory run's engine child.
 */
export function benchInstance(name: string, kind: 'single' | 'join' | 'mem'): string {
  return `${name}_${kind}`;
}

/**
 * Drops everything a pushcdc instance creates: slot, publication, schemas, primaryQueue. The slot
 * matters most — a leaked one pins WAL on the server until someone drops it — so this insists: a slot
 * still held by a walsender (its engine is gone, but the server has not noticed yet) is retried, and
 * after a few seconds its walsender is terminated. Safe to call when nothing exists.
 */
export async function dropInstance(pool: Pool, amqpUrl: string, instance: string): Promise<void> {
  const names = instanceNames(instance);
  await dropSlot(pool, names.slot);
  await pool.query(`DROP PUBLICATION IF EXISTS ${names.publication}`);
  await pool.query(`DROP SCHEMA IF EXISTS "${names.stateSchema}" CASCADE; DROP SCHEMA IF EXISTS "${names.viewSchema}" CASCADE`);
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    // Deleting a queue that does not exist succeeds. Only capture runs in the bench, and it declares
    // primaryQueue alone (destination queues `primaryQueue.<instance>.<name>` belong to dispatch).
    await channel.deleteQueue(names.primaryQueue);
    await channel.deleteQueue(names.commerceQueue);
  } finally {
    await connection.close();
  }
}

async function dropSlot(pool: Pool, slot: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const { rows } = await pool.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    const row = rows[0];
    if (!row) return;
    if (row.active_pid === null) {
      try {
        await pool.query('SELECT pg_drop_replication_slot($1)', [slot]);
        return;
      } catch (err) {
        // Raced with a walsender that just attached, or another dropper: look again.
        if (attempt >= 100) throw err;
      }
    } else if (attempt === 50) {
      await pool.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
    } else if (attempt >= 100) {
      throw new Error(`replication slot ${slot} is still in use by pid ${row.active_pid}; drop it by hand`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
