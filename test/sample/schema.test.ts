import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/pool.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * The sample ERP schema (sql/sample/), its demo data (sql/sample-data/demo.sql) and the predefined
 * push inquiries (inquiries/) against a real PostgreSQL: the schema has what the engine relies on
 * (keys, FK indexes), the demo data loads with the documented counts, and every inquiry runs on it.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INQUIRY_DIR = path.join(ROOT, 'inquiries');
const DEMO_SQL = path.join(ROOT, 'sql', 'sample-data', 'demo.sql');

const ctx = useTestContext('sample');

const SAMPLE_TABLES = [
  'address', 'contact', 'customer', 'customer_location', 'inventory_item', 'item_sales_category',
  'item_warehouse', 'price_class', 'sales_category', 'sales_order', 'sales_order_line', 'shipment',
  'shipment_line', 'warehouse',
];

/** Row counts demo.sql documents in its header. */
const DEMO_COUNTS: Record<string, number> = {
  price_class: 10,
  customer: 200,
  contact: 290,
  address: 240,
  customer_location: 230,
  warehouse: 3,
  sales_category: 30,
  inventory_item: 500,
  item_sales_category: 625,
  item_warehouse: 1200,
  sales_order: 300,
  sales_order_line: 750,
  shipment: 100,
  shipment_line: 250,
};

interface InquiryExpectation {
  /** Result rows on the demo data. */
  rows: number;
  /** Distinct records (values of recordKey) on the demo data. */
  records: number;
  /** The record's business key columns. */
  recordKey: string[];
  /** Further columns that, with recordKey, identify a row (for inquiries with one row per line). */
  lineKey?: string[];
  /** Rows where a column is NULL: the LEFT JOINs' empty side on the demo data. */
  nullCounts?: Record<string, number>;
}

const INQUIRIES: Record<string, InquiryExpectation> = {
  // Customers 40, 80, ..., 200 have no contact and no address.
  'BC-PUSH-Customers': { rows: 200, records: 200, recordKey: ['CustomerID'], nullCounts: { FirstName: 5, City: 5, PriceClassID: 22 } },
  // BRANCH locations have no contact.
  'BC-PUSH-Locations': { rows: 230, records: 230, recordKey: ['CustomerID', 'LocationID'], nullCounts: { FirstName: 35, City: 0 } },
  'BC-PUSH-Stocks': { rows: 400, records: 400, recordKey: ['InventoryID'], nullCounts: { DefaultWarehouseID: 0 } },
  'BC-PUSH-NonStocks': { rows: 100, records: 100, recordKey: ['InventoryID'] },
  'BC-PUSH-AvailabilityStockItem': { rows: 1200, records: 1200, recordKey: ['InventoryID', 'WarehouseID'] },
  // 280 sales orders (quotes left out) with 700 lines.
  'BC-PUSH-Orders': { rows: 700, records: 280, recordKey: ['OrderType', 'OrderNbr'], lineKey: ['LineNbr'], nullCounts: { LineNbr: 0 } },
  // Shipments 1-95 are confirmed or completed; 96-100 are open and left out.
  'BC-PUSH-Shipments': { rows: 239, records: 95, recordKey: ['ShipmentNbr'], lineKey: ['LineNbr'] },
  'BC-PUSH-Category': { rows: 30, records: 30, recordKey: ['CategoryID'], nullCounts: { ParentCategoryID: 6 } },
  'BC-PUSH-PriceClass': { rows: 10, records: 10, recordKey: ['PriceClassID'] },
};

// ---------------------------------------------------------------------------------------------
// A stand-in for the inquiry compiler: the .json form translated to a plain SELECT, with the checks
// the translation itself needs. The real compiler (src/inquiry/) replaces it.

interface JsonInquiry {
  name: string;
  description?: string;
  tables: { table: string; alias: string }[];
  relations: {
    parent: string;
    child: string;
    join: 'inner' | 'left';
    on: { parentField: string; childField: string }[];
  }[];
  conditions?: { field: string; op: string; value?: unknown }[];
  results: { field: string; caption?: string }[];
}

