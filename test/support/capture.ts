import { connectBroker } from '../../src/broker/connect.ts';
import type { Broker } from '../../src/broker/broker.ts';
import { captureRole, type RunningCapture as CaptureHandle } from '../../src/capture/role.ts';
import type { CaptureLimits } from '../../src/capture/capture.ts';
import { loadEnv } from '../../src/config/env.ts';
import { formatProblem } from '../../src/errors.ts';
import { loadInquiries, toCatalog } from '../../src/inquiry/load.ts';
import { rootLogger } from '../../src/log.ts';
import type { TestContext } from './isolation.ts';

/** The capture role in-process against a test context, with the real broker. */
export interface RunningCapture {
  role: CaptureHandle;
  broker: Broker;
  stop(): Promise<void>;
}

export async function startTestCapture(ctx: TestContext, dir: string, limits?: Partial<CaptureLimits>): Promise<RunningCapture> {
  const loaded = await loadInquiries(ctx.pool, dir);
  if (loaded.problems.length > 0) throw new Error(loaded.problems.map(formatProblem).join('\n'));
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
    catalog: toCatalog(loaded.inquiries),
    inquiries: loaded.inquiries,
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
