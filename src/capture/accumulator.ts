import type { KeyValues } from './changes.ts';
import type { Lsn } from './lsn.ts';

/**
 * The rows a group of transactions touched, per watched table: what one batch must diff. Distinct keys
 * only; past `maxKeysPerTable` a table switches to "recompute everything that reads it", which bounds
 * memory for a huge transaction or a long backlog at the cost of one full diff.
 */
export interface TouchedTable {
  keys: Map<string, KeyValues>;
  /** Too many keys, a TRUNCATE, or a row without a readable key: diff every root. */
  everything: boolean;
}

/** Keys named in taken tables (see KeyAccumulator.takeKeys); a table to recompute entirely names none. */
export function keysIn(touched: Map<string, TouchedTable>): number {
  let n = 0;
  for (const t of touched.values()) n += t.keys.size;
  return n;
}

export class KeyAccumulator {
  readonly tables = new Map<string, TouchedTable>();
  readonly xids: number[] = [];
  transactions = 0;
  /** Commit LSN of the earliest transaction held: the WAL must not be confirmed past it. */
  firstCommitLsn: Lsn | null = null;
  lastCommitTimeMicros: bigint | null = null;
  lastCommitLsn: Lsn | null = null;

  constructor(private readonly maxKeysPerTable: number) {}

  get isEmpty(): boolean {
    return this.transactions === 0;
  }

  beginTransaction(xid: number, commitLsn: Lsn): void {
    this.xids.push(xid);
    if (this.firstCommitLsn === null || commitLsn < this.firstCommitLsn) this.firstCommitLsn = commitLsn;
  }

  commitTransaction(commitLsn: Lsn, commitTimeMicros: bigint): void {
    this.transactions++;
    if (this.lastCommitLsn === null || commitLsn >= this.lastCommitLsn) {
      this.lastCommitLsn = commitLsn;
      this.lastCommitTimeMicros = commitTimeMicros;
    }
  }

  /** Distinct keys held (a table to recompute entirely counts as full). */
  get keyCount(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.everything ? this.maxKeysPerTable : t.keys.size;
    return n;
  }

  /** Hands over the touched keys gathered so far (to be diffed now) and starts gathering anew. */
  takeKeys(): Map<string, TouchedTable> {
    const taken = new Map(this.tables);
    this.tables.clear();
    return taken;
  }

  addKeys(table: string, keys: KeyValues[]): void {
    const touched = this.table(table);
    if (touched.everything) return;
    for (const key of keys) touched.keys.set(key.length === 1 ? key[0]! : JSON.stringify(key), key);
    if (touched.keys.size > this.maxKeysPerTable) this.touchEverything(table);
  }

  /** Adds another accumulator's keys of `table` (a transaction's, at its commit) as they are. */
  addTouched(table: string, other: TouchedTable): void {
    if (other.everything) return this.touchEverything(table);
    const touched = this.table(table);
    if (touched.everything) return;
    for (const [id, key] of other.keys) touched.keys.set(id, key);
    if (touched.keys.size > this.maxKeysPerTable) this.touchEverything(table);
  }

  touchEverything(table: string): void {
    const touched = this.table(table);
    touched.everything = true;
    touched.keys.clear();
  }

  private table(name: string): TouchedTable {
    let touched = this.tables.get(name);
    if (!touched) {
      touched = { keys: new Map(), everything: false };
      this.tables.set(name, touched);
    }
    return touched;
  }
}
