import { createHash } from 'node:crypto';

/**
 * A named (prepared) statement for a fixed SQL text: PostgreSQL parses it once per connection and
 * can reuse its plan. The name is derived from the text, so two texts never share one.
 */
export interface NamedStatement {
  name: string;
  text: string;
  values?: unknown[];
}

const names = new Map<string, string>();

export function prepared(text: string, values?: unknown[]): NamedStatement {
  let name = names.get(text);
  if (!name) {
    name = `pushcdc_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  return values ? { name, text, values } : { name, text };
}
