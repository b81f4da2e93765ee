import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_COMMERCE_MAPPING, loadDestinations } from '../../src/config/destinations.ts';
import { formatProblem, type Problem } from '../../src/errors.ts';
import { catalogOf, tempDir, writeConfig } from './fixtures.ts';

/**
 * Every broken destination file gets its own message naming the file, the field and the line. No
 * services needed: the catalog is given, as the engine and `pushcdc validate` give it.
 */
const catalog = catalogOf({
  'T-Customers': ['CustomerID', 'Name', 'City'],
  'T-Stocks': ['InventoryID', 'Price', 'Qty'],
  'BC-PUSH-Customers': ['CustomerID', 'CustomerName', 'City'],
  'BC-PUSH-Locations': ['CustomerID', 'LocationID', 'City'],
});

const webhook = (extra: Record<string, unknown> = {}) => ({
  name: 'hook',
  type: 'webhook',
  active: true,
  address: 'https://example.com/hook',
  inquiries: [{ inquiry: 'T-Customers', trackAllFields: true }],
  ...extra,
});

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => {
  ({ dir, remove } = await tempDir('destfiles'));
});
afterEach(async () => {
  await remove();
});

/** Writes one destination file, loads the folder, and returns its text with the problems. */
async function load(value: object | string, name = 'hook', env: NodeJS.ProcessEnv = {}) {
  const file = await writeConfig(dir, 'destinations', name, value);
  const text = typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`;
  const result = await loadDestinations(dir, catalog, env);
  return { ...result, file, text };
}

/** The 1-based line of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  if (index < 0) throw new Error(`${needle} not in the file`);
  return index + 1;
}

function expectOneProblem(problems: Problem[], file: string, line: number, ...parts: string[]): void {
  expect(problems.map(formatProblem)).toHaveLength(1);
  const [p] = problems;
  expect(p!.file).toBe(file);
  expect(p!.line).toBe(line);
  for (const part of parts) expect(p!.message).toContain(part);
}

describe('destination files: each mistake has its own message with file, field and line', () => {
  it('an unknown top-level field, at the field, listing the allowed ones', async () => {
    const r = await load(webhook({ adress: 'x' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"adress"'), 'adress: unknown field', 'allowed: name, type, active, address');
    expect(r.destinations).toEqual([]);
  });

  it('an unknown field inside an inquiry entry', async () => {
    const r = await load(webhook({ inquiries: [{ inquiry: 'T-Customers', trackAll: false }] }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"trackAll"'), 'inquiries[0].trackAll: unknown field', 'trackAllFields');
  });

  it('a webhook without address', async () => {
    const { address: _omitted, ...rest } = webhook();
    const r = await load(rest);
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"type"'), 'type: a webhook destination needs "address"', 'URL');
  });

  it('a module without address', async () => {
    const { address: _omitted, ...rest } = webhook({ type: 'module' });
    const r = await load(rest);
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"type"'), 'a module destination needs "address"', 'sender module');
  });

  it('a module whose file does not exist', async () => {
    const r = await load(webhook({ type: 'module', address: './senders/missing.mjs' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"address"'), 'address: module "./senders/missing.mjs" not found', path.join(dir, 'senders'));
  });

  it('an unknown inquiry, listing the known ones', async () => {
    const r = await load(webhook({ inquiries: [{ inquiry: 'T-Customer' }] }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"T-Customer"'), 'inquiries[0].inquiry: unknown inquiry "T-Customer"', 'known: T-Customers, T-Stocks');
  });

  it('trackAllFields false without fields', async () => {
    const r = await load(webhook({ inquiries: [{ inquiry: 'T-Customers', trackAllFields: false }] }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"trackAllFields"'), 'inquiries[0].trackAllFields: false needs "fields"');
  });

  it('fields given while every field is tracked', async () => {
    const r = await load(webhook({ inquiries: [{ inquiry: 'T-Customers', fields: ['City'] }] }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"fields"'), 'inquiries[0].fields: only used with "trackAllFields": false');
  });

  it('a field that is not a result column, listing the columns', async () => {
    const r = await load(webhook({ inquiries: [{ inquiry: 'T-Stocks', trackAllFields: false, fields: ['Price', 'Quantity'] }] }));
    expectOneProblem(
      r.problems,
      r.file,
      lineOf(r.text, '"Quantity"'),
      'inquiries[0].fields[1]: "Quantity" is not a result column of T-Stocks',
      'columns: InventoryID, Price, Qty',
    );
  });

  it('a bad URL', async () => {
    const r = await load(webhook({ address: 'example.com/hook' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"address"'), 'address: "example.com/hook" is not an http(s) URL');
  });

  it('a URL with another scheme', async () => {
    const r = await load(webhook({ address: 'ftp://example.com/hook' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"address"'), '"ftp://example.com/hook" is not an http(s) URL');
  });

  it('a name that does not match the file', async () => {
    const r = await load(webhook({ name: 'other' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"name"'), 'name: "other" must match the file name "hook"');
  });

  it('two files with the same name', async () => {
    const first = await writeConfig(dir, 'destinations', 'a-hook', webhook({ name: 'b-hook' }));
    const second = await writeConfig(dir, 'destinations', 'b-hook', webhook({ name: 'b-hook' }));
    const { problems } = await loadDestinations(dir, catalog, {});
    expect(problems.map(formatProblem)).toHaveLength(2);
    expect(problems[0]).toMatchObject({ file: first, line: 2 });
    expect(problems[0]!.message).toContain('must match the file name "a-hook"');
    expect(problems[1]).toMatchObject({ file: second, line: 2 });
    expect(problems[1]!.message).toBe(`name: "b-hook" is already the name of ${first}`);
  });

  it('a missing ${ENV} variable, named', async () => {
    const r = await load(webhook({ headers: { Authorization: 'Bearer ${HOOK_TOKEN}' } }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, 'HOOK_TOKEN'), 'headers.Authorization: environment variable HOOK_TOKEN is not set');
  });

  it('a wrong type of value', async () => {
    const r = await load(webhook({ active: 'yes' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"active"'), 'active: must be true or false');
  });

  it('an unknown destination type, listing the types', async () => {
    const r = await load(webhook({ type: 'signalr' }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"type"'), 'type: must be one of webhook, commerce, module');
  });

  it('a missing inquiries list', async () => {
    const { inquiries: _omitted, ...rest } = webhook();
    const r = await load(rest);
    expectOneProblem(r.problems, r.file, 1, 'inquiries: required');
  });

  it('an inquiry listed twice', async () => {
    const r = await load(webhook({ inquiries: [{ inquiry: 'T-Customers' }, { inquiry: 'T-Customers', active: false }] }));
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.message).toBe('inquiries[1].inquiry: "T-Customers" is listed twice');
    expect(r.problems[0]!.line).toBe(r.text.split('\n').findLastIndex((l) => l.includes('"T-Customers"')) + 1);
  });

  it('text that is not JSON, at the parser position', async () => {
    const r = await load('{\n  "name": "hook",\n  "type": "webhook"\n  "address": "x"\n}\n');
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: r.file, line: 4 });
    expect(r.problems[0]!.message).toContain('not valid JSON');
  });

  it('headers on a module destination', async () => {
    await writeConfig(dir, 'senders', 'ok', '');
    const r = await load(webhook({ type: 'module', address: './senders/ok.json', headers: { A: 'b' } }));
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"headers"'), 'headers: only a webhook destination sends headers');
  });
});

describe('commerce destination files', () => {
  const commerce = (inquiries: object[]) => ({ name: 'shop', type: 'commerce', inquiries });

  it('uses the built-in entity and key of a shipped inquiry', async () => {
    const r = await load(commerce([{ inquiry: 'BC-PUSH-Customers' }, { inquiry: 'BC-PUSH-Locations' }]), 'shop');
    expect(r.problems).toEqual([]);
    expect(r.destinations[0]!.inquiries.map((i) => i.commerce)).toEqual([
      { entity: 'Customer', keyFields: ['CustomerID'] },
      { entity: 'CustomerLocation', keyFields: ['CustomerID', 'LocationID'] },
    ]);
  });

  it('takes entity and keyFields declared for another inquiry', async () => {
    const r = await load(commerce([{ inquiry: 'T-Stocks', entity: 'StockItem', keyFields: ['InventoryID'] }]), 'shop');
    expect(r.problems).toEqual([]);
    expect(r.destinations[0]!.inquiries[0]!.commerce).toEqual({ entity: 'StockItem', keyFields: ['InventoryID'] });
  });

  it('an inquiry without a built-in mapping and no entity', async () => {
    const r = await load(commerce([{ inquiry: 'T-Stocks' }]), 'shop');
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"T-Stocks"'), '"T-Stocks" has no built-in commerce mapping: declare "entity"', 'StockItem');
  });

  it('an entity without keyFields', async () => {
    const r = await load(commerce([{ inquiry: 'T-Stocks', entity: 'StockItem' }]), 'shop');
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"entity"'), 'inquiries[0].entity: declare "keyFields"', 'StockItem record');
  });

  it('an unknown entity, listing the entities', async () => {
    const r = await load(commerce([{ inquiry: 'T-Stocks', entity: 'Product', keyFields: ['InventoryID'] }]), 'shop');
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"entity"'), 'inquiries[0].entity: must be one of Customer, CustomerLocation, StockItem');
  });

  it('a key field that is not a result column', async () => {
    const r = await load(commerce([{ inquiry: 'T-Stocks', entity: 'StockItem', keyFields: ['ItemID'] }]), 'shop');
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"ItemID"'), 'inquiries[0].keyFields[0]: "ItemID" is not a result column of T-Stocks');
  });

  it('a built-in key that the inquiry does not have', async () => {
    const r = await load(commerce([{ inquiry: 'T-Customers', entity: 'Customer', keyFields: ['CustomerID'] }]), 'shop');
    expect(r.problems).toEqual([]);
    const stale = catalogOf({ 'BC-PUSH-Customers': ['CustomerCD', 'Name'] });
    await writeConfig(dir, 'destinations', 'shop', commerce([{ inquiry: 'BC-PUSH-Customers' }]));
    const { problems } = await loadDestinations(dir, stale, {});
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain('built-in Customer key "CustomerID" is not a result column of BC-PUSH-Customers (columns: CustomerCD, Name): declare "keyFields"');
  });

  it('an address on a commerce destination', async () => {
    const r = await load({ ...commerce([{ inquiry: 'BC-PUSH-Customers' }]), address: 'http://x' }, 'shop');
    expectOneProblem(r.problems, r.file, lineOf(r.text, '"address"'), 'address: a commerce destination has no address');
  });

  it('has a built-in mapping for every shipped inquiry', () => {
    expect(Object.keys(DEFAULT_COMMERCE_MAPPING).sort()).toEqual([
      'BC-PUSH-AvailabilityStockItem',
      'BC-PUSH-Category',
      'BC-PUSH-Customers',
      'BC-PUSH-Locations',
      'BC-PUSH-NonStocks',
      'BC-PUSH-Orders',
      'BC-PUSH-PriceClass',
      'BC-PUSH-Shipments',
      'BC-PUSH-Stocks',
    ]);
  });
});

describe('a good destination file', () => {
  it('loads with defaults, ${ENV} replaced and field tracking resolved', async () => {
    const r = await load(
      webhook({
        headers: { Authorization: 'Bearer ${HOOK_TOKEN}' },
        inquiries: [{ inquiry: 'T-Customers' }, { inquiry: 'T-Stocks', active: false, trackAllFields: false, fields: ['Price', 'Qty'] }],
      }),
      'hook',
      { HOOK_TOKEN: 's3cret' },
    );
    expect(r.problems).toEqual([]);
    expect(r.destinations).toEqual([
      {
        name: 'hook',
        type: 'webhook',
        active: true,
        address: 'https://example.com/hook',
        headers: { Authorization: 'Bearer s3cret' },
        options: {},
        timeoutMs: 10_000,
        retryDelayMs: 500,
        inquiries: [
          { inquiry: 'T-Customers', active: true, trackedFields: null },
          { inquiry: 'T-Stocks', active: false, trackedFields: ['Price', 'Qty'] },
        ],
        file: r.file,
      },
    ]);
  });

  it('without a catalog, inquiry and column names are not checked', async () => {
    await writeConfig(dir, 'destinations', 'hook', webhook({ inquiries: [{ inquiry: 'Nowhere', trackAllFields: false, fields: ['X'] }] }));
    const { destinations, problems } = await loadDestinations(dir, null, {});
    expect(problems).toEqual([]);
    expect(destinations[0]!.inquiries).toEqual([{ inquiry: 'Nowhere', active: true, trackedFields: ['X'] }]);
  });

  it('an empty or missing destinations folder is no destinations', async () => {
    expect(await loadDestinations(dir, catalog, {})).toEqual({ destinations: [], problems: [] });
  });
});
