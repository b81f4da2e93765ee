import { PushcdcError } from '../../../errors.ts';
import type { ExportOutcome, LocalRecord, Processor, SyncLink } from '../../connector.ts';
import { numberField, requiredText, InvalidRecordError } from '../../record-fields.ts';
import type { BigCommerceClient } from './client.ts';
import { findProductBySku, SKU_COLUMNS } from './product.ts';

/**
 * ProductAvailability → the product's inventory level at one location, through
 * `PUT /v3/inventory/adjustments/absolute`. Columns: the SKU and QtyAvailable. The product must be on
 * the storefront already (StockItem export creates it); it is found by SKU the first time.
 */
export class AvailabilityProcessor implements Processor {
  readonly entity = 'ProductAvailability' as const;
  readonly webhookScopes = [] as const;

  constructor(
    private readonly client: BigCommerceClient,
    private readonly locationId: number,
  ) {}

  content(record: LocalRecord) {
    const sku = requiredText(record, SKU_COLUMNS, 'the item SKU');
    const available = numberField(record, ['QtyAvailable', 'AvailableQty', 'Available', 'Quantity', 'Qty', 'QtyOnHand'], 'the quantity');
    if (available === undefined) throw new InvalidRecordError('the quantity is missing: the record has no QtyAvailable column');
    // The storefront keeps whole, non-negative levels; an oversold item shows as out of stock.
    return { sku, location_id: this.locationId, quantity: Math.max(0, Math.floor(available)) };
  }

  async exportRecord(record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const { sku, quantity } = this.content(record);
    let productId = link.externId ? Number(link.externId) : undefined;
    if (productId === undefined) {
      const product = await findProductBySku(this.client, sku);
      if (!product) throw new PushcdcError('STOREFRONT', `no storefront product has the SKU ${sku}: export the item first`);
      productId = product.id;
    }
    const sent = {
      reason: 'pushcdc real-time availability',
      items: [{ location_id: this.locationId, product_id: productId, quantity }],
    };
    await this.client.put('/v3/inventory/adjustments/absolute', sent);
    return {
      externId: String(productId),
      externModifiedAt: null,
      sent,
      description: `${sku}: ${quantity} at location ${this.locationId}`,
      operation: link.externId ? 'updated' : 'linked',
    };
  }
}
