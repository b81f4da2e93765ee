import type pg from 'pg';
import type { InstanceNames } from '../config/env.ts';
import type { Pool } from '../db/pool.ts';
import { lastResultOf } from '../db/statements.ts';
import { cancellingInquiries } from '../diff/diff-rows.ts';
import { DiffedRoots, diffInquiry } from '../diff/diff.ts';
import type { InquiryPlan } from '../diff/plan.ts';
import type { Logger } from '../log.ts';
import { ticksFromUnixMicros } from '../notification.ts';
import { assembleNotifications, type AssembledNotification } from '../outbox/assemble.ts';
import type { HandedPayload } from '../outbox/relay.ts';
import { KeyAccumulator, keysIn, type TouchedTable } from './accumulator.ts';
import { BatchBarrier } from './barrier.ts';
import { decodedShare, projectedKeys, type BatchProgress } from './batch-projection.ts';
import { DiffAhead } from './diff-ahead.ts';
import { DiffSessions } from './diff-sessions.ts';
import { DEFAULT_LIMITS, type CaptureLimits } from './limits.ts';
import { lockTablesSql } from './locks.ts';
import { batchSeconds, batchesTotal, boundedBatchesTotal, confirmedLsnBytes, earlyDiffsTotal, notificationsTotal, rootsSkippedTotal, transactionsTotal } from './metrics.ts';
import { tableKey, type StreamEvent } from './changes.ts';
import { formatLsn, parseLsn, type Lsn } from './lsn.ts';
import { isVisible, parseSnapshot, widenXid, type Snapshot } from './snapshot.ts';
import { ReplicationStream } from './stream.ts';
import { StreamHold } from './stream-hold.ts';

/** The share of a batch's WAL decoded past which its early diffs stop (see nearlyDecoded). */
const NEARLY_DECODED = 0.75;

/**
 * The capture loop: WAL → batches → diffs → outbox, one snapshot per batch.
 *
 * Why snapshots: the diff re-reads current rows, so it must read them as of exactly the transactions
 * it covers. Each batch opens a REPEATABLE READ transaction, takes its snapshot S, and writes a
 * logical message (the barrier) into the WAL. Every transaction visible in S committed before the
 * barrier, so once the barrier arrives the batch holds exactly the received transactions visible in
 * S — whole transactions, never part of one — and the diff reads them in S. A transaction the stream
 * delivered but S does not see yet (its commit was decoded a moment before it became visible) waits
 * for the next batch, and the WAL is confirmed only up to it, so a restart cannot skip it.
 *
 * Batches size themselves: whatever arrived while the previous batch was being diffed forms the next
 * one. State and outbox rows commit together; then the WAL position is acknowledged.
 */
export interface CaptureOptions {
  databaseUrl: string;
  pool: Pool;
  names: InstanceNames;
  company: string;
  plans: InquiryPlan[];
  logger: Logger;
  /**
   * Called as soon as a batch committed notifications to the outbox (the relay sends them): every
   * row it committed, with its payload when the batch was small enough to hand them over (see
   * maxHandOverBytes).
   */
  onCommitted(committed: HandedPayload[]): void;
  limits?: Partial<CaptureLimits>;
}

interface OpenTransaction {
  xid: number;
  commitLsn: Lsn;
  keys: KeyAccumulator;
}

