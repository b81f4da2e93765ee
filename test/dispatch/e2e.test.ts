import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRole } from '../../src/engine/role.ts';
import { loadInquiries, toCatalog } from '../../src/inquiry/load.ts';
import { ticksFromDate } from '../../src/notification.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.ts';
import { useTestContext } from '../support/isolation.ts';
import { REPO_ROOT, tempDir, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/**
 * DML to webhook: the capture role turns changes of the sample customer table into primaryQueue
 * notifications, the dispatcher delivers them. A track-all destination hears of every change; one
 * tracking only CustomerName is not told of a status change.
 */
const t = useTestContext('dispatch_e2e');
const harness = new DispatchHarness(t);
const QUERY = 'BC-PUSH-Customers';
let dir: string;
let removeDir: () => Promise<void>;
let all: HttpReceiver;
let names: HttpReceiver;
let capture: RunningCapture | undefined;
let dispatcher: RunningRole | undefined;

beforeAll(async () => {
  await harness.open();
  ({ dir, remove: removeDir } = await tempDir('e2e'));
  await mkdir(path.join(dir, 'inquiries'));
  await copyFile(path.join(REPO_ROOT, 'inquiries', `${QUERY}.sql`), path.join(dir, 'inquiries', `${QUERY}.sql`));
  all = await startHttpReceiver();
  names = await startHttpReceiver();
  process.env.TEST_E2E_SECRET = 'e2e-secret';
  await writeConfig(dir, 'destinations', 'all', {
    name: 'all',
    type: 'webhook',
    address: all.url,
    headers: { 'X-Api-Key': '${TEST_E2E_SECRET}' },
    inquiries: [{ inquiry: QUERY, trackAllFields: true }],
  });
  await writeConfig(dir, 'destinations', 'names', {
    name: 'names',
    type: 'webhook',
    address: names.url,
    inquiries: [{ inquiry: QUERY, trackAllFields: false, fields: ['CustomerName'] }],
  });
  const loaded = await loadInquiries(t.pool, dir);
  expect(loaded.problems).toEqual([]);
  dispatcher = await harness.start(dir, toCatalog(loaded.inquiries), ['all', 'names']);
  capture = await startTestCapture(t, dir);
});
afterAll(async () => {
  await capture?.stop();
  await dispatcher?.stop();
  await all?.close();
  await names?.close();
  await harness.close();
  await removeDir();
});

interface Payload {
  Inserted: Record<string, unknown>[];
  Deleted: Record<string, unknown>[];
  Query: string;
  CompanyId: string;
  Id: string;
}

describe('DML to webhook', () => {
  it('delivers the ERP payload for an insert and an update; field tracking skips an untracked change', async () => {
    const before = ticksFromDate(new Date(Date.now() - 60_000));
    // One change at a time: consecutive transactions may be coalesced into one notification (SPEC 5).
    await t.pool.query(`INSERT INTO customer (customer_cd, name, status) VALUES ('E1', 'Acme', 'A')`);
    await all.waitFor(1, 30_000);
    await t.pool.query(`UPDATE customer SET status = 'H' WHERE customer_cd = 'E1'`);
    await all.waitFor(2, 30_000);
    await t.pool.query(`UPDATE customer SET name = 'Acme Ltd' WHERE customer_cd = 'E1'`);
    const got = await all.waitFor(3, 30_000);
    const payloads = got.map((r) => JSON.parse(r.body) as Payload);
    for (const r of got) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-api-key']).toBe('e2e-secret');
      const ticks = /"TimeStamp":(\d+),"AdditionalInfo":\{\}\}$/.exec(r.body)?.[1];
      expect(ticks, `exact integer TimeStamp in ${r.body.slice(-120)}`).toBeDefined();
      expect(BigInt(ticks!)).toBeGreaterThan(before);
    }
    expect(payloads.map((p) => [p.Query, p.CompanyId])).toEqual(Array(3).fill([QUERY, 'Company']));
    expect(payloads[0]!.Inserted).toMatchObject([{ CustomerID: 'E1', CustomerName: 'Acme', Status: 'A' }]);
    expect(payloads[0]!.Deleted).toEqual([]);
    expect(payloads[1]!.Deleted).toMatchObject([{ CustomerID: 'E1', Status: 'A' }]);
    expect(payloads[1]!.Inserted).toMatchObject([{ CustomerID: 'E1', Status: 'H' }]);
    expect(payloads[2]!.Inserted).toMatchObject([{ CustomerID: 'E1', CustomerName: 'Acme Ltd' }]);
    // Result columns only: no hidden keys.
    expect(Object.keys(payloads[0]!.Inserted[0]!).some((k) => k.startsWith('__'))).toBe(false);

    // The name-tracking destination: the insert and the rename, not the status change (order holds).
    const tracked = await names.waitFor(2, 30_000);
    expect(tracked.map((r) => (JSON.parse(r.body) as Payload).Id)).toEqual([payloads[0]!.Id, payloads[2]!.Id]);
  });
});
