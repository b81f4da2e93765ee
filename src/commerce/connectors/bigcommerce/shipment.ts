import { PushcdcError } from '../../../errors.ts';
import type { ExportOutcome, LocalRecord, Processor, SyncLink } from '../../connector.ts';
import { compact, InvalidRecordError, numberField, textField } from '../../record-fields.ts';
import type { BigCommerceClient } from './client.ts';
import { ORDER_REF_COLUMNS } from './order.ts';
import { SKU_COLUMNS } from './product.ts';

/**
 * Shipment → `/v2/orders/{order}/shipments`. The extern id is `<order id>/<shipment id>`. The order
 * is the row's ExternalRef, else the extern_id its SalesOrder got in sync_status. A new shipment
 * ships to the order's first shipping address: the row's item (InventoryID, ShippedQty) when the row
 * names one, else all the order's products. BC-PUSH-Shipments has one row per shipment line and the
 * commerce message carries the record's last row, so a multi-line shipment ships its last line only
 * (see the issue note). An existing shipment with the same tracking number is linked, not duplicated.
 */
function shipmentDetails(record: LocalRecord) {
  return compact({
    tracking_number: textField(record, ['TrackingNbr', 'TrackingNumber', 'Tracking']) ?? '',
    shipping_method: textField(record, ['Carrier', 'ShipVia', 'ShippingMethod']),
    comments: textField(record, ['ShipmentNbr', 'ShipmentID']),
  });
}

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

  content(record: LocalRecord) {
    return {
      ...shipmentDetails(record),
      sku: textField(record, SKU_COLUMNS) ?? null,
      quantity: numberField(record, ['ShippedQty', 'Qty', 'Quantity'], 'the shipped quantity') ?? null,
    };
  }

  async exportRecord(record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const [linkedOrder, linkedShipment] = link.externId?.split('/') ?? [];
    const orderId = linkedOrder ?? textField(record, ORDER_REF_COLUMNS) ?? (await this.syncedOrder(record, link));
    if (!orderId) {
      throw new InvalidRecordError(
        'the shipment\'s order is not on the storefront: the row has no ExternalRef and its SalesOrder (OrderType|OrderNbr) has no extern_id in sync_status',
      );
    }
    const base = `/v2/orders/${encodeURIComponent(orderId)}/shipments`;
    const details = shipmentDetails(record);
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

  /** The order's storefront id from its own sync status (SalesOrder local id `OrderType|OrderNbr`). */
  private async syncedOrder(record: LocalRecord, link: SyncLink): Promise<string | undefined> {
    const type = textField(record, ['OrderType']);
    const nbr = textField(record, ['OrderNbr', 'OrderNumber']);
    if (!nbr || !link.externIdOf) return undefined;
    return (await link.externIdOf('SalesOrder', type ? `${type}|${nbr}` : nbr)) ?? undefined;
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
