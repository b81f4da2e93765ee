import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { createCommerceRole } from '../../src/commerce/role.ts';
import { BigCommerceSimulator } from '../support/bigcommerce-simulator.ts';
import { useTestContext } from '../support/isolation.ts';
import { BIN } from './cli.ts';
import { customerRow, engineContext, exportMessage, makeDir, publish, running, syncRow, waitFor } from './harness.ts';

/**
 * Nothing is lost while a record waits out its delay: its messages stay unacknowledged, so a killed
 * process (SIGKILL: no drain at all) leaves them to be redelivered, and a stopped role (drain)
 * gives them back at once.
 */
const t = useTestContext('commerce-crash', { sample: false });
let sim: BigCommerceSimulator;
let broker: Broker;
let dir: string;
let removeDir: () => Promise<void>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const made = await makeDir([
    {
      name: 'crash',
      connector: 'bigcommerce',
      baseUrl: sim.baseUrl,
      accessToken: sim.token,
      entities: { Customer: { direction: 'export', realtimeMode: 'prepare-and-process' } },
    },
  ]);
  dir = made.dir;
  removeDir = made.remove;
  broker = (await engineContext(t, dir, {})).broker;
  await broker.assertQueue(t.names.commerceQueue);
  await running(t, 'crash', 'Customer');
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

afterAll(async () => {
  await broker?.close();
  await sim?.close();
  await removeDir?.();
});

function startEngine(debounceMs: number): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [BIN, 'start', '--roles', 'commerce', '--dir', dir], {
    env: { ...process.env, ...t.env, PUSHCDC_DEBOUNCE_MS: String(debounceMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  children.push(child);
  return { child, output: () => output };
}

async function consumers(): Promise<number> {
  return (await broker.stats(t.names.commerceQueue)).consumers;
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

const customerPosts = (email: string) =>
  sim.calls(/^POST \/v3\/customers$/).filter((c) => (c.body as { email?: string }[])[0]?.email === email && c.status < 300);

describe('crash during the delay', () => {
  it('a process killed while records wait: after a restart the record is still processed, once, with the latest values', { timeout: 120_000 }, async () => {
    const first = startEngine(60_000);
    await waitFor(`the commerce role to consume (output so far: ${first.output()})`, async () => (await consumers()) > 0, 60_000);
    await publish(broker, t.names.commerceQueue, [
      exportMessage('crash', 'Customer', 'K1', customerRow('K1', 'Kill Before', 'kill@example.com', 'Oslo')),
      exportMessage('crash', 'Customer', 'K1', customerRow('K1', 'Kill Latest', 'kill@example.com', 'Bergen')),
    ]);
    // Delivered (nothing ready in the queue) but unacknowledged: the record is in its 60 s delay.
    await waitFor('the messages to be delivered', async () => (await broker.stats(t.names.commerceQueue)).messages === 0);
    await sleep(300);
    first.child.kill('SIGKILL');
    await exited(first.child);
    expect(await syncRow(t, 'crash', 'Customer', 'K1')).toBeUndefined();
    expect(customerPosts('kill@example.com')).toHaveLength(0);
    await waitFor('the unacknowledged messages to be back in the queue', async () => (await broker.stats(t.names.commerceQueue)).messages === 2);

    const second = startEngine(300);
    const row = await waitFor(
      `K1 processed after the restart (output: ${second.output()})`,
      async () => {
        const r = await syncRow(t, 'crash', 'Customer', 'K1');
        return r?.status === 'processed' && r;
      },
      60_000,
    );
    expect(row.extern_id).not.toBeNull();
    const posts = customerPosts('kill@example.com');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body).toMatchObject([{ first_name: 'Kill', last_name: 'Latest', addresses: [{ city: 'Bergen' }] }]);
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
    expect((await broker.stats(t.names.commerceQueue)).messages).toBe(0);
  });
});

describe('drain', () => {
  it('stop() during the delay gives the messages back at once; the next role processes them', async () => {
    const ctx = await engineContext(t, dir, { PUSHCDC_DEBOUNCE_MS: '60000' });
    const role = await createCommerceRole({ prefetch: 100 })(ctx);
    try {
      await publish(broker, t.names.commerceQueue, [
        exportMessage('crash', 'Customer', 'D1', customerRow('D1', 'Drain One', 'drain@example.com')),
        exportMessage('crash', 'Customer', 'D1', customerRow('D1', 'Drain Two', 'drain@example.com')),
      ]);
      await waitFor('both messages held', async () => role.stats().held === 2);
      const stopping = Date.now();
      await role.stop();
      expect(Date.now() - stopping).toBeLessThan(5000);
      await waitFor('the messages requeued', async () => (await broker.stats(t.names.commerceQueue)).messages === 2);
      expect(await syncRow(t, 'crash', 'Customer', 'D1')).toBeUndefined();
    } finally {
      await role.stop();
      await ctx.broker.close();
    }
    const next = await engineContext(t, dir, { PUSHCDC_DEBOUNCE_MS: '300' });
    const again = await createCommerceRole({ prefetch: 100 })(next);
    try {
      const row = await waitFor('D1 processed by the next role', async () => {
        const r = await syncRow(t, 'crash', 'Customer', 'D1');
        return r?.status === 'processed' && r;
      });
      expect(row.extern_id).not.toBeNull();
      expect(customerPosts('drain@example.com').map((c) => c.body)).toMatchObject([[{ first_name: 'Drain', last_name: 'Two' }]]);
    } finally {
      await again.stop();
      await next.broker.close();
    }
  });
});