interface Translated {
  text: string;
  values: unknown[];
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function translateJsonInquiry(inquiry: JsonInquiry, file: string): Translated {
  const fail = (message: string): never => {
    throw new Error(`${file}: ${message}`);
  };
  const expectedName = path.basename(file, '.json');
  if (inquiry.name !== expectedName) fail(`name "${inquiry.name}" differs from the file name "${expectedName}"`);
  const root = inquiry.tables[0] ?? fail('tables is empty');

  const tables = new Map<string, string>();
  for (const t of inquiry.tables) {
    if (tables.has(t.alias)) fail(`alias "${t.alias}" is used twice`);
    tables.set(t.alias, t.table);
  }
  const childOf = new Map<string, JsonInquiry['relations'][number]>();
  for (const r of inquiry.relations) {
    if (!tables.has(r.parent)) fail(`relation parent "${r.parent}" is not a table alias`);
    if (!tables.has(r.child)) fail(`relation child "${r.child}" is not a table alias`);
    if (r.child === root.alias) fail(`the root "${root.alias}" cannot be a relation's child`);
    if (childOf.has(r.child)) fail(`"${r.child}" is the child of more than one relation`);
    if (r.join !== 'inner' && r.join !== 'left') fail(`join "${String(r.join)}" is neither inner nor left`);
    if (r.on.length === 0) fail(`relation ${r.parent} -> ${r.child} has no join fields`);
    childOf.set(r.child, r);
  }

  const column = (field: string): string => {
    const match = /^(\w+)\.(\w+)$/.exec(field) ?? fail(`field "${field}" is not <alias>.<column>`);
    const [, alias = '', name = ''] = match;
    if (!tables.has(alias)) fail(`field "${field}" names an unknown alias`);
    return `${quoteIdent(alias)}.${quoteIdent(name)}`;
  };

  // Joins in tree order from the root, so a table is joined after its parent.
  const from = [`${quoteIdent(root.table)} ${quoteIdent(root.alias)}`];
  const joined = new Set([root.alias]);
  const queue = [root.alias];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const r of inquiry.relations.filter((rel) => rel.parent === parent)) {
      const on = r.on
        .map((pair) => `${column(`${r.child}.${pair.childField}`)} = ${column(`${r.parent}.${pair.parentField}`)}`)
        .join(' AND ');
      from.push(`${r.join === 'left' ? 'LEFT JOIN' : 'JOIN'} ${quoteIdent(tables.get(r.child) ?? '')} ${quoteIdent(r.child)} ON ${on}`);
      joined.add(r.child);
      queue.push(r.child);
    }
  }
  for (const alias of tables.keys()) if (!joined.has(alias)) fail(`"${alias}" is not joined to the root "${root.alias}"`);

  const names = new Set<string>();
  const select = inquiry.results.map((r) => {
    const name = r.caption ?? r.field.replace('.', '_');
    if (names.has(name)) fail(`result column "${name}" appears twice`);
    names.add(name);
    return `${column(r.field)} AS ${quoteIdent(name)}`;
  });

  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const text = (value: unknown): string => (typeof value === 'string' ? value : fail(`value ${JSON.stringify(value)} is not a string`));
  const where = (inquiry.conditions ?? []).map((c) => {
    const f = column(c.field);
    switch (c.op) {
      case '=': case '<>': case '<': case '<=': case '>': case '>=':
        return `${f} ${c.op} ${param(c.value)}`;
      case 'like': return `${f} LIKE ${param(c.value)}`;
      case 'not like': return `${f} NOT LIKE ${param(c.value)}`;
      case 'in':
      case 'not in': {
        if (!Array.isArray(c.value)) fail(`"${c.op}" needs an array value`);
        return c.op === 'in' ? `${f} = ANY(${param(c.value)})` : `${f} <> ALL(${param(c.value)})`;
      }
      case 'between': {
        const range = c.value;
        if (!Array.isArray(range) || range.length !== 2) fail('"between" needs [low, high]');
        const [low, high] = range as unknown[];
        return `${f} BETWEEN ${param(low)} AND ${param(high)}`;
      }
      case 'is null': return `${f} IS NULL`;
      case 'is not null': return `${f} IS NOT NULL`;
      case 'contains': return `${f} LIKE ${param(`%${escapeLike(text(c.value))}%`)}`;
      case 'starts with': return `${f} LIKE ${param(`${escapeLike(text(c.value))}%`)}`;
      case 'ends with': return `${f} LIKE ${param(`%${escapeLike(text(c.value))}`)}`;
      default:
        return fail(`unknown condition op "${c.op}"`);
    }
  });

  return {
    text: `SELECT ${select.join(', ')} FROM ${from.join(' ')}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`,
    values,
  };
}

