import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import type { CommerceMessage } from '../../src/commerce/message.ts';
import { setRealtimeStatus } from '../../src/commerce/realtime-state.ts';
import { createCommerceRole, type RunningCommerce } from '../../src/commerce/role.ts';
import { BigCommerceSimulator, type SimCustomer } from '../support/bigcommerce-simulator.ts';
import { useTestContext } from '../support/isolation.ts';
import { bigCommerceHooks, engineContext, exportMessage, makeDir, publish, shippedInquirySql, waitFor } from './harness.ts';

/**
 * Customer import in prepare-and-process mode (SPEC section 7): a BigCommerce customer webhook ends
 * with the customer in the sample ERP's tables and its sync row `processed`, and the export echo of
 * that ERP write (the BC-PUSH-Customers row it changes) is recognised as unchanged, not pushed back.
 * The echo is the shipped inquiry's row read from the database, published as the Commerce Push
 * Destination would.
 */
const DEBOUNCE_MS = 300;
const t = useTestContext('commerce-customer-import');
let sim: BigCommerceSimulator;
let role: RunningCommerce;
let broker: Broker;
let removeDir: () => Promise<void>;
let inquirySql: string;

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const store = (name: string, entity: Record<string, unknown>) => ({
    name,
    connector: 'bigcommerce',
    baseUrl: sim.baseUrl,
    accessToken: sim.token,
    entities: { Customer: entity },
  });
  const made = await makeDir([
    store('imp', { direction: 'bidirectional', realtimeMode: 'prepare-and-process', primarySystem: 'erp', maxFailedAttempts: 3 }),
    store('prep', { direction: 'import', realtimeMode: 'prepare' }),
    store('xprim', { direction: 'bidirectional', realtimeMode: 'prepare-and-process', primarySystem: 'external' }),
  ]);
  removeDir = made.remove;
  const ctx = await engineContext(t, made.dir, { PUSHCDC_DEBOUNCE_MS: String(DEBOUNCE_MS) });
  broker = ctx.broker;
  await setRealtimeStatus(t.pool, 'imp', 'Customer', 'import', 'running');
  await setRealtimeStatus(t.pool, 'imp', 'Customer', 'export', 'running');
  await setRealtimeStatus(t.pool, 'prep', 'Customer', 'import', 'running');
  await setRealtimeStatus(t.pool, 'xprim', 'Customer', 'import', 'running');
  // An ERP customer numbered C000041: new customers continue the numbering.
  await t.pool.query(`INSERT INTO customer (customer_cd, name, email) VALUES ('C000041', 'Seeded Ltd', 'seeded@example.com')`);
  inquirySql = await shippedInquirySql('BC-PUSH-Customers');
  role = await createCommerceRole({ prefetch: 100 })(ctx);
});

afterAll(async () => {
  await role?.stop();
  await broker?.close();
  await sim?.close();
  await removeDir?.();
});

const hooks = bigCommerceHooks(() => sim.storeHash, 1);

/** The commerceQueue message the webhook receiver makes of a BigCommerce customer callback. */
const hook = (store: string, customerId: number): CommerceMessage => hooks(store, 'store/customer/updated', 'customer', customerId);

/** A change on the storefront: a later date_modified. */
function touch(customer: SimCustomer): void {
  customer.date_modified = new Date(Math.max(Date.now(), Date.parse(customer.date_modified) + 1)).toISOString();
}

interface ImportRow {
  local_id: string | null;
  status: string;
  last_operation: string | null;
  last_error: string | null;
  extern_hash: string | null;
  attempt_count: number;
  pending_sync: boolean;
}

async function importRow(store: string, externId: number): Promise<ImportRow | undefined> {
  const { rows } = await t.pool.query<ImportRow>(
    `SELECT local_id, status, last_operation, last_error, extern_hash, attempt_count, pending_sync
       FROM pushcdc.sync_status WHERE store = $1 AND entity = 'Customer' AND extern_id = $2`,
    [store, String(externId)],
  );
  return rows[0];
}

const rowWith = (what: string, store: string, externId: number, check: (r: ImportRow) => boolean) =>
  waitFor(what, async () => {
    const r = await importRow(store, externId);
    return r !== undefined && check(r) && r;
  });

