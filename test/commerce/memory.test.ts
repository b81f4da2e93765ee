import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { createCommerceRole, DEFAULT_PREFETCH, type RunningCommerce } from '../../src/commerce/role.ts';
import { useTestContext } from '../support/isolation.ts';
import { customerRow, engineContext, makeDir, nextAt, running, waitFor } from './harness.ts';

/**
 * 200k distinct records through the pipeline (published straight to commerceQueue, prepare mode so
 * each one is written to sync_status). Memory is bounded by prefetch, not by the number of records:
 * at most DEFAULT_PREFETCH deliveries are held, and groups close after their delay. The figures are
 * printed; the assertion is a generous bound, not a benchmark.
 */
const RECORDS = 200_000;
// A collection before each sample, so the figures are live memory rather than garbage not yet swept.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const DEBOUNCE_MS = 500;
/**
 * The worst case: prefetch messages of distinct records all in their delay at once. The delay must
 * outlast delivering all of them, or the first leave it before the last arrive: 4 s did not on a
 * slow day in CI (the 200,000-record run above took 356 s there instead of about 100).
 */
const WORST_CASE_DEBOUNCE_MS = 20_000;
const t = useTestContext('commerce-memory', { sample: false });
let role: RunningCommerce;
let broker: Broker;
let removeDir: () => Promise<void>;
let dir: string;

beforeAll(async () => {
  const made = await makeDir([
    {
      name: 'mem',
      connector: 'bigcommerce',
      // Prepare mode never calls the store; the URL only has to be valid.
      baseUrl: 'http://127.0.0.1:9/stores/none',
      concurrency: 8,
      entities: { Customer: { direction: 'export', realtimeMode: 'prepare' } },
    },
    {
      name: 'memw',
      connector: 'bigcommerce',
      baseUrl: 'http://127.0.0.1:9/stores/none',
      entities: { Customer: { direction: 'export', realtimeMode: 'prepare' } },
    },
  ]);
  removeDir = made.remove;
  dir = made.dir;
  const ctx = await engineContext(t, made.dir, { PUSHCDC_DEBOUNCE_MS: String(DEBOUNCE_MS) });
  broker = ctx.broker;
  await running(t, 'mem', 'Customer');
  role = await createCommerceRole({ concurrency: 8 })(ctx);
});

afterAll(async () => {
  await role?.stop();
  await broker?.close();
  await removeDir?.();
});

function message(store: string, i: number, at: string): { body: string } {
  const id = `C${i}`;
  return {
    body: JSON.stringify({
      store,
      entity: 'Customer',
      direction: 'export',
      localId: id,
      operation: 'upsert',
      payload: customerRow(id, `Customer number ${i}`, `c${i}@example.com`),
      at,
    }),
  };
}

describe('memory', () => {
  it(`stays bounded with ${RECORDS} distinct records`, { timeout: 600_000 }, async () => {
    gc();
    const base = process.memoryUsage();
    const peak = { heapUsed: base.heapUsed, rss: base.rss, groups: 0, held: 0, waiting: 0 };
    const sampler = setInterval(() => {
      gc();
      const m = process.memoryUsage();
      const s = role.stats();
      peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
      peak.rss = Math.max(peak.rss, m.rss);
      peak.groups = Math.max(peak.groups, s.groups);
      peak.held = Math.max(peak.held, s.held);
      peak.waiting = Math.max(peak.waiting, s.waiting);
    }, 1000);
    const started = Date.now();
    try {
      const at = nextAt();
      for (let from = 0; from < RECORDS; from += 5000) {
        const batch = [];
        for (let i = from; i < Math.min(RECORDS, from + 5000); i++) batch.push(message('mem', i, at));
        await broker.publish(t.names.commerceQueue, batch);
      }
      const published = Date.now();
      for (;;) {
        const { rows } = await t.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pushcdc.sync_status WHERE store = 'mem'`);
        const s = role.stats();
        if (rows[0]!.n === RECORDS && s.held === 0 && s.inFlight === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const done = Date.now();
      gc();
      const after = process.memoryUsage();
      const mb = (n: number) => Math.round(n / 1048576);
      const figures = {
        records: RECORDS,
        prefetch: DEFAULT_PREFETCH,
        debounceMs: DEBOUNCE_MS,
        publishSeconds: (published - started) / 1000,
        totalSeconds: (done - started) / 1000,
        baseHeapMb: mb(base.heapUsed),
        peakHeapMb: mb(peak.heapUsed),
        peakHeapGrowthMb: mb(peak.heapUsed - base.heapUsed),
        baseRssMb: mb(base.rss),
        peakRssMb: mb(peak.rss),
        endHeapMb: mb(after.heapUsed),
        peakOpenGroups: peak.groups,
        peakHeldDeliveries: peak.held,
        peakWaitingForSlot: peak.waiting,
      };
      process.stderr.write(`commerce memory figures: ${JSON.stringify(figures)}\n`);
      expect(role.stats().groups).toBe(0);
      // Held deliveries never exceed prefetch: that is the bound everything else follows from.
      expect(peak.held).toBeLessThanOrEqual(DEFAULT_PREFETCH);
      // Generous: role.ts states ~8 KB per held message, ~160 MB at this prefetch; 200k records
      // held at once would be ~1.7 GB. After the run the heap is back near where it started.
      expect(peak.heapUsed - base.heapUsed).toBeLessThan(300 * 1048576);
      expect(after.heapUsed - base.heapUsed).toBeLessThan(50 * 1048576);
    } finally {
      clearInterval(sampler);
    }
  });

  it('worst case: prefetch distinct records all in their delay at once, measured per held message', { timeout: 120_000 }, async () => {
    await role.stop();
    const ctx = await engineContext(t, dir, { PUSHCDC_DEBOUNCE_MS: String(WORST_CASE_DEBOUNCE_MS) });
    // memw's real-time export is not running: after the delay the records are dropped, so the
    // measurement is the pipeline and the broker deliveries, not the database.
    const worst = await createCommerceRole({ concurrency: 8 })(ctx);
    try {
      gc();
      const base = process.memoryUsage().heapUsed;
      const at = nextAt();
      for (let from = 0; from < DEFAULT_PREFETCH; from += 5000) {
        const batch = [];
        for (let i = from; i < Math.min(DEFAULT_PREFETCH, from + 5000); i++) batch.push(message('memw', i, at));
        await ctx.broker.publish(t.names.commerceQueue, batch);
      }
      await waitFor('every message held in its delay', async () => worst.stats().groups === DEFAULT_PREFETCH, 30_000);
      gc();
      const perMessageKb = (process.memoryUsage().heapUsed - base) / DEFAULT_PREFETCH / 1024;
      process.stderr.write(`commerce worst case: ${DEFAULT_PREFETCH} records in their delay, ${perMessageKb.toFixed(1)} KB heap per held message\n`);
      // role.ts states 6.9 KB of heap (measured here); twice ~8 KB would mean the stated bound is wrong.
      expect(perMessageKb).toBeLessThan(17);
      await waitFor('all dropped after the delay', async () => worst.stats().held === 0 && (worst.stats().outcomes.stopped ?? 0) === DEFAULT_PREFETCH, 60_000);
    } finally {
      await worst.stop();
      await ctx.broker.close();
    }
  });
});
