import type { LocalRecord } from '../../connector.ts';
import { InvalidRecordError, scalarText as text } from '../../record-fields.ts';

/**
 * The import side of customer.ts: a storefront customer as `GET /v3/customers?include=addresses`
 * answers it → a local record with the BC-PUSH-Customers columns, the reverse of customerBody and
 * addressBody. company → CustomerName (else "first last": the ERP needs a name), email → Email,
 * first_name/last_name → FirstName/LastName (a missing one takes the other, as the export fills
 * both from a one-word name), phone → Phone, the first address (the one the export writes) →
 * AddressLine1/2, City, State, PostalCode, Country. The ERP writer stores these columns; keeping the
 * inquiry's names lets the export's `content` hash what was stored (the echo check).
 */
interface BcAddressIn {
  address1?: unknown;
  address2?: unknown;
  city?: unknown;
  state_or_province?: unknown;
  postal_code?: unknown;
  country_code?: unknown;
}

function addressColumns(address: BcAddressIn | undefined): LocalRecord {
  if (!address) return {};
  const line1 = text(address.address1);
  const city = text(address.city);
  const country = text(address.country_code)?.toUpperCase() ?? null;
  // The ERP's address needs a street, a city and an ISO country code (NOT NULL, char(2)).
  if (!line1) throw new InvalidRecordError('the storefront customer\'s address has no street (address1)');
  if (!city) throw new InvalidRecordError('the storefront customer\'s address has no city');
  if (!country || !/^[A-Z]{2}$/.test(country)) {
    throw new InvalidRecordError(`the storefront customer's address has no two-letter country code (country_code: ${JSON.stringify(address.country_code ?? null)})`);
  }
  return {
    AddressLine1: line1,
    AddressLine2: text(address.address2),
    City: city,
    State: text(address.state_or_province),
    PostalCode: text(address.postal_code),
    Country: country,
  };
}

export function customerLocalRecord(received: unknown): LocalRecord {
  if (received === null || typeof received !== 'object') throw new InvalidRecordError('the storefront customer is not an object');
  const customer = received as Record<string, unknown>;
  const email = text(customer.email);
  if (!email) throw new InvalidRecordError('the storefront customer has no email');
  const first = text(customer.first_name);
  const last = text(customer.last_name);
  const name = text(customer.company) ?? ([first, last].filter((part) => part !== null).join(' ') || null);
  if (!name) throw new InvalidRecordError('the storefront customer has no company and no first or last name');
  const addresses = Array.isArray(customer.addresses) ? (customer.addresses as unknown[]) : [];
  const address = addresses.find((a): a is BcAddressIn => a !== null && typeof a === 'object');
  return {
    CustomerName: name,
    Email: email,
    FirstName: first ?? last,
    LastName: last ?? first ?? name,
    Phone: text(customer.phone),
    ...addressColumns(address),
  };
}
