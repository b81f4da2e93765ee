import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyValues } from '../../src/capture/changes.ts';
import { parseLsn } from '../../src/capture/lsn.ts';
import { KeyOnlyPgoutputPlugin, type KeyMessage } from '../../src/capture/pgoutput-keys.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * The key-only pgoutput reader against the library's full parser, on the bytes a real walsender
 * produced: every message of a stream holding the awkward cases (composite and non-ASCII keys, key
 * changes, REPLICA IDENTITY FULL, unchanged TOAST in key and non-key columns, a table no inquiry reads,
 * TRUNCATE, a logical message) must read the same through both.
 */
const ctx = useTestContext('pgoutput-keys', { sample: false });
const slot = () => `pushcdc_${ctx.instance}_keys`;
const OPTIONS: Pgoutput.Options = { protoVersion: 1, publicationNames: ['keys_pub'], messages: true };
const KEY_COLUMNS = new Map([
  ['public.k_single', ['id']],
  ['public.k_composite', ['b', 'a']],
  ['public.k_full', ['id']],
  ['public.k_longkey', ['k']],
]);

beforeAll(async () => {
  await ctx.pool.query(`
    CREATE TABLE k_single (id int PRIMARY KEY, big text, note text);
    CREATE TABLE k_composite (a text, b int, v text, PRIMARY KEY (b, a));
    CREATE TABLE k_full (id int PRIMARY KEY, big text, v int);
    ALTER TABLE k_full REPLICA IDENTITY FULL;
    CREATE TABLE k_longkey (k text PRIMARY KEY, v int);
    ALTER TABLE k_longkey ALTER k SET STORAGE EXTERNAL;
    CREATE TABLE k_other (id int PRIMARY KEY, v int);
    CREATE PUBLICATION keys_pub FOR TABLE k_single, k_composite, k_full, k_longkey, k_other;
  `);
  await ctx.pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot()]);
});

afterAll(async () => {
  await ctx.pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot()]);
});

/** What the engine read from the library's parse before this reader existed: the reference. */
function fromLibrary(message: Pgoutput.Message): KeyMessage {
  const keysOf = (relation: Pgoutput.MessageRelation, tuples: (Record<string, unknown> | null)[]): KeyMessage => {
    const table = `${relation.schema}.${relation.name}`;
    const columns = KEY_COLUMNS.get(table);
    if (!columns) return { tag: 'unwatched', table };
    const keys: KeyValues[] = [];
    for (const tuple of tuples) {
      if (!tuple) continue;
      const values = columns.map((c) => tuple[c]);
      if (values.some((v) => typeof v !== 'string')) return { tag: 'unkeyed', table };
      keys.push(values as string[]);
    }
    return { tag: 'row', table, keys };
  };
  switch (message.tag) {
    case 'relation':
      for (const column of message.columns) column.parser = (raw: unknown) => raw;
      return { tag: 'other' };
    case 'begin':
      return { tag: 'begin', xid: message.xid >>> 0, commitLsn: parseLsn(message.commitLsn!) };
    case 'commit':
      return { tag: 'commit', commitLsn: parseLsn(message.commitLsn!), commitEndLsn: parseLsn(message.commitEndLsn!), commitTimeMicros: message.commitTime as bigint };
    case 'insert':
      return keysOf(message.relation, [message.new]);
    case 'update':
      return keysOf(message.relation, [message.new, message.key ?? message.old]);
    case 'delete':
      return keysOf(message.relation, [message.key ?? message.old]);
    case 'truncate':
      return { tag: 'truncate', tables: message.relations.map((r) => `${r.schema}.${r.name}`) };
    case 'message':
      return { tag: 'message', transactional: message.transactional, prefix: message.prefix, content: message.content };
    default:
      return { tag: 'other' };
  }
}

