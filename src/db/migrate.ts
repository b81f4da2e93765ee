import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PushcdcError } from '../errors.ts';
import { inTransaction, quoteIdent, type Pool } from './pool.ts';

/**
 * Numbered plain-SQL migrations (`0001_name.sql`), each applied in its own transaction and recorded
 * in a tracking table, under an advisory lock so two starting processes never race.
 */
export const SQL_ROOT = fileURLToPath(new URL('../../sql/', import.meta.url));

interface MigrationFile {
  id: number;
  name: string;
  file: string;
}

async function listMigrations(folder: string): Promise<MigrationFile[]> {
  const names = (await readdir(folder)).filter((n) => n.endsWith('.sql')).sort();
  return names.map((name) => {
    const match = /^(\d+)_[\w-]+\.sql$/.exec(name);
    if (!match) throw new PushcdcError('INTERNAL', `${path.join(folder, name)}: migration files are named NNNN_name.sql`);
    return { id: Number(match[1]), name, file: path.join(folder, name) };
  });
}

const MIGRATION_LOCK = 7_413_001;

export async function migrate(
  pool: Pool,
  series: { folder: string; table: string },
): Promise<string[]> {
  const migrations = await listMigrations(series.folder);
  const table = `pushcdc.${quoteIdent(series.table)}`;
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE SCHEMA IF NOT EXISTS pushcdc');
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set((await client.query<{ id: number }>(`SELECT id FROM ${table}`)).rows.map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      const sql = await readFile(m.file, 'utf8');
      try {
        await client.query(sql);
      } catch (err) {
        throw new PushcdcError('DATABASE', `${m.file}: ${(err as Error).message}`, { cause: err });
      }
      await client.query(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [m.id, m.name]);
      applied.push(m.name);
    }
    return applied;
  });
}

/** The engine's own schema (`pushcdc`), applied at every start. */
export function migrateEngine(pool: Pool): Promise<string[]> {
  return migrate(pool, { folder: path.join(SQL_ROOT, 'engine'), table: 'migrations' });
}

/** The sample ERP schema the shipped inquiries read; for tests, benchmarks and the embedded demo. */
export function installSampleSchema(pool: Pool): Promise<string[]> {
  return migrate(pool, { folder: path.join(SQL_ROOT, 'sample'), table: 'sample_migrations' });
}
