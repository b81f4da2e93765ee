import type { Delivery } from '../../../src/broker/broker.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it stops throwing; rethrows its last failure after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

/** A handler that records deliveries, optionally acting on each as it arrives. */
export function collector(onDelivery?: (delivery: Delivery, index: number) => void) {
  const deliveries: Delivery[] = [];
  return {
    deliveries,
    handler: (delivery: Delivery): void => {
      deliveries.push(delivery);
      onDelivery?.(delivery, deliveries.length - 1);
    },
    /** Waits until at least `count` deliveries arrived; returns the first `count`. */
    async take(count: number, timeoutMs = 10_000): Promise<Delivery[]> {
      await eventually(() => {
        if (deliveries.length < count) throw new Error(`expected ${count} deliveries, got ${deliveries.length}`);
      }, timeoutMs);
      return deliveries.slice(0, count);
    },
    ids(): (string | undefined)[] {
      return deliveries.map((d) => d.messageId);
    },
  };
}

export function numbered(prefix: string, count: number, from = 0) {
  return Array.from({ length: count }, (_, i) => ({
    body: JSON.stringify({ n: from + i }),
    messageId: `${prefix}-${from + i}`,
  }));
}
