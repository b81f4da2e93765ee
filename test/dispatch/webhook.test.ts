import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeNotification, type NotificationEnvelope } from '../../src/notification.ts';
import { runCli } from '../support/cli.ts';
import { useTestContext } from '../support/isolation.ts';
import { catalogOf, envelope, eventually, publishEnvelopes, webhookWorkspace, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/**
 * Webhook destinations end to end: envelopes in the test's primaryQueue (RabbitMQ), the dispatch role
 * in this process, real HTTP receivers, failures in PostgreSQL, resend through the CLI subprocess.
 */
const t = useTestContext('dispatch_webhook', { sample: false });
const harness = new DispatchHarness(t);
const CUSTOMERS = 'T-Customers';
const catalog = catalogOf({ [CUSTOMERS]: ['CustomerID', 'Name', 'City', 'Balance'] });

const ws = webhookWorkspace('webhook');

beforeAll(() => harness.open());
afterAll(() => harness.close());

async function hook(name: string, address: string, extra: Record<string, unknown> = {}): Promise<void> {
  await writeConfig(ws.dir, 'destinations', name, {
    name,
    type: 'webhook',
    address,
    inquiries: [{ inquiry: CUSTOMERS }],
    ...extra,
  });
}

async function start(destinations: string[]): Promise<void> {
  ws.dispatcher = await harness.start(ws.dir, catalog, destinations);
}

const publish = (...envelopes: NotificationEnvelope[]) => publishEnvelopes(harness.broker, t.names.primaryQueue, envelopes);
const customer = (id: string, name: string, city: string) => ({ key: [id], row: { CustomerID: id, Name: name, City: city, Balance: '12345678901234567.89' } });
const idOf = (body: string) => (JSON.parse(body) as { Id: string }).Id;

describe('webhook destination', () => {
  it('POSTs the exact SPEC payload with the configured headers', async () => {
    process.env.TEST_DISPATCH_TOKEN = 'tok-123';
    const r = await ws.receiver();
    await hook('exact', r.url, { headers: { Authorization: 'Bearer ${TEST_DISPATCH_TOKEN}', 'X-Tenant': 'acme', 'content-type': 'text/plain' } });
    await start(['exact']);
    const n = envelope(
      CUSTOMERS,
      { deleted: [customer('C001', 'Acme', 'Oslo')], inserted: [customer('C001', 'Acme Ltd', 'Oslo')] },
      638465233453014192n,
    );
    await publish(n);

    const [request] = await r.waitFor(1);
    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers.authorization).toBe('Bearer tok-123');
    expect(request!.headers['x-tenant']).toBe('acme');
    expect(request!.body).toBe(serializeNotification(n.notification));
    // The ticks are above 2^53: they must be written as the exact integer, not a rounded double.
    expect(request!.body).toContain('"TimeStamp":638465233453014192,');
    const parsed = JSON.parse(request!.body) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['Inserted', 'Deleted', 'Query', 'CompanyId', 'Id', 'TimeStamp', 'AdditionalInfo']);
    expect(parsed.Inserted).toEqual([{ CustomerID: 'C001', Name: 'Acme Ltd', City: 'Oslo', Balance: '12345678901234567.89' }]);
    expect(parsed.Id).toBe(n.notification.Id);
  });

  it('field tracking: an untracked column change reaches only the track-all destination', async () => {
    const tracked = await ws.receiver();
    const all = await ws.receiver();
    await hook('tracked', tracked.url, { inquiries: [{ inquiry: CUSTOMERS, trackAllFields: false, fields: ['City'] }] });
    await hook('all', all.url);
    await start(['tracked', 'all']);
    const rename = envelope(CUSTOMERS, { deleted: [customer('C1', 'Acme', 'Oslo')], inserted: [customer('C1', 'Acme Ltd', 'Oslo')] });
    const move = envelope(CUSTOMERS, { deleted: [customer('C1', 'Acme Ltd', 'Oslo')], inserted: [customer('C1', 'Acme Ltd', 'Bergen')] });
    const insert = envelope(CUSTOMERS, { inserted: [customer('C2', 'Beta', 'Oslo')] });
    await publish(rename, move, insert);

    const allGot = await all.waitFor(3);
    expect(allGot.map((q) => idOf(q.body))).toEqual([rename, move, insert].map((e) => e.notification.Id));
    // In order: had the rename been sent to "tracked" it would have arrived before the move.
    const trackedGot = await tracked.waitFor(2);
    expect(trackedGot.map((q) => idOf(q.body))).toEqual([move, insert].map((e) => e.notification.Id));
    // Still all columns, not only the tracked one.
    expect(trackedGot[0]!.body).toBe(serializeNotification(move.notification));
  });

  it('a receiver answering 500 four times then 200 gets the notification on the 5th attempt, once', async () => {
    const r = await ws.receiver((_req, i) => (i < 4 ? 500 : 200));
    await hook('flaky', r.url, { retryDelayMs: 40 });
    await start(['flaky']);
    const n = envelope(CUSTOMERS, { inserted: [customer('C9', 'Flaky', 'Oslo')] });
    await publish(n);

    const attempts = await r.waitFor(5);
    expect(new Set(attempts.map((a) => a.body))).toEqual(new Set([serializeNotification(n.notification)]));
    // Backoff: the wait before the 5th attempt is 8× the base delay (jittered ±25%) = 240..400 ms.
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
    expect(gaps[3]!).toBeGreaterThan(200);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]!);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(r.requests).toHaveLength(5);
    const failed = await t.pool.query('SELECT id FROM pushcdc.failed_notifications WHERE destination = $1', ['flaky']);
    expect(failed.rows).toEqual([]);
  });

  it('always 500: stored as failed with a system event, then `pushcdc failed resend` delivers it', async () => {
    const r = await ws.receiver(() => 500);
    await hook('broken', r.url, { retryDelayMs: 10 });
    await start(['broken']);
    const n = envelope(CUSTOMERS, { inserted: [customer('C7', 'Broken', 'Oslo')] });
    await publish(n);

    await r.waitFor(5);
    const row = await eventually(async () => {
      const { rows } = await t.pool.query<{ id: string; query: string; error: string; payload: string; truncated: boolean; notification_id: string; attempts: number }>(
        "SELECT id::text, query, error, payload, truncated, notification_id::text, attempts FROM pushcdc.failed_notifications WHERE destination = 'broken'",
      );
      return rows[0];
    }, 'a failed_notifications row');
    expect(row).toMatchObject({ query: CUSTOMERS, truncated: false, notification_id: n.notification.Id, attempts: 5 });
    expect(row.error).toContain('HTTP 500');
    expect(row.payload).toBe(serializeNotification(n.notification));
    const events = await t.pool.query<{ level: string; message: string }>(
      "SELECT level, message FROM pushcdc.system_events WHERE source = 'push-notifications' AND message LIKE $1",
      [`%${n.notification.Id}%`],
    );
    expect(events.rows).toHaveLength(1);
    expect(events.rows[0]!.level).toBe('warning');
    expect(events.rows[0]!.message).toContain(`destination broken`);
    expect(events.rows[0]!.message).toContain(`failed notification ${row.id}`);
    await ws.dispatcher!.stop();
    ws.dispatcher = undefined;
    expect(r.requests).toHaveLength(5);

    const listed = await runCli(['failed', 'list', '--json', '--dir', ws.dir], t.env);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string; destination: string }[]).filter((f) => f.id === row.id)).toMatchObject([{ destination: 'broken' }]);

    // Still down: the resend says so, exits 1 and keeps the row.
    const again = await runCli(['failed', 'resend', row.id, '--dir', ws.dir], t.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`failed notification ${row.id} to broken failed again`);
    expect((await t.pool.query('SELECT attempts FROM pushcdc.failed_notifications WHERE id = $1', [row.id])).rows).toEqual([{ attempts: 6 }]);

    r.setReply(() => 200);
    const resent = await runCli(['failed', 'resend', row.id, '--dir', ws.dir], t.env);
    expect(resent.stderr).toBe('');
    expect(resent.code).toBe(0);
    expect(resent.stdout).toContain(`sent failed notification ${row.id}`);
    expect(r.requests).toHaveLength(7);
    expect(r.requests[6]!.body).toBe(serializeNotification(n.notification));
    expect(r.requests[6]!.headers['content-type']).toBe('application/json');
    expect((await t.pool.query('SELECT 1 FROM pushcdc.failed_notifications WHERE id = $1', [row.id])).rows).toEqual([]);

    const unknown = await runCli(['failed', 'resend', row.id, '--dir', ws.dir], t.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`no failed notification with id ${row.id}`);
    const unknownDelete = await runCli(['failed', 'delete', 'abc', '--dir', ws.dir], t.env);
    expect(unknownDelete.code).toBe(1);
    expect(unknownDelete.stderr).toContain('no failed notification with id abc');
  });

  it('stop() drains: the delivery under way finishes and is not repeated after a restart', async () => {
    const r = await ws.receiver(() => ({ status: 200, delayMs: 600 }));
    await hook('drained', r.url);
    await start(['drained']);
    const inFlight = envelope(CUSTOMERS, { inserted: [customer('D1', 'Drain', 'Oslo')] });
    await publish(inFlight);
    await r.waitFor(1);
    const stopping = performance.now();
    await ws.dispatcher!.stop();
    ws.dispatcher = undefined;
    // It waited for the answer (600 ms after the request arrived) instead of dropping the attempt.
    expect(performance.now() - stopping).toBeGreaterThan(400);

    r.setReply(() => 200);
    await start(['drained']);
    const after = envelope(CUSTOMERS, { inserted: [customer('D2', 'After', 'Oslo')] });
    await publish(after);
    await r.waitFor(2);
    // Same inquiry, so in order: a repeat of the first would have come before the second.
    expect(r.requests.map((q) => idOf(q.body))).toEqual([inFlight.notification.Id, after.notification.Id]);
  });

  it('a dead destination does not delay a healthy one', async () => {
    const hanging = await ws.receiver(() => 'hang');
    const refusing = await ws.receiver(() => 500);
    const healthy = await ws.receiver();
    await hook('dead-hang', hanging.url, { timeoutMs: 3_000, retryDelayMs: 100 });
    await hook('dead-500', refusing.url, { retryDelayMs: 1_000 });
    await hook('healthy', healthy.url);
    await start(['dead-hang', 'dead-500', 'healthy']);

    const sent = new Map<string, number>();
    const count = 20;
    for (let i = 0; i < count; i++) {
      const n = envelope(CUSTOMERS, { inserted: [customer(`H${i}`, 'Healthy', 'Oslo')] });
      sent.set(n.notification.Id, performance.now());
      await publish(n);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const got = await healthy.waitFor(count, 10_000);
    const latencies = got.map((q) => q.at - sent.get(idOf(q.body))!).sort((a, b) => a - b);
    const median = latencies[Math.floor(count / 2)]!;
    const max = latencies.at(-1)!;
    console.log(`healthy webhook latency beside two dead ones: median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${count} notifications`);
    expect(max).toBeLessThan(2_000);
    // The dead ones really were in play, and still stuck on their first notification.
    const first = [...sent.keys()][0];
    expect(hanging.requests.length).toBeGreaterThanOrEqual(1);
    expect(refusing.requests.length).toBeGreaterThanOrEqual(1);
    expect(new Set([...hanging.requests, ...refusing.requests].map((q) => idOf(q.body)))).toEqual(new Set([first]));
  });
});
