import type { Lsn } from './lsn.ts';

/**
 * What the replication stream says, reduced to what the diff needs: which rows (by primary key, as
 * text) of which table a transaction touched. Values other than keys are never needed — the diff
 * re-reads current rows through the views, which also makes unchanged TOAST columns a non-issue.
 */
export interface TableRef {
  schema: string;
  name: string;
}

/** How capture names a table everywhere: `schema.name`, unquoted, as catalogs and pgoutput give them. */
export function tableKey(table: TableRef): string {
  return `${table.schema}.${table.name}`;
}

/** Key values as PostgreSQL's text output, in primary-key column order. */
export type KeyValues = string[];

export type StreamEvent =
  | { kind: 'begin'; xid: number; commitLsn: Lsn }
  /** Tables are named `schema.name` (see tableKey). */
  | { kind: 'row'; table: string; keys: KeyValues[] }
  /** A row whose key could not be read (e.g. an unchanged TOASTed key): recompute that table's inquiries. */
  | { kind: 'unkeyed'; table: string }
  | { kind: 'truncate'; tables: string[] }
  | { kind: 'commit'; commitLsn: Lsn; commitEndLsn: Lsn; commitTimeMicros: bigint }
  | { kind: 'barrier'; token: string; lsn: Lsn }
  | { kind: 'heartbeat'; lsn: Lsn; shouldRespond: boolean };