/** The inquiry as a runnable query: a .sql file as written, a .json file through the stand-in. */
async function loadInquiry(name: string): Promise<Translated & { file: string }> {
  const files = (await readdir(INQUIRY_DIR)).filter((f) => f === `${name}.sql` || f === `${name}.json`);
  expect(files, `exactly one file for ${name}`).toHaveLength(1);
  const file = path.join(INQUIRY_DIR, files[0] ?? '');
  const source = await readFile(file, 'utf8');
  if (file.endsWith('.sql')) return { file, text: source.trim().replace(/;\s*$/, ''), values: [] };
  return { file, ...translateJsonInquiry(JSON.parse(source) as JsonInquiry, file) };
}

async function withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await ctx.pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

/** Runs a script that has its own BEGIN/COMMIT; on failure, ends the open transaction block. */
async function runScript(sql: string): Promise<void> {
  await withClient(async (client) => {
    try {
      await client.query(sql);
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  });
}

/** Runs work in a transaction that is always rolled back, so the demo data stays as loaded. */
async function inRolledBackTransaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  await withClient(async (client) => {
    await client.query('BEGIN');
    try {
      await work(client);
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

// ---------------------------------------------------------------------------------------------

describe('sample schema', () => {
  it('has the expected tables, each with a primary key and the default replica identity', async () => {
    const { rows } = await ctx.pool.query<{ name: string; has_pk: boolean; replica_identity: string }>(
      `SELECT c.relname AS name,
              EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS has_pk,
              c.relreplident AS replica_identity
         FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')`,
    );
    expect(rows.map((r) => r.name).sort()).toEqual(SAMPLE_TABLES);
    expect(rows.filter((r) => !r.has_pk).map((r) => r.name)).toEqual([]);
    expect(rows.filter((r) => r.replica_identity !== 'd').map((r) => r.name)).toEqual([]);
  });

  it('covers every foreign key with a full index whose leading columns are the key columns', async () => {
    const { rows: fks } = await ctx.pool.query<{ table_name: string; name: string; columns: number[] }>(
      `SELECT conrelid::regclass::text AS table_name, conname AS name, conkey AS columns
         FROM pg_constraint
        WHERE contype = 'f' AND connamespace = 'public'::regnamespace`,
    );
    const { rows: indexes } = await ctx.pool.query<{ table_name: string; columns: number[] }>(
      // Partial indexes do not count: they do not serve a lookup of every key value.
      `SELECT i.indrelid::regclass::text AS table_name, i.indkey::int2[] AS columns
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relnamespace = 'public'::regnamespace AND i.indpred IS NULL`,
    );
    expect(fks.length).toBe(21);
    const uncovered = fks.filter((fk) => {
      const wanted = [...fk.columns].sort((a, b) => a - b);
      return !indexes.some((ix) => {
        if (ix.table_name !== fk.table_name) return false;
        const leading = ix.columns.slice(0, wanted.length).sort((a, b) => a - b);
        return leading.length === wanted.length && leading.every((col, n) => col === wanted[n]);
      });
    });
    expect(uncovered.map((fk) => `${fk.table_name}.${fk.name}`)).toEqual([]);
  });

  it('has a last_modified_at stamp trigger on every table with that column', async () => {
    const { rows } = await ctx.pool.query<{ table_name: string; stamped: boolean }>(
      `SELECT a.attrelid::regclass::text AS table_name,
              EXISTS (SELECT FROM pg_trigger t
                       WHERE t.tgrelid = a.attrelid AND t.tgfoid = 'set_last_modified_at'::regproc
                         AND t.tgenabled <> 'D') AS stamped
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND a.attname = 'last_modified_at' AND NOT a.attisdropped`,
    );
    expect(rows.length).toBe(11);
    expect(rows.filter((r) => !r.stamped).map((r) => r.table_name)).toEqual([]);
  });
});

describe('on the demo data', () => {
  beforeAll(async () => {
    await runScript(await readFile(DEMO_SQL, 'utf8'));
  });

  it('loads with the documented row counts', async () => {
    const counts: Record<string, number> = {};
    for (const table of SAMPLE_TABLES) {
      const { rows } = await ctx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteIdent(table)}`);
      counts[table] = rows[0]?.n ?? -1;
    }
    expect(counts).toEqual(DEMO_COUNTS);
    const { rows } = await ctx.pool.query<{ stock: number; toasted: number }>(
      `SELECT (SELECT count(*)::int FROM inventory_item WHERE stock_item) AS stock,
              (SELECT count(*)::int FROM customer WHERE pg_column_size(note) > 2000) AS toasted`,
    );
    expect(rows[0]).toEqual({ stock: 400, toasted: 4 });
  });

  it('refuses to load a second time, leaving the data as it was', async () => {
    await expect(runScript(await readFile(DEMO_SQL, 'utf8'))).rejects.toThrow(/empty sample schema/);
    const { rows } = await ctx.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM customer');
    expect(rows[0]?.n).toBe(200);
  });

  it('moves the identity sequences past the demo ids', async () => {
    await inRolledBackTransaction(async (client) => {
      const { rows } = await client.query<{ customer_id: number }>(
        `INSERT INTO customer (customer_cd, name) VALUES ('C900001', 'New Customer') RETURNING customer_id`,
      );
      expect(rows[0]?.customer_id).toBe(201);
    });
  });

  it('stamps last_modified_at on a real change only', async () => {
    await inRolledBackTransaction(async (client) => {
      const unchanged = await client.query<{ same: boolean }>(
        `UPDATE customer SET name = name WHERE customer_cd = 'C000001'
         RETURNING last_modified_at = timestamptz '2023-01-03 12:00:00+00' AS same`,
      );
      expect(unchanged.rows).toEqual([{ same: true }]);
      const changed = await client.query<{ stamped: boolean }>(
        `UPDATE customer SET name = 'Acme Limited' WHERE customer_cd = 'C000001'
         RETURNING last_modified_at = now() AS stamped`,
      );
      expect(changed.rows).toEqual([{ stamped: true }]);
    });
  });

  it('deletes a customer with its contacts, addresses and locations, but not one with orders', async () => {
    await inRolledBackTransaction(async (client) => {
      const { rows: created } = await client.query<{ customer_id: number }>(`
        WITH c AS (INSERT INTO customer (customer_cd, name) VALUES ('C900002', 'Short-Lived Ltd') RETURNING customer_id),
             ct AS (INSERT INTO contact (customer_id, last_name, is_primary)
                    SELECT customer_id, 'Doe', true FROM c RETURNING contact_id, customer_id),
             a AS (INSERT INTO address (customer_id, line1, city, country_cd, is_default_billing, is_default_shipping)
                   SELECT customer_id, '1 Test Road', 'Oslo', 'NO', true, true FROM c RETURNING address_id, customer_id)
        INSERT INTO customer_location (customer_id, location_cd, address_id, contact_id)
        SELECT a.customer_id, 'MAIN', a.address_id, ct.contact_id FROM a JOIN ct USING (customer_id)
        RETURNING customer_id`);
      const customerId = created[0]?.customer_id;
      expect(customerId).toBeTypeOf('number');
      await client.query('DELETE FROM customer WHERE customer_id = $1', [customerId]);
      const { rows } = await client.query<{ contacts: number; addresses: number; locations: number }>(
        `SELECT (SELECT count(*)::int FROM contact WHERE customer_id = $1) AS contacts,
                (SELECT count(*)::int FROM address WHERE customer_id = $1) AS addresses,
                (SELECT count(*)::int FROM customer_location WHERE customer_id = $1) AS locations`,
        [customerId],
      );
      expect(rows[0]).toEqual({ contacts: 0, addresses: 0, locations: 0 });
      await expect(client.query(`DELETE FROM customer WHERE customer_cd = 'C000001'`)).rejects.toMatchObject({
        code: '23503',
      });
    });
  });

  describe('inquiries', () => {
    it('ships the predefined BC-PUSH inquiries, at least four in each form', async () => {
      const files = (await readdir(INQUIRY_DIR)).sort();
      const names = files.map((f) => f.replace(/\.(sql|json)$/, ''));
      expect(names.sort()).toEqual(Object.keys(INQUIRIES).sort());
      expect(files.filter((f) => f.endsWith('.sql')).length).toBeGreaterThanOrEqual(4);
      expect(files.filter((f) => f.endsWith('.json')).length).toBeGreaterThanOrEqual(4);
    });

    it.each(Object.entries(INQUIRIES))('%s runs and returns its records', async (name, expected) => {
      const inquiry = await loadInquiry(name);
      const result = await ctx.pool.query<Record<string, unknown>>(inquiry.text, inquiry.values);
      const columns = result.fields.map((f) => f.name);
      expect(new Set(columns).size, `unique column names in ${columns.join(', ')}`).toBe(columns.length);
      expect(columns).toEqual(expect.arrayContaining([...expected.recordKey, ...(expected.lineKey ?? []), 'LastModified']));
      expect(result.rows).toHaveLength(expected.rows);

      const keyOf = (row: Record<string, unknown>, key: string[]): string => JSON.stringify(key.map((k) => row[k]));
      const records = new Set(result.rows.map((row) => keyOf(row, expected.recordKey)));
      const rowKeys = new Set(result.rows.map((row) => keyOf(row, [...expected.recordKey, ...(expected.lineKey ?? [])])));
      expect(records.size).toBe(expected.records);
      expect(rowKeys.size, 'rows are identified by the record key (and line key)').toBe(expected.rows);
      for (const k of expected.recordKey) expect(result.rows.filter((row) => row[k] === null)).toEqual([]);
      expect(result.rows.filter((row) => row.LastModified === null)).toEqual([]);
      for (const [col, count] of Object.entries(expected.nullCounts ?? {})) {
        expect(result.rows.filter((row) => row[col] === null), `${col} IS NULL`).toHaveLength(count);
      }
    });

    it('stand-in translation of .json conditions matches the SQL it stands for', async () => {
      const conditions: [JsonInquiry['conditions'], string][] = [
        [[{ field: 'c.status', op: '<>', value: 'A' }], `status <> 'A'`],
        [[{ field: 'c.credit_limit', op: '>=', value: 20000 }], 'credit_limit >= 20000'],
        [[{ field: 'c.name', op: 'like', value: 'A%' }], `name LIKE 'A%'`],
        [[{ field: 'c.name', op: 'not like', value: '%Ltd' }], `name NOT LIKE '%Ltd'`],
        [[{ field: 'c.price_class_id', op: 'in', value: ['VIP', 'EDU'] }], `price_class_id IN ('VIP', 'EDU')`],
        [[{ field: 'c.price_class_id', op: 'not in', value: ['VIP', 'EDU'] }], `price_class_id NOT IN ('VIP', 'EDU')`],
        [[{ field: 'c.customer_id', op: 'between', value: [10, 19] }], 'customer_id BETWEEN 10 AND 19'],
        [[{ field: 'c.note', op: 'is null' }], 'note IS NULL'],
        [[{ field: 'c.note', op: 'is not null' }], 'note IS NOT NULL'],
        [[{ field: 'c.name', op: 'contains', value: 'Supply Co.' }], `strpos(name, 'Supply Co.') > 0`],
        [[{ field: 'c.name', op: 'starts with', value: 'North' }], `left(name, 5) = 'North'`],
        [[{ field: 'c.name', op: 'ends with', value: 'Goods' }], `right(name, 5) = 'Goods'`],
        [
          [{ field: 'c.status', op: '=', value: 'A' }, { field: 'c.customer_class', op: '=', value: 'WHOLESALE' }],
          `status = 'A' AND customer_class = 'WHOLESALE'`,
        ],
      ];
      for (const [condition, sql] of conditions) {
        const { text, values } = translateJsonInquiry(
          {
            name: 'probe',
            tables: [{ table: 'customer', alias: 'c' }],
            relations: [],
            conditions: condition,
            results: [{ field: 'c.customer_cd' }],
          },
          'probe.json',
        );
        const got = await ctx.pool.query<{ c_customer_cd: string }>(`${text} ORDER BY 1`, values);
        const want = await ctx.pool.query<{ customer_cd: string }>(`SELECT customer_cd FROM customer WHERE ${sql} ORDER BY 1`);
        expect(want.rows.length, sql).toBeGreaterThan(0);
        expect(got.rows.map((r) => r.c_customer_cd), sql).toEqual(want.rows.map((r) => r.customer_cd));
      }
    });
  });
});
