import { connectBroker } from '../../src/broker/connect.ts';
import type { Broker } from '../../src/broker/broker.ts';
import { captureRole, type RunningCapture as CaptureHandle } from '../../src/capture/role.ts';
import type { CaptureLimits } from '../../src/capture/limits.ts';
import { loadEnv } from '../../src/config/env.ts';
import { loadInquiriesOrThrow } from '../../src/inquiry/load.ts';
import { rootLogger } from '../../src/log.ts';
import type { TestContext } from './isolation.ts';

/** The capture role in-process against a test context, with the real broker. */
export interface RunningCapture {
  role: CaptureHandle;
  broker: Broker;
  stop(): Promise<void>;
}

export async function startTestCapture(ctx: TestContext, dir: string, limits?: Partial<CaptureLimits>): Promise<RunningCapture> {
  const { inquiries, catalog } = await loadInquiriesOrThrow(ctx.pool, dir);
  const env = loadEnv({ ...ctx.env, PUSHCDC_HTTP_PORT: '0' });
  const broker = await connectBroker({ amqpUrl: ctx.amqpUrl, pool: ctx.pool });
  const role = await captureRole({ limits })({
    dir,
    env,
    names: ctx.names,
    databaseUrl: ctx.db.url,
    pool: ctx.pool,
    broker,
    logger: rootLogger.child({ test: ctx.instance }),
    catalog,
    inquiries,
  });
  await role.ready;
  return {
    role,
    broker,
    async stop() {
      await role.stop();
      await broker.close();
    },
  };
}
