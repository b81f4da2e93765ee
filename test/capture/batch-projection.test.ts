import { describe, expect, it } from 'vitest';
import { decodedShare, projectedKeys, type BatchProgress } from '../../src/capture/batch-projection.ts';

/** A backlog of 10,000 transactions of 10 row updates each, its first at xid 1,000 and LSN 0x1000000. */
const FIRST_LSN = 0x1000000n;
const backlog = (p: Partial<BatchProgress>): BatchProgress => ({
  keys: 5_000,
  firstCommitLsn: FIRST_LSN,
  lastCommitLsn: null,
  walEnd: 0n,
  xidsSeen: 500,
  firstXid: 1_000n,
  xmax: 11_000n,
  ...p,
});

describe('batch projection', () => {
  it('a backlog whose WAL starts with page images is still projected big, by its xids', () => {
    // After a checkpoint the first change to each page carries the page: the first 500 transactions
    // (5,000 changes) took about 7 KB per change, the other 95,000 changes 180 bytes each.
    const decoded = 5_000n * 7_000n;
    const p = backlog({ lastCommitLsn: FIRST_LSN + decoded, walEnd: FIRST_LSN + decoded + 95_000n * 180n });
    const byWal = p.keys / decodedShare(p)!;
    expect(byWal).toBeLessThan(15_000); // what the WAL alone said: small, though 100,000 keys come
    expect(projectedKeys(p)).toBeCloseTo(100_000, -2);
  });

  it('a small batch is small both ways', () => {
    // 8,000 changes at 180 bytes each, 5,000 of them decoded; 800 transactions.
    const p = backlog({ lastCommitLsn: FIRST_LSN + 5_000n * 180n, walEnd: FIRST_LSN + 8_000n * 180n, xmax: 1_800n });
    expect(projectedKeys(p)).toBeCloseTo(8_000, -1);
  });

  it('takes the larger reading when other transactions took xids meanwhile', () => {
    // The same small batch, while another database's writers took 20,000 xids in its range.
    const p = backlog({ lastCommitLsn: FIRST_LSN + 5_000n * 180n, walEnd: FIRST_LSN + 8_000n * 180n, xmax: 21_800n });
    expect(projectedKeys(p)).toBeCloseTo(208_000, -3);
  });

  it('uses whichever reading there is, and neither before a second transaction', () => {
    const one = backlog({ lastCommitLsn: FIRST_LSN, walEnd: FIRST_LSN + 1_000n, xidsSeen: 0, firstXid: null });
    expect(decodedShare(one)).toBeNull();
    expect(projectedKeys(one)).toBeNull();
    const xidsOnly = backlog({ lastCommitLsn: FIRST_LSN, walEnd: FIRST_LSN + 1_000n });
    expect(projectedKeys(xidsOnly)).toBeCloseTo(100_000, -2);
    const walOnly = backlog({ lastCommitLsn: FIRST_LSN + 500n, walEnd: FIRST_LSN + 1_000n, xidsSeen: 0, firstXid: null });
    expect(projectedKeys(walOnly)).toBe(10_000);
  });
});
