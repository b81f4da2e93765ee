import { PushcdcError } from '../../../errors.ts';
import type { EntityName } from '../../../config/stores.ts';
import type { ExportOutcome, LocalRecord, Processor, SyncLink } from '../../connector.ts';
import { compact, numberField, requiredText, textField } from '../../record-fields.ts';
import type { BigCommerceClient, V3Envelope } from './client.ts';

/**
 * StockItem (and NonStockItem) → `/v3/catalog/products`. Columns: InventoryID/InventoryCD (the SKU),
 * Description (the name), BasePrice, Weight. Matching before create: the SKU (`?sku=`).
 */
export interface BcProduct {
  id: number;
  sku: string;
  name: string;
  date_modified?: string;
}

export const SKU_COLUMNS = ['SKU', 'InventoryCD', 'InventoryID', 'ItemCD', 'ItemID'] as const;

export function productBody(record: LocalRecord, type: 'physical' | 'digital') {
  return compact({
    sku: requiredText(record, SKU_COLUMNS, 'the item SKU'),
    name: requiredText(record, ['Description', 'Name', 'ItemName', 'ProductName'], 'the item description'),
    type,
    // Absent columns stay absent: an update must not zero what the inquiry does not carry.
    price: numberField(record, ['BasePrice', 'Price', 'DefaultPrice', 'SalesPrice'], 'the price'),
    weight: numberField(record, ['Weight', 'BaseItemWeight', 'ItemWeight'], 'the weight'),
    description: textField(record, ['LongDescription', 'Body']),
  });
}

/** The one product with this SKU, undefined when none; more than one is an error. */
export async function findProductBySku(client: BigCommerceClient, sku: string): Promise<BcProduct | undefined> {
  const answer = await client.get<V3Envelope<BcProduct[]>>('/v3/catalog/products', { sku });
  // The store filters by exact SKU; filter again in case a proxy or older API does prefix matching.
  const matches = answer.data.filter((p) => p.sku === sku);
  if (matches.length > 1) {
    throw new PushcdcError(
      'STOREFRONT',
      `${matches.length} storefront products have the SKU ${sku} (ids ${matches.map((p) => p.id).join(', ')}): cannot tell which one this item is`,
    );
  }
  return matches[0];
}

export class ProductProcessor implements Processor {
  readonly webhookScopes = [] as const;

  constructor(
    readonly entity: EntityName,
    private readonly type: 'physical' | 'digital',
    private readonly client: BigCommerceClient,
  ) {}

  content(record: LocalRecord) {
    return productBody(record, this.type);
  }

  async exportRecord(record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const body = productBody(record, this.type);
    let id = link.externId ? Number(link.externId) : undefined;
    let operation: ExportOutcome['operation'] = 'updated';
    if (id === undefined) {
      const found = await findProductBySku(this.client, body.sku ?? '');
      if (found) {
        id = found.id;
        operation = 'linked';
      }
    }
    let saved: BcProduct;
    if (id === undefined) {
      // Track inventory on the product so ProductAvailability can set its level.
      // price and weight are required on create.
      const created = await this.client.post<V3Envelope<BcProduct>>('/v3/catalog/products', {
        price: 0,
        weight: 0,
        ...body,
        inventory_tracking: this.type === 'physical' ? 'product' : 'none',
      });
      saved = created.data;
      operation = 'created';
    } else {
      const { type: _type, ...changes } = body;
      saved = (await this.client.put<V3Envelope<BcProduct>>(`/v3/catalog/products/${id}`, changes)).data;
    }
    return {
      externId: String(saved.id),
      externModifiedAt: saved.date_modified ?? null,
      sent: body,
      description: `${body.sku} ${body.name}`,
      operation,
    };
  }

  async externModifiedAt(externId: string): Promise<string | null> {
    const answer = await this.client.get<V3Envelope<BcProduct>>(`/v3/catalog/products/${externId}`);
    return answer.data.date_modified ?? null;
  }
}
