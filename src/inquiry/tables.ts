import type { PoolClient } from '../db/pool.ts';
import { quoteIdent } from '../db/pool.ts';

/** What the catalog says about a table an inquiry reads: its identity, key and replica identity. */
export interface KeyColumn {
  name: string;
  /** The SQL type as format_type renders it, usable in casts (`integer`, `character(2)`). */
  type: string;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  /** pg_class.relkind: r table, p partitioned table, v view, m materialized view, f foreign table. */
  kind: string;
  /** d default, f full, n nothing, i index. */
  replicaIdentity: string;
  replicaIndexIsPrimaryKey: boolean;
  keyColumns: KeyColumn[];
  columns: string[];
}

export async function lookupTable(client: PoolClient, schema: string | null, table: string): Promise<TableInfo | null> {
  const qualified = schema === null ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const { rows } = await client.query<{
    oid: number;
    schema: string;
    name: string;
    kind: string;
    replica_identity: string;
    replica_index_is_pk: boolean | null;
    columns: string[];
    keys: KeyColumn[] | null;
  }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
            c.relreplident::text AS replica_identity,
            (SELECT i.indisprimary FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS replica_index_is_pk,
            ARRAY(SELECT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
            (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY k.ord)
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS keys
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [qualified],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    oid: row.oid,
    schema: row.schema,
    name: row.name,
    kind: row.kind,
    replicaIdentity: row.replica_identity,
    replicaIndexIsPrimaryKey: row.replica_index_is_pk === true,
    keyColumns: row.keys ?? [],
    columns: row.columns,
  };
}

/** Why a table cannot be watched, or null when it can. */
export function tableProblem(info: TableInfo, written: string): string | null {
  const name = `${info.schema}.${info.name}`;
  if (info.kind === 'v' || info.kind === 'm') {
    return `${written} is a ${info.kind === 'v' ? 'view' : 'materialized view'}; an inquiry reads tables (write the view's query into the inquiry instead)`;
  }
  if (info.kind === 'f') return `${written} is a foreign table; logical replication cannot see its changes`;
  if (info.kind !== 'r' && info.kind !== 'p') return `${written} is not a table`;
  if (info.keyColumns.length === 0) {
    return `table ${name} has no primary key; pushcdc identifies the rows a change touched by it (ALTER TABLE ${name} ADD PRIMARY KEY (...))`;
  }
  if (info.replicaIdentity === 'n') {
    return `table ${name} has REPLICA IDENTITY NOTHING, so deletes carry no key; use ALTER TABLE ${name} REPLICA IDENTITY DEFAULT`;
  }
  if (info.replicaIdentity === 'i' && !info.replicaIndexIsPrimaryKey) {
    return `table ${name} uses a replica identity index other than its primary key; use ALTER TABLE ${name} REPLICA IDENTITY DEFAULT (or FULL)`;
  }
  return null;
}
