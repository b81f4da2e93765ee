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
  /** Commit LSN of the earliest transaction whose keys were not taken yet (see takeKeys). */
  private untakenFrom: Lsn | null = null;
  /** Transactions whose keys were not taken yet. */
  private untaken = 0;

  constructor(private readonly maxKeysPerTable: number) {}

  get isEmpty(): boolean {
    return this.transactions === 0;
  }

  beginTransaction(xid: number, commitLsn: Lsn): void {
    this.xids.push(xid);
    if (this.firstCommitLsn === null || commitLsn < this.firstCommitLsn) this.firstCommitLsn = commitLsn;
    if (this.untakenFrom === null || commitLsn < this.untakenFrom) this.untakenFrom = commitLsn;
  }

  commitTransaction(commitLsn: Lsn, commitTimeMicros: bigint): void {
    this.transactions++;
    this.untaken++;
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
    this.untakenFrom = null;
    this.untaken = 0;
    return taken;
  }

  /**
   * Hands the transactions whose keys were not taken yet, keys and all, to `next` (a batch closing
   * before its barrier leaves them to the next one). Returns the commit LSN of the earliest of them:
   * this accumulator's transactions are done up to it (or, with none, up to its last one).
   */
  moveUntakenInto(next: KeyAccumulator): Lsn {
    const doneTo = this.untakenFrom ?? this.lastCommitLsn! + 1n;
    if (this.untaken === 0) return doneTo;
    for (const [table, touched] of this.tables) next.addTouched(table, touched);
    this.tables.clear();
    // Not their xids: those only matter to the next batch's visibility check, which they pass (this
    // batch's snapshot saw them). The LSNs keep the acknowledgement behind them.
    if (next.firstCommitLsn === null || doneTo < next.firstCommitLsn) next.firstCommitLsn = doneTo;
    if (next.untakenFrom === null || doneTo < next.untakenFrom) next.untakenFrom = doneTo;
    this.transactions -= this.untaken;
    next.transactions += this.untaken;
    next.untaken += this.untaken;
    if (next.lastCommitLsn === null || this.lastCommitLsn! > next.lastCommitLsn) {
      next.lastCommitLsn = this.lastCommitLsn;
      next.lastCommitTimeMicros = this.lastCommitTimeMicros;
    }
    this.untakenFrom = null;
    this.untaken = 0;
    return doneTo;
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
