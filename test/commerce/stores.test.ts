import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findStore, findStoreEntity, loadStores, loadStoresOrThrow } from '../../src/config/stores.ts';
import { webhookTarget } from '../../src/commerce/webhook-target.ts';
import { loadEnv } from '../../src/config/env.ts';
import { ProblemsError } from '../../src/errors.ts';

/** Store files: defaults, the commerce fields, and errors that point into the file. */
const dirs: string[] = [];

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pushcdc-stores-'));
  dirs.push(dir);
  await mkdir(path.join(dir, 'stores'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, 'stores', name), text);
  return dir;
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const good = {
  name: 'main-shop',
  connector: 'bigcommerce',
  baseUrl: 'https://api.bigcommerce.com/stores/abc123',
  accessToken: '${BC_TOKEN}',
  webhookSecret: '${BC_SECRET}',
  webhookBaseUrl: 'https://erp.example.com/base/',
  entities: { Customer: { direction: 'bidirectional', realtimeMode: 'prepare-and-process' }, StockItem: { direction: 'export' } },
};

describe('store files', () => {
  it('two stores sharing a webhook secret are an error naming both files', async () => {
    const dir = await dirWith({
      'main-shop.json': JSON.stringify(good),
      'second.json': JSON.stringify({ ...good, name: 'second' }),
    });
    const { problems } = await loadStores(dir, { BC_TOKEN: 'tok', BC_SECRET: 'same' });
    expect(problems).toEqual([
      expect.objectContaining({ file: expect.stringMatching(/second\.json$/), message: expect.stringMatching(/webhookSecret: the same secret as .*main-shop\.json/) }),
    ]);
  });

  it('loads with defaults and ${ENV} credentials', async () => {
    const dir = await dirWith({ 'main-shop.json': JSON.stringify(good, null, 2) });
    const stores = await loadStoresOrThrow(dir, { BC_TOKEN: 'tok', BC_SECRET: 'sec' });
    expect(stores[0]).toMatchObject({
      accessToken: 'tok',
      webhookSecret: 'sec',
      inventoryLocationId: 1,
      concurrency: 4,
      requestTimeoutMs: 30_000,
      entities: {
        Customer: { active: true, direction: 'bidirectional', realtimeMode: 'prepare-and-process', primarySystem: 'erp', maxFailedAttempts: 5 },
        StockItem: { realtimeMode: 'prepare' },
      },
    });
    const target = webhookTarget(stores[0]!, loadEnv({ PUSHCDC_COMPANY: 'Acme' }));
    expect(target).toEqual({
      destination: 'https://erp.example.com/base/commerce/webhook',
      headers: { type: 'bigcommerce', company: 'Acme', validation: 'sec' },
    });
  });

  it('a bad field is a problem naming the file, line and field', async () => {
    const text = JSON.stringify({ ...good, webhookBaseUrl: 'ftp://nope', entities: { Customer: { direction: 'sideways' } } }, null, 2);
    const dir = await dirWith({ 'main-shop.json': text });
    const { stores, problems } = await loadStores(dir, { BC_TOKEN: 't', BC_SECRET: 's' });
    expect(stores).toHaveLength(0);
    const messages = problems.map((p) => `${path.basename(p.file)}:${p.line}: ${p.message}`);
    expect(messages).toContainEqual(`main-shop.json:${text.split('\n').findIndex((l) => l.includes('webhookBaseUrl')) + 1}: webhookBaseUrl: must be an http(s) URL`);
    expect(messages).toContainEqual(
      `main-shop.json:${text.split('\n').findIndex((l) => l.includes('"direction"')) + 1}: entities.Customer.direction: Invalid option: expected one of "export"|"import"|"bidirectional"`,
    );
  });

  it('a name that is not the file name points at the name field', async () => {
    const text = JSON.stringify({ ...good, name: 'other-shop' }, null, 2);
    const dir = await dirWith({ 'main-shop.json': text });
    const { stores, problems } = await loadStores(dir, { BC_TOKEN: 't', BC_SECRET: 's' });
    expect(stores).toHaveLength(0);
    expect(problems.map((p) => `${path.basename(p.file)}:${p.line}:${p.col}: ${p.message}`)).toEqual([
      'main-shop.json:2:3: name: "other-shop" must match the file name "main-shop"',
    ]);
  });

  it('an unset variable fails loading with every problem', async () => {
    const dir = await dirWith({ 'main-shop.json': JSON.stringify(good) });
    const failing = loadStoresOrThrow(dir, { BC_TOKEN: 't' });
    await expect(failing).rejects.toBeInstanceOf(ProblemsError);
    await expect(failing).rejects.toThrow(/environment variable BC_SECRET is not set/);
  });

  it('unknown store or entity names what is known', async () => {
    const dir = await dirWith({ 'main-shop.json': JSON.stringify(good) });
    const stores = await loadStoresOrThrow(dir, { BC_TOKEN: 't', BC_SECRET: 's' });
    expect(() => findStore(stores, 'other')).toThrow('unknown store "other"; known stores: main-shop');
    expect(() => findStoreEntity(stores[0]!, 'SalesOrder')).toThrow(/configured entities: Customer, StockItem$/);
    expect(findStoreEntity(stores[0]!, 'StockItem').config.direction).toBe('export');
  });

  it('real-time import without a webhookSecret is refused with the file named', async () => {
    const { webhookSecret: _s, ...noSecret } = good;
    const dir = await dirWith({ 'main-shop.json': JSON.stringify(noSecret) });
    const stores = await loadStoresOrThrow(dir, { BC_TOKEN: 't' });
    expect(() => webhookTarget(stores[0]!, loadEnv({}))).toThrow(/main-shop\.json: webhookSecret is not set/);
  });
});
