import type { Delivery } from './broker.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';

/** What a consumer asked the broker to do with one delivered message. */
export type Settlement = { kind: 'ack' } | { kind: 'nack'; requeue: boolean };

export interface DeliveryInit {
  body: Buffer;
  messageId: string | undefined;
  headers: Record<string, unknown>;
  redelivered: boolean;
  settle(settlement: Settlement): void;
}

/**
 * A Delivery that can be settled once. A second ack of the same message would make RabbitMQ close the
 * channel (PRECONDITION_FAILED, unknown delivery tag) and take every other in-flight message with it,
 * so repeats are logged and ignored instead of passed on.
 */
export function createDelivery(init: DeliveryInit, log: Logger): Delivery {
  let settled = false;
  const settleOnce = (settlement: Settlement): void => {
    if (settled) {
      log.warn({ messageId: init.messageId, settlement: settlement.kind }, 'message was already acknowledged or rejected; ignoring');
      return;
    }
    settled = true;
    init.settle(settlement);
  };
  return {
    body: init.body,
    messageId: init.messageId,
    headers: init.headers,
    redelivered: init.redelivered,
    ack: () => settleOnce({ kind: 'ack' }),
    nack: (requeue: boolean) => settleOnce({ kind: 'nack', requeue }),
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Calls a consumer's handler. A handler that throws (or returns a promise that rejects) would otherwise
 * leave its message unacknowledged forever, holding a prefetch slot, or crash the process through an
 * event emitter; the message goes back to the queue instead and the failure is logged loudly.
 */
export function runHandler(handler: (delivery: Delivery) => void, delivery: Delivery, queue: string, log: Logger): void {
  const fail = (err: unknown): void => {
    log.error({ err, queue, messageId: delivery.messageId }, `consumer handler failed (${errorMessage(err)}); message requeued`);
    delivery.nack(true);
  };
  try {
    const result: unknown = handler(delivery);
    if (isPromiseLike(result)) result.then(undefined, fail);
  } catch (err) {
    fail(err);
  }
}
