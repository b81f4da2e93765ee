import pg from 'pg';
import { retainBackendMemory } from '../db/memory.ts';
import { createPool, ENGINE_SESSION_OPTIONS, fillPool, type Pool } from '../db/pool.ts';
import type { EngineContext, RoleStarter, RunningRole } from '../engine/role.ts';
import { recordEvent } from '../monitor/events.ts';
import { OutboxRelay } from '../outbox/relay.ts';
import { CaptureLoop } from './capture.ts';
import { DEFAULT_LIMITS, type CaptureLimits } from './limits.ts';
import { prepareCapture, type PreparedCapture } from './prepare.ts';
import { publishedTables, slotHealth } from './publication.ts';
import { tableKey } from './changes.ts';

/**
 * The capture role: one writer per slot. Several instances may run it; one holds an advisory lock
 * and streams, the others stand by and take over when it goes. A failure (lost connection, a query
 * error) restarts the loop from the slot's confirmed position, which replays harmlessly.
 */
const LOCK_RETRY_MS = 2000;
/** The relay's connections: one reads the next round while the other deletes what was sent. */
const RELAY_CONNECTIONS = 2;
const SAFE_WAL_WARNING_BYTES = 1024 ** 3;

export interface CaptureRoleOptions {
  limits?: Partial<CaptureLimits>;
}

/** A started capture role; `ready` resolves once it streams (a standby waits for the lock first). */
export interface RunningCapture extends RunningRole {
  ready: Promise<void>;
}

export function captureRole(options: CaptureRoleOptions = {}): (ctx: EngineContext) => Promise<RunningCapture> {
  return async (ctx) => {
    const role = new CaptureRole(ctx, options);
    role.start();
    return { name: 'capture', stop: () => role.stop(), ready: role.ready };
  };
}

export const startCapture: RoleStarter = captureRole();

