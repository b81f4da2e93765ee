import { PushcdcError } from '../errors.ts';
import type { LocalRecord } from './connector.ts';

/**
 * Reading an inquiry's result row by column name. Inquiry authors name columns their way
 * (`CustomerID`, `customer_id`, `Customer ID`), so a column is looked up by a list of candidate names
 * compared without case, spaces or underscores.
 */
export class InvalidRecordError extends PushcdcError {
  constructor(message: string) {
    super('STORE', message);
    this.name = 'InvalidRecordError';
  }
}

const normalize = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

function lookup(record: LocalRecord, names: readonly string[]): unknown {
  const wanted = names.map(normalize);
  for (const want of wanted) {
    for (const [column, value] of Object.entries(record)) {
      if (normalize(column) === want && value !== null && value !== undefined && value !== '') return value;
    }
  }
  return undefined;
}

export function textField(record: LocalRecord, names: readonly string[]): string | undefined {
  const value = lookup(record, names);
  if (value === undefined) return undefined;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.trim() === '' ? undefined : text.trim();
}

export function requiredText(record: LocalRecord, names: readonly string[], what: string): string {
  const value = textField(record, names);
  if (value === undefined) {
    throw new InvalidRecordError(`${what} is missing: the record has none of the columns ${names.join(', ')}`);
  }
  return value;
}

/** Numbers arrive as JSON numbers or, for exact numerics, as strings (SPEC section 5). */
export function numberField(record: LocalRecord, names: readonly string[], what: string): number | undefined {
  const value = lookup(record, names);
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(String(value));
  if (!Number.isFinite(n)) throw new InvalidRecordError(`${what} is not a number: ${JSON.stringify(value)}`);
  return n;
}

/** A value of a storefront's JSON as text: a number's digits, a string trimmed; null when blank or of another kind. */
export function scalarText(value: unknown): string | null {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/** Drops undefined members so request bodies carry only what the record has. */
export function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
