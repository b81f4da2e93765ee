import { connectBroker } from '../broker/connect.ts';
import { startCapture } from '../capture/role.ts';
import { startCommerce } from '../commerce/role.ts';
import { instanceNames, loadEnv } from '../config/env.ts';
import { resolveDatabaseUrl } from '../db/embedded.ts';
import { migrateEngine } from '../db/migrate.ts';
import { checkConnection, createPool } from '../db/pool.ts';
import { startDispatch } from '../dispatch/role.ts';
import { PushcdcError } from '../errors.ts';
import { loadInquiriesOrThrow } from '../inquiry/load.ts';
import { rootLogger } from '../log.ts';
import { recordEvent } from '../monitor/events.ts';
import { startWebhooks } from '../webhooks/role.ts';
import type { EngineContext, RoleName, RoleStarter, RunningRole } from './role.ts';

/**
 * `pushcdc start`: validates everything first (a bad file stops the start, it is not discovered at
 * 3 a.m.), then starts the roles downstream first — so nothing piles up unconsumed — and on
 * SIGINT/SIGTERM stops them upstream first, each draining what it holds.
 */
export const ROLE_NAMES: RoleName[] = ['capture', 'dispatch', 'commerce', 'webhooks'];
const STARTERS: Record<RoleName, RoleStarter> = {
  capture: startCapture,
  dispatch: startDispatch,
  commerce: startCommerce,
  webhooks: startWebhooks,
};
const START_ORDER: RoleName[] = ['webhooks', 'commerce', 'dispatch', 'capture'];

export function parseRoles(text: string): RoleName[] {
  const roles = text.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = roles.filter((r) => !ROLE_NAMES.includes(r as RoleName));
  if (unknown.length > 0 || roles.length === 0) {
    throw new PushcdcError('USAGE', `--roles: unknown role ${unknown.join(', ') || '(none given)'}; roles are ${ROLE_NAMES.join(', ')}`);
  }
  return [...new Set(roles as RoleName[])];
}

export async function runEngine(options: { dir: string; roles: RoleName[] }): Promise<void> {
  const env = loadEnv();
  const logger = rootLogger.child({ instance: env.PUSHCDC_INSTANCE });
  const database = await resolveDatabaseUrl(env, options.dir);
  const pool = createPool(database.url, { max: 10, application: 'pushcdc' });
  const started: RunningRole[] = [];
  try {
    await checkConnection(pool, database.description);
    await migrateEngine(pool);
    const { inquiries, catalog } = await loadInquiriesOrThrow(pool, options.dir);
    const broker = await connectBroker({ amqpUrl: env.AMQP_URL, pool, logger });
    const ctx: EngineContext = {
      dir: options.dir,
      env,
      names: instanceNames(env.PUSHCDC_INSTANCE),
      databaseUrl: database.url,
      pool,
      broker,
      logger,
      catalog,
      inquiries,
    };
    try {
      for (const name of START_ORDER.filter((r) => options.roles.includes(r))) {
        started.push(await STARTERS[name](ctx));
        logger.info({ role: name }, 'role started');
      }
      await recordEvent(pool, { level: 'information', source: 'engine', message: `pushcdc started with roles ${options.roles.join(', ')}` });
      await waitForSignal();
      logger.info('stopping: draining the roles');
    } finally {
      for (const role of [...started].reverse()) {
        await role.stop().catch((err: unknown) => logger.error({ err, role: role.name }, 'role did not stop cleanly'));
      }
      await broker.close();
    }
    await recordEvent(pool, { level: 'information', source: 'engine', message: 'pushcdc stopped' });
  } finally {
    await pool.end();
    await database.release();
  }
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
