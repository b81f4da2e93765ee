import { PushcdcError } from '../../../errors.ts';
import type { ExportOutcome, ImportOutcome, LocalRecord, Processor, SyncLink } from '../../connector.ts';
import { InvalidRecordError, requiredText, textField } from '../../record-fields.ts';
import type { BigCommerceClient } from './client.ts';
import { orderLocalRecord } from './order-local.ts';

/**
 * SalesOrder status → `PUT /v2/orders/{id}` `{status_id}`. Orders come from the storefront, so the
 * local order carries the storefront's order id (ExternRef); an order entered in the ERP has none
 * and is invalid for export. Imports fetch `GET /v2/orders/{id}` and its products for the order
 * webhooks and map them to a sales order with lines (order-local.ts).
 */
export interface BcOrder {
  id: number;
  status_id: number;
  status?: string;
  date_modified?: string;
}

export const ORDER_REF_COLUMNS = ['ExternRef', 'ExternalRef', 'ExternOrderID', 'ExternalOrderID', 'OrderExternRef', 'StoreOrderID', 'CustomerOrderNbr'] as const;

/** ERP order status (code or name) → BigCommerce status_id. */
const STATUS_IDS: Record<string, number> = {
  h: 1, hold: 1, onhold: 1, pending: 1,
  n: 11, open: 11, b: 11, backorder: 11, awaitingfulfillment: 11,
  s: 9, shipping: 9, awaitingshipment: 9,
  c: 2, completed: 2, shipped: 2,
  l: 5, cancelled: 5, canceled: 5,
};

export function bcStatusId(status: string): number {
  if (/^\d+$/.test(status)) return Number(status);
  const id = STATUS_IDS[status.toLowerCase().replace(/[^a-z]/g, '')];
  if (id === undefined) {
    throw new InvalidRecordError(`order status "${status}" has no storefront status (known: H, N, B, S, C, L or a status_id)`);
  }
  return id;
}

export class SalesOrderProcessor implements Processor {
  readonly entity = 'SalesOrder' as const;
  readonly webhookScopes = ['store/order/created', 'store/order/updated'] as const;

  constructor(private readonly client: BigCommerceClient) {}

  content(record: LocalRecord) {
    return { status_id: bcStatusId(requiredText(record, ['Status', 'OrderStatus'], 'the order status')) };
  }

  async exportRecord(record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const orderId = link.externId ?? textField(record, ORDER_REF_COLUMNS);
    if (!orderId) throw new InvalidRecordError('the order has no storefront order id (ExternRef): only orders from the store go back to it');
    const sent = this.content(record);
    const saved = await this.client.put<BcOrder>(`/v2/orders/${encodeURIComponent(orderId)}`, sent);
    return {
      externId: String(saved.id ?? orderId),
      externModifiedAt: saved.date_modified ? new Date(saved.date_modified).toISOString() : null,
      sent,
      description: `order ${orderId}: ${saved.status ?? `status ${sent.status_id}`}`,
      operation: 'updated',
    };
  }

  async externModifiedAt(externId: string): Promise<string | null> {
    const order = await this.client.get<BcOrder>(`/v2/orders/${encodeURIComponent(externId)}`);
    return order.date_modified ? new Date(order.date_modified).toISOString() : null;
  }

  localRecord(received: unknown): LocalRecord {
    return orderLocalRecord(received);
  }

  async importRecord(hook: LocalRecord, link: SyncLink): Promise<ImportOutcome> {
    const data = (hook.data ?? {}) as { id?: unknown };
    const id = String(data.id ?? link.externId ?? '');
    if (!id) throw new PushcdcError('STOREFRONT', 'the order webhook carries no order id');
    const order = await this.client.get<BcOrder>(`/v2/orders/${encodeURIComponent(id)}`);
    // The lines, for the ERP's sales order (v2 answers an order without products with 204: no body).
    const products = (await this.client.get<unknown[] | undefined>(`/v2/orders/${encodeURIComponent(id)}/products`)) ?? [];
    return {
      externId: String(order.id),
      externModifiedAt: order.date_modified ? new Date(order.date_modified).toISOString() : null,
      received: { ...order, products },
      description: `order ${order.id}: ${order.status ?? order.status_id}`,
    };
  }
}
