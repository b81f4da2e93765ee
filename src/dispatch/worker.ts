import type { Broker, Consumer, Delivery } from '../broker/broker.ts';
import type { DestinationConfig } from '../config/destinations.ts';
import type { Pool } from '../db/pool.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { recordEvent } from '../monitor/events.ts';
import { readQueueMessage, serializeNotification, type Notification, type RowTexts } from '../notification.ts';
import type { Destination } from './destination.ts';
import { deliverySeconds, failedTotal, sentTotal } from './metrics.ts';
import { DESTINATION_PREFETCH } from './queues.ts';
import { sleep, withRetries } from './retry.ts';
import { storeFailed } from './failed-store.ts';

/**
 * One destination's consumer of its own queue. Deliveries are chained per inquiry ("lanes"): a
 * notification starts only when the previous one of the same inquiry has been delivered or stored
 * as failed, so each inquiry's notifications leave in order, while different inquiries proceed side
 * by side within the prefetch window. A message is acknowledged only after the destination accepted
 * it or it is in pushcdc.failed_notifications.
 */
export interface DestinationWorker {
  stop(): Promise<void>;
}

export interface WorkerDeps {
  broker: Broker;
  pool: Pool;
  logger: Logger;
}

export async function startDestinationWorker(
  destination: Destination,
  config: DestinationConfig,
  queue: string,
  deps: WorkerDeps,
): Promise<DestinationWorker> {
  const log = deps.logger.child({ destination: destination.name });
  const stopping = new AbortController();
  const lanes = new Map<string, Promise<void>>();

  const storeAsFailed = async (notification: Notification, payload: string, error: string, attempts: number): Promise<boolean> => {
    // The database may be briefly away; the message stays unacknowledged (and the lane waits) until the
    // row is written, because acknowledging first could lose the notification.
    for (let retry = 0; ; retry++) {
      try {
        const id = await storeFailed(deps.pool, {
          destination: destination.name,
          query: notification.Query,
          error,
          payload,
          notificationId: notification.Id,
          attempts,
        });
        failedTotal.inc({ destination: destination.name });
        await recordEvent(deps.pool, {
          level: 'warning',
          source: 'push-notifications',
          message: `destination ${destination.name}: notification ${notification.Id} (${notification.Query}) failed after ${attempts} attempts; stored as failed notification ${id}: ${error}`,
          details: { destination: destination.name, query: notification.Query, notificationId: notification.Id, failedId: id, error },
        }, notification.CompanyId || undefined);
        return true;
      } catch (err) {
        log.error({ err, notificationId: notification.Id }, 'could not store the failed notification; retrying');
        if (stopping.signal.aborted) return false;
        await sleep(Math.min(15_000, 500 * 2 ** retry), stopping.signal);
      }
    }
  };

  const deliver = async (delivery: Delivery, notification: Notification, rowTexts: RowTexts): Promise<void> => {
    if (stopping.signal.aborted) return delivery.nack(true);
    const started = performance.now();
    const outcome = await withRetries(() => destination.send(notification, rowTexts), {
      baseDelayMs: config.retryDelayMs,
      signal: stopping.signal,
      onRetry: (attempt, error) => log.warn({ notificationId: notification.Id, attempt }, `attempt ${attempt} failed: ${error}`),
    });
    if (outcome.ok) {
      sentTotal.inc({ destination: destination.name });
      deliverySeconds.observe({ destination: destination.name }, (performance.now() - started) / 1000);
      return delivery.ack();
    }
    // Stopping between attempts is not a failure of the destination: the message goes back to its
    // queue and is tried again after the restart, under the same Id.
    if (outcome.aborted) return delivery.nack(true);
    const stored = await storeAsFailed(notification, serializeNotification(notification, rowTexts), outcome.error, outcome.attempts);
    if (stored) delivery.ack();
    else delivery.nack(true);
  };

  const unreadable = async (delivery: Delivery, err: unknown): Promise<void> => {
    const text = delivery.body.toString('utf8');
    const placeholder: Notification = {
      Inserted: [],
      Deleted: [],
      Query: '(unreadable)',
      CompanyId: '',
      Id: delivery.messageId ?? '',
      TimeStamp: 0n,
      AdditionalInfo: {},
    };
    const stored = await storeAsFailed(placeholder, text, `unreadable queue message: ${errorMessage(err)}`, 0);
    if (stored) delivery.ack();
    else delivery.nack(true);
  };

  const handle = (delivery: Delivery): void => {
    let lane: string;
    let work: () => Promise<void>;
    try {
      const { notification, rowTexts } = readQueueMessage(delivery.body.toString('utf8'));
      lane = notification.Query;
      work = () => deliver(delivery, notification, rowTexts);
    } catch (err) {
      lane = '\u0000unreadable';
      work = () => unreadable(delivery, err);
    }
    const next = (lanes.get(lane) ?? Promise.resolve())
      .then(work)
      .catch((err: unknown) => {
        // Unexpected (deliver handles its own failures): give the message back rather than lose it.
        log.error({ err, messageId: delivery.messageId }, 'delivery failed unexpectedly; message requeued');
        delivery.nack(true);
      });
    lanes.set(lane, next);
    void next.finally(() => {
      if (lanes.get(lane) === next) lanes.delete(lane);
    });
  };

  const consumer: Consumer = await deps.broker.consume(queue, handle, {
    prefetch: DESTINATION_PREFETCH,
    // One dispatcher at a time per destination, or two would deliver one inquiry out of order.
    singleActiveConsumer: true,
  });
  log.debug({ queue }, 'destination worker started');

  return {
    async stop(): Promise<void> {
      await consumer.cancel();
      // Attempts under way finish (bounded by the destination's timeout); waits between attempts end now.
      stopping.abort();
      while (lanes.size > 0) await Promise.allSettled([...lanes.values()]);
      await destination.close();
    },
  };
}
