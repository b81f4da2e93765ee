import { access } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Problem } from '../errors.ts';
import type { InquiryCatalog } from '../inquiry/catalog.ts';
import { ENTITY_NAMES, type EntityName } from './stores.ts';
import { displayPath, formatPath, lineColAt, listFiles, locatePath, readJsonFile, substituteEnv } from './json-file.ts';

/**
 * Destination files (`destinations/<name>.json`, SPEC section 6): where notifications go. One zod
 * schema checks the shape (strict: an unknown field is an error, not a silently ignored typo); the
 * rules that depend on the type, on other entries or on the inquiries' result columns are checked
 * after it, each with its own message pointing at the field in the file.
 */
export const DESTINATION_TYPES = ['webhook', 'commerce', 'module'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/** The commerce entity and record key of the shipped inquiries; other inquiries declare theirs. */
export interface CommerceMapping {
  entity: EntityName;
  keyFields: string[];
}

export const DEFAULT_COMMERCE_MAPPING: Readonly<Record<string, CommerceMapping>> = {
  'BC-PUSH-Customers': { entity: 'Customer', keyFields: ['CustomerID'] },
  'BC-PUSH-Locations': { entity: 'CustomerLocation', keyFields: ['CustomerID', 'LocationID'] },
  'BC-PUSH-Stocks': { entity: 'StockItem', keyFields: ['InventoryID'] },
  'BC-PUSH-NonStocks': { entity: 'NonStockItem', keyFields: ['InventoryID'] },
  'BC-PUSH-AvailabilityStockItem': { entity: 'ProductAvailability', keyFields: ['InventoryID', 'WarehouseID'] },
  'BC-PUSH-Orders': { entity: 'SalesOrder', keyFields: ['OrderType', 'OrderNbr'] },
  'BC-PUSH-Shipments': { entity: 'Shipment', keyFields: ['ShipmentNbr'] },
  'BC-PUSH-Category': { entity: 'SalesCategory', keyFields: ['CategoryID'] },
  'BC-PUSH-PriceClass': { entity: 'PriceList', keyFields: ['PriceClassID'] },
};

const required = (kind: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? 'required' : `must be ${kind}`),
});

const inquiryEntrySchema = z
  .object({
    inquiry: z.string(required('a string')).min(1, { message: 'must not be empty' }),
    active: z.boolean(required('true or false')).default(true),
    trackAllFields: z.boolean(required('true or false')).default(true),
    fields: z.array(z.string().min(1), required('a list of column names')).min(1, { message: 'list at least one column' }).optional(),
    /** Commerce destinations: the entity and record key of an inquiry without a built-in mapping. */
    entity: z.enum(ENTITY_NAMES, { message: `must be one of ${ENTITY_NAMES.join(', ')}` }).optional(),
    keyFields: z.array(z.string().min(1), required('a list of column names')).min(1, { message: 'list at least one column' }).optional(),
  })
  .strict();

export const destinationSchema = z
  .object({
    name: z.string(required('a string')).regex(/^[A-Za-z0-9_.-]+$/, { message: 'use letters, digits, _ . -' }),
    type: z.enum(DESTINATION_TYPES, { message: `must be one of ${DESTINATION_TYPES.join(', ')}` }),
    active: z.boolean(required('true or false')).default(true),
    /** webhook: the URL to POST to; module: path of the sender module, relative to --dir. */
    address: z.string(required('a string')).min(1, { message: 'must not be empty' }).optional(),
    /** webhook: extra HTTP headers (`${ENV}` keeps secrets out of the file). */
    headers: z.record(z.string(), z.string(required('a string'))).optional(),
    /** module: passed to a sender factory. */
    options: z.record(z.string(), z.unknown()).optional(),
    /** One attempt's time limit (webhook and module). */
    timeoutMs: z.number(required('a number')).int().min(50).max(300_000).default(10_000),
    /** First retry delay; each further retry doubles it (jittered). 5 attempts in all. */
    retryDelayMs: z.number(required('a number')).int().min(0).max(600_000).default(500),
    inquiries: z.array(inquiryEntrySchema, required('a list of {"inquiry": …} entries')),
  })
  .strict();

type ParsedDestination = z.infer<typeof destinationSchema>;

