import type { Broker, Consumer, Delivery, OutgoingMessage } from '../broker/broker.ts';
import type { Pool } from '../db/pool.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { recordEvent } from '../monitor/events.ts';
import { readQueueMessage, serializeEnvelope } from '../notification.ts';
import { filterTrackedChanges, isEmpty } from './field-tracking.ts';
import { PRIMARY_PREFETCH, PRIMARY_SINGLE_ACTIVE } from './queues.ts';
import { sleep } from './retry.ts';

/**
 * The primaryQueue consumer: copies each notification into the queue of every destination that
 * wants it (field tracking applied per destination), then acknowledges it. Work goes in batches:
 * whatever arrived while the previous batch was being published is published together, one
 * confirmed publish per destination queue, and acknowledged only once every publish is confirmed.
 * Batches run one after another, so each destination queue receives notifications in primaryQueue
 * order (see PRIMARY_SINGLE_ACTIVE for running more than one dispatcher).
 */
const STOP_GRACE_MS = 10_000;

export interface Route {
  destination: string;
  queue: string;
  /** null: every change counts; else only changes of these columns. */
  trackedFields: string[] | null;
}

export interface FanoutDeps {
  broker: Broker;
  pool: Pool;
  logger: Logger;
  primaryQueue: string;
  /** Inquiry name → the destinations that take it. */
  routes: Map<string, Route[]>;
}

export interface Fanout {
  stop(): Promise<void>;
}

export async function startFanout(deps: FanoutDeps): Promise<Fanout> {
  const log = deps.logger.child({ queue: deps.primaryQueue });
  const stopping = new AbortController();
  let pending: Delivery[] = [];
  let flushing: Promise<void> | undefined;

  const route = async (batch: Delivery[]): Promise<Map<string, OutgoingMessage[]>> => {
    const perQueue = new Map<string, OutgoingMessage[]>();
    const add = (queue: string, message: OutgoingMessage) => {
      const list = perQueue.get(queue) ?? [];
      list.push(message);
      perQueue.set(queue, list);
    };
    for (const delivery of batch) {
      const verbatim = verbatimRoutes(delivery, deps.routes);
      if (verbatim) {
        for (const r of verbatim.routes) add(r.queue, { body: delivery.body, messageId: verbatim.messageId, headers: { query: verbatim.query } });
        continue;
      }
      const text = delivery.body.toString('utf8');
      let envelope;
      try {
        // With its rows' texts: the copies are written anew, and their rows must stay as they came.
        envelope = readQueueMessage(text);
      } catch (err) {
        // Nothing can deliver it; say so where operators look, with the text, and let it go.
        await recordEvent(deps.pool, {
          level: 'error',
          source: 'push-notifications',
          message: `unreadable message in ${deps.primaryQueue} dropped: ${errorMessage(err)}`,
          details: { messageId: delivery.messageId, text: text.slice(0, 2_000) },
        });
        continue;
      }
      for (const r of deps.routes.get(envelope.notification.Query) ?? []) {
        const kept = r.trackedFields ? filterTrackedChanges(envelope, r.trackedFields) : envelope;
        if (isEmpty(kept)) continue;
        add(r.queue, { body: serializeEnvelope(kept), messageId: kept.notification.Id, headers: { query: kept.notification.Query } });
      }
    }
    return perQueue;
  };

  const flush = async (batch: Delivery[]): Promise<void> => {
    const perQueue = await route(batch);
    for (let attempt = 0; ; attempt++) {
      try {
        await Promise.all([...perQueue].map(([queue, messages]) => deps.broker.publish(queue, messages)));
        break;
      } catch (err) {
        // Holding the batch (instead of requeueing it) keeps the order and is the backpressure: the
        // prefetch window fills and primaryQueue stops delivering until the broker takes messages again.
        if (stopping.signal.aborted) {
          log.warn({ err }, 'stopping with a batch the broker did not confirm; it goes back to primaryQueue');
          for (const d of batch) d.nack(true);
          return;
        }
        log.error({ err, attempt }, 'publishing to destination queues failed; retrying');
        await sleep(Math.min(15_000, 250 * 2 ** attempt), stopping.signal);
      }
    }
    for (const d of batch) d.ack();
  };

  let current: Delivery[] = [];
  const drain = async (): Promise<void> => {
    while (pending.length > 0) {
      current = pending;
      pending = [];
      await flush(current);
      current = [];
    }
  };

  const kick = (): void => {
    flushing ??= drain()
      .catch((err: unknown) => {
        log.error({ err }, 'fan-out failed unexpectedly; messages requeued');
        for (const d of current) d.nack(true);
        current = [];
      })
      .finally(() => {
        flushing = undefined;
        if (pending.length > 0) kick();
      });
  };

  const consumer: Consumer = await deps.broker.consume(
    deps.primaryQueue,
    (delivery) => {
      pending.push(delivery);
      kick();
    },
    { prefetch: PRIMARY_PREFETCH, singleActiveConsumer: PRIMARY_SINGLE_ACTIVE },
  );

  return {
    async stop(): Promise<void> {
      await consumer.cancel();
      // What was delivered before the cancel is still fanned out and acknowledged, unless the broker
      // refuses it for longer than the grace period: then it goes back to primaryQueue.
      const grace = setTimeout(() => stopping.abort(), STOP_GRACE_MS);
      try {
        while (flushing) await flushing;
      } finally {
        clearTimeout(grace);
        stopping.abort();
      }
    },
  };
}

/**
 * The routes of a message that can be copied as it arrived, unread: the relay names the inquiry in a
 * `query` header and the notification Id as messageId, and when none of that inquiry's destinations
 * tracks fields there is nothing to filter. Reading a big notification only to write it out again
 * cost the thread 40-55 ms for 3.3 MB (20,000 rows each way; parse 22-34 ms, write 16-23 ms), and in
 * a process that also captures, that is the capture's thread (its relay learns of RabbitMQ's
 * confirms only after). null: read it (no header or messageId, as from another publisher, or a
 * destination that tracks fields). A message that is not what the header says reaches the
 * destination's worker, which keeps an unreadable one as a failed delivery.
 */
function verbatimRoutes(delivery: Delivery, routes: Map<string, Route[]>): { query: string; messageId: string; routes: Route[] } | null {
  const query = delivery.headers.query;
  if (typeof query !== 'string' || delivery.messageId === undefined) return null;
  const wanted = routes.get(query) ?? [];
  if (wanted.some((r) => r.trackedFields !== null)) return null;
  return { query, messageId: delivery.messageId, routes: wanted };
}
