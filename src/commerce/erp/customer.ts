import type { PoolClient } from '../../db/pool.ts';
import { PushcdcError } from '../../errors.ts';
import type { LocalRecord } from '../connector.ts';
import { textField } from '../record-fields.ts';
import { nextNumber } from './numbering.ts';
import type { ErpRecord, ErpWrite, ErpWriter } from './writer.ts';

/**
 * Customer → the ERP's customer (name, email), its primary contact (first/last name, email, phone)
 * and its default billing address: the tables and joins BC-PUSH-Customers reads, written back. The
 * local id is customer_cd (the inquiry's CustomerID, the Customer key of the Commerce Push
 * Destination). Columns the storefront does not have (status, class, price class, credit limit,
 * note, other contacts and addresses) are left as they are; a new customer takes their defaults. An
 * unlinked storefront customer is first matched to an ERP customer with the same email that no
 * storefront customer of the store is linked to, as the export matches storefront customers.
 */
const READ_SQL = `
  SELECT c.customer_cd      AS "CustomerID",
         c.name             AS "CustomerName",
         c.status           AS "Status",
         c.customer_class   AS "CustomerClass",
         c.price_class_id   AS "PriceClassID",
         c.credit_limit     AS "CreditLimit",
         c.email            AS "Email",
         pc.first_name      AS "FirstName",
         pc.last_name       AS "LastName",
         pc.phone           AS "Phone",
         ba.line1           AS "AddressLine1",
         ba.line2           AS "AddressLine2",
         ba.city            AS "City",
         ba.state           AS "State",
         ba.postal_code     AS "PostalCode",
         ba.country_cd      AS "Country",
         c.last_modified_at AS "LastModified",
         -- A change of the contact or the address is a change of the record (the inquiry shows them).
         to_json(date_trunc('milliseconds', GREATEST(c.last_modified_at, pc.last_modified_at, ba.last_modified_at))) #>> '{}' AS modified_at
    FROM customer c
    LEFT JOIN contact pc ON pc.customer_id = c.customer_id AND pc.is_primary = true
    LEFT JOIN address ba ON ba.customer_id = c.customer_id AND ba.is_default_billing = true
   WHERE c.customer_cd = $1`;

interface CustomerFields {
  name: string;
  email: string;
  firstName: string | null;
  lastName: string;
  phone: string | null;
  address: { line1: string; line2: string | null; city: string; state: string | null; postalCode: string | null; country: string } | null;
}

function fields(record: LocalRecord): CustomerFields {
  const text = (names: string[]) => textField(record, names) ?? null;
  const name = text(['CustomerName']);
  const email = text(['Email']);
  const lastName = text(['LastName']) ?? name;
  // The processor's localRecord guarantees these; a record that lacks them is a programming error.
  if (!name || !email || !lastName) throw new PushcdcError('INTERNAL', 'the customer record to import has no CustomerName or Email');
  const line1 = text(['AddressLine1']);
  const city = text(['City']);
  const country = text(['Country']);
  return {
    name,
    email,
    firstName: text(['FirstName']),
    lastName,
    phone: text(['Phone']),
    address:
      line1 && city && country
        ? { line1, line2: text(['AddressLine2']), city, state: text(['State']), postalCode: text(['PostalCode']), country }
        : null,
  };
}

export class CustomerWriter implements ErpWriter {
  readonly entity = 'Customer' as const;

  async read(client: PoolClient, localId: string): Promise<ErpRecord | undefined> {
    const { rows } = await client.query<LocalRecord & { modified_at: string }>(READ_SQL, [localId]);
    const row = rows[0];
    if (!row) return undefined;
    const { modified_at: modifiedAt, ...record } = row;
    return { record, modifiedAt: new Date(modifiedAt).toISOString() };
  }