export interface DestinationInquiry {
  inquiry: string;
  active: boolean;
  /** null: every column counts (trackAllFields). Otherwise only changes of these columns are sent. */
  trackedFields: string[] | null;
  /** Commerce destinations only. */
  commerce?: CommerceMapping;
}

export interface DestinationConfig {
  name: string;
  type: DestinationType;
  active: boolean;
  /** webhook: URL; module: absolute path of the module; commerce: undefined. */
  address?: string;
  headers: Record<string, string>;
  options: Record<string, unknown>;
  timeoutMs: number;
  retryDelayMs: number;
  inquiries: DestinationInquiry[];
  /** The file as shown to the user. */
  file: string;
}

const FIELD_NAMES = Object.keys(destinationSchema.shape);
const ENTRY_FIELD_NAMES = Object.keys(inquiryEntrySchema.shape);

/** zod issues as Problems; an unknown field is reported at the field itself, with the allowed ones. */
function schemaProblems(file: string, text: string, error: z.ZodError): Problem[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const allowed = issue.path.length === 0 ? FIELD_NAMES : ENTRY_FIELD_NAMES;
      return issue.keys.map((key) => {
        const where = [...issue.path, key];
        return problemAt(file, text, where, `unknown field (allowed: ${allowed.join(', ')})`);
      });
    }
    return [problemAt(file, text, issue.path, issue.message)];
  });
}

function problemAt(file: string, text: string, where: readonly PropertyKey[], message: string): Problem {
  // A missing top-level field has no position of its own: point at the object that lacks it.
  const at = locatePath(text, where) ?? (text.includes('{') ? lineColAt(text, text.indexOf('{')) : undefined);
  const field = formatPath(where);
  return { file, line: at?.line, col: at?.col, message: field ? `${field}: ${message}` : message };
}

function listNames(names: Iterable<string>): string {
  const all = [...names];
  return all.length === 0 ? '(none)' : all.join(', ');
}

