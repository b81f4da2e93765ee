import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { retainBackendMemory } from '../../src/db/memory.ts';
import { ADMIN_DATABASE_URL } from '../support/services.ts';

/**
 * A session that builds megabyte texts (a notification, the relay's read of it) must not fault its
 * memory in afresh every time: each fresh page costs a page fault, 10 µs apiece on this kind of VM.
 * Counted as the backend's minor page faults (PostgreSQL runs on this machine, as in CI).
 */
const clients: pg.Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end()));
});

async function backend(): Promise<{ client: pg.Client; faults: () => Promise<number> }> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  clients.push(client);
  await client.connect();
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const faults = async () => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command's closing parenthesis: state is the 3rd field of stat, minflt the 10th.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  };
  return { client, faults };
}

/** A notification-sized text, built and thrown away: its minor page faults. */
async function faultsOfBigText(session: { client: pg.Client; faults: () => Promise<number> }): Promise<number> {
  const before = await session.faults();
  await session.client.query(`SELECT octet_length(string_agg(md5(g::text) || repeat('x', 68), ',')) FROM generate_series(1, 40000) g`);
  return (await session.faults()) - before;
}

describe('a session that keeps its memory', () => {
  it('builds a 4 MB text without faulting its memory in, even the first time; a plain session faults it in every time', async () => {
    const plain = await backend();
    const kept = await backend();
    await retainBackendMemory(kept.client);
    const plainFaults = [await faultsOfBigText(plain), await faultsOfBigText(plain)];
    const keptFaults = [await faultsOfBigText(kept), await faultsOfBigText(kept)];
    // 4 MB is a thousand 4 kB pages; the string aggregate grows by doubling, so faulting it in takes more.
    for (const n of plainFaults) expect(n).toBeGreaterThan(1000);
    for (const n of keptFaults) expect(n).toBeLessThan(200);
  });
});
