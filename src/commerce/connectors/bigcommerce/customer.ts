import { PushcdcError } from '../../../errors.ts';
import type { ExportOutcome, ImportOutcome, LocalRecord, Processor, SyncLink } from '../../connector.ts';
import { compact, requiredText, textField } from '../../record-fields.ts';
import type { BigCommerceClient, V3Envelope } from './client.ts';
import { customerLocalRecord } from './customer-local.ts';

/**
 * Customer ⇄ `/v3/customers` with its address (`/v3/customers/addresses`). Export columns (the
 * BC-PUSH-Customers inquiry, looked up by several spellings): CustomerID, CustomerName, Email,
 * FirstName/LastName (else split from the contact or customer name), Phone, AddressLine1/2, City,
 * State, PostalCode, Country. Matching before create: the customer's email (`email:in`). Imports
 * fetch the customer with its addresses and map it back to those columns (customer-local.ts).
 */
interface BcCustomer {
  id: number;
  email: string;
  first_name: string;
  last_name: string;
  date_modified?: string;
}

interface BcAddress {
  id: number;
  customer_id: number;
}

const COLUMNS = {
  email: ['Email', 'EMail', 'ContactEmail', 'CustomerEmail', 'email_address'],
  firstName: ['FirstName', 'ContactFirstName', 'first_name'],
  lastName: ['LastName', 'ContactLastName', 'last_name'],
  name: ['CustomerName', 'Name', 'AccountName', 'ContactName', 'DisplayName'],
  phone: ['Phone', 'ContactPhone', 'Phone1'],
  line1: ['AddressLine1', 'Line1', 'Address1', 'Street', 'AddressLine'],
  line2: ['AddressLine2', 'Line2', 'Address2'],
  city: ['City', 'AddressCity'],
  state: ['State', 'StateOrProvince', 'StateID', 'Province', 'AddressState'],
  postalCode: ['PostalCode', 'ZipCode', 'Zip', 'PostCode', 'AddressPostalCode'],
  country: ['Country', 'CountryCD', 'CountryID', 'CountryCode', 'AddressCountry'],
} as const;

/** BigCommerce requires both names; a one-word name goes into both, as the ERP's connector does. */
function names(record: LocalRecord): { first: string; last: string } {
  const first = textField(record, COLUMNS.firstName);
  const last = textField(record, COLUMNS.lastName);
  if (first && last) return { first, last };
  const whole = last ?? first ?? requiredText(record, COLUMNS.name, 'the customer name');
  const space = whole.lastIndexOf(' ');
  return space > 0 ? { first: whole.slice(0, space), last: whole.slice(space + 1) } : { first: whole, last: whole };
}

export function customerBody(record: LocalRecord) {
  const { first, last } = names(record);
  return compact({
    email: requiredText(record, COLUMNS.email, 'the customer email'),
    first_name: first,
    last_name: last,
    company: textField(record, COLUMNS.name),
    phone: textField(record, COLUMNS.phone),
  });
}

export function addressBody(record: LocalRecord) {
  const address1 = textField(record, COLUMNS.line1);
  if (!address1) return undefined;
  const { first, last } = names(record);
  return compact({
    first_name: first,
    last_name: last,
    company: textField(record, COLUMNS.name),
    address1,
    address2: textField(record, COLUMNS.line2),
    city: requiredText(record, COLUMNS.city, 'the address city'),
    state_or_province: textField(record, COLUMNS.state),
    postal_code: textField(record, COLUMNS.postalCode),
    country_code: requiredText(record, COLUMNS.country, 'the address country'),
    phone: textField(record, COLUMNS.phone),
  });
}

export class CustomerProcessor implements Processor {
  readonly entity = 'Customer' as const;
  readonly webhookScopes = [
    'store/customer/created',
    'store/customer/updated',
    'store/customer/deleted',
    'store/customer/address/created',
    'store/customer/address/updated',
    'store/customer/address/deleted',
  ] as const;

