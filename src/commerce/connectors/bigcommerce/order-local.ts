import type { LocalRecord } from '../../connector.ts';
import { InvalidRecordError, scalarText as text } from '../../record-fields.ts';

/**
 * The import side of order.ts: a storefront order (`GET /v2/orders/{id}` with its
 * `/v2/orders/{id}/products` as `products`) → a local record in the BC-PUSH-Orders columns, with the
 * lines in `Lines`: id → ExternalRef, status_id → Status (the reverse of order.ts's map),
 * date_created → Date, currency_code → CurrencyID, total_inc_tax → OrderTotal, customer_id →
 * CustomerExternID (the ERP writer finds the customer through the Customer sync link), each product
 * → a line: sku → InventoryID, quantity → OrderQty, price_ex_tax → UnitPrice, total_ex_tax →
 * ExtAmount, name → Description.
 */
const ERP_STATUS: Record<number, string> = {
  1: 'H', 7: 'H', 12: 'H', 13: 'H', // pending, awaiting payment, manual verification, disputed
  11: 'N', // awaiting fulfillment
  3: 'S', 8: 'S', 9: 'S', // partially shipped, awaiting pickup, awaiting shipment
  2: 'C', 10: 'C', 14: 'C', // shipped, completed, partially refunded
  4: 'L', 5: 'L', 6: 'L', // refunded, cancelled, declined
};

export interface OrderLine {
  InventoryID: string;
  OrderQty: string;
  UnitPrice: string;
  ExtAmount: string;
  Description: string | null;
}

/** Money and quantities stay decimal strings (the API sends "12.5000"): no rounding through doubles. */
function decimal(value: unknown, what: string): string {
  const t = text(value);
  if (t === null || !/^-?\d+(\.\d+)?$/.test(t)) throw new InvalidRecordError(`the storefront order's ${what} is not a number: ${JSON.stringify(value ?? null)}`);
  return t;
}

function line(product: unknown, index: number): OrderLine {
  const p = (product ?? {}) as Record<string, unknown>;
  const sku = text(p.sku);
  if (!sku) throw new InvalidRecordError(`line ${index + 1} of the storefront order has no SKU`);
  return {
    InventoryID: sku,
    OrderQty: decimal(p.quantity, `line ${index + 1} quantity`),
    UnitPrice: decimal(p.price_ex_tax ?? 0, `line ${index + 1} price`),
    ExtAmount: decimal(p.total_ex_tax ?? 0, `line ${index + 1} total`),
    Description: text(p.name),
  };
}

export function orderLocalRecord(received: unknown): LocalRecord {
  if (received === null || typeof received !== 'object') throw new InvalidRecordError('the storefront order is not an object');
  const order = received as Record<string, unknown>;
  const id = text(order.id);
  if (!id) throw new InvalidRecordError('the storefront order has no id');
  const statusId = Number(order.status_id);
  const status = ERP_STATUS[statusId];
  if (!status) throw new InvalidRecordError(`the storefront order's status ${JSON.stringify(order.status ?? order.status_id)} has no ERP order status`);
  const customerId = text(order.customer_id);
  // Guest checkouts (customer_id 0) have no storefront customer to link an ERP customer to.
  if (!customerId || customerId === '0') throw new InvalidRecordError('the storefront order has no customer (a guest checkout): the ERP needs one');
  const created = Date.parse(String(order.date_created ?? ''));
  if (!Number.isFinite(created)) throw new InvalidRecordError(`the storefront order has no creation date: ${JSON.stringify(order.date_created ?? null)}`);
  const products = Array.isArray(order.products) ? (order.products as unknown[]) : [];
  const currency = text(order.currency_code)?.toUpperCase() ?? 'USD';
  if (!/^[A-Z]{3}$/.test(currency)) throw new InvalidRecordError(`the storefront order's currency ${JSON.stringify(order.currency_code)} is not an ISO code`);
  return {
    ExternalRef: id,
    Status: status,
    Date: new Date(created).toISOString().slice(0, 10),
    CurrencyID: currency,
    OrderTotal: decimal(order.total_inc_tax ?? 0, 'total'),
    CustomerExternID: customerId,
    Lines: products.map(line),
  };
}
