import type { PoolClient } from '../../db/pool.ts';
import { PushcdcError } from '../../errors.ts';

/**
 * The number of a sales order an import creates: the next of the SO order type's numbering, six
 * digits (000001, the sample data's sequence; each order type numbers its own orders). Serialised
 * like customer codes (customer-code.ts), found through the primary key's index backwards.
 */
export async function nextOrderNbr(client: PoolClient, orderType: string): Promise<string> {
  await client.query("SELECT pg_advisory_xact_lock(hashtext('pushcdc.sales_order'), hashtext($1))", [orderType]);
  const { rows } = await client.query<{ order_nbr: string }>(
    `SELECT order_nbr FROM sales_order WHERE order_type = $1 AND order_nbr ~ '^[0-9]{6}$' ORDER BY order_nbr DESC LIMIT 1`,
    [orderType],
  );
  const last = rows[0] ? Number(rows[0].order_nbr) : 0;
  if (last >= 999_999) throw new PushcdcError('DATABASE', `the ${orderType} order numbering 000001-999999 is used up: cannot number a new order`);
  return String(last + 1).padStart(6, '0');
}