  constructor(private readonly client: BigCommerceClient) {}

  content(record: LocalRecord) {
    return { customer: customerBody(record), address: addressBody(record) ?? null };
  }

  async exportRecord(record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const customer = customerBody(record);
    const address = addressBody(record);
    let id = link.externId ? Number(link.externId) : undefined;
    let operation: ExportOutcome['operation'] = 'updated';
    if (id === undefined) {
      const found = await this.findByEmail(customer.email ?? '');
      if (found) {
        id = found.id;
        operation = 'linked';
      }
    }
    let saved: BcCustomer | undefined;
    if (id === undefined) {
      // A new customer is created with its address in one call.
      const created = await this.client.post<V3Envelope<BcCustomer[]>>('/v3/customers', [
        { ...customer, ...(address ? { addresses: [address] } : {}) },
      ]);
      saved = created.data[0];
      operation = 'created';
    } else {
      // Address first: the customer's date_modified from the last write is the stamp kept for the
      // next direction check, and an address write may move it on the store.
      if (address) await this.saveAddress(id, address);
      const updated = await this.client.put<V3Envelope<BcCustomer[]>>('/v3/customers', [{ id, ...customer }]);
      saved = updated.data[0];
    }
    if (!saved) throw new PushcdcError('STOREFRONT', 'the storefront answered without the saved customer');
    return {
      externId: String(saved.id),
      externModifiedAt: saved.date_modified ?? null,
      sent: this.content(record),
      description: `${customer.first_name} ${customer.last_name} <${customer.email}>`,
      operation,
    };
  }

  async externModifiedAt(externId: string): Promise<string | null> {
    const answer = await this.client.get<V3Envelope<BcCustomer[]>>('/v3/customers', { 'id:in': externId });
    return answer.data[0]?.date_modified ?? null;
  }

  async importRecord(hook: LocalRecord, link: SyncLink): Promise<ImportOutcome> {
    const data = (hook.data ?? {}) as { id?: unknown; address?: { customer_id?: unknown } };
    // Address callbacks carry the address id in `id` and the customer in `address.customer_id`.
    const id = String(data.address?.customer_id ?? data.id ?? link.externId ?? '');
    if (!id) throw new PushcdcError('STOREFRONT', 'the customer webhook carries no customer id');
    const answer = await this.client.get<V3Envelope<BcCustomer[]>>('/v3/customers', { 'id:in': id, include: 'addresses' });
    const customer = answer.data[0];
    if (!customer) throw new PushcdcError('STOREFRONT', `customer ${id} is not on the storefront (deleted since the webhook?)`);
    return {
      externId: String(customer.id),
      externModifiedAt: customer.date_modified ?? null,
      received: customer,
      description: `${customer.first_name} ${customer.last_name} <${customer.email}>`,
    };
  }

  localRecord(received: unknown): LocalRecord {
    return customerLocalRecord(received);
  }

  private async findByEmail(email: string): Promise<BcCustomer | undefined> {
    const answer = await this.client.get<V3Envelope<BcCustomer[]>>('/v3/customers', { 'email:in': email });
    if (answer.data.length > 1) {
      throw new PushcdcError(
        'STOREFRONT',
        `${answer.data.length} storefront customers have the email ${email} (ids ${answer.data.map((c) => c.id).join(', ')}): cannot tell which one this customer is`,
      );
    }
    return answer.data[0];
  }

  /** Updates the customer's first address, or adds one when it has none. */
  private async saveAddress(customerId: number, address: NonNullable<ReturnType<typeof addressBody>>): Promise<void> {
    const existing = await this.client.get<V3Envelope<BcAddress[]>>('/v3/customers/addresses', { 'customer_id:in': customerId });
    const first = existing.data[0];
    if (first) await this.client.put('/v3/customers/addresses', [{ id: first.id, ...address }]);
    else await this.client.post('/v3/customers/addresses', [{ customer_id: customerId, ...address }]);
  }
}
