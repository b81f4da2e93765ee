import type { PoolClient } from '../../db/pool.ts';
import { PushcdcError } from '../../errors.ts';
import type { LocalRecord } from '../connector.ts';
import { InvalidRecordError, textField } from '../record-fields.ts';
import { nextNumber } from './numbering.ts';
import type { ErpRecord, ErpWrite, ErpWriter } from './writer.ts';

/**
 * SalesOrder → the ERP's sales_order (type SO) and its sales_order_line rows: what BC-PUSH-Orders
 * reads, written back. The local id is `SO|<order nbr>` (the inquiry's OrderType|OrderNbr); the
 * storefront order id goes to extern_ref. The customer is the ERP customer linked to the order's
 * storefront customer through the store's Customer sync status (import or export it first); items
 * are found by SKU (inventory_cd), stock items at their default warehouse. Lines are kept by line
 * number: the storefront's n-th product is line n, lines beyond its products are deleted (refused by
 * the database if shipped). An unlinked storefront order is first matched by extern_ref.
 */
const ORDER_TYPE = 'SO';

const READ_SQL = `
  SELECT so.order_type       AS "OrderType",
         so.order_nbr        AS "OrderNbr",
         so.status           AS "Status",
         so.order_date       AS "Date",
         c.customer_cd       AS "CustomerID",
         so.currency_id      AS "CurrencyID",
         so.order_total      AS "OrderTotal",
         so.extern_ref       AS "ExternalRef",
         to_json(date_trunc('milliseconds', so.last_modified_at)) #>> '{}' AS modified_at
    FROM sales_order so
    JOIN customer c ON c.customer_id = so.customer_id
   WHERE so.order_type = $1 AND so.order_nbr = $2`;

interface LineFields {
  InventoryID: string;
  OrderQty: string;
  UnitPrice: string;
  ExtAmount: string;
  Description: string | null;
}

function splitLocalId(localId: string): { type: string; nbr: string } {
  const [type, nbr] = localId.split('|');
  if (!type || !nbr) throw new PushcdcError('INTERNAL', `sales order local id "${localId}" is not OrderType|OrderNbr`);
  return { type, nbr };
}

export class SalesOrderWriter implements ErpWriter {
  readonly entity = 'SalesOrder' as const;

  async read(client: PoolClient, localId: string): Promise<ErpRecord | undefined> {
    const { type, nbr } = splitLocalId(localId);
    const { rows } = await client.query<LocalRecord & { modified_at: string }>(READ_SQL, [type, nbr]);
    const row = rows[0];
    if (!row) return undefined;
    const { modified_at: modifiedAt, ...record } = row;
    return { record, modifiedAt: new Date(modifiedAt).toISOString() };
  }

