import type { IncomingMessage } from 'node:http';
import type { StoreConfig } from '../config/stores.ts';
import { bigCommerceHookMessage, storeForBigCommerceHook } from '../commerce/hook-message.ts';
import { isObject, isRecordId, type Authentication, type ParsedHook } from './hook-types.ts';
import { singleHeader } from './http-io.ts';

/**
 * BigCommerce callbacks. `type`, `company` and `validation` arrive as headers: they are the custom
 * `headers` `pushcdc realtime start` registered on `/v3/hooks` (commerce/webhook-target.ts), which
 * BigCommerce echoes on every callback. All three are checked from the headers alone, before a byte
 * of the body is read.
 */
export function authenticateBigCommerce(req: IncomingMessage, stores: readonly StoreConfig[], company: string): Authentication {
  const given = { type: singleHeader(req, 'type'), company: singleHeader(req, 'company'), validation: singleHeader(req, 'validation') };
  if (!given.company || !given.validation) {
    return {
      ok: false,
      error: 'BigCommerce callbacks must carry the type, company and validation headers registered with the webhook',
      detail: `missing header(s): ${(['company', 'validation'] as const).filter((h) => !given[h]).join(', ')}`,
    };
  }
  const mismatch = { ok: false as const, error: 'company or validation does not match' };
  if (given.company !== company) return { ...mismatch, detail: 'the company header is not PUSHCDC_COMPANY' };
  const store = storeForBigCommerceHook(stores, given, company);
  if (!store) return { ...mismatch, detail: 'no bigcommerce store file has this webhookSecret as its validation value' };
  return { ok: true, store };
}

/** Largest |Date| in ms (ECMAScript time range), in seconds: beyond it `new Date(...)` is invalid. */
const MAX_UNIX_SECONDS = 8.64e12;

/**
 * `{scope, created_at, hash, data: {type, id}}` → an import message. The shape is checked here so
 * that a malformed callback (400) is told apart from one whose scope nothing imports (acknowledged):
 * bigCommerceHookMessage answers undefined for both.
 */
export function parseBigCommerceHook(store: string, body: unknown): ParsedHook {
  if (!isObject(body)) return { kind: 'malformed', error: 'the body must be a JSON object' };
  const scope = body.scope;
  if (typeof scope !== 'string' || scope === '') {
    return { kind: 'malformed', error: 'missing "scope" (a string such as "store/customer/updated")' };
  }
  const data = body.data;
  if (!isObject(data) || !isRecordId(data.id)) {
    return { kind: 'malformed', scope, error: 'missing "data.id" (the id of the resource that changed)' };
  }
  // Address callbacks name the address in data.id; the record they change is the customer.
  if (scope.startsWith('store/customer/address/') && !(isObject(data.address) && isRecordId(data.address.customer_id))) {
    return { kind: 'malformed', scope, error: 'missing "data.address.customer_id" (address callbacks name their customer there)' };
  }
  const createdAt = body.created_at;
  if (createdAt !== undefined && createdAt !== null && !(typeof createdAt === 'number' && Math.abs(createdAt) <= MAX_UNIX_SECONDS)) {
    // Checked here because an out-of-range number makes bigCommerceHookMessage's toISOString throw.
    return { kind: 'malformed', scope, error: '"created_at" must be a Unix time in seconds' };
  }
  // The shape is right, so undefined now means only "a scope no entity imports".
  const message = bigCommerceHookMessage(store, body);
  return message ? { kind: 'message', message, scope } : { kind: 'unmapped', scope };
}
