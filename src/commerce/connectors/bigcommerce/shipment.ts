import { PushcdcError } from '../../../errors.ts';
import type { ExportOutcome, LocalRecord, Processor, SyncLink } from '../../connector.ts';
import { compact, InvalidRecordError, numberField, textField } from '../../record-fields.ts';
import type { BigCommerceClient } from './client.ts';
import { ORDER_REF_COLUMNS } from './order.ts';
import { SKU_COLUMNS } from './product.ts';

/**
 * Shipment → `/v2/orders/{order}/shipments`. The extern id is `<order id>/<shipment id>`. A new
 * shipment ships the order's products (only the row's SKU when the row names one, with ShippedQty)
 * to the order's first shipping address; an existing shipment with the same tracking number is
 * linked instead of created twice.
 */
interface BcShipment {
  id: number;
  order_id: number;
  tracking_number?: string;
}

interface BcOrderProduct {
  id: number;
  sku: string;
  quantity: number;
}

export class ShipmentProcessor implements Processor {
  readonly entity = 'Shipment' as const;
  readonly webhookScopes = [] as const;

  constructor(private readonly client: BigCommerceClient) {}

  async exportRecord(record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const [linkedOrder, linkedShipment] = link.externId?.split('/') ?? [];
    const orderId = linkedOrder ?? textField(record, ORDER_REF_COLUMNS);
    if (!orderId) throw new InvalidRecordError('the shipment has no storefront order id (the order\'s ExternRef)');
    const base = `/v2/orders/${encodeURIComponent(orderId)}/shipments`;
    const details = compact({
      tracking_number: textField(record, ['TrackingNbr', 'TrackingNumber', 'Tracking']) ?? '',
      shipping_method: textField(record, ['Carrier', 'ShipVia', 'ShippingMethod']),
      comments: textField(record, ['ShipmentNbr', 'ShipmentID']),
    });
    let shipmentId = linkedShipment ? Number(linkedShipment) : undefined;
    let operation: ExportOutcome['operation'] = 'updated';
    if (shipmentId === undefined && details.tracking_number) {
      const existing = (await this.client.get<BcShipment[] | undefined>(base)) ?? [];
      const same = existing.filter((s) => s.tracking_number === details.tracking_number);
      if (same.length > 1) {
        throw new PushcdcError('STOREFRONT', `${same.length} shipments of order ${orderId} have the tracking number ${details.tracking_number}`);
      }
      if (same[0]) {
        shipmentId = same[0].id;
        operation = 'linked';
      }
    }
    let sent: Record<string, unknown>;
    let saved: BcShipment;
    if (shipmentId === undefined) {
      sent = { ...details, ...(await this.newShipmentParts(orderId, record)) };
      saved = await this.client.post<BcShipment>(base, sent);
      operation = 'created';
    } else {
      sent = details;
      saved = await this.client.put<BcShipment>(`${base}/${shipmentId}`, sent);
    }
    return {
      externId: `${orderId}/${saved.id ?? shipmentId}`,
      externModifiedAt: null,
      sent,
      description: `order ${orderId} shipment ${saved.id ?? shipmentId}${details.tracking_number ? ` (${details.tracking_number})` : ''}`,
      operation,
    };
  }

  private async newShipmentParts(orderId: string, record: LocalRecord) {
    const order = `/v2/orders/${encodeURIComponent(orderId)}`;
    const addresses = (await this.client.get<{ id: number }[] | undefined>(`${order}/shipping_addresses`)) ?? [];
    const address = addresses[0];
    if (!address) throw new PushcdcError('STOREFRONT', `order ${orderId} has no shipping address on the storefront`);
    const products = (await this.client.get<BcOrderProduct[] | undefined>(`${order}/products`)) ?? [];
    const sku = textField(record, SKU_COLUMNS);
    const qty = numberField(record, ['ShippedQty', 'Qty', 'Quantity'], 'the shipped quantity');
    const lines = sku ? products.filter((p) => p.sku === sku) : products;
    if (lines.length === 0) {
      throw new PushcdcError('STOREFRONT', `order ${orderId} has no product${sku ? ` with the SKU ${sku}` : 's'} to ship`);
    }
    return {
      order_address_id: address.id,
      items: lines.map((p) => ({ order_product_id: p.id, quantity: sku && qty !== undefined ? qty : p.quantity })),
    };
  }
}
