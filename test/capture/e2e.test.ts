import path from 'node:path';
import { cp } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';

const ctx = useTestContext('capture-e2e');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
let project: ProjectDir;
let capture: RunningCapture;
let reader: QueueReader;

beforeAll(async () => {
  project = await createProjectDir('capture-e2e');
  await cp(path.join(REPO, 'inquiries'), path.join(project.dir, 'inquiries'), { recursive: true });
  await ctx.pool.query(`INSERT INTO customer (customer_cd, name, status) VALUES ('C0', 'Before', 'A')`);
  capture = await startTestCapture(ctx, project.dir);
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
});
afterAll(async () => {
  await capture?.stop();
  await reader?.close();
  await project?.cleanup();
});

describe('DML to primaryQueue', () => {
  it('an insert, an update and a delete of a customer arrive as the ERP notifications', async () => {
    const customers = () => reader.for('BC-PUSH-Customers');
    await ctx.pool.query(`INSERT INTO customer (customer_cd, name, status) VALUES ('C1', 'Acme', 'A')`);
    await reader.waitFor(() => customers().length >= 1);
    const first = customers()[0]!.notification;
    expect(first.Inserted).toHaveLength(1);
    expect(first.Inserted[0]).toMatchObject({ CustomerID: 'C1', CustomerName: 'Acme' });
    expect(first.Deleted).toEqual([]);

    await ctx.pool.query(`UPDATE customer SET name = 'Acme Ltd' WHERE customer_cd = 'C1'`);
    await reader.waitFor(() => customers().length >= 2);
    const second = customers()[1]!.notification;
    expect(second.Deleted[0]).toMatchObject({ CustomerID: 'C1', CustomerName: 'Acme' });
    expect(second.Inserted[0]).toMatchObject({ CustomerID: 'C1', CustomerName: 'Acme Ltd' });

    await ctx.pool.query(`DELETE FROM customer WHERE customer_cd = 'C1'`);
    await reader.waitFor(() => customers().length >= 3);
    expect(customers()[2]!.notification.Deleted[0]).toMatchObject({ CustomerID: 'C1', CustomerName: 'Acme Ltd' });
    expect(customers()[2]!.notification.Inserted).toEqual([]);
    // /metrics counts what capture did.
    const metrics = await register.metrics();
    expect(Number(/^pushcdc_capture_notifications_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(Number(/^pushcdc_capture_batches_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(Number(/^pushcdc_capture_confirmed_lsn_bytes (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    // The customer that existed at deployment is the starting state: never notified.
    expect(reader.messages.some((m) => m.raw.includes('"C0"'))).toBe(false);
  });
});
