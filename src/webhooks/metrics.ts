import { Counter, register } from 'prom-client';

/**
 * Webhook receiver requests by outcome, in prom-client's default registry (served on /metrics).
 * `outcome`: accepted (queued, 200), ignored (acknowledged with 200, not queued), rejected (any
 * other status; `status` tells which). `connector` is bigcommerce, shopify or unknown — never the
 * raw `type` a caller sent, so callers cannot grow the label set.
 */
export type WebhookOutcome = 'accepted' | 'ignored' | 'rejected';
export type ConnectorLabel = 'bigcommerce' | 'shopify' | 'unknown';

export const webhookRequests = new Counter({
  name: 'pushcdc_webhook_requests_total',
  help: 'Storefront webhook requests received on POST /commerce/webhook, by outcome and HTTP status',
  labelNames: ['connector', 'outcome', 'status'] as const,
  registers: [register],
});
