import { createHash, timingSafeEqual } from 'node:crypto';
import type { EntityName, StoreConfig } from '../config/stores.ts';
import type { CommerceMessage } from './message.ts';

/**
 * For the webhook receiver: which store a BigCommerce callback belongs to, and the commerceQueue
 * message it becomes. The callback echoes the headers `realtime start` registered (webhook-target.ts):
 * `type` (connector), `company` (PUSHCDC_COMPANY) and `validation` (the store's webhookSecret).
 */
export function storeForBigCommerceHook(
  stores: readonly StoreConfig[],
  headers: { type?: string | undefined; company?: string | undefined; validation?: string | undefined },
  company: string,
): StoreConfig | undefined {
  if (headers.type !== 'bigcommerce' || headers.company !== company || !headers.validation) return undefined;
  // Constant time, and over digests so not even the secret's length shows: the secret is what keeps
  // forged callbacks out.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const given = digest(headers.validation);
  return stores.find((s) => s.connector === 'bigcommerce' && s.webhookSecret !== undefined && timingSafeEqual(digest(s.webhookSecret), given));
}

const SCOPE_ENTITIES: readonly [prefix: string, entity: EntityName][] = [
  ['store/customer/', 'Customer'],
  ['store/order/', 'SalesOrder'],
];

/**
 * `{scope, store_id, hash, created_at, data: {type, id}}` → an import message, or undefined for a
 * scope no entity imports. Address callbacks carry the address id in `data.id`: the record is the
 * customer (`data.address.customer_id`), so its changes debounce and sync with the customer's.
 */
export function bigCommerceHookMessage(store: string, body: unknown): CommerceMessage | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const hook = body as { scope?: unknown; created_at?: unknown; hash?: unknown; data?: { id?: unknown; address?: { customer_id?: unknown } } };
  if (typeof hook.scope !== 'string') return undefined;
  const scope = hook.scope;
  const entity = SCOPE_ENTITIES.find(([prefix]) => scope.startsWith(prefix))?.[1];
  if (!entity) return undefined;
  const isAddress = scope.startsWith('store/customer/address/');
  const id = isAddress ? hook.data?.address?.customer_id : hook.data?.id;
  if (typeof id !== 'number' && typeof id !== 'string') return undefined;
  const seconds = typeof hook.created_at === 'number' ? hook.created_at : Number.NaN;
  return {
    store,
    entity,
    direction: 'import',
    externId: String(id),
    operation: !isAddress && scope.endsWith('/deleted') ? 'delete' : 'upsert',
    payload: body as Record<string, unknown>,
    at: new Date(Number.isFinite(seconds) && Math.abs(seconds) < 8.64e12 ? seconds * 1000 : Date.now()).toISOString(),
    ...(typeof hook.hash === 'string' ? { sourceId: hook.hash } : {}),
  };
}
