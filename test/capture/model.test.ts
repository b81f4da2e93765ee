import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assistedDiffsTotal, boundedBatchesTotal, earlyDiffsTotal, rootsSkippedTotal, sharedBatchesTotal, streamPausesTotal } from '../../src/capture/metrics.ts';
import type { NotificationEnvelope } from '../../src/notification.ts';
import type { CaptureLimits } from '../../src/capture/limits.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';
import { startTestCapture } from '../support/capture.ts';
import { canonicalRow, foldNotifications, waitForCatchUp } from '../support/model.ts';
import { INQUIRIES, MODEL_SCHEMA, prng, randomStatement } from '../support/model-workload.ts';

/**
 * The diff engine as a model: random transactions of inserts, updates (of keys and join keys too)
 * and deletes over three joined tables, run from several connections at once; folding every
 * notification onto the starting result must give exactly the final result of each inquiry — and
 * every Deleted row must be in the result when it is deleted.
 */
const ctx = useTestContext('capture-model', { sample: false });
let project: ProjectDir;

beforeAll(async () => {
  await ctx.pool.query(MODEL_SCHEMA);
  project = await createProjectDir('model');
  for (const [name, sql] of Object.entries(INQUIRIES)) await project.write(`inquiries/${name}.sql`, sql);
});
afterAll(async () => project?.cleanup());

async function seed(rand: () => number): Promise<void> {
  for (let i = 0; i < 60; i++) await ctx.pool.query(randomStatement(rand));
}

/** Runs `count` random transactions spread over `workers` connections; some roll back, a few truncate. */
const history: { lsn: string; rows: string[] }[] = [];


async function workload(rand: () => number, count: number, workers: number, truncates: boolean): Promise<void> {
  history.length = 0;
  const plans = Array.from({ length: count }, () => ({
    statements: Array.from({ length: 1 + Math.floor(rand() * 5) }, () => randomStatement(rand)),
    rollback: rand() < 0.08,
    truncate: rand() < 0.01 && truncates,
  }));
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const client = await ctx.pool.connect();
      try {
        while (next < plans.length) {
          const plan = plans[next++]!;
          await client.query('BEGIN');
          try {
            if (plan.truncate) await client.query('TRUNCATE m_line');
            const touched: string[] = plan.truncate ? ['TRUNCATE m_line'] : [];
            for (const s of plan.statements) {
              const r = await client.query(s.startsWith('INSERT') || s.startsWith('UPDATE') || s.startsWith('DELETE') ? `${s} RETURNING *` : s);
              touched.push(...r.rows.map((row: unknown) => `${s.split(' ')[0]} ${JSON.stringify(row)}`));
            }
            await client.query(plan.rollback ? 'ROLLBACK' : 'COMMIT');
            if (!plan.rollback && touched.length > 0) {
              const lsn = (await client.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
              history.push({ lsn, rows: touched });
            }
          } catch {
            // A random statement may violate a key under concurrency: that transaction just aborts.
            await client.query('ROLLBACK');
          }
        }
      } finally {
        client.release();
      }
    }),
  );
}

async function currentResults(): Promise<Map<string, string[]>> {
  const results = new Map<string, string[]>();
  for (const [name, sql] of Object.entries(INQUIRIES)) {
    const { rows } = await ctx.pool.query<{ j: string }>(`SELECT row_to_json(x)::text AS j FROM (${sql}) x`);
    results.set(name, rows.map((r) => canonicalRow(JSON.parse(r.j) as Record<string, unknown>)).sort());
  }
  return results;
}

/** On a mismatch, print what a human needs to find the cause: the rows, their notifications, the state. */
function explainMismatch(name: string, folded: string[], expected: string[], notifications: NotificationEnvelope[]): void {
  const extra = folded.filter((r) => !expected.includes(r));
  const missing = expected.filter((r) => !folded.includes(r));
  const lines = [`${name}: extra ${JSON.stringify(extra)}`, `${name}: missing ${JSON.stringify(missing)}`];
  const needles = [...extra, ...missing].map((r) => JSON.parse(r) as Record<string, unknown>);
  notifications.forEach((n, i) => {
    const touches = [...n.notification.Deleted, ...n.notification.Inserted].some((row) =>
      needles.some((needle) => ['kind', 'nbr', 'cid', 'id'].every((k) => !(k in needle) || needle[k] === row[k])),
    );
    if (touches) lines.push(`#${i} lsn ${n.lsn} D ${JSON.stringify(n.notification.Deleted)} I ${JSON.stringify(n.notification.Inserted)} keys ${JSON.stringify(n.keys)}`);
  });
  for (const h of history) {
    const hits = h.rows.filter((r) =>
      needles.some((needle) =>
        'kind' in needle && !('cid' in needle)
          ? r.includes(`"kind":"${String(needle.kind)}","nbr":${String(needle.nbr)},`)
          : r.includes(`"id":${String(needle.id ?? needle.cid)},`) || r.includes(`"customer_id":${String(needle.id ?? needle.cid)},`),
      ),
    );
    if (hits.length) lines.push(`tx@${h.lsn}: ${hits.join(' | ')}`);
  }
  console.error(lines.join('\n'));
}

