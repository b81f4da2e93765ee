import type { StoreConfig } from '../config/stores.ts';
import type { CommerceMessage } from '../commerce/message.ts';

/** What each storefront's part of the receiver (bigcommerce.ts, shopify.ts) answers the receiver. */

/**
 * Whose callback this is. A failure keeps two texts apart: `error` goes back to the sender and never
 * says which of the values was wrong (that would help someone guessing); `detail` is for our log.
 */
export type Authentication<Extra = object> =
  | ({ ok: true; store: StoreConfig } & Extra)
  | { ok: false; error: string; detail: string };

/** The callback body read against the storefront's format. */
export type ParsedHook =
  | { kind: 'message'; message: CommerceMessage; scope: string }
  /** Not what the storefront sends: a 400 saying `error`. */
  | { kind: 'malformed'; error: string; scope?: string }
  /** Well-formed, but no entity imports through this scope/topic: acknowledged, not queued. */
  | { kind: 'unmapped'; scope: string };

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A storefront record id: a whole number, or a non-empty string (exact-json.ts keeps 64-bit ids as strings). */
export function isRecordId(value: unknown): value is number | string {
  return (typeof value === 'number' && Number.isSafeInteger(value)) || (typeof value === 'string' && value.trim() !== '');
}
