import path from 'node:path';
import { z } from 'zod';
import { ProblemsError, PushcdcError, type Problem } from '../errors.ts';
import { displayPath, listFiles, locatePath, readJsonFile, substituteEnv, zodProblems } from './json-file.ts';

/**
 * Store files (`stores/<name>.json`, SPEC section 7): one storefront binding each.
 * Entity names are the ERP's commerce entities; the Commerce Push Destination maps inquiries to them.
 */
export const ENTITY_NAMES = [
  'Customer',
  'CustomerLocation',
  'StockItem',
  'NonStockItem',
  'ProductAvailability',
  'SalesOrder',
  'Shipment',
  'SalesCategory',
  'PriceList',
] as const;
export type EntityName = (typeof ENTITY_NAMES)[number];

export const storeEntitySchema = z
  .object({
    active: z.boolean().default(true),
    direction: z.enum(['export', 'import', 'bidirectional']),
    realtimeMode: z.enum(['prepare', 'prepare-and-process']).default('prepare'),
    primarySystem: z.enum(['erp', 'external']).default('erp'),
    maxFailedAttempts: z.number().int().min(1).max(100).default(5),
  })
  .strict();

export const storeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'use letters, digits, _ . -' }),
    connector: z.enum(['bigcommerce', 'shopify']),
    active: z.boolean().default(true),
    baseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    accessToken: z.string().min(1).optional(),
    /** Shared secret: the `validation` value BigCommerce echoes, the HMAC key for Shopify. */
    webhookSecret: z.string().min(1).optional(),
    /**
     * The public base URL the storefront calls back (`https://erp.example.com`); webhooks go to
     * `<webhookBaseUrl>/commerce/webhook`. Unset: `http://<this host>:<PUSHCDC_HTTP_PORT>`.
     */
    webhookBaseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    /** BigCommerce inventory location that availability is written to (multi-location inventory). */
    inventoryLocationId: z.number().int().min(1).default(1),
    /** Storefront requests in flight at once for this store (the commerce role's concurrency). */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** Longest wait for one storefront request before it counts as failed. */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    entities: z.partialRecord(z.enum(ENTITY_NAMES), storeEntitySchema),
  })
  .strict();

export type StoreEntityConfig = z.infer<typeof storeEntitySchema>;
export type StoreConfig = z.infer<typeof storeSchema> & { file: string };

export async function loadStores(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stores: StoreConfig[]; problems: Problem[] }> {
  const stores: StoreConfig[] = [];
  const problems: Problem[] = [];
  for (const file of await listFiles(dir, 'stores', ['.json'])) {
    const shown = displayPath(file);
    const read = await readJsonFile(shown);
    if ('problem' in read) {
      problems.push(read.problem);
      continue;
    }
    const substituted = substituteEnv(read.value, shown, read.text, env);
    problems.push(...substituted.problems);
    const parsed = storeSchema.safeParse(substituted.value);
    if (!parsed.success) {
      problems.push(...zodProblems(shown, read.text, parsed.error));
      continue;
    }
    const expected = path.basename(file, '.json');
    if (parsed.data.name !== expected) {
      const at = locatePath(read.text, ['name']);
      problems.push({ file: shown, line: at?.line, col: at?.col, message: `name: "${parsed.data.name}" must match the file name "${expected}"` });
      continue;
    }
    stores.push({ ...parsed.data, file: shown });
  }
  // A BigCommerce callback names its store only by the secret it echoes: two BigCommerce stores
  // sharing one would be confused. (Shopify callbacks name their store in the `binding` parameter.)
  const bySecret = new Map<string, StoreConfig>();
  for (const store of stores) {
    if (!store.webhookSecret || store.connector !== 'bigcommerce') continue;
    const other = bySecret.get(store.webhookSecret);
    if (other) problems.push({ file: store.file, message: `webhookSecret: the same secret as ${other.file}; each BigCommerce store needs its own (it identifies the store on webhook callbacks)` });
    else bySecret.set(store.webhookSecret, store);
  }
  return { stores, problems };
}

/** The store named `name`, or a NOT_FOUND error listing the known ones. */
export function findStore(stores: StoreConfig[], name: string): StoreConfig {
  const store = stores.find((s) => s.name === name);
  if (!store) {
    const known = stores.map((s) => s.name).join(', ') || '(none: no stores/*.json)';
    throw new PushcdcError('NOT_FOUND', `unknown store "${name}"; known stores: ${known}`);
  }
  return store;
}

/** The entity's settings in a store, or a NOT_FOUND error listing what the store configures. */
export function findStoreEntity(store: StoreConfig, entity: string): { name: EntityName; config: StoreEntityConfig } {
  const configured = Object.keys(store.entities) as EntityName[];
  const name = configured.find((e) => e === entity);
  const config = name ? store.entities[name] : undefined;
  if (!name || !config) {
    throw new PushcdcError(
      'NOT_FOUND',
      `unknown entity "${entity}" in store "${store.name}" (${store.file}); configured entities: ${configured.join(', ') || '(none)'}`,
    );
  }
  return { name, config };
}

/** Loads the stores and fails with every problem when any file is broken. */
export async function loadStoresOrThrow(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<StoreConfig[]> {
  const { stores, problems } = await loadStores(dir, env);
  if (problems.length > 0) throw new ProblemsError(problems);
  return stores;
}
