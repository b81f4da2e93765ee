import type { PoolClient } from '../../db/pool.ts';
import { PushcdcError } from '../../errors.ts';

/**
 * The code of a customer an import creates: the next number of the ERP's customer numbering, `C`
 * and six digits (C000001, the sample data's sequence), as the ERP numbers customers its storefront
 * connector creates from a numbering sequence. A transaction-scoped advisory lock serialises imports
 * that create customers at once; the lookup walks the unique index of customer_cd backwards from the
 * highest code and stops at the first one of that form.
 */
const NUMBERING_LOCK = "hashtext('pushcdc.customer_cd')";

export async function nextCustomerCode(client: PoolClient): Promise<string> {
  await client.query(`SELECT pg_advisory_xact_lock(${NUMBERING_LOCK})`);
  const { rows } = await client.query<{ customer_cd: string }>(
    `SELECT customer_cd FROM customer WHERE customer_cd ~ '^C[0-9]{6}$' ORDER BY customer_cd DESC LIMIT 1`,
  );
  const last = rows[0] ? Number(rows[0].customer_cd.slice(1)) : 0;
  if (last >= 999_999) throw new PushcdcError('DATABASE', 'the customer numbering C000001-C999999 is used up: cannot number a new customer');
  return `C${String(last + 1).padStart(6, '0')}`;
}