/** The rules zod does not express: per type, per inquiry, against the catalog. */
async function checkDestination(
  d: ParsedDestination,
  dir: string,
  file: string,
  text: string,
  catalog: InquiryCatalog | null,
): Promise<{ config: DestinationConfig; problems: Problem[] }> {
  const problems: Problem[] = [];
  const at = (where: readonly PropertyKey[], message: string) => problems.push(problemAt(file, text, where, message));
  let address = d.address;

  if (d.type === 'webhook' || d.type === 'module') {
    if (d.address === undefined) {
      // Point at "type": the field that makes address necessary.
      at(['type'], `a ${d.type} destination needs "address" (${d.type === 'webhook' ? 'the URL to POST to' : 'the path of the sender module'})`);
    } else if (d.type === 'webhook') {
      const url = URL.canParse(d.address) ? new URL(d.address) : undefined;
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        at(['address'], `"${d.address}" is not an http(s) URL`);
      }
    } else {
      address = path.resolve(dir, d.address);
      try {
        await access(address);
      } catch {
        at(['address'], `module "${d.address}" not found (looked for ${address})`);
      }
    }
  } else if (d.address !== undefined) {
    at(['address'], 'a commerce destination has no address (it publishes to commerceQueue)');
  }
  if (d.headers !== undefined && d.type !== 'webhook') at(['headers'], 'only a webhook destination sends headers');
  if (d.options !== undefined && d.type !== 'module') at(['options'], 'only a module destination takes options');

  const seen = new Set<string>();
  const inquiries: DestinationInquiry[] = [];
  d.inquiries.forEach((entry, i) => {
    const here = (field: PropertyKey, ...rest: PropertyKey[]) => ['inquiries', i, field, ...rest];
    if (seen.has(entry.inquiry)) at(here('inquiry'), `"${entry.inquiry}" is listed twice`);
    seen.add(entry.inquiry);
    const summary = catalog?.get(entry.inquiry);
    if (catalog && !summary) at(here('inquiry'), `unknown inquiry "${entry.inquiry}" (known: ${listNames(catalog.keys())})`);
    const columns = summary ? new Set(summary.resultColumns) : undefined;
    const notAColumn = (name: string) => `"${name}" is not a result column of ${entry.inquiry} (columns: ${listNames(summary?.resultColumns ?? [])})`;
    const checkColumns = (field: 'fields' | 'keyFields', names: string[]) =>
      names.forEach((name, j) => {
        if (columns && !columns.has(name)) at(here(field, j), notAColumn(name));
      });

    if (!entry.trackAllFields && entry.fields === undefined) {
      at(here('trackAllFields'), 'false needs "fields": the columns whose change triggers a notification');
    }
    if (entry.trackAllFields && entry.fields !== undefined) {
      at(here('fields'), 'only used with "trackAllFields": false (fields would be ignored)');
    }
    if (entry.fields) checkColumns('fields', entry.fields);

    let commerce: CommerceMapping | undefined;
    if (d.type === 'commerce') {
      const builtIn = DEFAULT_COMMERCE_MAPPING[entry.inquiry];
      const entity = entry.entity ?? builtIn?.entity;
      const keyFields = entry.keyFields ?? (builtIn && builtIn.entity === entity ? builtIn.keyFields : undefined);
      if (!entity) {
        at(here('inquiry'), `"${entry.inquiry}" has no built-in commerce mapping: declare "entity" (one of ${ENTITY_NAMES.join(', ')}) and "keyFields"`);
      } else if (!keyFields) {
        at(entry.entity ? here('entity') : here('inquiry'), `declare "keyFields": the result columns that identify one ${entity} record`);
      } else {
        if (entry.keyFields) checkColumns('keyFields', keyFields);
        else {
          for (const name of keyFields.filter((k) => columns && !columns.has(k))) {
            at(here('inquiry'), `built-in ${entity} key ${notAColumn(name)}: declare "keyFields"`);
          }
        }
        commerce = { entity, keyFields };
      }
    } else {
      if (entry.entity !== undefined) at(here('entity'), 'only a commerce destination maps inquiries to entities');
      if (entry.keyFields !== undefined) at(here('keyFields'), 'only a commerce destination has record key fields');
    }
    inquiries.push({
      inquiry: entry.inquiry,
      active: entry.active,
      trackedFields: entry.trackAllFields ? null : (entry.fields ?? []),
      ...(commerce ? { commerce } : {}),
    });
  });

  const config: DestinationConfig = {
    name: d.name,
    type: d.type,
    active: d.active,
    ...(address !== undefined ? { address } : {}),
    headers: d.headers ?? {},
    options: d.options ?? {},
    timeoutMs: d.timeoutMs,
    retryDelayMs: d.retryDelayMs,
    inquiries,
    file,
  };
  return { config, problems };
}

/**
 * Loads and checks every `destinations/*.json` under `dir`. With a catalog, inquiry names and column
 * names are checked against it; without one (`null`, e.g. the CLI outside the engine) they are not.
 * Only destinations without problems are returned.
 */
export async function loadDestinations(
  dir: string,
  catalog: InquiryCatalog | null,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ destinations: DestinationConfig[]; problems: Problem[] }> {
  const destinations: DestinationConfig[] = [];
  const problems: Problem[] = [];
  const byName = new Map<string, string>();
  for (const absolute of await listFiles(dir, 'destinations', ['.json'])) {
    const file = displayPath(absolute);
    const read = await readJsonFile(absolute);
    if ('problem' in read) {
      problems.push({ ...read.problem, file });
      continue;
    }
    const substituted = substituteEnv(read.value, file, read.text, env);
    const parsed = destinationSchema.safeParse(substituted.value);
    const fileProblems = [...substituted.problems];
    if (!parsed.success) {
      problems.push(...fileProblems, ...schemaProblems(file, read.text, parsed.error));
      continue;
    }
    const expected = path.basename(absolute, '.json');
    if (parsed.data.name !== expected) {
      fileProblems.push(problemAt(file, read.text, ['name'], `"${parsed.data.name}" must match the file name "${expected}"`));
    }
    const other = byName.get(parsed.data.name);
    if (other !== undefined) {
      fileProblems.push(problemAt(file, read.text, ['name'], `"${parsed.data.name}" is already the name of ${other}`));
    }
    byName.set(parsed.data.name, file);
    const checked = await checkDestination(parsed.data, dir, file, read.text, catalog);
    fileProblems.push(...checked.problems);
    if (fileProblems.length > 0) problems.push(...fileProblems);
    else destinations.push(checked.config);
  }
  return { destinations, problems };
}