  async write(client: PoolClient, record: LocalRecord, localId: string | null, link: { store: string; entity: string }): Promise<ErpWrite> {
    const externRef = textField(record, ['ExternalRef']);
    const status = textField(record, ['Status']);
    const date = textField(record, ['Date']);
    if (!externRef || !status || !date) throw new PushcdcError('INTERNAL', 'the sales order record to import has no ExternalRef, Status or Date');
    const currency = textField(record, ['CurrencyID']) ?? 'USD';
    const total = textField(record, ['OrderTotal']) ?? '0';
    let operation: ErpWrite['operation'] = 'updated';
    let key = localId === null ? undefined : splitLocalId(localId);
    let found = key === undefined ? false : await this.lock(client, key.type, key.nbr);
    if (key === undefined) {
      key = await this.matchByExternRef(client, externRef);
      if (key) {
        found = await this.lock(client, key.type, key.nbr);
        operation = 'linked';
      }
    }
    if (!found || key === undefined) {
      // Not in the ERP: a new order (under its linked number when the ERP lost the linked one).
      const customerId = await this.customer(client, link.store, textField(record, ['CustomerExternID']) ?? '');
      key ??= {
        type: ORDER_TYPE,
        nbr: await nextNumber(client, { name: `${ORDER_TYPE} order`, table: 'sales_order', column: 'order_nbr', prefix: '', scope: { column: 'order_type', value: ORDER_TYPE } }),
      };
      await client.query(
        `INSERT INTO sales_order (order_type, order_nbr, customer_id, status, order_date, currency_id, order_total, extern_ref)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [key.type, key.nbr, customerId, status, date, currency, total, externRef],
      );
      operation = 'created';
    } else {
      // The order's customer and date stay as the ERP has them: the storefront does not move orders between customers.
      await client.query(
        'UPDATE sales_order SET status = $3, currency_id = $4, order_total = $5, extern_ref = $6 WHERE order_type = $1 AND order_nbr = $2',
        [key.type, key.nbr, status, currency, total, externRef],
      );
    }
    await this.saveLines(client, key.type, key.nbr, Array.isArray(record.Lines) ? (record.Lines as LineFields[]) : []);
    return { localId: `${key.type}|${key.nbr}`, operation };
  }

  /** The ERP customer linked to the storefront customer; none is a failure the customer's sync can fix. */
  private async customer(client: PoolClient, store: string, externCustomerId: string): Promise<number> {
    const { rows } = await client.query<{ customer_id: number }>(
      `SELECT c.customer_id FROM pushcdc.sync_status s JOIN customer c ON c.customer_cd = s.local_id
        WHERE s.store = $1 AND s.entity = 'Customer' AND s.extern_id = $2`,
      [store, externCustomerId],
    );
    const row = rows[0];
    if (!row) {
      throw new PushcdcError('STORE', `the order's storefront customer ${externCustomerId} is not linked to an ERP customer: sync the Customer first`);
    }
    return row.customer_id;
  }

  private async lock(client: PoolClient, type: string, nbr: string): Promise<boolean> {
    const { rows } = await client.query('SELECT 1 FROM sales_order WHERE order_type = $1 AND order_nbr = $2 FOR UPDATE', [type, nbr]);
    return rows.length > 0;
  }

  private async matchByExternRef(client: PoolClient, externRef: string): Promise<{ type: string; nbr: string } | undefined> {
    const { rows } = await client.query<{ order_nbr: string }>(
      'SELECT order_nbr FROM sales_order WHERE extern_ref = $1 AND order_type = $2 ORDER BY order_nbr LIMIT 2',
      [externRef, ORDER_TYPE],
    );
    if (rows.length > 1) throw new PushcdcError('STORE', `more than one ERP sales order has the storefront order id ${externRef}: cannot tell which one it is`);
    return rows[0] ? { type: ORDER_TYPE, nbr: rows[0].order_nbr } : undefined;
  }

  private async saveLines(client: PoolClient, type: string, nbr: string, lines: LineFields[]): Promise<void> {
    const skus = [...new Set(lines.map((l) => l.InventoryID))];
    const { rows: items } = await client.query<{ inventory_cd: string; inventory_id: number; default_warehouse_id: number | null }>(
      'SELECT inventory_cd, inventory_id, default_warehouse_id FROM inventory_item WHERE inventory_cd = ANY($1)',
      [skus],
    );
    const byCd = new Map(items.map((i) => [i.inventory_cd, i]));
    const missing = skus.filter((sku) => !byCd.has(sku));
    if (missing.length > 0) throw new InvalidRecordError(`the order has SKUs the ERP has no item for: ${missing.join(', ')}`);
    for (const [index, l] of lines.entries()) {
      const item = byCd.get(l.InventoryID)!;
      await client.query(
        `INSERT INTO sales_order_line (order_type, order_nbr, line_nbr, inventory_id, warehouse_id, description, order_qty, unit_price, line_amount)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (order_type, order_nbr, line_nbr) DO UPDATE SET
           inventory_id = EXCLUDED.inventory_id, warehouse_id = EXCLUDED.warehouse_id, description = EXCLUDED.description,
           order_qty = EXCLUDED.order_qty, unit_price = EXCLUDED.unit_price, line_amount = EXCLUDED.line_amount`,
        [type, nbr, index + 1, item.inventory_id, item.default_warehouse_id, l.Description, l.OrderQty, l.UnitPrice, l.ExtAmount],
      );
    }
    await client.query('DELETE FROM sales_order_line WHERE order_type = $1 AND order_nbr = $2 AND line_nbr > $3', [type, nbr, lines.length]);
  }
}
