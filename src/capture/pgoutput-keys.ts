import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { tableKey, type KeyValues } from './changes.ts';
import type { Lsn } from './lsn.ts';

/**
 * pgoutput (protocol 1) read for what capture needs and nothing more: of a row change, its table and
 * the text of its primary-key columns; of a transaction, its xid, LSNs and commit time. The library's
 * own parser turns every column of every row into a JavaScript value through its type parser: profiled
 * over a decode of 20,000 row updates, that was about 40% of the engine's CPU, and the engine's thread
 * was busy for the whole decode. Here a row's other columns are skipped by their length, and nothing
 * but key text is decoded. Two sets of interleaved decodes of 20,000 row updates took 191 → 145 ms and
 * 150 → 136 ms (medians), the engine's CPU 171 → 141 ms in the second: what is left is mostly the
 * driver's and the library's work per message.
 *
 * Messages that are rare or carry no rows (relation, truncate, logical message, type, origin) still
 * go through the library's parser, which also keeps the relation cache its truncate parsing reads.
 */
export type KeyMessage =
  | { tag: 'begin'; xid: number; commitLsn: Lsn }
  | { tag: 'commit'; commitLsn: Lsn; commitEndLsn: Lsn; commitTimeMicros: bigint }
  /**
   * A row change of a watched table (`schema.name`, as capture names tables): each tuple's key values,
   * the new row's first, then the old key when it was sent.
   */
  | { tag: 'row'; table: string; keys: KeyValues[] }
  /** A row change whose key could not be read (an unchanged TOASTed key, a key column not sent). */
  | { tag: 'unkeyed'; table: string }
  /** A row change of a table no inquiry reads. */
  | { tag: 'unwatched'; table: string }
  | { tag: 'truncate'; tables: string[] }
  | { tag: 'message'; transactional: boolean; prefix: string; content: Uint8Array }
  | { tag: 'other' };

/** A relation as capture reads its rows: which columns of its tuples are the primary key (null: unwatched). */
interface RelationKeys {
  /** `schema.name`, built once here rather than for every row. */
  table: string;
  keyIndexes: number[] | null;
}

/** (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY: PostgreSQL counts from 2000-01-01. */
const POSTGRES_EPOCH_MICROS = 946_684_800_000_000n;

const TAG = { begin: 0x42, commit: 0x43, insert: 0x49, update: 0x55, delete: 0x44 } as const;
const TUPLE = { key: 0x4b, old: 0x4f, new: 0x4e } as const;
const COLUMN = { null: 0x6e, unchangedToast: 0x75, text: 0x74, binary: 0x62 } as const;

/** A key value as read: text, SQL NULL, or absent (unchanged TOAST without an old row to take it from). */
type KeyValue = string | null | undefined;

export class KeyOnlyPgoutputPlugin extends PgoutputPlugin {
  private readonly relations = new Map<number, RelationKeys>();

  /** `keyColumns`: per watched table (`schema.name`), its primary-key columns in order. */
  constructor(
    options: Pgoutput.Options,
    private readonly keyColumns: Map<string, string[]>,
  ) {
    super(options);
  }

  override parse(buf: Buffer): KeyMessage & Pgoutput.Message {
    // The library's plugin type says its messages are Pgoutput.Message; the stream reading this plugin
    // knows they are KeyMessages (see ReplicationStream).
    return this.read(buf) as KeyMessage & Pgoutput.Message;
  }

  read(buf: Buffer): KeyMessage {
    switch (buf[0]) {
      case TAG.begin:
        return { tag: 'begin', commitLsn: buf.readBigUInt64BE(1), xid: buf.readUInt32BE(17) };
      case TAG.commit:
        return {
          tag: 'commit',
          commitLsn: buf.readBigUInt64BE(2),
          commitEndLsn: buf.readBigUInt64BE(10),
          commitTimeMicros: buf.readBigInt64BE(18) + POSTGRES_EPOCH_MICROS,
        };
      case TAG.insert:
      case TAG.update:
      case TAG.delete:
        return this.rowChange(buf);
      default:
        return this.viaLibrary(super.parse(buf));
    }
  }