export class CaptureLoop {
  private readonly limits: CaptureLimits;
  private readonly stream: ReplicationStream;
  private readonly sessions: DiffSessions;
  /** The main diff session: it opens every batch (snapshot, table locks, barrier wait). */
  private readonly client: pg.Client;
  /** Diffs the batch in flight has run. */
  private batchDiffs = 0;
  /** Keys the batch in flight's early diffs have taken (see maxKeysPerBatch). */
  private keysDiffedEarly = 0;
  /**
   * Keys a batch's first early diff waits for, so a backlog can be shared: DiffSessions.keysToShare,
   * at least minKeysPerEarlyDiff, at most maxKeysWaiting. Set at start. A batch whose WAL cannot hold
   * that many keys starts at minKeysPerEarlyDiff instead (see firstEarlyDiffAt).
   */
  private firstEarlyKeys: number;
  /**
   * Where the WAL was written to when the batch in flight took its snapshot: about where the last of
   * its transactions ends (the end of the projection in firstEarlyDiffAt; a heuristic only).
   */
  private snapshotWalEnd: Lsn = 0n;
  private readonly lockTables: string;
  /** Inquiries whose diff rows can cancel (see CANCEL_UNCHANGED_SQL). */
  private readonly cancelFor: string[];
  private readonly plansByTable = new Map<string, InquiryPlan[]>();
  private pending: KeyAccumulator;
  private current: KeyAccumulator | null = null;
  private snapshot: Snapshot | null = null;
  private openTx: OpenTransaction | null = null;
  private readonly hold: StreamHold;
  private readonly barrier: BatchBarrier;
  private confirmed: Lsn = 0n;
  /** When a reply last confirmed a position (Date.now()). */
  private confirmedAt = 0;
  /**
   * Where the WAL ended when the last batch had committed: past its own writes (state rows, outbox),
   * which the walsender decodes after the batch (then finds their tables unpublished). A batch is
   * confirmed up to its last change, which lies before them: until a keepalive past them is
   * confirmed, the slot holds them, its lag shows them, and a restart decodes them again as part of
   * its catch-up. After a 100,000-change batch that was 24 MB, still unconfirmed 7 s later (an idle
   * keepalive is confirmed at most every idleConfirmMs, and the one after the batch came sooner).
   */
  private ownWritesEnd: Lsn = 0n;
  private batchRunning = false;
  /** A batch failed or was abandoned: its changes are only in the slot now (see isIdle). */
  private batchLost = false;
  private stopping = false;
  private failure: Error | null = null;
  private wakeLoop: (() => void) | null = null;
  private batchGrew: (() => void) | null = null;
  /** Per inquiry, the roots the batch in flight has diffed (see DiffedRoots). */
  private diffed = new Map<InquiryPlan, DiffedRoots>();
  /** The rest of the batch in flight, compared while its last early diff runs (see DiffAhead). */
  private ahead: DiffAhead | null = null;
  private loop: Promise<void> | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private lastEventAt = Date.now();

  constructor(private readonly options: CaptureOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.firstEarlyKeys = this.limits.minKeysPerEarlyDiff;
    this.pending = new KeyAccumulator(this.limits.maxKeysPerTable);
    this.cancelFor = cancellingInquiries(options.plans);
    const keyColumns = new Map<string, string[]>();
    for (const plan of options.plans) {
      for (const t of plan.inquiry.tables) {
        const key = tableKey(t.info);
        keyColumns.set(key, t.info.keyColumns.map((k) => k.name));
        const list = this.plansByTable.get(key) ?? [];
        if (!list.includes(plan)) list.push(plan);
        this.plansByTable.set(key, list);
      }
    }
    this.stream = new ReplicationStream(
      {
        connectionString: options.databaseUrl,
        slot: options.names.slot,
        publication: options.names.publication,
        barrierPrefix: options.names.slot,
        keyColumns,
      },
      (event) => this.onEvent(event),
      (err) => this.fail(err),
      options.logger,
    );
    this.hold = new StreamHold(this.stream);
    this.barrier = new BatchBarrier(this.hold, this.limits.barrierTimeoutMs);
    this.lockTables = lockTablesSql(options.plans);
    this.sessions = new DiffSessions({
      databaseUrl: options.databaseUrl,
      slot: options.names.slot,
      stateSchema: options.names.stateSchema,
      count: this.limits.diffSessions,
      lockTables: this.lockTables,
      sharedBatchBytes: this.limits.minBytesPerSharedBatch ?? this.limits.maxNotificationBytes,
      minKeysToAssist: this.limits.minRootsPerAssistedDiff,
      logger: options.logger,
      onError: (err) => this.fail(err),
    });
    this.client = this.sessions.main;
  }

