import { describe, expect, it } from 'vitest';
import { KeyAccumulator, keysIn } from '../../src/capture/accumulator.ts';

/**
 * A batch closing before its barrier (see maxKeysPerBatch) hands the transactions no diff has taken
 * yet to the next batch, and is acknowledged up to the first of them: the bookkeeping that decides
 * what the slot may forget. The model tests run it on real PostgreSQL; this pins the edges.
 */
function commit(acc: KeyAccumulator, xid: number, lsn: bigint, table: string, ids: string[]): void {
  const tx = new KeyAccumulator(100);
  tx.addKeys(table, ids.map((id) => [id]));
  acc.beginTransaction(xid, lsn);
  for (const [name, touched] of tx.tables) acc.addTouched(name, touched);
  acc.commitTransaction(lsn, lsn * 10n);
}

describe('KeyAccumulator.moveUntakenInto', () => {
  it('moves the transactions after the last take, keys and all, and is done up to the first of them', () => {
    const batch = new KeyAccumulator(100);
    commit(batch, 1, 100n, 'public.a', ['1', '2']);
    commit(batch, 2, 200n, 'public.a', ['3']);
    expect(keysIn(batch.takeKeys())).toBe(3);
    commit(batch, 3, 300n, 'public.a', ['4']);
    commit(batch, 4, 400n, 'public.b', ['9']);

    const next = new KeyAccumulator(100);
    expect(batch.moveUntakenInto(next)).toBe(300n);
    expect(batch.transactions).toBe(2);
    expect(batch.keyCount).toBe(0);
    expect(next.transactions).toBe(2);
    expect([...next.tables.get('public.a')!.keys.keys()]).toEqual(['4']);
    expect([...next.tables.get('public.b')!.keys.keys()]).toEqual(['9']);
    expect(next.firstCommitLsn).toBe(300n);
    expect(next.lastCommitLsn).toBe(400n);
    expect(next.lastCommitTimeMicros).toBe(4000n);
    // Moved once: a second call finds nothing left and is done up to past the batch's last commit.
    expect(batch.moveUntakenInto(next)).toBe(401n);
    expect(next.transactions).toBe(2);
  });

  it('with every key taken, moves nothing and is done past its last transaction', () => {
    const batch = new KeyAccumulator(100);
    commit(batch, 1, 100n, 'public.a', ['1']);
    batch.takeKeys();
    const next = new KeyAccumulator(100);
    expect(batch.moveUntakenInto(next)).toBe(101n);
    expect(next.isEmpty).toBe(true);
    expect(next.firstCommitLsn).toBeNull();
  });

  it('keeps an earlier transaction the next batch already holds first in line, and later moved keys find it again', () => {
    const batch = new KeyAccumulator(100);
    commit(batch, 1, 100n, 'public.a', ['1']);
    batch.takeKeys();
    commit(batch, 3, 300n, 'public.a', ['2']);
    // Held for the next batch: its commit arrived before the batch's snapshot could see it.
    const next = new KeyAccumulator(100);
    commit(next, 2, 200n, 'public.a', ['1']);

    expect(batch.moveUntakenInto(next)).toBe(300n);
    expect(next.firstCommitLsn).toBe(200n);
    expect(next.transactions).toBe(2);
    expect([...next.tables.get('public.a')!.keys.keys()].sort()).toEqual(['1', '2']);
    // The next batch, taking everything, starts afresh: a later move from it starts after this take.
    next.takeKeys();
    commit(next, 4, 400n, 'public.a', ['5']);
    expect(next.moveUntakenInto(new KeyAccumulator(100))).toBe(400n);
  });

  it('a table to recompute entirely moves as such', () => {
    const batch = new KeyAccumulator(100);
    commit(batch, 1, 100n, 'public.a', ['1']);
    batch.takeKeys();
    batch.beginTransaction(2, 200n);
    batch.touchEverything('public.a');
    batch.commitTransaction(200n, 2000n);
    const next = new KeyAccumulator(100);
    expect(batch.moveUntakenInto(next)).toBe(200n);
    expect(next.tables.get('public.a')!.everything).toBe(true);
  });
});
