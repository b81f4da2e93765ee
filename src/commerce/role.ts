import type { RoleStarter, RunningRole } from '../engine/role.ts';
import { loadStoresOrThrow } from '../config/stores.ts';
import { errorMessage } from '../errors.ts';
import { recordEvent } from '../monitor/events.ts';
import { recordKey } from './message.ts';
import { parseCommerceMessage } from './parse-message.ts';
import { DebouncePipeline, type PipelineStats } from './pipeline.ts';
import { CommerceWorker, type Outcome } from './worker.ts';

/**
 * The commerce role of `pushcdc start`: commerceQueue.<instance> → DebouncePipeline → CommerceWorker.
 *
 * Prefetch. A message is acknowledged only after its record's delay is over and the record is
 * written to sync_status, so the broker's prefetch is the number of messages that can wait out the
 * delay at once; when it is reached the broker stops delivering until something is acknowledged.
 * Prefetch is therefore both the memory bound and the throughput ceiling:
 *   memory      ≤ prefetch × ~8 KB when every held message is a different record in its delay
 *               (measured by test/commerce/memory.test.ts: 6.9 KB of heap per held message with its
 *               open RxJS group and parsed message, plus ~0.9 KB of amqplib buffers off the heap);
 *               a message of a record already waiting adds only its delivery (~2.5 KB);
 *   throughput  ≤ prefetch / PUSHCDC_DEBOUNCE_MS distinct records per second (same-record messages
 *               collapse, so they cost only their delivery).
 * The default, 20,000, bounds the role at ~160 MB and allows ~1,000 distinct records/s at the 20 s
 * delay. AMQP carries prefetch as a 16-bit count (at most 65,535 per consumer: ~520 MB, ~3,200/s);
 * more needs more consumers (partitioned commerce queues, DESIGN "Scale beyond one machine") or a
 * shorter delay. 200k distinct records through the role in prepare mode: live heap peaked 60 MB
 * above its start (processing, not the delay, was the queue there), RSS 242 MB, heap back to start.
 *
 * Stopped real-time sync. Messages of an entity whose real-time export (or import) is not running
 * are acknowledged without processing, not kept. "Stopped" is the user saying "do not push this
 * now"; keeping the messages would either pin prefetch (held) or spin (requeued) for as long as the
 * sync stays stopped, and starting it again would replay a stale backlog the user never asked for.
 * In the ERP, records changed while stopped are caught up by a full (non-real-time) sync, which
 * pushcdc does not have yet; changes after `realtime start` flow again (the role sees a start
 * within RealtimeGate's 1 s cache).
 *
 * Concurrency. Each store is its own lane with its store file's `concurrency`, so a slow or
 * rate-limited storefront holds only its own slots.
 *
 * Drain. stop() cancels the consumer, requeues (nack) the messages still in their delay and waits
 * for the records being processed: see pipeline.ts.
 */
export interface CommerceRoleOptions {
  /** Unacknowledged messages held at once; default DEFAULT_PREFETCH, at most 65,535 (AMQP). */
  prefetch?: number;
  /** Records processed at once per store; default each store file's `concurrency`. */
  concurrency?: number;
}

export interface RunningCommerce extends RunningRole {
  stats(): PipelineStats & { outcomes: Partial<Record<Outcome, number>> };
}

export const MAX_PREFETCH = 65_535;
export const DEFAULT_PREFETCH = 20_000;

export function createCommerceRole(options: CommerceRoleOptions = {}): (ctx: Parameters<RoleStarter>[0]) => Promise<RunningCommerce> {
  return async (ctx) => {
    const logger = ctx.logger.child({ role: 'commerce' });
    const stores = await loadStoresOrThrow(ctx.dir, process.env);
    const worker = new CommerceWorker({ pool: ctx.pool, stores, logger, company: ctx.env.PUSHCDC_COMPANY });
    const byName = new Map(stores.map((s) => [s.name, s]));
    const concurrency = (store: string) => options.concurrency ?? byName.get(store)?.concurrency ?? 1;
    const prefetch = Math.min(MAX_PREFETCH, options.prefetch ?? DEFAULT_PREFETCH);
    const pipeline = new DebouncePipeline({
      debounceMs: ctx.env.PUSHCDC_DEBOUNCE_MS,
      concurrency,
      process: (batch) => worker.process(batch),
      logger,
    });
    const queue = ctx.names.commerceQueue;
    await ctx.broker.assertQueue(queue);
    const consumer = await ctx.broker.consume(
      queue,
      (delivery) => {
        let message;
        try {
          message = parseCommerceMessage(delivery.body);
        } catch (err) {
          // A malformed message can never be processed: drop it, and say so where operators look.
          delivery.ack();
          void recordEvent(
            ctx.pool,
            { level: 'error', source: 'commerce', message: `dropped a commerceQueue message: ${errorMessage(err)}`, details: { messageId: delivery.messageId } },
            ctx.env.PUSHCDC_COMPANY,
          );
          return;
        }
        // Messages for stores no file configures share one lane; the worker drops them.
        pipeline.push(message, byName.has(message.store) ? message.store : '', recordKey(message), delivery);
      },
      { prefetch },
    );
    logger.info({ queue, prefetch, debounceMs: ctx.env.PUSHCDC_DEBOUNCE_MS, stores: stores.length }, 'commerce role started');
    let stopping: Promise<void> | undefined;
    const drain = async () => {
      await consumer.cancel();
      await pipeline.stop();
      logger.info({ outcomes: Object.fromEntries(worker.counts) }, 'commerce role stopped');
    };
    return {
      name: 'commerce',
      stats: () => ({ ...pipeline.stats(), outcomes: Object.fromEntries(worker.counts) }),
      // Idempotent: the engine and a signal handler may both ask.
      stop: () => (stopping ??= drain()),
    };
  };
}

export const startCommerce: RoleStarter = createCommerceRole();