  /** Connects and starts streaming; resolves once the server streams. Failures later reach `done`. */
  async start(): Promise<void> {
    await this.sessions.connect(this.options.plans);
    const keysToShare = this.sessions.keysToShare();
    // Never more than the stream may hold back: the wait would otherwise stop the stream for good.
    if (keysToShare !== null) {
      this.firstEarlyKeys = Math.min(this.limits.maxKeysWaiting, Math.max(this.limits.minKeysPerEarlyDiff, keysToShare));
    }
    // Replies never move the slot backwards: start from where it already is.
    const slot = await this.client.query<{ lsn: string | null }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [this.options.names.slot],
    );
    const lsn = slot.rows[0]?.lsn;
    if (lsn) this.confirmed = parseLsn(lsn);
    await this.stream.start();
    this.loop = this.runBatches();
    this.pingTimer = setInterval(() => this.pingWhenIdle(), Math.max(1000, this.limits.idlePingMs / 2));
  }

  /** Settles when the loop ends: resolves after `stop()`, rejects on a failure (restart from the slot). */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /**
   * Finishes the batch in flight (commit and acknowledge) within stopTimeoutMs, else abandons it
   * (see there), then closes the stream and the sessions.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeLoop?.();
    // The batch in flight may be waiting for its barrier: it must be able to read it.
    this.hold.set(false);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      (this.loop ?? Promise.resolve()).then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.limits.stopTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.options.logger.warn(
        { ms: this.limits.stopTimeoutMs },
        'the batch in flight did not finish in time: it is abandoned and replayed from the slot at the next start',
      );
      await this.sessions.terminate(this.options.pool).catch((err: unknown) => this.options.logger.warn({ err }, 'ending the abandoned batch sessions'));
    }
    await this.close();
    // An abandoned batch ends once its connections are gone.
    await this.loop?.catch(() => undefined);
  }

  private async close(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    await this.stream.stop().catch((err: unknown) => this.options.logger.warn({ err }, 'closing the replication stream'));
    await this.sessions.close();
  }

  /** Ends the loop as a failure would: its role restarts capture from the slot (see CaptureRole). */
  restart(reason: Error): void {
    this.fail(reason);
  }

  private fail(err: Error): void {
    if (this.failure || this.stopping) return;
    this.failure = err;
    this.options.logger.error({ err }, 'capture failed; it restarts from the slot');
    this.barrier.abort();
    this.wakeLoop?.();
  }

  private onEvent(event: StreamEvent): void {
    this.lastEventAt = Date.now();
    switch (event.kind) {
      case 'begin':
        this.openTx = { xid: event.xid, commitLsn: event.commitLsn, keys: new KeyAccumulator(this.limits.maxKeysPerTable) };
        return;
      case 'row':
        this.openTx?.keys.addKeys(event.table, event.keys);
        return;
      case 'unkeyed':
        this.openTx?.keys.touchEverything(event.table);
        return;
      case 'truncate':
        for (const t of event.tables) this.openTx?.keys.touchEverything(t);
        return;
      case 'commit':
        this.commit(event.commitLsn, event.commitTimeMicros);
        return;
      case 'barrier':
        // Sealed now, synchronously: later transactions in this same network chunk go to the next batch.
        if (this.barrier.arrived(event.token, event.lsn)) this.snapshot = null;
        return;
      case 'heartbeat':
        // While other databases (or tables no inquiry reads) write, the walsender sends a keepalive
        // each time it waits for WAL with our confirmed position behind its own: hundreds a second.
        // Confirming each one draws the next at once, a ping-pong of thousands a second (a probe
        // reader doing so while another database ran 400 transactions/s: 8,000 keepalives/s, and
        // with the read pauses its commits arrived 240 ms late, p50). An idle slot needs confirming
        // now and then, not on every keepalive.
        // Except while the slot is confirmed short of capture's own last writes (see ownWritesEnd):
        // then at once, which takes one or two keepalives after a batch.
        if (this.isIdle()) {
          const ownWritesUnconfirmed = this.confirmed < this.ownWritesEnd;
          if (event.shouldRespond || ownWritesUnconfirmed || Date.now() - this.confirmedAt >= this.limits.idleConfirmMs) void this.confirm(event.lsn);
        } else if (event.shouldRespond && this.confirmed > 0n) void this.stream.acknowledge(this.confirmed);
        return;
    }
  }

  /** A transaction is routed when its commit arrives: into the open batch if its snapshot sees it. */
  private commit(commitLsn: Lsn, commitTimeMicros: bigint): void {
    const tx = this.openTx;
    this.openTx = null;
    if (!tx) return;
    const joinsBatch = this.current !== null && this.snapshot !== null && isVisible(tx.xid, this.snapshot);
    const target = joinsBatch ? this.current! : this.pending;
    target.beginTransaction(tx.xid, tx.commitLsn);
    for (const [table, touched] of tx.keys.tables) target.addTouched(table, touched);
    target.commitTransaction(commitLsn, commitTimeMicros);
    if (joinsBatch) this.batchGrew?.();
    else this.wakeLoop?.();
    // Hold only what a diff is about to take, so the hold always ends: keys that joined a batch waiting
    // for its barrier (its early diffs take them), or pending keys once no batch waits for a barrier
    // (the next batch takes them). Pending keys never hold a barrier's own stream back.
    const waiting = joinsBatch ? this.current!.keyCount : this.current === null ? this.pending.keyCount : 0;
    if (waiting >= this.limits.maxKeysWaiting) this.hold.set(true);
  }

  private isIdle(): boolean {
    return !this.batchLost && !this.batchRunning && this.openTx === null && this.pending.isEmpty;
  }

  private async confirm(lsn: Lsn): Promise<void> {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.confirmedAt = Date.now();
    confirmedLsnBytes.set(Number(lsn));
    await this.stream.acknowledge(lsn);
  }

  /** A quiet database still needs its slot to advance: ask for a keepalive and confirm its position. */
  private pingWhenIdle(): void {
    if (this.isIdle() && Date.now() - this.lastEventAt > this.limits.idlePingMs / 2) {
      if (this.confirmed > 0n) void this.stream.ping(this.confirmed).catch((err: unknown) => this.fail(err as Error));
    }
  }

  private async runBatches(): Promise<void> {
    while (!this.stopping) {
      if (this.failure) throw this.failure;
      if (this.pending.isEmpty) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve;
        });
        this.wakeLoop = null;
        continue;
      }
      await this.runBatch();
    }
    if (this.failure) throw this.failure;
  }

  private async runBatch(): Promise<void> {
    this.batchRunning = true;
    const started = Date.now();
    try {
      // The locks before the snapshot exists (see lockTablesSql): LOCK TABLE takes none, the SELECT
      // after it takes the transaction's. In one round trip.
      const opened = await lastResultOf<{ s: string; lsn: string }>(this.client, [
        'BEGIN ISOLATION LEVEL REPEATABLE READ',
        this.lockTables,
        'SELECT pg_current_snapshot()::text AS s, pg_current_wal_lsn()::text AS lsn',
      ]);
      const taken = opened.rows[0]!;
      const snapshot = parseSnapshot(taken.s);
      if (this.pending.xids.some((xid) => !isVisible(xid, snapshot))) {
        // A delivered commit not yet visible to new snapshots: a moment later it is.
        await this.client.query('ROLLBACK');
        await new Promise((r) => setTimeout(r, 5));
        return;
      }
      const batch = this.pending;
      this.pending = new KeyAccumulator(this.limits.maxKeysPerTable);
      this.sessions.startBatch();
      this.batchDiffs = 0;
      this.keysDiffedEarly = 0;
      this.hold.set(false);
      this.current = batch;
      this.snapshot = snapshot;
      this.snapshotWalEnd = parseLsn(taken.lsn);
      const barrier = this.awaitBarrier();
      this.diffed = new Map();
      this.ahead = null;
      const waited = await this.diffWhileWaiting(batch, barrier);
      let rows = waited.rows;
      // From here on, commits go to the next batch. A batch closed before its barrier (see
      // maxKeysPerBatch) also hands it the keys no diff took yet, and covers only the transactions
      // its diffs took; its barrier then arrives unawaited, and is ignored.
      this.current = null;
      this.snapshot = null;
      const closedTo = waited.closed ? batch.moveUntakenInto(this.pending) : null;
      if (closedTo !== null) {
        this.barrier.abort();
        boundedBatchesTotal.inc();
      }
      const barrierLsn = await barrier;
      const barrierAt = Date.now();
      if (this.failure) throw this.failure;
      const coveredTo = closedTo ?? barrierLsn + 1n;

      // Set meanwhile, if at all, by compareAheadIfBarrierFirst: TypeScript still narrows it to the
      // null assigned above, hence the annotated copy.
      if (this.ahead !== null) {
        const ahead: DiffAhead = this.ahead;
        const done = await ahead.finish(this.client);
        rows += done.rows + (await this.diffKeys(ahead.touched, true, done.handled));
      }
      rows += await this.diffKeys(batch.takeKeys());
      const diffedAt = Date.now();
      const entries = rows > 0 ? await this.assemble(batch) : [];
      const assembledAt = Date.now();
      this.ownWritesEnd = await this.sessions.commitBatch();
      if (entries.length > 0) this.options.onCommitted(entries);

      // Everything before the barrier (or the batch's last transaction) is done, except transactions
      // held for the next batch.
      const held = this.pending.firstCommitLsn;
      await this.confirm(held !== null && held < coveredTo ? held : coveredTo);
      const ms = Date.now() - started;
      batchesTotal.inc();
      transactionsTotal.inc(batch.transactions);
      notificationsTotal.inc(entries.length);
      batchSeconds.observe(ms / 1000);
      for (const d of this.diffed.values()) rootsSkippedTotal.inc(d.skipped);
      this.options.logger.debug(
        {
          transactions: batch.transactions,
          rows,
          notifications: entries.length,
          ms,
          // Where the time went: waiting for the barrier (early diffs included), the rest of the diff,
          // assembling notifications, committing and acknowledging.
          phasesMs: [barrierAt - started, diffedAt - barrierAt, assembledAt - diffedAt, Date.now() - assembledAt],
          ...(waited.closed ? { closedBefore: 'barrier', upTo: formatLsn(coveredTo) } : { barrier: formatLsn(barrierLsn) }),
        },
        'batch committed',
      );
    } catch (err) {
      // Its keys were taken out of pending: this loop must never again call itself idle, or a
      // heartbeat would confirm the WAL past the lost batch (the next loop replays it from the slot).
      this.batchLost = true;
      await this.sessions.rollbackBatch();
      throw err;
    } finally {
      this.current = null;
      this.snapshot = null;
      this.ahead = null;
      this.batchRunning = false;
      // A hold ends with the batch that could take the held keys: a commit may hold the stream just as
      // the barrier arrives (already read, behind the pause), and with nothing left pending no diff
      // would release it. What is pending starts the next batch at once, which holds again if need be.
      this.hold.set(false);
    }
  }

  /**
   * Non-transactional: in the WAL at once, after the snapshot was taken. PostgreSQL 15 does not flush
   * such a message, and the walsender decodes only flushed WAL: the xid assigned in the same
   * autocommit statement makes its commit flush the WAL, barrier included (pgoutput skips the empty
   * transaction itself).
   */
  private awaitBarrier(): Promise<Lsn> {
    return this.barrier.cross(async (token) => {
      await this.options.pool.query('SELECT pg_logical_emit_message(false, $1, $2), pg_current_xact_id()', [this.options.names.slot, token]);
    });
  }

  /** How far the batch in flight has come (see projectedKeys). */
  private progress(batch: KeyAccumulator): BatchProgress {
    const first = batch.xids[0];
    return {
      keys: batch.keyCount,
      firstCommitLsn: batch.firstCommitLsn,
      lastCommitLsn: batch.lastCommitLsn,
      walEnd: this.snapshotWalEnd,
      xidsSeen: batch.xids.length,
      firstXid: first === undefined || this.snapshot === null ? null : widenXid(first, this.snapshot),
      xmax: this.snapshot?.xmax ?? 0n,
    };
  }

  /**
   * Keys the batch's first early diff waits for. Waiting for firstEarlyKeys lets a backlog big enough
   * be shared, but leaves the sessions idle while the stream decodes. So from minKeysPerEarlyDiff
   * keys on, the batch projects how many keys it will bring (see projectedKeys): one that will not
   * bring firstEarlyKeys is not shared anyway, and starts diffing while the rest of it is still being
   * decoded. The projection is rough (the WAL holds more than the watched tables' changes; measured
   * at 5,000 keys of 20,000, it was off by up to half either way), so it is taken again as keys
   * arrive: a batch that looked big may still start early, until it is nearly decoded.
   */
  private firstEarlyDiffAt(batch: KeyAccumulator): number {
    const small = this.limits.minKeysPerEarlyDiff;
    if (this.firstEarlyKeys <= small || batch.keyCount < small) return this.firstEarlyKeys;
    const projected = projectedKeys(this.progress(batch));
    return projected !== null && projected < this.firstEarlyKeys ? small : this.firstEarlyKeys;
  }

  /**
   * Whether a batch diffed in the main session alone has nearly all of its WAL decoded: an early diff
   * started now would run unassisted (see diffKeys) mostly after the barrier came; the keys wait for
   * the final diff, which the helpers assist.
   */
  private nearlyDecoded(batch: KeyAccumulator): boolean {
    return this.sessions.inBatch.length === 1 && (decodedShare(this.progress(batch)) ?? 0) >= NEARLY_DECODED;
  }

  /**
   * While the barrier travels — for a backlog, until all of it has been decoded — diffs the keys that
   * already arrived, in the batch's snapshot. Diffing a root early is exact: it reads the rows as of
   * the snapshot, which every later transaction of this batch is also part of, so a root touched
   * again diffs to nothing, and a root reached later through a joined key is still found through the
   * stored rows it has not yet had rewritten. Small live batches never wait long enough to do this.
   */
  private async diffWhileWaiting(batch: KeyAccumulator, barrier: Promise<Lsn>): Promise<{ rows: number; closed: boolean }> {
    let arrived = false;
    const settled = barrier.then(
      () => (arrived = true),
      () => (arrived = true),
    );
    let rows = 0;
    while (!arrived && !this.failure) {
      // The first diff decides whether the batch is shared: a batch projected big enough waits until
      // its keys would make a notification that leaves in parts anyway, and then runs however far the
      // stream got (see firstEarlyDiffAt). A held stream is always released by a diff: nothing else
      // would bring the keys the wait is for.
      const wanted = this.batchDiffs === 0 ? this.firstEarlyDiffAt(batch) : this.limits.minKeysPerEarlyDiff;
      const toShare = wanted > this.limits.minKeysPerEarlyDiff;
      if ((batch.keyCount >= wanted && (toShare || !this.nearlyDecoded(batch))) || (this.hold.held && batch.keyCount > 0)) {
        earlyDiffsTotal.inc();
        const keys = batch.takeKeys();
        this.hold.set(false);
        const started = Date.now();
        const diffing = this.diffKeys(keys, false);
        this.compareAheadIfBarrierFirst(diffing, barrier, batch);
        rows += await diffing;
        this.keysDiffedEarly += keysIn(keys);
        this.options.logger.debug({ keys: keysIn(keys), ms: Date.now() - started }, 'early diff');
        // With maxKeysPerBatch set (off by default: see there), a backlog drains batch by batch. Not
        // once the barrier came: then the rest may already be compared ahead (see
        // compareAheadIfBarrierFirst).
        if (!arrived && !this.failure && this.keysDiffedEarly >= this.limits.maxKeysPerBatch) return { rows, closed: true };
        continue;
      }
      await Promise.race([settled, new Promise<void>((resolve) => (this.batchGrew = resolve))]);
      this.batchGrew = null;
    }
    return { rows, closed: false };
  }

  /**
   * If the barrier comes while `diffing` (an early diff) runs, the rest of the batch is known: the
   * assistants start on it at once (see DiffAhead), and runBatch has the main session finish it.
   */
  private compareAheadIfBarrierFirst(diffing: Promise<number>, barrier: Promise<Lsn>, batch: KeyAccumulator): void {
    const first = Promise.race([diffing.then(() => 'diff', () => 'diff'), barrier.then(() => 'barrier', () => 'lost')]);
    void first.then(async (which) => {
      if (which !== 'barrier') return;
      // Assistants join the batch as its first diff starts (see diffKeys); a batch shared has none.
      const assistants = await this.sessions.joinedAssistants();
      if (assistants.length === 0 || this.failure || this.ahead !== null || this.current !== batch) return;
      const touched = batch.takeKeys();
      if (touched.size === 0) return;
      this.ahead = new DiffAhead(assistants, this.affectedBy(touched), touched, this.limits, (plan) => this.diffedRoots(plan));
      this.options.logger.debug({ keys: keysIn(touched) }, 'the barrier came during an early diff: the rest is compared meanwhile');
    }).catch((err: unknown) => this.fail(err as Error));
  }

  private affectedBy(touched: Map<string, TouchedTable>): InquiryPlan[] {
    const affected = new Set<InquiryPlan>();
    for (const table of touched.keys()) for (const plan of this.plansByTable.get(table) ?? []) affected.add(plan);
    return [...affected];
  }

  private diffedRoots(plan: InquiryPlan): DiffedRoots {
    const diffed = this.diffed.get(plan) ?? new DiffedRoots();
    this.diffed.set(plan, diffed);
    return diffed;
  }

  /**
   * Diffs every inquiry reading the touched tables into the diff-rows tables, but those in `done`
   * (already diffed by a DiffAhead); returns the row count.
   * The batch's first diff decides whether the batch is shared among the diff sessions. `assisted`:
   * whether the helpers may compare part of a diff the main session runs alone. Not in early diffs:
   * then the walsender decoding the rest of the batch and the engine reading it already take most of
   * a core, and a third busy process slows the decode, which is what the batch waits for.
   */
  private async diffKeys(touched: Map<string, TouchedTable>, assisted = true, done: Set<InquiryPlan> = new Set()): Promise<number> {
    const affected = this.affectedBy(touched).filter((plan) => !done.has(plan));
    if (this.batchDiffs++ === 0) await this.sessions.shareIfBig(affected, touched);
    // The assistants join the batch's snapshot now even when they do not help this diff: this diff may
    // still run when the barrier comes, and then they compare the rest (see compareAheadIfBarrierFirst).
    await this.sessions.assistIfBig(keysIn(touched));
    let rows = 0;
    for (const plan of affected) {
      // An inquiry whose rows can cancel is diffed in one session, where its pairs meet.
      const sessions = plan.inquiry.rowsShowKeys ? this.sessions.inBatch : [this.client];
      rows += await diffInquiry(sessions, plan, touched, this.limits, this.diffedRoots(plan), assisted ? this.sessions.assistants : []);
    }
    return rows;
  }

  /** The batch's diff rows become outbox rows: one notification per changed inquiry (or its parts). */
  private assemble(batch: KeyAccumulator): Promise<AssembledNotification[]> {
    return assembleNotifications(
      this.sessions.inBatch,
      this.options.names.stateSchema,
      {
        companyJson: JSON.stringify(this.options.company),
        ticks: ticksFromUnixMicros(batch.lastCommitTimeMicros ?? BigInt(Date.now()) * 1000n),
        lsn: formatLsn(batch.lastCommitLsn ?? 0n),
      },
      this.limits.maxNotificationBytes,
      this.cancelFor,
      this.limits.maxHandOverBytes,
    );
  }
}
