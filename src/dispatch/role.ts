/**
 * The dispatch role: primaryQueue → destinations.
 *
 * Isolation of destinations. A receiver that is slow, hangs until its timeout, or fails five times
 * over ~7 s must not hold back any other receiver. So the dispatcher does not deliver straight from
 * primaryQueue; it works in two stages:
 *
 *   primaryQueue.<instance> ──fan-out──► primaryQueue.<instance>.<destination>  (one durable queue each)
 *                                                 └──worker──► webhook | module | commerce
 *
 * 1. Fan-out (fanout.ts) reads primaryQueue, applies each destination's field tracking, publishes the
 *    notification to the queue of every destination that takes the inquiry (confirmed, persistent)
 *    and only then acknowledges primaryQueue. That costs one local publish per destination, never a
 *    remote call, so it keeps pace whatever the receivers do.
 * 2. One worker per destination (worker.ts) consumes its own queue with its own prefetch window,
 *    retries with backoff, stores what still fails in pushcdc.failed_notifications, and acknowledges
 *    its message only after that. A dead receiver only lets its own queue grow (visible in
 *    `pushcdc status`), held durably by the broker rather than in our memory.
 *
 * Order: the fan-out publishes batch after batch, so every destination queue holds notifications in
 * primaryQueue order (one dispatch role per instance; see PRIMARY_SINGLE_ACTIVE); each worker is a
 * single active consumer of its queue and chains deliveries per inquiry.
 *
 * Crash safety: every hand-over (primaryQueue → destination queue → receiver or failed table)
 * acknowledges the earlier step only after the later one is durable, so a crash repeats a
 * notification (same Id), never drops it.
 */
import type { DestinationConfig } from '../config/destinations.ts';
import { loadDestinations } from '../config/destinations.ts';
import { loadStoresOrThrow, type StoreConfig } from '../config/stores.ts';
import type { EngineContext, RoleStarter, RunningRole } from '../engine/role.ts';
import { ProblemsError } from '../errors.ts';
import { createDestination } from './create.ts';
import { startFanout, type Fanout, type Route } from './fanout.ts';
import { purgeFailed } from './failed-store.ts';
import { PRIMARY_SINGLE_ACTIVE, destinationQueue } from './queues.ts';
import { startDestinationWorker, type DestinationWorker } from './worker.ts';

const PURGE_EVERY_MS = 3_600_000;

export const startDispatch: RoleStarter = async (ctx: EngineContext): Promise<RunningRole> => {
  const log = ctx.logger.child({ role: 'dispatch' });
  const { destinations, problems } = await loadDestinations(ctx.dir, ctx.catalog);
  if (problems.length > 0) throw new ProblemsError(problems);
  const active = destinations.filter((d) => d.active && d.inquiries.some((i) => i.active));

  const workers: DestinationWorker[] = [];
  let fanout: Fanout | undefined;
  const purge = async (): Promise<void> => {
    try {
      const removed = await purgeFailed(ctx.pool);
      if (removed > 0) log.info({ removed }, 'purged failed notifications older than 48 hours');
    } catch (err) {
      log.error({ err }, 'could not purge old failed notifications');
    }
  };
  const purgeTimer = setInterval(() => void purge(), PURGE_EVERY_MS);
  purgeTimer.unref();

  const stop = async (): Promise<void> => {
    clearInterval(purgeTimer);
    // Fan-out first: what it already took from primaryQueue lands in the destination queues, then
    // each worker finishes what it has under way.
    await fanout?.stop();
    await Promise.all(workers.map((w) => w.stop()));
  };

  try {
    await purge();
    let stores: Promise<StoreConfig[]> | undefined;
    const deps = {
      broker: () => Promise.resolve(ctx.broker),
      pool: ctx.pool,
      commerceQueue: ctx.names.commerceQueue,
      stores: () => (stores ??= loadStoresOrThrow(ctx.dir)),
    };
    // Declared plainly, as the commerce role declares it, so exports are kept even before it first runs.
    if (active.some((d) => d.type === 'commerce')) await ctx.broker.assertQueue(ctx.names.commerceQueue);
    for (const config of active) {
      const destination = await createDestination(config, deps);
      const queue = destinationQueue(ctx.names.primaryQueue, config.name);
      await ctx.broker.assertQueue(queue, { singleActiveConsumer: true });
      workers.push(await startDestinationWorker(destination, config, queue, { broker: ctx.broker, pool: ctx.pool, logger: log }));
    }
    await ctx.broker.assertQueue(ctx.names.primaryQueue, { singleActiveConsumer: PRIMARY_SINGLE_ACTIVE });
    fanout = await startFanout({
      broker: ctx.broker,
      pool: ctx.pool,
      logger: log,
      primaryQueue: ctx.names.primaryQueue,
      routes: routesOf(active, ctx.names.primaryQueue),
    });
  } catch (err) {
    await stop().catch((stopErr: unknown) => log.error({ err: stopErr }, 'could not stop a half-started dispatcher'));
    throw err;
  }
  log.info({ destinations: active.map((d) => d.name) }, 'dispatcher started');
  return { name: 'dispatch', stop };
};

/** Inquiry → the active destinations that take it, with their field tracking. */
export function routesOf(destinations: DestinationConfig[], primaryQueue: string): Map<string, Route[]> {
  const routes = new Map<string, Route[]>();
  for (const d of destinations) {
    for (const entry of d.inquiries) {
      if (!entry.active) continue;
      const list = routes.get(entry.inquiry) ?? [];
      list.push({ destination: d.name, queue: destinationQueue(primaryQueue, d.name), trackedFields: entry.trackedFields });
      routes.set(entry.inquiry, list);
    }
  }
  return routes;
}
