import { statSync } from 'node:fs';
import path from 'node:path';
import { PushcdcError } from '../errors.ts';
import { loadEnv, instanceNames, type Env, type InstanceNames } from '../config/env.ts';
import { createPool, checkConnection, type Pool } from '../db/pool.ts';
import { resolveDatabaseUrl } from '../db/embedded.ts';
import { migrateEngine } from '../db/migrate.ts';

/** What every command that touches the database needs: the folder, the environment, a pool. */
export interface CommandContext {
  dir: string;
  env: Env;
  names: InstanceNames;
  pool: Pool;
  close(): Promise<void>;
}

export interface DirOption {
  dir?: string;
}

/**
 * The project folder, which must exist: a mistyped `--dir` would otherwise read as a project with
 * no inquiries, destinations or stores, and every command would report nothing wrong.
 */
export function resolveDir(options: DirOption): string {
  const dir = path.resolve(options.dir ?? '.');
  const found = statSync(dir, { throwIfNoEntry: false });
  if (!found) throw new PushcdcError('CONFIG', `--dir ${options.dir ?? '.'}: there is no folder ${dir}`);
  if (!found.isDirectory()) throw new PushcdcError('CONFIG', `--dir ${options.dir ?? '.'}: ${dir} is a file, not a folder`);
  return dir;
}

/**
 * `migrate`: commands that read or write the engine's tables (history, events, failed, realtime,
 * status) bring its schema up to date first, so they work on a database `start` never ran on;
 * validate/compile/explain leave the database as it is.
 */
export async function openContext(options: DirOption, migrate = true): Promise<CommandContext> {
  const dir = resolveDir(options);
  const env = loadEnv();
  const database = await resolveDatabaseUrl(env, dir);
  const pool = createPool(database.url, { max: 4, application: 'pushcdc-cli' });
  await checkConnection(pool, database.description);
  if (migrate) await migrateEngine(pool);
  return {
    dir,
    env,
    names: instanceNames(env.PUSHCDC_INSTANCE),
    pool,
    async close() {
      await pool.end();
      await database.release();
    },
  };
}

/** Opens a context, runs the command, always closes. */
export async function withContext<T>(options: DirOption, run: (ctx: CommandContext) => Promise<T>, migrate = true): Promise<T> {
  const ctx = await openContext(options, migrate);
  try {
    return await run(ctx);
  } finally {
    await ctx.close();
  }
}
