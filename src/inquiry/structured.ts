import { z } from 'zod';
import { quoteIdent, quoteLiteral } from '../db/pool.ts';
import type { Problem } from '../errors.ts';
import { formatPath, locatePath, locateValue, zodProblems } from '../config/json-file.ts';

/**
 * The structured form of a generic inquiry (`inquiries/<Name>.json`), compiled to SQL text. Every
 * generated piece remembers the JSON path it came from, so an error PostgreSQL reports at a position
 * of the SQL points back at the field in the file.
 */
const OPS = ['=', '<>', '!=', '<', '<=', '>', '>=', 'like', 'not like', 'in', 'not in', 'between', 'is null', 'is not null', 'contains', 'starts with', 'ends with'] as const;
type Op = (typeof OPS)[number];

const fieldRef = z.string().regex(/^[^.\s]+\.[^.\s]+$/, { message: 'must be "<alias>.<column>"' });

export const structuredInquirySchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    tables: z.array(z.object({ table: z.string().min(1), alias: z.string().min(1) }).strict()).min(1, { message: 'name at least one table; the first is the root' }),
    relations: z
      .array(
        z
          .object({
            parent: z.string().min(1),
            child: z.string().min(1),
            join: z.enum(['inner', 'left']),
            on: z.array(z.object({ parentField: z.string().min(1), childField: z.string().min(1) }).strict()).min(1),
          })
          .strict(),
      )
      .default([]),
    conditions: z
      .array(z.object({ field: fieldRef, op: z.enum(OPS), value: z.unknown().optional() }).strict())
      .default([]),
    results: z.array(z.object({ field: fieldRef, caption: z.string().min(1).optional() }).strict()).min(1, { message: 'name at least one result column' }),
  })
  .strict();

export type StructuredInquiry = z.infer<typeof structuredInquirySchema>;

interface Segment {
  start: number;
  end: number;
  path: (string | number)[];
}

export interface StructuredSql {
  name: string;
  sql: string;
  /** Line/column in the JSON file for an offset in the generated SQL. */
  locate(offset: number): { line: number; col: number } | undefined;
}

class SqlBuilder {
  text = '';
  readonly segments: Segment[] = [];

  add(piece: string, path?: (string | number)[]): void {
    if (path) this.segments.push({ start: this.text.length, end: this.text.length + piece.length, path });
    this.text += piece;
  }
}

function splitField(field: string): [string, string] {
  const dot = field.indexOf('.');
  return [field.slice(0, dot), field.slice(dot + 1)];
}