async function erpCustomer(code: string) {
  const { rows } = await t.pool.query(
    `SELECT c.customer_cd, c.name, c.email, c.status, c.credit_limit, pc.first_name, pc.last_name, pc.email AS contact_email, pc.phone,
            ba.line1, ba.line2, ba.city, ba.state, ba.postal_code, ba.country_cd, ba.is_default_shipping
       FROM customer c
       LEFT JOIN contact pc ON pc.customer_id = c.customer_id AND pc.is_primary
       LEFT JOIN address ba ON ba.customer_id = c.customer_id AND ba.is_default_billing
      WHERE c.customer_cd = $1`,
    [code],
  );
  return rows[0] as Record<string, unknown> | undefined;
}

/** The customer's BC-PUSH-Customers row, as capture would publish it after a change. */
async function inquiryRow(code: string): Promise<Record<string, unknown>> {
  const { rows } = await t.pool.query<Record<string, unknown>>(`SELECT * FROM (${inquirySql}) q WHERE "CustomerID" = $1`, [code]);
  if (!rows[0]) throw new Error(`BC-PUSH-Customers has no row for ${code}`);
  return rows[0];
}

/** The export message of a change to that customer, stamped with its commit time as capture does. */
async function echo(code: string): Promise<CommerceMessage> {
  return { ...exportMessage('imp', 'Customer', code, await inquiryRow(code)), at: new Date().toISOString() };
}

const customersWithEmail = async (email: string) =>
  Number((await t.pool.query<{ n: string }>('SELECT count(*) AS n FROM customer WHERE lower(email) = lower($1)', [email])).rows[0]!.n);

