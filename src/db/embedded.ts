import type { Env } from '../config/env.ts';
import { PushcdcError } from '../errors.ts';

/**
 * Where the source database is: DATABASE_URL, or (unset) the embedded PostgreSQL under `.pushcdc/`.
 * `release` stops what this process started.
 */
export interface DatabaseLocation {
  url: string;
  description: string;
  release(): Promise<void>;
}

export async function resolveDatabaseUrl(env: Env, _dir: string): Promise<DatabaseLocation> {
  if (env.DATABASE_URL) {
    const shown = new URL(env.DATABASE_URL);
    shown.password = shown.password ? '***' : '';
    return { url: env.DATABASE_URL, description: `DATABASE_URL (${shown.toString()})`, release: async () => undefined };
  }
  throw new PushcdcError('CONFIG', 'DATABASE_URL is not set, and the embedded PostgreSQL is not built yet: set DATABASE_URL');
}
