import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { EntityName, StoreConfig } from '../config/stores.ts';
import type { CommerceMessage } from '../commerce/message.ts';
import { isObject, isRecordId, type Authentication, type ParsedHook } from './hook-types.ts';
import { singleHeader } from './http-io.ts';

/**
 * Shopify callbacks. Shopify cannot add headers to a subscription, so `type`, `company` and
 * `binding` (our store name) travel as URL parameters of the address; what authenticates the call
 * is `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the raw body keyed with the store's
 * webhookSecret. A `validation` URL parameter is not required (the HMAC already proves the sender
 * holds the secret, and a secret in a URL lands in every proxy's access log), but when one is given
 * it must match too.
 */
export function authenticateShopify(
  req: IncomingMessage,
  params: URLSearchParams,
  stores: readonly StoreConfig[],
  company: string,
): Authentication<{ signature: Buffer; secret: string }> {
  const givenCompany = params.get('company');
  const binding = params.get('binding');
  const signature = singleHeader(req, 'x-shopify-hmac-sha256');
  if (!givenCompany || !binding || !signature) {
    const missing = [!givenCompany && 'company parameter', !binding && 'binding parameter', !signature && 'X-Shopify-Hmac-Sha256 header'].filter(Boolean);
    return {
      ok: false,
      error: 'Shopify callbacks must carry the type, company and binding URL parameters and the X-Shopify-Hmac-Sha256 header',
      detail: `missing: ${missing.join(', ')}`,
    };
  }
  const mismatch = { ok: false as const, error: 'company, binding or signature does not match' };
  if (givenCompany !== company) return { ...mismatch, detail: 'the company parameter is not PUSHCDC_COMPANY' };
  const store = stores.find((s) => s.name === binding && s.connector === 'shopify');
  if (!store?.webhookSecret) return { ...mismatch, detail: 'binding names no shopify store file with a webhookSecret' };
  const validation = params.get('validation');
  if (validation !== null && !sameSecret(validation, store.webhookSecret)) {
    return { ...mismatch, detail: `the validation parameter is not store ${store.name}'s webhookSecret` };
  }
  return { ok: true, store, signature: Buffer.from(signature, 'base64'), secret: store.webhookSecret };
}

/** The body's HMAC against the header, in constant time: the signature is all that keeps forgeries out. */
export function shopifySignatureValid(secret: string, raw: Buffer, signature: Buffer): boolean {
  const expected = createHmac('sha256', secret).update(raw).digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Topics (erp-facts "Storefront webhooks") → the entity whose record changed. */
const TOPIC_ENTITIES: readonly [prefix: string, entity: EntityName][] = [
  ['customers/', 'Customer'],
  ['orders/', 'SalesOrder'],
];

/**
 * A Shopify body is the whole resource (`{"id": …, "updated_at": …}`; a delete carries only the id).
 * `at` is when Shopify triggered the webhook (X-Shopify-Triggered-At), else the resource's
 * updated_at, else now.
 */
export function parseShopifyHook(
  store: string,
  topic: string | undefined,
  body: unknown,
  headers: { triggeredAt: string | undefined; webhookId: string | undefined },
): ParsedHook {
  if (!topic) return { kind: 'malformed', error: 'missing the X-Shopify-Topic header' };
  if (!isObject(body)) return { kind: 'malformed', scope: topic, error: 'the body must be a JSON object' };
  if (!isRecordId(body.id)) return { kind: 'malformed', scope: topic, error: 'missing "id" (the id of the resource that changed)' };
  const entity = TOPIC_ENTITIES.find(([prefix]) => topic.startsWith(prefix))?.[1];
  if (!entity) return { kind: 'unmapped', scope: topic };
  const message: CommerceMessage = {
    store,
    entity,
    direction: 'import',
    externId: String(body.id),
    operation: topic.endsWith('/delete') ? 'delete' : 'upsert',
    payload: body,
    at: firstTime(headers.triggeredAt, body.updated_at) ?? new Date().toISOString(),
    ...(headers.webhookId ? { sourceId: headers.webhookId } : {}),
  };
  return { kind: 'message', message, scope: topic };
}

function firstTime(...candidates: unknown[]): string | undefined {
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    const ms = Date.parse(candidate);
    if (Number.isFinite(ms)) return new Date(ms).toISOString();
  }
  return undefined;
}
