import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_STORED_PAYLOAD, storeFailed } from '../../src/dispatch/failed-store.ts';
import { serializeNotification } from '../../src/notification.ts';
import { runCli } from '../support/cli.ts';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.ts';
import { useTestContext } from '../support/isolation.ts';
import { catalogOf, envelope, tempDir, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/** The failed-notification list: storage limits, the 48-hour purge, and the `pushcdc failed` commands. */
const t = useTestContext('dispatch_failed', { sample: false });
const harness = new DispatchHarness(t);
let dir: string;
let removeDir: () => Promise<void>;
let receiver: HttpReceiver;

beforeAll(() => harness.open());
afterAll(() => harness.close());
beforeEach(async () => {
  ({ dir, remove: removeDir } = await tempDir('failed'));
  receiver = await startHttpReceiver();
  await t.pool.query('DELETE FROM pushcdc.failed_notifications');
});
afterEach(async () => {
  await receiver.close();
  await removeDir();
});

const notification = (name: string) => envelope('T-Items', { inserted: [{ key: ['1'], row: { ItemID: 'I1', Name: name } }] }).notification;

async function fail(destination: string, payload: string, notificationId: string): Promise<string> {
  return storeFailed(t.pool, { destination, query: 'T-Items', error: 'HTTP 500', payload, notificationId, attempts: 5 });
}

describe('failed notifications', () => {
  it('keeps a payload up to 500,000 characters and marks a longer one truncated; a truncated one is not resent', async () => {
    const exact = await fail('hook', 'x'.repeat(MAX_STORED_PAYLOAD), 'not-a-uuid');
    const long = await fail('hook', 'y'.repeat(MAX_STORED_PAYLOAD + 10), '00000000-0000-4000-8000-000000000001');
    const { rows } = await t.pool.query<{ id: string; len: number; truncated: boolean; notification_id: string | null }>(
      'SELECT id::text, length(payload) AS len, truncated, notification_id::text FROM pushcdc.failed_notifications ORDER BY id',
    );
    expect(rows).toEqual([
      { id: exact, len: MAX_STORED_PAYLOAD, truncated: false, notification_id: null },
      { id: long, len: MAX_STORED_PAYLOAD, truncated: true, notification_id: '00000000-0000-4000-8000-000000000001' },
    ]);
    await writeConfig(dir, 'destinations', 'hook', { name: 'hook', type: 'webhook', address: receiver.url, inquiries: [{ inquiry: 'T-Items' }] });
    const resend = await runCli(['failed', 'resend', long, '--dir', dir], t.env);
    expect(resend.code).toBe(1);
    expect(resend.stderr).toContain(`failed notification ${long} was stored truncated`);
    expect(receiver.requests).toHaveLength(0);
  });

  it('purges what is older than 48 hours when the dispatcher starts', async () => {
    const old = await fail('hook', '{}', '');
    const recent = await fail('hook', '{}', '');
    await t.pool.query("UPDATE pushcdc.failed_notifications SET created_at = now() - interval '49 hours' WHERE id = $1", [old]);
    await t.pool.query("UPDATE pushcdc.failed_notifications SET created_at = now() - interval '47 hours' WHERE id = $1", [recent]);
    const role = await harness.start(dir, catalogOf({}), []);
    await role.stop();
    const { rows } = await t.pool.query<{ id: string }>('SELECT id::text FROM pushcdc.failed_notifications');
    expect(rows).toEqual([{ id: recent }]);
  });

  it('list, delete and resend-all from the command line', async () => {
    await writeConfig(dir, 'destinations', 'hook', { name: 'hook', type: 'webhook', address: receiver.url, inquiries: [{ inquiry: 'T-Items' }] });
    const good = notification('Chair');
    const orphan = notification('Table');
    const doomed = notification('Lamp');
    const goodId = await fail('hook', serializeNotification(good), good.Id);
    const orphanId = await fail('gone', serializeNotification(orphan), orphan.Id);
    const doomedId = await fail('hook', serializeNotification(doomed), doomed.Id);

    const table = await runCli(['failed', 'list', '--dir', dir], t.env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id\s+created\s+destination\s+query\s+notification\s+attempts\s+truncated\s+error\s*$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual([goodId, orphanId, doomedId]);

    const deleted = await runCli(['failed', 'delete', doomedId, '--dir', dir], t.env);
    expect(deleted).toMatchObject({ code: 0, stdout: `deleted failed notification ${doomedId}\n` });

    const all = await runCli(['failed', 'resend-all', '--dir', dir], t.env);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain(`sent ${goodId} (T-Items) to hook`);
    expect(all.stdout).toContain(`kept ${orphanId} (T-Items) for gone: failed notification ${orphanId}: destination "gone" is no longer in`);
    expect(all.stdout).toContain('1 sent, 1 kept');
    expect(receiver.requests.map((r) => r.body)).toEqual([serializeNotification(good)]);
    const { rows } = await t.pool.query<{ id: string }>('SELECT id::text FROM pushcdc.failed_notifications');
    expect(rows).toEqual([{ id: orphanId }]);
  });
});
