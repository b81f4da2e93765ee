import pg from 'pg';
import { retainBackendMemory } from '../db/memory.ts';
import { compressPageImages } from '../db/wal-compression.ts';
import { ENGINE_SESSION_OPTIONS, type Pool } from '../db/pool.ts';
import { lastResultOf, prepared, type NamedStatement } from '../db/statements.ts';
import { planFor } from '../diff/diff.ts';
import { CREATE_DIFF_ROWS_SQL } from '../diff/diff-rows.ts';
import { applyComparedSql, comparedColumnCount, compareSql, diffSql, rootKeysSql, type InquiryPlan } from '../diff/plan.ts';
import type { Logger } from '../log.ts';
import { keysIn, type TouchedTable } from './accumulator.ts';
import { parseLsn, type Lsn } from './lsn.ts';
import { sharedBatchesTotal } from './metrics.ts';

export interface DiffSessionsOptions {
  databaseUrl: string;
  slot: string;
  stateSchema: string;
  /** Sessions in all: the main one and `count - 1` helpers. */
  count: number;
  /** `LOCK TABLE … IN ACCESS SHARE MODE` of every watched table: what every batch holds. */
  lockTables: string;
  /** A batch whose notification is expected to be bigger than this is shared. */
  sharedBatchBytes: number;
  /** A batch not shared gets the helpers' help from a diff of this many keys on (see assistIfBig). */
  minKeysToAssist: number;
  logger: Logger;
  /** A session's connection failed. */
  onError(err: Error): void;
}

/**
 * How a diff runs, for the diff sessions (`SET`) and a transaction diffing on a pool connection
 * (`SET LOCAL`, see resyncStates). A big batch (a backlog, a large transaction) sorts and hashes
 * thousands of rows: in memory, not on disk. JIT off: the planner's blind estimates for CTE joins
 * cross jit_above_cost, and compiling costs 20-30 ms per statement, more than the key lookups it
 * would speed up. random_page_cost 1.1: every per-batch query is key lookups into pages the buffer
 * cache holds; at the default 4 (a spinning disk) the planner seq-scans a million-row table for a
 * few thousand keys (measured: a 20,000-change join diff 0.95 s → 0.75 s). No parallel workers: the
 * root lookups through a joined table's keys got a Gather of two, each a fresh process that starts
 * and first maps the buffer cache for a few thousand key lookups; a big batch already runs in
 * several sessions, one per core (measured: 10,000 order and line keys, 215-307 ms → 146-190 ms in
 * one process). plan_cache_mode auto whatever the server's default: a big diff is sent unnamed to
 * be planned for its keys (see keyedStatement), which force_generic_plan would defeat.
 *
 * `reads: 'keys'` (the diff sessions) also turns seq scans off: their statements look rows up by the
 * keys they are given, and a lookup of cached pages costs far less than the planner's page costs say,
 * so at some 20,000 roots it switched the join inquiry's diff to hashing every order (a million-row
 * seq scan) where index lookups stay cheaper up to the largest diff by key, 100,000 roots (measured,
 * the bench's join at a million rows: 24,000 roots 910 → 730 ms of CPU, 60,000 roots 1.83 → 1.44 s).
 * A statement that reads whole tables allows them again for itself (see SCAN_WHOLE_TABLES_SQL): a
 * full diff, and every statement of an inquiry one of whose lookups has no index to make it (see
 * findTableScans and planFor): with seq scans off, the planner still reads that table whole, but
 * through an index in key order when the next join can use that order, which is slower than the scan
 * it replaces (measured, the join's fresh rows of 5,000 roots with the orders' customer_id index
 * dropped: 258-294 ms through the orders' primary key, 111-127 ms with a seq scan). `reads: 'whole'`
 * is for a transaction that runs full diffs only (see resyncStates).
 */
export function diffSettingsSql(command: 'SET' | 'SET LOCAL', reads: 'keys' | 'whole' = 'keys'): string {
  const settings = {
    work_mem: "'64MB'",
    jit: 'off',
    random_page_cost: '1.1',
    max_parallel_workers_per_gather: '0',
    plan_cache_mode: 'auto',
    ...(reads === 'keys' ? { enable_seqscan: 'off' } : {}),
  };
  return Object.entries(settings)
    .map(([name, value]) => `${command} ${name} = ${value}`)
    .join('; ');
}

/**
 * The PostgreSQL sessions that diff capture's batches. The main one opens every batch (its snapshot,
 * its table locks); the helpers join a batch big enough to leave in parts anyway, in its exported
 * snapshot, and each diffs its share of the roots.
 */
export class DiffSessions {
  readonly main: pg.Client;
  private readonly helpers: pg.Client[];
  /** The sessions diffing the batch in flight: the main one, and the helpers once it is shared. */
  inBatch: pg.Client[];
  /**
   * Helpers reading for the main session in the batch in flight (see assistIfBig and diffInquiry);
   * empty when the batch is shared or too small.
   */
  assistants: pg.Client[] = [];
  /** The helpers could not join the batch in flight (a lock is awaited): not asked again. */
  private assistRefused = false;
  /** The helpers joining the batch's snapshot to assist, while they do (see assistIfBig). */
  private joining: Promise<boolean> | null = null;
  /** Backend pids, to end the sessions when a stop abandons the batch in flight. */
  private pids: number[] = [];
  /** Per shareable inquiry: its state's rows, and about how many bytes a diffed root adds to a notification. */
  private readonly stateSize = new Map<InquiryPlan, { rows: number; bytesPerRoot: number }>();

