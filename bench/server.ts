import { readFile } from 'node:fs/promises';
import type { Pool } from '../src/db/pool.ts';

/**
 * What the figures depend on outside pushcdc: the server's version, its buffer cache, and whether that
 * cache sits in huge pages. Without them every new backend maps the cache 4 KB at a time as it first
 * touches it, which on this kind of VM cost a backlog run 28-43% of its rate (see
 * .ci/prepare-services.sh). PostgreSQL 15 does not report whether `huge_pages = try` got them, so
 * for a server on this machine the postmaster's mappings are read; elsewhere the setting is shown.
 */
export async function describeServer(pool: Pool): Promise<string> {
  const { rows } = await pool.query<{ version: string; buffers: string; huge: string }>(
    `SELECT current_setting('server_version') AS version, current_setting('shared_buffers') AS buffers,
            current_setting('huge_pages') AS huge`,
  );
  const { version, buffers, huge } = rows[0]!;
  return `PostgreSQL ${version}, shared_buffers ${buffers}, huge pages ${await hugePagesInUse(pool, huge)}`;
}

async function hugePagesInUse(pool: Pool, setting: string): Promise<string> {
  try {
    const { rows } = await pool.query<{ pid: string }>(`SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1) AS pid`);
    const maps = await readFile(`/proc/${rows[0]!.pid}/maps`, 'utf8');
    return maps.includes('anon_hugepage') ? 'in use' : 'not in use';
  } catch {
    return `(huge_pages = ${setting}; whether in use is not known here)`;
  }
}
