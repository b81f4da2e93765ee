import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningRole } from '../../src/engine/role.ts';
import { PushcdcError } from '../../src/errors.ts';
import { serializeNotification } from '../../src/notification.ts';
import { useTestContext } from '../support/isolation.ts';
import { catalogOf, envelope, eventually, publishEnvelopes, tempDir, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/** Module destinations: user-written senders loaded from --dir, as a factory or as a plain object. */
const t = useTestContext('dispatch_module', { sample: false });
const harness = new DispatchHarness(t);
const catalog = catalogOf({ 'T-Items': ['ItemID', 'Name'] });
let dir: string;
let removeDir: () => Promise<void>;
let dispatcher: RunningRole | undefined;

beforeAll(() => harness.open());
afterAll(() => harness.close());
beforeEach(async () => {
  ({ dir, remove: removeDir } = await tempDir('module'));
  await mkdir(path.join(dir, 'senders'));
});
afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  await removeDir();
});

const FACTORY = `import { appendFile } from 'node:fs/promises';
export default function create(options, context) {
  return {
    async send(n) {
      if (n.Inserted.some((r) => r.Name === 'boom')) throw new Error('recorder refuses boom');
      await appendFile(options.out, JSON.stringify({ destination: context.destination, id: n.Id, ticks: n.TimeStamp.toString(), rows: n.Inserted }) + '\\n');
    },
  };
}
`;

const PLAIN = `import { appendFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
export default {
  async send(n) {
    await appendFile(fileURLToPath(new URL('./plain.out', import.meta.url)), n.Id + '\\n');
  },
};
`;

const readLines = async (file: string) => (await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
  if (err.code === 'ENOENT') return '';
  throw err;
})).split('\n').filter(Boolean);

describe('module destination', () => {
  it('delivers through a factory sender and a plain sender; a throwing send ends in failed_notifications', async () => {
    await writeFile(path.join(dir, 'senders/recorder.mjs'), FACTORY);
    await writeFile(path.join(dir, 'senders/plain.mjs'), PLAIN);
    const out = path.join(dir, 'recorder.out');
    await writeConfig(dir, 'destinations', 'recorder', {
      name: 'recorder',
      type: 'module',
      address: './senders/recorder.mjs',
      options: { out },
      retryDelayMs: 10,
      inquiries: [{ inquiry: 'T-Items' }],
    });
    await writeConfig(dir, 'destinations', 'plain', { name: 'plain', type: 'module', address: 'senders/plain.mjs', inquiries: [{ inquiry: 'T-Items' }] });
    dispatcher = await harness.start(dir, catalog, ['recorder', 'plain']);

    const ok = envelope('T-Items', { inserted: [{ key: ['1'], row: { ItemID: 'I1', Name: 'Chair' } }] }, 638465233453014192n);
    const boom = envelope('T-Items', { inserted: [{ key: ['2'], row: { ItemID: 'I2', Name: 'boom' } }] });
    await publishEnvelopes(harness.broker, t.names.primaryQueue, [ok, boom]);

    const failed = await eventually(async () => {
      const { rows } = await t.pool.query<{ error: string; attempts: number; payload: string }>(
        "SELECT error, attempts, payload FROM pushcdc.failed_notifications WHERE destination = 'recorder'",
      );
      return rows[0];
    }, 'the failed boom notification');
    expect(failed).toEqual({ error: 'recorder refuses boom', attempts: 5, payload: serializeNotification(boom.notification) });
    expect((await readLines(out)).map((l) => JSON.parse(l) as unknown)).toEqual([
      { destination: 'recorder', id: ok.notification.Id, ticks: '638465233453014192', rows: [{ ItemID: 'I1', Name: 'Chair' }] },
    ]);
    const plain = await eventually(async () => {
      const lines = await readLines(path.join(dir, 'senders/plain.out'));
      return lines.length >= 2 && lines;
    }, 'the plain sender');
    expect(plain).toEqual([ok.notification.Id, boom.notification.Id]);
  });

  it('a module without a sender is a clear error at start', async () => {
    await writeFile(path.join(dir, 'senders/empty.mjs'), 'export const nothing = 1;\n');
    await writeConfig(dir, 'destinations', 'empty', { name: 'empty', type: 'module', address: './senders/empty.mjs', inquiries: [{ inquiry: 'T-Items' }] });
    const started = harness.start(dir, catalog, ['empty']);
    await expect(started).rejects.toBeInstanceOf(PushcdcError);
    await expect(started).rejects.toThrow(/module .*empty\.mjs must export default \{ send\(notification\) \} or a factory/);
  });
});
