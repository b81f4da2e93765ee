import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { EngineProcess } from '../support/engine-process.ts';
import { useTestContext } from '../support/isolation.ts';
import { canonicalRow, foldNotifications, waitForCatchUp } from '../support/model.ts';
import { INQUIRIES, MODEL_SCHEMA, prng, randomStatement } from '../support/model-workload.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * Crash safety: the engine is killed (SIGKILL) again and again while transactions commit, and
 * restarted. Nothing may be lost: after dropping repeats by Id, folding every notification onto the
 * start still gives the final result, and a repeat is byte-for-byte the notification it repeats.
 */
const ctx = useTestContext('capture-crash', { sample: false });
let project: ProjectDir;

beforeAll(async () => {
  await ctx.pool.query(MODEL_SCHEMA);
  project = await createProjectDir('crash');
  for (const [name, sql] of Object.entries(INQUIRIES)) await project.write(`inquiries/${name}.sql`, sql);
});
afterAll(async () => project?.cleanup());

async function results(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [name, sql] of Object.entries(INQUIRIES)) {
    const { rows } = await ctx.pool.query<{ j: string }>(`SELECT row_to_json(x)::text AS j FROM (${sql}) x`);
    out.set(name, rows.map((r) => canonicalRow(JSON.parse(r.j) as Record<string, unknown>)).sort());
  }
  return out;
}

/**
 * Drops repeats by Id (each must be byte-for-byte the message it repeats) and folds the rest onto
 * the start: it must give the end, for every inquiry.
 */
function expectFoldsToEnd(received: QueueReader['messages'], start: Map<string, string[]>, end: Map<string, string[]>, label: string): void {
  const firstById = new Map<string, string>();
  let repeats = 0;
  const unique = received.filter((m) => {
    const id = m.envelope.notification.Id;
    const seen = firstById.get(id);
    if (seen !== undefined) {
      repeats++;
      expect(m.raw, `repeat of ${id} is the same message`).toBe(seen);
      return false;
    }
    firstById.set(id, m.raw);
    expect(m.messageId).toBe(id);
    return true;
  });
  for (const name of Object.keys(INQUIRIES)) {
    const mine = unique.map((m) => m.envelope).filter((e) => e.notification.Query === name);
    expect(foldNotifications(start.get(name)!, mine, name), `${name} ${label}, ${repeats} repeats`).toEqual(end.get(name));
  }
}

/** Waits until `check` holds, polling; fails naming `what`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

const READY = /"msg":"streaming"/;
const newEngine = () => new EngineProcess(['--roles', 'capture', '--dir', project.dir], { ...ctx.env, PUSHCDC_HTTP_PORT: '0' });

async function killAndRestart(engine: EngineProcess): Promise<void> {
  await engine.kill('SIGKILL');
  await engine.start(READY);
}

/**
 * Runs `body` against the engine (capture only) once it has caught up: with the results then, and
 * where the reader's messages from then on start. Stops the engine and the reader after.
 */
async function withCaughtUpEngine(
  body: (run: { engine: EngineProcess; reader: QueueReader; start: Map<string, string[]>; offset: number }) => Promise<void>,
): Promise<void> {
  const engine = newEngine();
  const reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
  await engine.start(READY);
  try {
    await waitForCatchUp(ctx, reader);
    await body({ engine, reader, start: await results(), offset: reader.messages.length });
  } finally {
    await engine.kill('SIGTERM');
    await reader.close();
  }
}

describe('kill -9 during a workload', () => {
  it('loses nothing; repeats carry the same Id and body', async () => {
    const rand = prng(42);
    for (let i = 0; i < 80; i++) await ctx.pool.query(randomStatement(rand));
    await withCaughtUpEngine(async ({ engine, reader, start, offset }) => {
      // The workload runs until three kills happened, then a little longer: however slow the machine.
      let kills = 0;
      let afterLastKill = 0;
      const workload = (async () => {
        while (kills < 3 || afterLastKill++ < 150) {
          const client = await ctx.pool.connect();
          try {
            await client.query('BEGIN');
            const n = 1 + Math.floor(rand() * 4);
            for (let k = 0; k < n; k++) await client.query(randomStatement(rand));
            await client.query('COMMIT');
          } catch {
            await client.query('ROLLBACK');
          } finally {
            client.release();
          }
        }
      })();
      while (kills < 3) {
        await new Promise((r) => setTimeout(r, 400 + Math.floor(rand() * 600)));
        await killAndRestart(engine);
        kills++;
      }
      await workload;
      await waitForCatchUp(ctx, reader);
      const end = await results();

      expectFoldsToEnd(reader.messages.slice(offset), start, end, `after ${kills} kills`);
    });
  }, 180_000);

  it('loses nothing when killed while a big transaction is diffed by several sessions', async () => {
    await withCaughtUpEngine(async ({ engine, reader, start, offset }) => {
      const rand = prng(7);
      // 60,000 roots: a notification far above 4 MiB, so the batch is shared among the diff sessions
      // (one per core, at least two here). Killed at a random moment once two sessions are diffing:
      // before any commit, or between the sessions' commits.
      const bigTransactions = [
        "INSERT INTO m_customer SELECT g, 'big ' || g, 'north', true, NULL FROM generate_series(20000, 79999) g",
        "UPDATE m_customer SET name = name || '+' WHERE id >= 20000",
        'DELETE FROM m_customer WHERE id >= 20000 AND id % 2 = 0',
      ];
      for (const sql of bigTransactions) {
        await ctx.pool.query(sql);
        await until(async () => {
          const { rows } = await ctx.pool.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
            [`pushcdc-diff-${ctx.names.slot}`],
          );
          return Number(rows[0]!.n) >= 2;
        }, 'two diff sessions at work on one batch');
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
        await killAndRestart(engine);
      }
      await waitForCatchUp(ctx, reader, 120_000);
      expectFoldsToEnd(reader.messages.slice(offset), start, await results(), 'after kills during shared batches');
    });
  }, 240_000);

  it('SIGTERM drains and exits 0', async () => {
    const engine = newEngine();
    await engine.start(READY);
    await ctx.pool.query(`INSERT INTO m_customer VALUES (900, 'term', 'north', true, NULL)`);
    expect(await engine.kill('SIGTERM')).toBe(0);
    expect(engine.stderr).toMatch(/"msg":"stopping: draining the roles"/);
  }, 60_000);
});
