import type pg from 'pg';

/**
 * Type "parsers" that hand over each value of a binary-format result as the Buffer it arrived in. A
 * payload read as a JS string lands in V8's large-object space and stays there until a full
 * collection, so the parts of a huge notification piled up by the hundred megabytes (measured); a
 * Buffer's memory is returned as soon as its small handle dies.
 */
export const RAW_BYTES = { getTypeParser: () => (value: Buffer) => value } as unknown as pg.CustomTypesConfig;

/**
 * A statement whose result comes in binary format, every value a Buffer (see RAW_BYTES): text and
 * bytea columns as their bytes, anything else as PostgreSQL's binary form (cast it to text first).
 */
export function rawBytesQuery(statement: { name?: string; text: string; values?: unknown[] }): pg.QueryConfig {
  // `binary` (result format) is a pg option its type declarations leave out.
  const query: pg.QueryConfig & { binary: boolean } = { ...statement, binary: true, types: RAW_BYTES };
  return query;
}
