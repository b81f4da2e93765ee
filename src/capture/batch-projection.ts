import type { Lsn } from './lsn.ts';

/**
 * How far a batch still waiting for its barrier has come, read two ways, and how many keys it is
 * expected to bring in all (see CaptureLoop.firstEarlyDiffAt). Neither reading is exact, and they
 * err in opposite directions, which is why both are taken.
 */
export interface BatchProgress {
  keys: number;
  /** Commit LSNs of the batch's first and latest transactions so far. */
  firstCommitLsn: Lsn | null;
  lastCommitLsn: Lsn | null;
  /** Where the WAL was written to when the batch took its snapshot. */
  walEnd: Lsn;
  /** The batch's transactions whose xids it holds, and the first of those xids, widened (see widenXid). */
  xidsSeen: number;
  firstXid: bigint | null;
  /** The snapshot's xmax: every transaction the batch will hold has an xid below it. */
  xmax: bigint;
}

/**
 * The share of the batch's WAL decoded so far: from its first commit to its latest, of the way to
 * the WAL's end at its snapshot. null while it cannot tell (one transaction so far).
 */
export function decodedShare(p: Pick<BatchProgress, 'firstCommitLsn' | 'lastCommitLsn' | 'walEnd'>): number | null {
  const first = p.firstCommitLsn;
  const last = p.lastCommitLsn;
  if (first === null || last === null || last <= first || p.walEnd <= first) return null;
  return Number(last - first) / Number(p.walEnd - first);
}

/**
 * The keys the batch is expected to bring, or null while neither reading can tell.
 *
 * - By WAL: keys so far ÷ decodedShare. Low when the WAL decoded so far is heavier per change than
 *   the rest: the first change to a page after a checkpoint carries the whole page (kilobytes, where
 *   a row update takes about 180 bytes), and a backlog's first changes are mostly such firsts. A
 *   100,000-change backlog begun after a checkpoint (1,050-1,084 bytes per change on average) had
 *   its first 5,000 keys projected to fewer than the 21,000 that would share it, and drained
 *   unshared (a million rows, interleaved runs of five catch-ups: 28.9k and 27.8k changes/s; with
 *   both readings, shared, 31.2k and 35.3k).
 * - By xids: keys per transaction so far × the xids from the batch's first to the snapshot's xmax.
 *   High when other transactions took xids in that range (other tables, other databases).
 *
 * The larger counts: a batch is taken for small only when both say so. Taking a big one for small
 * costs it its sharing (seconds, for a backlog); taking a small one for big leaves the sessions idle
 * until its barrier comes, which is when a batch that small is decoded.
 */
export function projectedKeys(p: BatchProgress): number | null {
  const share = decodedShare(p);
  const byWal = share !== null && share > 0 ? p.keys / share : null;
  const span = p.firstXid === null ? 0n : p.xmax - p.firstXid;
  const byXids = p.xidsSeen > 0 && span > 0n ? (p.keys / p.xidsSeen) * Number(span) : null;
  if (byWal === null) return byXids;
  if (byXids === null) return byWal;
  return Math.max(byWal, byXids);
}