  private viaLibrary(message: Pgoutput.Message): KeyMessage {
    switch (message.tag) {
      case 'relation': {
        const table = tableKey(message);
        const names = this.keyColumns.get(table);
        const keyIndexes = names ? names.map((name) => message.columns.findIndex((c) => c.name === name)) : null;
        this.relations.set(message.relationOid, { table, keyIndexes });
        return { tag: 'other' };
      }
      case 'truncate':
        return { tag: 'truncate', tables: message.relations.map(tableKey) };
      case 'message':
        return { tag: 'message', transactional: message.transactional, prefix: message.prefix, content: message.content };
      default:
        return { tag: 'other' };
    }
  }

  /**
   * Insert: 'I', relation, 'N' new tuple. Update: 'U', relation, then an old key ('K', when the key
   * changed) or old row ('O', replica identity full) and 'N' new tuple, or 'N' alone. Delete: 'D',
   * relation, 'K' or 'O'. The new row's keys come first, then the old key, as the diff takes them.
   */
  private rowChange(buf: Buffer): KeyMessage {
    const relation = this.relations.get(buf.readUInt32BE(1));
    if (!relation) throw new Error(`pgoutput sent a row of relation ${buf.readUInt32BE(1)} before describing it`);
    const { table, keyIndexes } = relation;
    if (!keyIndexes) return { tag: 'unwatched', table };
    if (keyIndexes.includes(-1)) return { tag: 'unkeyed', table };
    const tuples: KeyValue[][] = [];
    let at = 5;
    let old: KeyValue[] | null = null;
    if (buf[0] !== TAG.insert && (buf[at] === TUPLE.key || buf[at] === TUPLE.old)) {
      const read = readKeys(buf, at + 1, keyIndexes, null);
      old = read.values;
      at = read.end;
    } else if (buf[0] === TAG.delete) {
      throw new Error(`unexpected pgoutput tuple kind ${String.fromCharCode(buf[at] ?? 0)} in a delete`);
    }
    if (buf[0] !== TAG.delete) {
      if (buf[at] !== TUPLE.new) throw new Error(`unexpected pgoutput tuple kind ${String.fromCharCode(buf[at] ?? 0)} in a row change`);
      // An unchanged TOASTed key column of the new row is the old row's, when the old row was sent whole.
      tuples.push(readKeys(buf, at + 1, keyIndexes, buf[5] === TUPLE.old ? old : null).values);
    }
    if (old) tuples.push(old);
    const keys: KeyValues[] = [];
    for (const values of tuples) {
      if (values.some((v) => typeof v !== 'string')) return { tag: 'unkeyed', table };
      keys.push(values as string[]);
    }
    return { tag: 'row', table, keys };
  }
}

/**
 * The key columns' values of the TupleData at `at` (Int16 column count, then per column a kind byte
 * and, for text or binary, an Int32 length and the bytes), and where it ends. Other columns are
 * skipped unread. `fallback`: the old row's values, for a column sent as unchanged TOAST.
 */
function readKeys(buf: Buffer, at: number, keyIndexes: number[], fallback: KeyValue[] | null): { values: KeyValue[]; end: number } {
  const columns = buf.readUInt16BE(at);
  let p = at + 2;
  const values: KeyValue[] = new Array<KeyValue>(keyIndexes.length).fill(undefined);
  for (let i = 0; i < columns; i++) {
    const kind = buf[p++];
    let value: KeyValue;
    if (kind === COLUMN.text || kind === COLUMN.binary) {
      const length = buf.readUInt32BE(p);
      p += 4;
      const k = keyIndexes.indexOf(i);
      if (k >= 0) values[k] = kind === COLUMN.text ? buf.toString('utf8', p, p + length) : undefined;
      p += length;
      continue;
    }
    if (kind === COLUMN.null) value = null;
    else if (kind === COLUMN.unchangedToast) value = undefined;
    else throw new Error(`unknown pgoutput column kind ${String.fromCharCode(kind ?? 0)}`);
    const k = keyIndexes.indexOf(i);
    if (k >= 0) values[k] = value === undefined && fallback ? fallback[k] : value;
  }
  return { values, end: p };
}
