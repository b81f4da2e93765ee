/**
 * One record's change on its way through commerceQueue: from the Commerce Push Destination (export,
 * keyed by the local record id) or from a storefront webhook (import, keyed by the external id).
 */
export type CommerceDirection = 'export' | 'import';

export interface CommerceMessage {
  store: string;
  entity: string;
  direction: CommerceDirection;
  /** The ERP record id (export); set when known for imports too. */
  localId?: string;
  /** The storefront's id (import); set when known for exports too. */
  externId?: string;
  /** `delete` when the record left the inquiry's result without a new version. */
  operation: 'upsert' | 'delete';
  /** Export: the inquiry's result row. Import: the webhook body. */
  payload: Record<string, unknown>;
  /** When the change happened (ISO 8601): the notification's commit time or the webhook's time. */
  at: string;
  /** The push notification or webhook this message came from, for tracing. */
  sourceId?: string;
}

/** The debounce group: messages for the same record collapse into one processing of the latest. */
export function recordKey(m: CommerceMessage): string {
  const id = m.direction === 'export' ? (m.localId ?? m.externId) : (m.externId ?? m.localId);
  return `${m.store}|${m.entity}|${m.direction}|${id ?? ''}`;
}
