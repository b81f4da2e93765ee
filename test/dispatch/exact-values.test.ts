import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFailed } from '../../src/dispatch/failed-store.ts';
import { PRIMARY_SINGLE_ACTIVE } from '../../src/dispatch/queues.ts';
import { resendFailed } from '../../src/dispatch/resend.ts';
import { useTestContext } from '../support/isolation.ts';
import { catalogOf, eventually, webhookWorkspace, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/**
 * Row values reach a webhook as PostgreSQL wrote them (SPEC section 5), byte for byte: a message as
 * capture publishes it into primaryQueue (RabbitMQ), the dispatch role in this process, real HTTP
 * receivers; with and without field tracking, into pushcdc.failed_notifications and out again on resend.
 */
const t = useTestContext('dispatch_exact', { sample: false });
const harness = new DispatchHarness(t);
const AMOUNTS = 'T-Amounts';
const catalog = catalogOf({ [AMOUNTS]: ['CustomerID', 'Amount', 'Tiny', 'Big', 'Doc', 'Note'] });
const TICKS = '638465233453014192';

const ws = webhookWorkspace('exact');

beforeAll(() => harness.open());
afterAll(() => harness.close());

async function hook(name: string, address: string, extra: Record<string, unknown> = {}): Promise<void> {
  await writeConfig(ws.dir, 'destinations', name, { name, type: 'webhook', address, inquiries: [{ inquiry: AMOUNTS }], ...extra });
}

// Row texts as capture writes them: numeric with its scale, tiny and huge numbers, json columns as
// stored (spaces, 1.50, 1E+2), escapes and characters outside the BMP. JSON.parse would change each.
const c1Before = String.raw`{"CustomerID":"C1","Amount":7.000000,"Tiny":0.0000001,"Big":1000000000000000000000,"Doc":{"a": [1.50, {"b": "x\"y]}"}], "e": 1E+2},"Note":"snow ☃ \u00e9 😀 \\"}`;
const c1After = String.raw`{"CustomerID":"C1","Amount":7.500000,"Tiny":0.0000001,"Big":1000000000000000000000,"Doc":{"a": [1.50, {"b": "x\"y]}"}], "e": 1E+2},"Note":"snow ☃ \u00e9 😀 \\"}`;
const c2Before = String.raw`{"CustomerID":"C2","Amount":2.000000,"Tiny":-0.0000010,"Big":-1E+21,"Doc":[1.0,[]],"Note":"old"}`;
const c2After = String.raw`{"CustomerID":"C2","Amount":2.000000,"Tiny":-0.0000010,"Big":-1E+21,"Doc":[1.0,[]],"Note":"new"}`;
const c3 = String.raw`{"CustomerID":"C3","Amount":0.000000,"Tiny":1e-7,"Big":12345678901234567890,"Doc":null,"Note":"\ud83d\ude00"}`;

/** The payload a receiver gets, written out by hand. */
const payload = (id: string, inserted: string[], deleted: string[]) =>
  `{"Inserted":[${inserted.join(',')}],"Deleted":[${deleted.join(',')}],"Query":"${AMOUNTS}","CompanyId":"Company","Id":"${id}","TimeStamp":${TICKS},"AdditionalInfo":{}}`;

/** Publishes the notification as the relay does: the envelope, its inquiry in a header, its Id as messageId. */
async function publish(): Promise<string> {
  const id = randomUUID();
  const keys = '"keys":{"Inserted":[["C1"],["C2"],["C3"]],"Deleted":[["C1"],["C2"]]}';
  const body = `{"notification":${payload(id, [c1After, c2After, c3], [c1Before, c2Before])},"timeStamp":"${TICKS}",${keys},"lsn":"0/16B3748"}`;
  await harness.broker.assertQueue(t.names.primaryQueue, { singleActiveConsumer: PRIMARY_SINGLE_ACTIVE });
  await harness.broker.publish(t.names.primaryQueue, [{ body, messageId: id, headers: { query: AMOUNTS } }]);
  return id;
}

describe('exact row values', () => {
  it('a webhook gets every row text as it was published, all rows or only the pairs whose tracked column changed', async () => {
    const all = await ws.receiver();
    const tracked = await ws.receiver();
    await hook('all', all.url);
    await hook('tracked', tracked.url, { inquiries: [{ inquiry: AMOUNTS, trackAllFields: false, fields: ['Amount'] }] });
    ws.dispatcher = await harness.start(ws.dir, catalog, ['all', 'tracked']);
    const id = await publish();

    const [allGot] = await all.waitFor(1);
    expect(allGot!.body).toBe(payload(id, [c1After, c2After, c3], [c1Before, c2Before]));
    // C2 changed only its Note: its pair is dropped, the other rows stay as they came.
    const [trackedGot] = await tracked.waitFor(1);
    expect(trackedGot!.body).toBe(payload(id, [c1After, c3], [c1Before]));
  });

  it('a failing webhook stores the exact payload in failed_notifications, and a resend sends it unchanged', async () => {
    const broken = await ws.receiver(() => 500);
    await hook('broken', broken.url, { retryDelayMs: 10 });
    ws.dispatcher = await harness.start(ws.dir, catalog, ['broken']);
    const id = await publish();
    const expected = payload(id, [c1After, c2After, c3], [c1Before, c2Before]);

    const attempts = await broken.waitFor(5);
    expect(new Set(attempts.map((a) => a.body))).toEqual(new Set([expected]));
    const stored = await eventually(async () => {
      const { rows } = await t.pool.query<{ id: string }>("SELECT id::text FROM pushcdc.failed_notifications WHERE destination = 'broken'");
      return rows[0] && getFailed(t.pool, rows[0].id);
    }, 'a failed_notifications row');
    expect(stored.payload).toBe(expected);
    await ws.dispatcher.stop();
    ws.dispatcher = undefined;

    broken.setReply(() => 200);
    const outcome = await resendFailed(
      { dir: ws.dir, pool: t.pool, commerceQueue: t.names.commerceQueue, broker: () => Promise.resolve(harness.broker) },
      stored,
    );
    expect(outcome).toEqual({ ok: true });
    expect(broken.requests).toHaveLength(6);
    expect(broken.requests[5]!.body).toBe(expected);
  });
});