/**
 * `backlog`: the workload is written while capture is stopped, then caught up from the slot.
 * `truncates`: whether a few transactions truncate a table (every root of its inquiries is diffed).
 * Returns the round's notifications.
 */
async function round(
  seedValue: number,
  transactions: number,
  limits?: Partial<CaptureLimits>,
  backlog = false,
  truncates = true,
): Promise<NotificationEnvelope[]> {
  const rand = prng(seedValue);
  await ctx.pool.query('TRUNCATE m_customer, m_order, m_line');
  await seed(rand);
  const reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
  let capture = await startTestCapture(ctx, project.dir, limits);
  try {
    // A state left by an earlier round first catches up with what was written since (the seed).
    await waitForCatchUp(ctx, reader);
    const start = await currentResults();
    const offset = reader.messages.length;
    if (backlog) await capture.stop();
    await workload(rand, transactions, 3, truncates);
    if (backlog) capture = await startTestCapture(ctx, project.dir, limits);
    await waitForCatchUp(ctx, reader);
    const end = await currentResults();
    const received = reader.messages.slice(offset).map((m) => m.envelope);
    for (const name of Object.keys(INQUIRIES)) {
      const mine = received.filter((e) => e.notification.Query === name);
      const folded = foldNotifications(start.get(name)!, mine, `seed ${seedValue}, ${name}`);
      if (JSON.stringify(folded) !== JSON.stringify(end.get(name))) explainMismatch(name, folded, end.get(name)!, mine);
      expect(folded, `seed ${seedValue}: folding ${name} gives its final result`).toEqual(end.get(name));
    }
    // A batch that left in parts (several sessions, or a big diff) left in all of them, numbered, one
    // after another among its inquiry's notifications and with one TimeStamp. Not told apart by their
    // TimeStamp: a batch that closed before its barrier hands its last transactions on to the next,
    // which may then have the same last commit.
    for (const name of Object.keys(INQUIRIES)) {
      let open: { parts: number; next: number; timeStamp: string } | null = null;
      for (const m of received.filter((e) => e.notification.Query === name)) {
        const info = m.notification.AdditionalInfo as { Part?: number; Parts?: number };
        const timeStamp = String(m.notification.TimeStamp);
        if (open === null && info.Parts === undefined) continue;
        if (open === null) open = { parts: info.Parts!, next: 1, timeStamp };
        expect({ ...info, timeStamp }, `seed ${seedValue}: ${name}'s parts`).toEqual({ Part: open.next, Parts: open.parts, timeStamp: open.timeStamp });
        open.next++;
        if (open.next > open.parts) open = null;
      }
      expect(open, `seed ${seedValue}: ${name} left all the parts of its last batch`).toBeNull();
    }
    // Every notification carries a change, each transaction at most once per inquiry and batch, and
    // no row both leaves and enters (identical pairs cancel, as a multiset).
    for (const m of reader.messages) {
      const { Inserted, Deleted, Query } = m.envelope.notification;
      expect(Inserted.length + Deleted.length).toBeGreaterThan(0);
      const leaving = new Map<string, number>();
      for (const row of Deleted) leaving.set(canonicalRow(row), (leaving.get(canonicalRow(row)) ?? 0) + 1);
      const both = Inserted.map(canonicalRow).filter((row) => (leaving.get(row) ?? 0) > 0);
      expect(both, `seed ${seedValue}, ${Query}: rows in both Deleted and Inserted`).toEqual([]);
    }
    return received;
  } finally {
    await capture.stop();
    await reader.close();
  }
}

const count = async (metric: typeof earlyDiffsTotal) => (await metric.get()).values[0]?.value ?? 0;