class CaptureRole {
  private stopping = false;
  private lockClient: pg.Client | null = null;
  private loop: CaptureLoop | null = null;
  private relay: OutboxRelay | null = null;
  private prepared: PreparedCapture | null = null;
  private relayPool: Pool | null = null;
  private running: Promise<void> | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private readonly logger;
  private readonly limits: CaptureLimits;
  private markReady: () => void = () => undefined;
  readonly ready = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });

  constructor(
    private readonly ctx: EngineContext,
    private readonly options: CaptureRoleOptions,
  ) {
    this.logger = ctx.logger.child({ role: 'capture', slot: ctx.names.slot });
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
  }

  start(): void {
    this.running = this.run().catch(async (err: unknown) => {
      this.logger.fatal({ err }, 'capture stopped');
      await recordEvent(this.ctx.pool, { level: 'fatal', source: 'capture', message: `capture stopped: ${(err as Error).message}` });
      process.exitCode = 1;
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    await this.loop?.stop();
    await this.running;
    await this.relay?.stop();
    await this.relayPool?.end();
    await this.lockClient?.end().catch(() => undefined);
  }

  private async run(): Promise<void> {
    if (!(await this.acquireLock())) return;
    this.prepared = await this.prepare();
    // Connections of its own, kept open: they read megabyte payloads, and keep the memory for the next.
    this.relayPool = createPool(this.ctx.databaseUrl, {
      max: RELAY_CONNECTIONS,
      application: `pushcdc-relay-${this.ctx.names.slot}`,
      keepIdle: true,
      onConnect: retainBackendMemory,
    });
    // Both opened now: the relay first needs its second (a round read while the last is deleted)
    // under load, and opening one there, memory set-up included, held a delete — and with it every
    // publish — for 300 ms (measured at a paced run's start: its p99).
    await fillPool(this.relayPool, RELAY_CONNECTIONS);
    const relay = new OutboxRelay(this.relayPool, this.ctx.broker, this.ctx.names.stateSchema, this.ctx.names.primaryQueue, this.logger);
    await this.ctx.broker.assertQueue(this.ctx.names.primaryQueue);
    relay.start();
    this.relay = relay;
    this.healthTimer = setInterval(() => void this.checkHealth(), this.limits.healthCheckMs);

    let failures = 0;
    while (!this.stopping) {
      // A loop that failed after a commit, or a resync before this start, left rows not handed over.
      relay.expectUnhanded();
      const loop = new CaptureLoop({
        databaseUrl: this.ctx.databaseUrl,
        pool: this.ctx.pool,
        names: this.ctx.names,
        company: this.ctx.env.PUSHCDC_COMPANY,
        plans: this.prepared.plans,
        logger: this.logger,
        onCommitted: (committed) => {
          relay.offer(committed);
          relay.wake();
        },
        limits: this.options.limits,
      });
      this.loop = loop;
      try {
        await loop.start();
        this.logger.info('streaming');
        this.markReady();
        await loop.done;
        failures = 0;
      } catch (err) {
        failures++;
        await loop.stop();
        if (this.stopping) break;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        await recordEvent(this.ctx.pool, {
          level: 'warning',
          source: 'capture',
          message: `capture restarts from the slot in ${delay} ms: ${(err as Error).message}`,
        });
        await new Promise((r) => setTimeout(r, delay));
        await this.prepareIfBroken();
      }
    }
  }

  /** Views, publication, slot and states (see prepareCapture); a resync is logged as a system event. */
  private async prepare(): Promise<PreparedCapture> {
    const prepared = await prepareCapture(this.ctx.pool, this.ctx.names, this.ctx.inquiries, this.logger, {
      company: this.ctx.env.PUSHCDC_COMPANY,
      maxNotificationBytes: this.limits.maxNotificationBytes,
    });
    this.logger.info(
      { inquiries: prepared.plans.length, built: prepared.states.built, dropped: prepared.states.dropped },
      'capture prepared',
    );
    if (prepared.resynced) {
      const { inquiries, reason, notifications } = prepared.resynced;
      await recordEvent(this.ctx.pool, {
        level: 'warning',
        source: 'capture',
        message: `${reason}; ${inquiries.join(', ')} compared whole with their current results: ${notifications} notification(s) carry what changed meanwhile`,
      });
      this.relay?.wake();
    }
    return prepared;
  }

  /**
   * Before a restart: a slot dropped or invalidated, or a publication dropped or stripped of a table,
   * while capture ran, would fail every restart from now on or lose changes. Then capture is prepared
   * again, which puts them right and brings the states up to date (see prepareCapture). Should the
   * check itself fail, the restart goes ahead as it was.
   */
  private async prepareIfBroken(): Promise<void> {
    if (this.stopping) return;
    try {
      const health = await slotHealth(this.ctx.pool, this.ctx.names.slot);
      if (health && health.walStatus !== 'lost' && (await this.unpublished()).length === 0) return;
      this.prepared = await this.prepare();
    } catch (err) {
      this.logger.warn({ err }, 'could not check or repair the replication slot and publication; restarting with them as they were');
    }
  }

  /** Tables the inquiries read that the publication does not list (all of them when it is gone). */
  private async unpublished(): Promise<string[]> {
    const wanted = new Set((this.prepared?.plans ?? []).flatMap((p) => p.inquiry.tables.map((t) => tableKey(t.info))));
    const listed = await publishedTables(this.ctx.pool, this.ctx.names.publication);
    return [...wanted].filter((t) => !listed?.has(t)).sort();
  }

  /** Holds a session advisory lock for the slot; waits as a standby while another instance has it. */
  private async acquireLock(): Promise<boolean> {
    let announced = false;
    while (!this.stopping) {
      const client = new pg.Client({
        connectionString: this.ctx.databaseUrl,
        application_name: `pushcdc-lock-${this.ctx.names.slot}`,
        options: ENGINE_SESSION_OPTIONS,
      });
      client.on('error', (err) => this.logger.error({ err }, 'the capture lock connection failed'));
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('pushcdc capture ' || $1)) AS ok", [this.ctx.names.slot]);
      if (rows[0]?.ok) {
        this.lockClient = client;
        return true;
      }
      await client.end();
      if (!announced) this.logger.info('another instance is capturing this slot; standing by');
      announced = true;
      await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
    }
    return false;
  }

  private async checkHealth(): Promise<void> {
    try {
      const missing = await this.unpublished();
      if (missing.length > 0) {
        this.logger.warn({ publication: this.ctx.names.publication, missing }, 'the publication no longer lists tables the inquiries read: capture restarts to put it right');
        this.loop?.restart(new Error(`publication ${this.ctx.names.publication} no longer lists ${missing.join(', ')}`));
      }
      const health = await slotHealth(this.ctx.pool, this.ctx.names.slot);
      if (!health) return;
      this.logger.debug({ lagBytes: health.lagBytes, safeWalBytes: health.safeWalBytes }, 'slot');
      if (health.safeWalBytes !== null && health.safeWalBytes < SAFE_WAL_WARNING_BYTES) {
        await recordEvent(this.ctx.pool, {
          level: 'warning',
          source: 'capture',
          message: `replication slot ${this.ctx.names.slot} is ${health.safeWalBytes} bytes from max_slot_wal_keep_size (lag ${health.lagBytes} bytes)`,
        });
      }
    } catch (err) {
      this.logger.warn({ err }, 'could not read the slot health');
    }
  }
}