describe('Customer import, prepare-and-process', () => {
  let nora: SimCustomer;
  let noraCode: string;

  it('a new storefront customer is created in the ERP with the next customer code; the sync row is processed and linked', async () => {
    nora = sim.addCustomer({ email: 'nora@example.com', first_name: 'Nora', last_name: 'Nordmann' });
    Object.assign(nora, { company: 'Nordic AS', phone: '+47 555' });
    sim.addCustomerAddress(nora.id, {
      first_name: 'Nora',
      last_name: 'Nordmann',
      address1: '2 Fjord Road',
      city: 'Oslo',
      state_or_province: 'Oslo',
      postal_code: '0150',
      country_code: 'no',
    });
    await publish(broker, t.names.commerceQueue, [hook('imp', nora.id)]);
    const row = await rowWith('the import processed', 'imp', nora.id, (r) => r.status === 'processed');
    expect(row).toMatchObject({ local_id: 'C000042', last_operation: 'import-created', last_error: null, attempt_count: 0, pending_sync: false });
    expect(row.extern_hash).toMatch(/^[0-9a-f]{64}$/);
    noraCode = row.local_id!;
    expect(await erpCustomer(noraCode)).toMatchObject({
      name: 'Nordic AS',
      email: 'nora@example.com',
      status: 'A',
      first_name: 'Nora',
      last_name: 'Nordmann',
      contact_email: 'nora@example.com',
      phone: '+47 555',
      line1: '2 Fjord Road',
      line2: null,
      city: 'Oslo',
      state: 'Oslo',
      postal_code: '0150',
      country_cd: 'NO',
      is_default_shipping: true,
    });
    // Nothing was written to the storefront.
    expect(sim.calls().filter((c) => c.method !== 'GET')).toHaveLength(0);
  });

  it('the export echo of that ERP write is recognised as unchanged: nothing is pushed back', async () => {
    const before = sim.calls().length;
    const unchangedBefore = role.stats().outcomes.unchanged ?? 0;
    await publish(broker, t.names.commerceQueue, [await echo(noraCode)]);
    await waitFor('the echo handled', async () => (role.stats().outcomes.unchanged ?? 0) > unchangedBefore);
    const row = await importRow('imp', nora.id);
    expect(row).toMatchObject({ local_id: noraCode, status: 'processed', last_operation: 'unchanged', pending_sync: false });
    // One look at the storefront's stamp, no write.
    expect(sim.calls().slice(before).map((c) => `${c.method} ${c.path}`)).toEqual(['GET /v3/customers']);
  });

  it('a webhook for a storefront customer unchanged since the last sync (the echo of our own export) writes nothing', async () => {
    const { rows: [before] } = await t.pool.query<{ last_modified_at: string }>('SELECT last_modified_at FROM customer WHERE customer_cd = $1', [noraCode]);
    await publish(broker, t.names.commerceQueue, [hook('imp', nora.id)]);
    await rowWith('import-unchanged', 'imp', nora.id, (r) => r.last_operation === 'import-unchanged' && r.status === 'processed');
    const { rows: [after] } = await t.pool.query<{ last_modified_at: string }>('SELECT last_modified_at FROM customer WHERE customer_cd = $1', [noraCode]);
    expect(after).toEqual(before);
  });

  it('an existing ERP customer linked by an export is updated by the storefront change; ERP-only columns stay', async () => {
    const { rows } = await t.pool.query<{ customer_id: number }>(
      `INSERT INTO customer (customer_cd, name, email, credit_limit, status) VALUES ('C000500', 'Linked Ltd', 'linked@example.com', 250, 'H') RETURNING customer_id`,
    );
    const id = rows[0]!.customer_id;
    await t.pool.query(`INSERT INTO contact (customer_id, first_name, last_name, email, phone, is_primary) VALUES ($1, 'Lin', 'Ked', 'linked@example.com', '+1 1', true)`, [id]);
    await t.pool.query(
      `INSERT INTO address (customer_id, line1, city, country_cd, is_default_billing, is_default_shipping) VALUES ($1, '5 Old Street', 'Oslo', 'NO', true, true)`,
      [id],
    );
    await publish(broker, t.names.commerceQueue, [await echo('C000500')]);
    const exported = await waitFor('C000500 exported', async () => {
      const { rows: r } = await t.pool.query<{ extern_id: string | null; status: string }>(
        `SELECT extern_id, status FROM pushcdc.sync_status WHERE store = 'imp' AND entity = 'Customer' AND local_id = 'C000500'`,
      );
      return r[0]?.status === 'processed' && r[0];
    });
    const linked = sim.customers.get(Number(exported.extern_id))!;
    // Edited on the storefront: name, company and the address's city.
    Object.assign(linked, { first_name: 'Linda', company: 'Linked Limited' });
    const address = [...sim.addresses.values()].find((a) => a.customer_id === linked.id)!;
    address.city = 'Bergen';
    touch(linked);
    await publish(broker, t.names.commerceQueue, [hook('imp', linked.id)]);
    const row = await rowWith('the linked customer updated', 'imp', linked.id, (r) => r.last_operation === 'import-updated');
    expect(row).toMatchObject({ local_id: 'C000500', status: 'processed', attempt_count: 0 });
    expect(await erpCustomer('C000500')).toMatchObject({
      name: 'Linked Limited',
      first_name: 'Linda',
      last_name: 'Ked',
      city: 'Bergen',
      line1: '5 Old Street',
      status: 'H',
      credit_limit: '250.0000',
    });
    expect(await customersWithEmail('linked@example.com')).toBe(1);
  });

  it('both sides changed and the ERP is the primary system: the import is skipped, the ERP version stays', async () => {
    const { rows } = await t.pool.query<{ extern_id: string }>(
      `SELECT extern_id FROM pushcdc.sync_status WHERE store = 'imp' AND entity = 'Customer' AND local_id = 'C000500'`,
    );
    const linked = sim.customers.get(Number(rows[0]!.extern_id))!;
    await t.pool.query(`UPDATE customer SET name = 'ERP Side Ltd' WHERE customer_cd = 'C000500'`);
    linked.company = 'Storefront Side Ltd';
    touch(linked);
    await publish(broker, t.names.commerceQueue, [hook('imp', linked.id)]);
    const row = await rowWith('the import skipped', 'imp', linked.id, (r) => r.status === 'skipped');
    expect(row).toMatchObject({ last_operation: 'import-skipped', pending_sync: true });
    expect(row.last_error).toMatch(/primary system is the ERP/);
    expect(await erpCustomer('C000500')).toMatchObject({ name: 'ERP Side Ltd' });
  });

  it('both sides changed and the storefront is the primary system: the storefront version is imported over the ERP change', async () => {
    const customer = sim.addCustomer({ email: 'primary-ext@example.com', first_name: 'Pri', last_name: 'Mary' });
    await publish(broker, t.names.commerceQueue, [hook('xprim', customer.id)]);
    const created = await rowWith('the customer created', 'xprim', customer.id, (r) => r.last_operation === 'import-created');
    await t.pool.query('UPDATE customer SET name = $2 WHERE customer_cd = $1', [created.local_id, 'ERP Edit']);
    customer.company = 'Storefront Edit';
    touch(customer);
    await publish(broker, t.names.commerceQueue, [hook('xprim', customer.id)]);
    await rowWith('the storefront version imported', 'xprim', customer.id, (r) => r.last_operation === 'import-updated' && r.status === 'processed');
    expect(await erpCustomer(created.local_id!)).toMatchObject({ name: 'Storefront Edit' });
  });

  it('an unlinked ERP customer with the same email is linked, not duplicated', async () => {
    await t.pool.query(`INSERT INTO customer (customer_cd, name, email) VALUES ('C000300', 'Match Co', 'match@example.com')`);
    const customer = sim.addCustomer({ email: 'Match@Example.com', first_name: 'Mat', last_name: 'Ching' });
    await publish(broker, t.names.commerceQueue, [hook('imp', customer.id)]);
    const row = await rowWith('the customer linked', 'imp', customer.id, (r) => r.status === 'processed');
    expect(row).toMatchObject({ local_id: 'C000300', last_operation: 'import-linked' });
    // No company on the storefront: the ERP name is the person's.
    expect(await erpCustomer('C000300')).toMatchObject({ name: 'Mat Ching', first_name: 'Mat', last_name: 'Ching', line1: null });
    expect(await customersWithEmail('match@example.com')).toBe(1);
  });

  it('a storefront customer that cannot be mapped is invalid, nothing written to the ERP', async () => {
    const customer = sim.addCustomer({ email: 'soon-gone@example.com', first_name: 'No', last_name: 'Mail' });
    customer.email = '';
    const count = Number((await t.pool.query<{ n: string }>('SELECT count(*) AS n FROM customer')).rows[0]!.n);
    await publish(broker, t.names.commerceQueue, [hook('imp', customer.id)]);
    const row = await rowWith('the import invalid', 'imp', customer.id, (r) => r.status === 'invalid');
    expect(row).toMatchObject({ local_id: null, last_operation: 'import', last_error: 'the storefront customer has no email' });
    expect(Number((await t.pool.query<{ n: string }>('SELECT count(*) AS n FROM customer')).rows[0]!.n)).toBe(count);
  });

  it('an ERP write the database refuses is failed, attempts counted, then aborted; nothing half-written', async () => {
    // A business rule of this ERP the writer does not know about: the database refuses the row.
    await t.pool.query(`ALTER TABLE customer ADD CONSTRAINT test_blocked_email CHECK (email <> 'blocked@example.com')`);
    try {
      const customer = sim.addCustomer({ email: 'blocked@example.com', first_name: 'Block', last_name: 'Ed' });
      for (let attempt = 1; attempt <= 3; attempt++) {
        await publish(broker, t.names.commerceQueue, [hook('imp', customer.id)]);
        const row = await rowWith(`attempt ${attempt}`, 'imp', customer.id, (r) => r.attempt_count === attempt);
        expect(row).toMatchObject({ status: attempt < 3 ? 'failed' : 'aborted', local_id: null });
        expect(row.last_error).toMatch(/test_blocked_email/);
      }
      // The transaction rolled back: no contact or numbering left behind.
      expect(await customersWithEmail('blocked@example.com')).toBe(0);
      const { rows } = await t.pool.query(`SELECT 1 FROM contact WHERE email = 'blocked@example.com'`);
      expect(rows).toHaveLength(0);
    } finally {
      await t.pool.query('ALTER TABLE customer DROP CONSTRAINT test_blocked_email');
    }
  });
});

describe('Customer import, prepare', () => {
  it('a prepare entity only prepares: no storefront call, nothing in the ERP', async () => {
    const customer = sim.addCustomer({ email: 'prepared@example.com', first_name: 'Pre', last_name: 'Pared' });
    const before = sim.calls().length;
    await publish(broker, t.names.commerceQueue, [hook('prep', customer.id)]);
    const row = await rowWith('the import prepared', 'prep', customer.id, (r) => r.status === 'prepared');
    expect(row).toMatchObject({ local_id: null, pending_sync: true, last_operation: 'hook' });
    expect(sim.calls().slice(before)).toHaveLength(0);
    expect(await customersWithEmail('prepared@example.com')).toBe(0);
  });
});
