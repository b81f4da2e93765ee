import { availableParallelism } from 'node:os';
import type { DiffLimits } from '../diff/diff.ts';

/** How capture sizes its batches and diffs; every field can be set for a capture (tests make them tiny). */
export interface CaptureLimits extends DiffLimits {
  maxKeysPerTable: number;
  /**
   * While a batch waits for its barrier, this many arrived keys are diffed early (a backlog); the
   * batch's first early diff waits for more when that could make it shared (see firstEarlyKeys).
   */
  minKeysPerEarlyDiff: number;
  /**
   * A batch still waiting for its barrier closes once its early diffs have taken this many keys: it
   * commits what they diffed and is acknowledged up to the first transaction whose keys no diff took
   * yet; those, and the rest of a backlog, go to the next batches. Checked after each early diff: a
   * batch can overshoot it by one early diff (at most maxKeysWaiting keys).
   *
   * Off (infinite) by default, since it breaks a promise of the notifications: a transaction is never
   * split. The batch's snapshot sees the whole backlog, so a root it diffed shows the root's rows as
   * of the backlog's end, later transactions' changes to it included; those transactions' other
   * rows leave with a later batch (measured: 100 backlog transactions, the last 40 each touching an
   * early root and a new one, every one of the 40 split across two notifications). A long backlog is
   * therefore one batch: one transaction, holding its tables' ACCESS SHARE locks and acknowledging
   * nothing until it ends, its notifications leaving together (in parts) at the end. Only tests of
   * batch boundaries set it.
   */
  maxKeysPerBatch: number;
  /**
   * Committed keys not yet diffed beyond which the stream stops reading until a diff takes them, so a
   * backlog neither fills memory nor overflows maxKeysPerTable into a full recompute.
   */
  maxKeysWaiting: number;
  /**
   * A bigger notification leaves in parts (see assembleNotifications): under RabbitMQ 4's 16 MiB
   * default limit, and small enough that the relay holding one (text, buffer, frames) stays light.
   */
  maxNotificationBytes: number;
  /**
   * A batch's notifications of at most this many bytes in all go to the relay from memory as the
   * batch commits, not read back from the outbox (see OutboxRelay.offer); a bigger batch (a huge
   * transaction) would hold them all in the engine's memory at once.
   */
  maxHandOverBytes: number;
  /**
   * Sessions that diff one big batch at once, each its share of the roots, in transactions sharing
   * the batch's snapshot (see DiffSessions); in a batch not big enough to be shared, the other
   * sessions compare part of the roots of a diff of `minRootsPerAssistedDiff` or more, and the main
   * session writes it all. 1: every batch is diffed in one session.
   */
  diffSessions: number;
  /**
   * A batch is shared once its notification is expected to be bigger than this (null: than
   * maxNotificationBytes, so only a batch that leaves in parts anyway is shared; a shared batch
   * leaves in parts, at least one per session).
   */
  minBytesPerSharedBatch: number | null;
  barrierTimeoutMs: number;
  idlePingMs: number;
  /** An idle stream confirms a keepalive's position at most this often (see the heartbeat in capture.ts). */
  idleConfirmMs: number;
  /**
   * How often the capture role checks its slot (lag, WAL left before invalidation) and publication
   * (a table someone removed from it is never decoded again: capture restarts and puts it right).
   */
  healthCheckMs: number;
  /**
   * How long `stop()` lets the batch in flight finish. Past it the batch is abandoned: its
   * transaction rolls back with its connection and, its WAL unacknowledged, it is replayed at the next
   * start. A stop must end even when a batch cannot (say, waiting on another session's table lock).
   */
  stopTimeoutMs: number;
}

export const DEFAULT_LIMITS: CaptureLimits = {
  maxKeysPerTable: 100_000,
  maxRootsPerDiff: 100_000,
  minRootsPerAssistedDiff: 2_000,
  minKeysPerEarlyDiff: 5_000,
  maxKeysPerBatch: Number.POSITIVE_INFINITY,
  maxKeysWaiting: 50_000,
  maxNotificationBytes: 4 * 1024 * 1024,
  maxHandOverBytes: 16 * 1024 * 1024,
  diffSessions: Math.min(4, availableParallelism()),
  minBytesPerSharedBatch: null,
  barrierTimeoutMs: 120_000,
  idlePingMs: 10_000,
  idleConfirmMs: 1_000,
  healthCheckMs: 30_000,
  stopTimeoutMs: 30_000,
};
