import type { PoolClient } from '../../db/pool.ts';
import { PushcdcError } from '../../errors.ts';

/**
 * The number of a record an import creates: the next of the ERP's numbering, a prefix and six
 * digits, as the sample data numbers its customers (C000001) and each order type its orders (000001).
 * A transaction-scoped advisory lock per numbering serialises imports that create records at once;
 * the lookup walks the key's unique index backwards from the highest value and stops at the first
 * one of that form.
 */
export interface Numbering {
  /** Names the numbering (and its lock), as in messages: "customer", "SO order". */
  name: string;
  table: 'customer' | 'sales_order';
  column: 'customer_cd' | 'order_nbr';
  prefix: string;
  /** Only rows where this column has this value take part (each order type numbers its own orders). */
  scope?: { column: 'order_type'; value: string };
}

export async function nextNumber(client: PoolClient, numbering: Numbering): Promise<string> {
  const { name, table, column, prefix, scope } = numbering;
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pushcdc.numbering.${name}`]);
  const { rows } = await client.query<{ value: string }>(
    `SELECT ${column} AS value FROM ${table}
      WHERE ${column} ~ $1${scope ? ` AND ${scope.column} = $2` : ''}
      ORDER BY ${column} DESC LIMIT 1`,
    [`^${prefix}[0-9]{6}$`, ...(scope ? [scope.value] : [])],
  );
  const last = rows[0] ? Number(rows[0].value.slice(prefix.length)) : 0;
  if (last >= 999_999) throw new PushcdcError('DATABASE', `the ${name} numbering ${prefix}000001-${prefix}999999 is used up: cannot number a new one`);
  return `${prefix}${String(last + 1).padStart(6, '0')}`;
}