  async write(client: PoolClient, record: LocalRecord, localId: string | null, link: { store: string; entity: string }): Promise<ErpWrite> {
    const f = fields(record);
    let operation: ErpWrite['operation'] = 'updated';
    let code = localId;
    let id = code === null ? undefined : await this.customerId(client, code);
    if (code === null) {
      code = (await this.matchByEmail(client, f.email, link)) ?? null;
      if (code !== null) {
        id = await this.customerId(client, code);
        operation = 'linked';
      }
    }
    if (id === undefined || code === null) {
      // Not in the ERP: a new customer (under its linked code when the ERP lost the linked one).
      code ??= await nextNumber(client, { name: 'customer', table: 'customer', column: 'customer_cd', prefix: 'C' });
      const { rows } = await client.query<{ customer_id: number }>(
        'INSERT INTO customer (customer_cd, name, email) VALUES ($1, $2, $3) RETURNING customer_id',
        [code, f.name, f.email],
      );
      id = rows[0]!.customer_id;
      operation = 'created';
    } else {
      await client.query('UPDATE customer SET name = $2, email = $3 WHERE customer_id = $1', [id, f.name, f.email]);
    }
    await this.saveContact(client, id, f);
    if (f.address) await this.saveAddress(client, id, f.address);
    return { localId: code, operation };
  }

  private async customerId(client: PoolClient, code: string): Promise<number | undefined> {
    // FOR UPDATE: the row stays ours until the sync link is recorded in the same transaction.
    const { rows } = await client.query<{ customer_id: number }>('SELECT customer_id FROM customer WHERE customer_cd = $1 FOR UPDATE', [code]);
    return rows[0]?.customer_id;
  }

  private async matchByEmail(client: PoolClient, email: string, link: { store: string; entity: string }): Promise<string | undefined> {
    const { rows } = await client.query<{ customer_cd: string }>(
      `SELECT c.customer_cd FROM customer c
        WHERE lower(c.email) = lower($1)
          AND NOT EXISTS (SELECT 1 FROM pushcdc.sync_status s WHERE s.store = $2 AND s.entity = $3 AND s.local_id = c.customer_cd)
        ORDER BY c.customer_cd LIMIT 2`,
      [email, link.store, link.entity],
    );
    if (rows.length > 1) {
      throw new PushcdcError(
        'STORE',
        `more than one ERP customer not yet linked to this store has the email ${email} (${rows.map((r) => r.customer_cd).join(', ')}, ...): cannot tell which one this storefront customer is`,
      );
    }
    return rows[0]?.customer_cd;
  }

  private async saveContact(client: PoolClient, customerId: number, f: CustomerFields): Promise<void> {
    const values = [customerId, f.firstName, f.lastName, f.email, f.phone];
    const updated = await client.query(
      'UPDATE contact SET first_name = $2, last_name = $3, email = $4, phone = $5 WHERE customer_id = $1 AND is_primary',
      values,
    );
    if (updated.rowCount === 0) {
      await client.query('INSERT INTO contact (customer_id, first_name, last_name, email, phone, is_primary) VALUES ($1, $2, $3, $4, $5, true)', values);
    }
  }

  /** The default billing address (the one BC-PUSH-Customers shows); a first address is also the default shipping one. */
  private async saveAddress(client: PoolClient, customerId: number, a: NonNullable<CustomerFields['address']>): Promise<void> {
    const values = [customerId, a.line1, a.line2, a.city, a.state, a.postalCode, a.country];
    const updated = await client.query(
      `UPDATE address SET line1 = $2, line2 = $3, city = $4, state = $5, postal_code = $6, country_cd = $7
        WHERE customer_id = $1 AND is_default_billing`,
      values,
    );
    if (updated.rowCount === 0) {
      await client.query(
        `INSERT INTO address (customer_id, line1, line2, city, state, postal_code, country_cd, is_default_billing, is_default_shipping)
         VALUES ($1, $2, $3, $4, $5, $6, $7, true, NOT EXISTS (SELECT 1 FROM address WHERE customer_id = $1 AND is_default_shipping))`,
        values,
      );
    }
  }
}
