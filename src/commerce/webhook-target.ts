import { hostname } from 'node:os';
import type { Env } from '../config/env.ts';
import type { StoreConfig } from '../config/stores.ts';
import { PushcdcError } from '../errors.ts';
import type { WebhookTarget } from './connector.ts';

export const WEBHOOK_PATH = '/commerce/webhook';

/**
 * Where a store's webhooks call back and what they echo: `type` (the connector), `company` and
 * `validation` (the store's webhookSecret; the receiver accepts a callback only when it matches).
 * The base URL is the store file's `webhookBaseUrl` (what the storefront can reach: usually a public
 * HTTPS address in front of pushcdc), else this host on PUSHCDC_HTTP_PORT.
 */
export function webhookTarget(store: StoreConfig, env: Env): WebhookTarget {
  if (!store.webhookSecret) {
    throw new PushcdcError(
      'STORE',
      `${store.file}: webhookSecret is not set; real-time import needs it (the storefront echoes it so the receiver can tell our webhooks from forged ones)`,
    );
  }
  const base = (store.webhookBaseUrl ?? `http://${hostname()}:${env.PUSHCDC_HTTP_PORT}`).replace(/\/+$/, '');
  return {
    destination: `${base}${WEBHOOK_PATH}`,
    headers: { type: store.connector, company: env.PUSHCDC_COMPANY, validation: store.webhookSecret },
  };
}
