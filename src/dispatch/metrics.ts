import { Counter, Histogram, register } from 'prom-client';

/**
 * Dispatch metrics per destination, in prom-client's default registry (the one the engine's
 * /metrics endpoint serves).
 */
export const sentTotal = new Counter({
  name: 'pushcdc_dispatch_sent_total',
  help: 'Notifications a destination accepted',
  labelNames: ['destination'] as const,
  registers: [register],
});

export const failedTotal = new Counter({
  name: 'pushcdc_dispatch_failed_total',
  help: 'Notifications stored in pushcdc.failed_notifications after the last attempt failed',
  labelNames: ['destination'] as const,
  registers: [register],
});

export const deliverySeconds = new Histogram({
  name: 'pushcdc_dispatch_delivery_seconds',
  help: 'From taking a notification off the destination queue to the destination accepting it, retries included',
  labelNames: ['destination'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [register],
});