  constructor(private readonly options: DiffSessionsOptions) {
    const session = () => {
      const client = new pg.Client({
        connectionString: options.databaseUrl,
        application_name: `pushcdc-diff-${options.slot}`,
        options: ENGINE_SESSION_OPTIONS,
      });
      client.on('error', (err) => options.onError(err));
      return client;
    };
    this.main = session();
    this.helpers = Array.from({ length: Math.max(0, options.count - 1) }, session);
    this.inBatch = [this.main];
  }

  private get all(): pg.Client[] {
    return [this.main, ...this.helpers];
  }

  /** Connects every session; with helpers, reads the state sizes that decide sharing. */
  async connect(plans: InquiryPlan[]): Promise<void> {
    await Promise.all(this.all.map((c) => c.connect()));
    this.pids = await Promise.all(this.all.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
    const settings = `${diffSettingsSql('SET')}; ${CREATE_DIFF_ROWS_SQL}`;
    await Promise.all(this.all.map(retainBackendMemory));
    // The sessions write the state: after a checkpoint, mostly as whole-page images (see there).
    const [compression] = await Promise.all(this.all.map(compressPageImages));
    if (compression?.refused) {
      this.options.logger.info(
        { reason: compression.refused },
        'wal_compression stays off for the diff sessions: their page images go to the WAL uncompressed ' +
          '(a superuser can allow it: GRANT SET ON PARAMETER wal_compression TO <pushcdc role>)',
      );
    }
    await this.main.query(settings);
    // A helper never waits for a lock for long: one queued behind a TRUNCATE that waits for this
    // batch's own locks would wait forever (see share).
    await Promise.all(this.helpers.map((h) => h.query(`${settings}; SET lock_timeout = '10s'`)));
    if (this.helpers.length > 0) await this.loadStateSizes(plans);
    await this.prepareStatements(plans);
  }

  /**
   * Runs every diff statement once, on no keys, in a transaction rolled back. A new backend loads the
   * catalog entries of the views, tables and functions a statement reads, and PostgreSQL parses and
   * plans it, when the statement first runs: done here, the first batch after a start — a backlog —
   * does not pay for it (measured, a 20,000-change join backlog at a million rows: the first diff
   * 286-322 → 274-288 ms, the batch 540-611 → 513-524 ms). A few milliseconds per inquiry.
   */
  private async prepareStatements(plans: InquiryPlan[]): Promise<void> {
    const count = this.all.length;
    await Promise.all(
      this.all.map(async (session) => {
        await session.query('BEGIN');
        try {
          for (const plan of plans) {
            const noRoots = plan.rootHidden.map(() => []);
            const run = (statement: NamedStatement) => planFor(session, plan, () => session.query(statement));
            if (session === this.main) {
              await run(prepared(diffSql(plan, 'roots'), noRoots));
              if (count > 1) await session.query(prepared(applyComparedSql(plan), new Array(comparedColumnCount(plan)).fill(null)));
            } else await run(prepared(compareSql(plan), noRoots));
            // The lookup of a batch that touched every joined table (diffInquiry lists them in this order).
            const rootAlias = plan.inquiry.tables[0]!.alias;
            const joined = [...plan.aliasesByTable.values()].flat().filter((a) => a.alias !== rootAlias);
            if (joined.length > 0) await run(prepared(rootKeysSql(plan, joined), joined.flatMap((a) => a.hidden.map(() => []))));
          }
        } finally {
          await session.query('ROLLBACK');
        }
      }),
    );
  }

  /**
   * Per inquiry whose batches can be shared, from the state's statistics (its build ends with
   * ANALYZE): its rows, and the bytes one diffed root adds to a notification (a row leaving and one
   * entering, keys and commas included).
   */
  private async loadStateSizes(plans: InquiryPlan[]): Promise<void> {
    for (const plan of plans) {
      if (!plan.inquiry.rowsShowKeys) continue;
      const { rows } = await this.main.query<{ rows: number; width: number | null }>(
        `SELECT greatest(c.reltuples, 0)::float8 AS rows,
                (SELECT avg_width FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = '__row') AS width
           FROM pg_class c WHERE c.oid = to_regclass($3)`,
        [this.options.stateSchema, `state:${plan.inquiry.name}`, plan.stateTable],
      );
      this.stateSize.set(plan, { rows: rows[0]?.rows ?? 0, bytesPerRoot: 2 * ((rows[0]?.width ?? 100) + 24) });
    }
  }

  /** Keys that make some shareable inquiry's notification big enough to be shared; null: none can be. */
  keysToShare(): number | null {
    const biggest = Math.max(0, ...[...this.stateSize.values()].map((size) => size.bytesPerRoot));
    return biggest > 0 ? Math.ceil(this.options.sharedBatchBytes / biggest) + 1 : null;
  }

  /** A new batch starts in the main session alone. */
  startBatch(): void {
    this.inBatch = [this.main];
    this.assistants = [];
    this.assistRefused = false;
  }

  /**
   * Shares the batch in flight when its notification is expected to be big enough. Only at the
   * batch's first diff, before any session has written: afterwards a helper could meet a root the
   * main session rewrote (and cannot see), or wait on its row locks.
   */
  async shareIfBig(affected: InquiryPlan[], touched: Map<string, TouchedTable>): Promise<void> {
    if (this.helpers.length > 0 && this.expectedBytes(affected, touched) > this.options.sharedBatchBytes) await this.share();
  }

  /**
   * About how big the batch's notification will be, for the inquiries that can be shared: two rows
   * per key (per state row, when every root is recomputed), at their state's average row size.
   */
  private expectedBytes(affected: InquiryPlan[], touched: Map<string, TouchedTable>): number {
    const keys = keysIn(touched);
    const everything = [...touched.values()].some((t) => t.everything);
    let bytes = 0;
    for (const plan of affected) {
      const size = this.stateSize.get(plan);
      if (size) bytes = Math.max(bytes, (everything ? Math.max(keys, size.rows) : keys) * size.bytesPerRoot);
    }
    return bytes;
  }

  /**
   * Lets the helpers read for a batch the main session diffs alone (not shared: its notification is
   * not that big) once it has at least `minKeysToAssist` keys to diff. They compare their part of
   * the roots and the main session writes everything, so the batch still leaves as one notification.
   */
  async assistIfBig(keys: number): Promise<void> {
    if (this.helpers.length === 0 || this.inBatch.length > 1 || this.assistants.length > 0 || this.assistRefused) return;
    if (keys < this.options.minKeysToAssist) return;
    this.joining = this.joinSnapshot();
    try {
      if (await this.joining) this.assistants = this.helpers;
      else this.assistRefused = true;
    } finally {
      this.joining = null;
    }
  }

  /** The assistants of the batch in flight, once a join under way (assistIfBig) has settled. */
  async joinedAssistants(): Promise<pg.Client[]> {
    await this.joining?.catch(() => undefined);
    return this.assistants;
  }

  private async share(): Promise<void> {
    if (!(await this.joinSnapshot())) return;
    this.inBatch = [this.main, ...this.helpers];
    sharedBatchesTotal.inc();
  }

  /**
   * Opens the helpers' transactions in the batch's snapshot. They take the batch's table locks without
   * waiting: a lock request queued behind a TRUNCATE, which itself waits for this batch's locks,
   * would never be granted. Then (false) the batch just stays in the main session alone.
   */
  private async joinSnapshot(): Promise<boolean> {
    const { rows } = await this.main.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    try {
      await Promise.all(
        this.helpers.map(async (h) => {
          await h.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
          await h.query(`SET TRANSACTION SNAPSHOT '${rows[0]!.id}'`);
          await h.query(`${this.options.lockTables} NOWAIT`);
        }),
      );
      return true;
    } catch (err) {
      await Promise.all(this.helpers.map((h) => h.query('ROLLBACK').catch(() => undefined)));
      if ((err as { code?: string }).code !== '55P03') throw err;
      this.options.logger.info('a table lock is awaited: this batch is diffed in one session');
      return false;
    }
  }

  /**
   * In session order, the order their outbox rows were inserted in: the relay sends by seq and never
   * looks below one it has sent, so a row must not become visible after a higher one. Each session
   * commits its roots' state with their notification parts; a crash between the commits leaves the
   * WAL unacknowledged, and the replay finds the committed roots with nothing new.
   *
   * Returns where the WAL ends once the last commit is in: past every write of the batch (state rows,
   * outbox), read in the last commit's round trip.
   */
  async commitBatch(): Promise<Lsn> {
    const last = this.inBatch.at(-1)!;
    for (const session of this.inBatch) if (session !== last) await session.query('COMMIT');
    const { rows } = await lastResultOf<{ lsn: string }>(last, ['COMMIT', 'SELECT pg_current_wal_insert_lsn()::text AS lsn']);
    await this.endAssistance();
    return parseLsn(rows[0]!.lsn);
  }

  async rollbackBatch(): Promise<void> {
    await Promise.all(this.inBatch.map((c) => c.query('ROLLBACK').catch(() => undefined)));
    await this.endAssistance().catch(() => undefined);
  }

  /** Assistants only read: their transactions end with nothing to keep (and release their locks). */
  private async endAssistance(): Promise<void> {
    const assistants = this.assistants;
    this.assistants = [];
    await Promise.all(assistants.map((c) => c.query('ROLLBACK')));
  }

  /**
   * Ends the sessions' backends. Closing a socket is not enough: a backend waiting on a lock would not
   * notice, and would keep its transaction (and its locks) open until the lock came.
   */
  async terminate(pool: Pool): Promise<void> {
    await pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [this.pids]);
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.end().catch(() => undefined)));
  }
}
