import { quoteIdent, type PoolClient } from '../db/pool.ts';
import type { CompiledInquiry } from './compile.ts';

/**
 * The views an inquiry compiles to, in the instance's own schema: `"<name>"` (the result, with hidden
 * keys) and, when needed, `"<name>__support"` (keys only, every join a LEFT JOIN). Views are dropped
 * and created rather than replaced, since a changed inquiry may change its columns.
 */
export const SUPPORT_SUFFIX = '__support';

export function viewName(schema: string, inquiry: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(inquiry)}`;
}

export function supportViewName(schema: string, inquiry: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(inquiry + SUPPORT_SUFFIX)}`;
}

/** The statements that create an inquiry's views (what `pushcdc compile` prints). */
export function viewStatements(inquiry: CompiledInquiry, schema: string): string[] {
  const statements = [`CREATE VIEW ${viewName(schema, inquiry.name)} AS\n${inquiry.viewSql}`];
  if (inquiry.supportSql) statements.push(`CREATE VIEW ${supportViewName(schema, inquiry.name)} AS\n${inquiry.supportSql}`);
  return statements;
}

/**
 * Creates the schema and every inquiry's views in the caller's transaction; drops views of
 * inquiries that no longer exist. Returns the names of the views dropped as stale.
 */
export async function applyViews(client: PoolClient, inquiries: CompiledInquiry[], schema: string): Promise<string[]> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  const wanted = new Set(inquiries.flatMap((q) => [q.name, ...(q.supportSql ? [q.name + SUPPORT_SUFFIX] : [])]));
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'v'`,
    [schema],
  );
  const stale = rows.map((r) => r.name).filter((n) => !wanted.has(n));
  for (const name of [...stale, ...wanted]) {
    await client.query(`DROP VIEW IF EXISTS ${quoteIdent(schema)}.${quoteIdent(name)} CASCADE`);
  }
  for (const inquiry of inquiries) {
    for (const statement of viewStatements(inquiry, schema)) await client.query(statement);
  }
  return stale;
}