describe('folding notifications onto the start gives the final result', () => {
  it('seed 1: 500 transactions from 3 connections', async () => {
    await round(1, 500);
  }, 120_000);

  it('seed 2: 500 transactions, tiny limits force full recomputes', async () => {
    await round(2, 500, { maxKeysPerTable: 4, maxRootsPerDiff: 6 });
  }, 120_000);

  it('seed 3: 500 more transactions on a state left by the previous rounds, each arrived key diffed at once', async () => {
    // Early diffs while the barrier travels, as often as possible: every interleaving of a batch.
    await round(3, 500, { minKeysPerEarlyDiff: 1 });
  }, 120_000);

  it('seed 4: 500 more, after a restart with a backlog', async () => {
    await round(4, 500);
  }, 120_000);

  it('seed 5: 500 transactions written while capture is stopped, caught up in early diffs of a few keys, the stream held back, roots diffed once', async () => {
    const [diffs, pauses, skipped] = [await count(earlyDiffsTotal), await count(streamPausesTotal), await count(rootsSkippedTotal)];
    await round(5, 500, { minKeysPerEarlyDiff: 7, maxKeysWaiting: 12 }, true);
    expect(await count(earlyDiffsTotal)).toBeGreaterThan(diffs);
    expect(await count(streamPausesTotal)).toBeGreaterThan(pauses);
    // Rows touched again after their root was diffed early in the same batch were not diffed twice.
    expect(await count(rootsSkippedTotal)).toBeGreaterThan(skipped);
  }, 120_000);

  it('seed 6: 500 transactions, every batch diffed by three sessions sharing its snapshot, each its share of the roots', async () => {
    const shared = await count(sharedBatchesTotal);
    await round(6, 500, { diffSessions: 3, minBytesPerSharedBatch: 0, minKeysPerEarlyDiff: 3 });
    expect(await count(sharedBatchesTotal)).toBeGreaterThan(shared + 10);
  }, 120_000);

  it('seed 7: a backlog caught up by two sessions, in early diffs, with parts of 2 KiB', async () => {
    const shared = await count(sharedBatchesTotal);
    await round(7, 500, { diffSessions: 2, minKeysPerEarlyDiff: 20, maxNotificationBytes: 2048 }, true);
    expect(await count(sharedBatchesTotal)).toBeGreaterThan(shared);
  }, 120_000);

  it('seed 10: 500 transactions, every diff of one session helped by two more that compare part of its roots, early diffs between', async () => {
    const [assisted, shared] = [await count(assistedDiffsTotal), await count(sharedBatchesTotal)];
    const received = await round(10, 500, { diffSessions: 3, minRootsPerAssistedDiff: 1, minKeysPerEarlyDiff: 3 });
    expect(await count(assistedDiffsTotal)).toBeGreaterThan(assisted + 10);
    // Helped, not shared: every batch still leaves as one notification per inquiry.
    expect(await count(sharedBatchesTotal)).toBe(shared);
    expect(received.filter((e) => 'Parts' in (e.notification.AdditionalInfo as object))).toEqual([]);
  }, 120_000);

  it('seed 11: a backlog too small to share, with a helper at hand, caught up in early diffs while it is decoded', async () => {
    const [early, shared] = [await count(earlyDiffsTotal), await count(sharedBatchesTotal)];
    // No TRUNCATE: one would count as every key, and start an early diff whatever the batch's size.
    await round(11, 500, { diffSessions: 2, minRootsPerAssistedDiff: 2, minKeysPerEarlyDiff: 20 }, true, false);
    // Its WAL cannot bring the keys that would make it shared: it does not wait for them. (Whether the
    // last diff is left enough roots to be assisted depends on what else writes WAL meanwhile.)
    expect(await count(earlyDiffsTotal)).toBeGreaterThan(early);
    expect(await count(sharedBatchesTotal)).toBe(shared);
  }, 120_000);

  it('seed 12: a backlog drained batch by batch: each closes before its barrier after its first early diff, the keys not yet diffed left to the next', async () => {
    const bounded = await count(boundedBatchesTotal);
    // The stream held at 2 keys: the barrier cannot overtake the diffs.
    await round(12, 500, { minKeysPerEarlyDiff: 1, maxKeysWaiting: 2, maxKeysPerBatch: 1 }, true);
    expect(await count(boundedBatchesTotal)).toBeGreaterThan(bounded);
  }, 120_000);

  it('seed 13: the same with every batch shared by two sessions, and live transactions after', async () => {
    const [bounded, shared] = [await count(boundedBatchesTotal), await count(sharedBatchesTotal)];
    const limits = { diffSessions: 2, minBytesPerSharedBatch: 0, minKeysPerEarlyDiff: 3, maxKeysWaiting: 6, maxKeysPerBatch: 8 };
    await round(13, 500, limits, true);
    await round(14, 300, limits);
    expect(await count(boundedBatchesTotal)).toBeGreaterThan(bounded + 10);
    expect(await count(sharedBatchesTotal)).toBeGreaterThan(shared + 10);
  }, 120_000);

  it('seed 8: the stream held back at every arrived key, early diffs only to release it, live and then a backlog', async () => {
    // Every commit holds the stream; only a diff may release it, and a batch must never end with the
    // stream held and nothing left to diff (both hung capture for good).
    const pauses = await count(streamPausesTotal);
    const limits = { maxKeysWaiting: 1, minKeysPerEarlyDiff: 1_000_000 };
    await round(8, 500, limits);
    await round(9, 300, limits, true);
    expect(await count(streamPausesTotal)).toBeGreaterThan(pauses + 10);
  }, 120_000);
});
