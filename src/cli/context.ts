import path from 'node:path';
import { loadEnv, instanceNames, type Env, type InstanceNames } from '../config/env.ts';
import { createPool, checkConnection, type Pool } from '../db/pool.ts';
import { resolveDatabaseUrl } from '../db/embedded.ts';

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

export function resolveDir(options: DirOption): string {
  return path.resolve(options.dir ?? '.');
}

export async function openContext(options: DirOption): Promise<CommandContext> {
  const dir = resolveDir(options);
  const env = loadEnv();
  const database = await resolveDatabaseUrl(env, dir);
  const pool = createPool(database.url, { max: 4, application: 'pushcdc-cli' });
  await checkConnection(pool, database.description);
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
export async function withContext<T>(options: DirOption, run: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = await openContext(options);
  try {
    return await run(ctx);
  } finally {
    await ctx.close();
  }
}