describe('key-only pgoutput reader', () => {
  it('reads every message of a real stream as the library does', async () => {
    // Random hex: TOASTed out of line, not compressed away.
    const big = `(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300))`;
    const longKey = (n: number) => `(SELECT ${n} || string_agg(md5(g::text), '') FROM generate_series(1, 70) g)`;
    for (const sql of [
      `INSERT INTO k_single SELECT g, ${big}, 'n' FROM generate_series(1, 3) g`,
      `UPDATE k_single SET note = 'changed' WHERE id = 1`, // big unchanged: sent as unchanged TOAST
      `UPDATE k_single SET id = 1001 WHERE id = 2`, // key change: the old key comes along
      `DELETE FROM k_single WHERE id = 3`,
      `INSERT INTO k_composite VALUES ('Zürich ✓', 7, 'x'), ('a''b', -2, NULL)`,
      `UPDATE k_composite SET a = 'Genève' WHERE b = 7`,
      `DELETE FROM k_composite WHERE b = -2`,
      `INSERT INTO k_full VALUES (1, ${big}, 1), (2, 'small', 2)`,
      `UPDATE k_full SET v = 10 WHERE id = 1`, // full old row; the new row's big is unchanged TOAST
      `UPDATE k_full SET id = 20 WHERE id = 2`,
      `DELETE FROM k_full WHERE id = 1`,
      `INSERT INTO k_longkey VALUES (${longKey(1)}, 1)`,
      `UPDATE k_longkey SET v = 2`, // the key itself unchanged TOAST: unreadable
      `INSERT INTO k_other VALUES (1, 1)`,
      `BEGIN; INSERT INTO k_single VALUES (50, 'x', 'y'); UPDATE k_other SET v = 2; COMMIT`,
      `TRUNCATE k_composite`,
      `SELECT pg_logical_emit_message(false, 'barrier-prefix', 'token ✓')`,
      `BEGIN; SELECT pg_current_xact_id(); INSERT INTO k_single VALUES (51, 'x', 'y'); COMMIT`,
    ]) {
      await ctx.pool.query(sql);
    }
    const { rows } = await ctx.pool.query<{ data: Buffer }>(
      `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', 'keys_pub', 'messages', 'true')`,
      [slot()],
    );
    const library = new PgoutputPlugin(OPTIONS);
    const keyOnly = new KeyOnlyPgoutputPlugin(OPTIONS, KEY_COLUMNS);
    const read = rows.map((r) => keyOnly.read(r.data));
    expect(read).toEqual(rows.map((r) => fromLibrary(library.parse(r.data))));

    // And the reference itself says what it should: the cases above are all in the stream.
    const rowsOf = (name: string) => read.filter((m) => (m.tag === 'row' || m.tag === 'unkeyed' || m.tag === 'unwatched') && m.table === `public.${name}`);
    expect(rowsOf('k_single')).toEqual([
      ...['1', '2', '3'].map((id) => ({ tag: 'row', table: 'public.k_single', keys: [[id]] })),
      { tag: 'row', table: 'public.k_single', keys: [['1']] },
      { tag: 'row', table: 'public.k_single', keys: [['1001'], ['2']] },
      { tag: 'row', table: 'public.k_single', keys: [['3']] },
      { tag: 'row', table: 'public.k_single', keys: [['50']] },
      { tag: 'row', table: 'public.k_single', keys: [['51']] },
    ]);
    expect(rowsOf('k_composite').map((m) => (m.tag === 'row' ? m.keys : m.tag))).toEqual([
      [['7', 'Zürich ✓']],
      [['-2', "a'b"]],
      [['7', 'Genève'], ['7', 'Zürich ✓']],
      [['-2', "a'b"]],
    ]);
    expect(rowsOf('k_full').map((m) => (m.tag === 'row' ? m.keys : m.tag))).toEqual([[['1']], [['2']], [['1'], ['1']], [['20'], ['2']], [['1']]]);
    expect(rowsOf('k_longkey').map((m) => m.tag)).toEqual(['row', 'unkeyed']);
    expect(rowsOf('k_other').map((m) => m.tag)).toEqual(['unwatched', 'unwatched']);
    expect(read.filter((m) => m.tag === 'truncate')).toEqual([{ tag: 'truncate', tables: ['public.k_composite'] }]);
    const message = read.find((m) => m.tag === 'message');
    expect(message && message.tag === 'message' && !message.transactional && new TextDecoder().decode(message.content)).toBe('token ✓');
    const commits = read.filter((m) => m.tag === 'commit');
    expect(commits.length).toBeGreaterThanOrEqual(17);
    for (const c of commits) if (c.tag === 'commit') expect(Number(c.commitTimeMicros / 1000n)).toBeGreaterThan(Date.now() - 600_000);
  });
});