function literal(value: unknown): string | null {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return quoteLiteral(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return null;
}

function likeEscape(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export function compileStructured(file: string, text: string, value: unknown): { result?: StructuredSql; problems: Problem[] } {
  const parsed = structuredInquirySchema.safeParse(value);
  if (!parsed.success) return { problems: zodProblems(file, text, parsed.error) };
  const inquiry = parsed.data;
  const problems: Problem[] = [];
  const at = (path: (string | number)[], message: string, badValue?: string) => {
    const where = (badValue !== undefined ? locateValue(text, badValue) : undefined) ?? locatePath(text, path);
    problems.push({ file, line: where?.line, col: where?.col, message: `${formatPath(path)}: ${message}` });
  };

  const aliases = new Map<string, number>();
  inquiry.tables.forEach((t, i) => {
    if (aliases.has(t.alias)) at(['tables', i, 'alias'], `alias "${t.alias}" is used twice; give each table its own alias`, t.alias);
    aliases.set(t.alias, i);
  });
  const known = () => [...aliases.keys()].map((a) => `"${a}"`).join(', ');
  const root = inquiry.tables[0]!.alias;

  const parentOf = new Map<string, number>();
  inquiry.relations.forEach((r, i) => {
    for (const side of ['parent', 'child'] as const) {
      if (!aliases.has(r[side])) at(['relations', i, side], `unknown alias "${r[side]}"; the tables declare ${known()}`, r[side]);
    }
    if (r.child === root) at(['relations', i, 'child'], `"${root}" is the root (the first table) and cannot be a child`, r.child);
    else if (parentOf.has(r.child)) at(['relations', i, 'child'], `"${r.child}" is already the child of another relation; joins form a tree`, r.child);
    else parentOf.set(r.child, i);
  });
  inquiry.tables.slice(1).forEach((t, k) => {
    if (!parentOf.has(t.alias) && aliases.get(t.alias) === k + 1) {
      at(['tables', k + 1, 'alias'], `table "${t.alias}" is not joined: add a relation with "child": "${t.alias}"`, t.alias);
    }
  });
  const checkField = (path: (string | number)[], field: string) => {
    const [alias] = splitField(field);
    if (!aliases.has(alias)) at(path, `unknown alias "${alias}"; the tables declare ${known()}`, field);
  };
  inquiry.conditions.forEach((c, i) => checkField(['conditions', i, 'field'], c.field));
  inquiry.results.forEach((r, i) => checkField(['results', i, 'field'], r.field));
  if (problems.length > 0) return { problems };

  // Joins in tree order: a table is joined after its parent, so every ON refers to earlier tables.
  const order: string[] = [root];
  for (let k = 0; k < order.length; k++) {
    for (const r of inquiry.relations) if (r.parent === order[k] && !order.includes(r.child)) order.push(r.child);
  }
  for (const t of inquiry.tables) {
    if (!order.includes(t.alias)) {
      at(['tables', aliases.get(t.alias)!, 'alias'], `table "${t.alias}" is not connected to the root "${root}" through relations`, t.alias);
    }
  }
  if (problems.length > 0) return { problems };

  const sql = new SqlBuilder();
  const column = (field: string, path: (string | number)[]) => {
    const [alias, col] = splitField(field);
    sql.add(`${quoteIdent(alias)}.${quoteIdent(col)}`, path);
  };
  const tableRef = (index: number) => {
    const t = inquiry.tables[index]!;
    sql.add(t.table.split('.').map(quoteIdent).join('.'), ['tables', index, 'table']);
    sql.add(` ${quoteIdent(t.alias)}`);
  };

  sql.add('SELECT ');
  inquiry.results.forEach((r, i) => {
    if (i > 0) sql.add(', ');
    column(r.field, ['results', i, 'field']);
    const [alias, col] = splitField(r.field);
    sql.add(' AS ');
    sql.add(quoteIdent(r.caption ?? `${alias}_${col}`), ['results', i, r.caption ? 'caption' : 'field']);
  });
  sql.add('\nFROM ');
  tableRef(0);
  for (const alias of order.slice(1)) {
    const relIndex = parentOf.get(alias)!;
    const rel = inquiry.relations[relIndex]!;
    sql.add(`\n${rel.join === 'left' ? 'LEFT JOIN' : 'INNER JOIN'} `);
    tableRef(aliases.get(alias)!);
    sql.add(' ON ');
    rel.on.forEach((pair, j) => {
      if (j > 0) sql.add(' AND ');
      sql.add(`${quoteIdent(rel.child)}.${quoteIdent(pair.childField)}`, ['relations', relIndex, 'on', j, 'childField']);
      sql.add(' = ');
      sql.add(`${quoteIdent(rel.parent)}.${quoteIdent(pair.parentField)}`, ['relations', relIndex, 'on', j, 'parentField']);
    });
  }
  inquiry.conditions.forEach((c, i) => {
    sql.add(i === 0 ? '\nWHERE ' : '\n  AND ');
    const condition = renderCondition(c.op, c.value);
    if ('error' in condition) {
      at(['conditions', i, 'value'], condition.error);
      return;
    }
    const start = sql.text.length;
    column(c.field, ['conditions', i, 'field']);
    sql.add(condition.suffix);
    sql.segments.push({ start, end: sql.text.length, path: ['conditions', i] });
  });
  if (problems.length > 0) return { problems };

  const segments = sql.segments;
  return {
    problems,
    result: {
      name: inquiry.name,
      sql: sql.text,
      locate(offset) {
        // The innermost (last added, shortest) segment containing the offset names the field.
        const hit = segments
          .filter((s) => offset >= s.start && offset < s.end)
          .sort((a, b) => a.end - a.start - (b.end - b.start))[0];
        return hit ? locatePath(text, hit.path) : undefined;
      },
    },
  };
}

function renderCondition(op: Op, value: unknown): { suffix: string } | { error: string } {
  switch (op) {
    case 'is null':
      return { suffix: ' IS NULL' };
    case 'is not null':
      return { suffix: ' IS NOT NULL' };
    case 'in':
    case 'not in': {
      if (!Array.isArray(value) || value.length === 0) return { error: `"${op}" needs a non-empty array value` };
      const items = value.map(literal);
      if (items.some((x) => x === null)) return { error: `"${op}" values must be strings, numbers, booleans or null` };
      return { suffix: ` ${op.toUpperCase()} (${items.join(', ')})` };
    }
    case 'between': {
      if (!Array.isArray(value) || value.length !== 2) return { error: '"between" needs a value [low, high]' };
      const [low, high] = value.map(literal);
      if (low === null || high === null || low === undefined || high === undefined) return { error: '"between" bounds must be strings, numbers or booleans' };
      return { suffix: ` BETWEEN ${low} AND ${high}` };
    }
    case 'contains':
    case 'starts with':
    case 'ends with': {
      if (typeof value !== 'string') return { error: `"${op}" needs a string value` };
      const escaped = likeEscape(value);
      const pattern = op === 'contains' ? `%${escaped}%` : op === 'starts with' ? `${escaped}%` : `%${escaped}`;
      return { suffix: ` LIKE ${quoteLiteral(pattern)}` };
    }
    default: {
      const rendered = literal(value);
      if (value === undefined || rendered === null) return { error: `"${op}" needs a string, number or boolean value` };
      return { suffix: ` ${op === '!=' ? '<>' : op.toUpperCase()} ${rendered}` };
    }
  }
}
