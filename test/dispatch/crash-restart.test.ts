import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeNotification } from '../../src/notification.ts';
import { BIN } from '../support/cli.ts';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.ts';
import { useTestContext } from '../support/isolation.ts';
import { REPO_ROOT, envelope, eventually, publishEnvelopes, tempDir, writeConfig } from './fixtures.ts';
import { DispatchHarness } from './harness.ts';

/**
 * At least once across a crash: the dispatcher (`pushcdc start --roles dispatch`, a child process) is
 * killed with SIGKILL while a webhook is answering slowly; after a restart every notification arrives,
 * and what arrives twice is the same notification (same Id, same body).
 */
const t = useTestContext('dispatch_crash');
const harness = new DispatchHarness(t);
const QUERY = 'BC-PUSH-Customers';
let dir: string;
let removeDir: () => Promise<void>;
let receiver: HttpReceiver;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  await harness.open();
  ({ dir, remove: removeDir } = await tempDir('crash'));
  // The engine loads its catalog from --dir: give it the shipped inquiry the notifications name.
  await mkdir(path.join(dir, 'inquiries'));
  await copyFile(path.join(REPO_ROOT, 'inquiries', `${QUERY}.sql`), path.join(dir, 'inquiries', `${QUERY}.sql`));
  // Slow answers, so the kill lands while a delivery is under way.
  receiver = await startHttpReceiver(() => ({ status: 200, delayMs: 300 }));
  harness.track('crash-hook');
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await receiver?.close();
  await harness.close();
  await removeDir();
});

interface Dispatcher {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startDispatcher(): Dispatcher {
  const child = spawn(process.execPath, [BIN, 'start', '--roles', 'dispatch', '--dir', dir], {
    env: { ...process.env, ...t.env, VITEST: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

/** Waits for `count` requests, or fails with what the dispatcher printed if it died first. */
async function waitForRequests(d: Dispatcher, count: number, timeoutMs: number): Promise<void> {
  const arrived = receiver.waitFor(count, timeoutMs).then(
    () => undefined,
    (err: Error) => err.message,
  );
  const died = d.exited.then((code) => `the dispatcher exited (${code}) before ${count} requests arrived:\n${d.output()}`);
  const problem = await Promise.race([arrived, died]);
  if (problem !== undefined) throw new Error(problem);
}

describe('dispatcher crash', () => {
  it('killed mid-delivery, then restarted: every notification arrives, repeats share their Id', async () => {
    const customer = (i: number) => ({ key: [String(i)], row: { CustomerID: `C${i}`, CustomerName: `Customer ${i}`, Status: 'A' } });
    const sent = Array.from({ length: 20 }, (_, i) => envelope(QUERY, { inserted: [customer(i)] }));
    await writeConfig(dir, 'destinations', 'crash-hook', {
      name: 'crash-hook',
      type: 'webhook',
      address: receiver.url,
      inquiries: [{ inquiry: QUERY }],
    });
    await publishEnvelopes(harness.broker, t.names.primaryQueue, sent);

    const first = startDispatcher();
    await waitForRequests(first, 5, 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const beforeRestart = receiver.requests.length;
    expect(beforeRestart).toBeLessThan(sent.length);

    const second = startDispatcher();
    const ids = sent.map((e) => e.notification.Id);
    const idOf = (body: string) => (JSON.parse(body) as { Id: string }).Id;
    await eventually(async () => {
      if (second.child.exitCode !== null) throw new Error(`the restarted dispatcher exited:\n${second.output()}`);
      const got = new Set(receiver.requests.map((r) => idOf(r.body)));
      return ids.every((id) => got.has(id));
    }, 'every notification after the restart', 45_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const bodies = new Map(sent.map((e) => [e.notification.Id, serializeNotification(e.notification)]));
    for (const r of receiver.requests) expect(r.body).toBe(bodies.get(idOf(r.body)));
    // The delivery in flight at the kill was never acknowledged: it comes again, as the same notification.
    expect(receiver.requests.length).toBeGreaterThan(sent.length);
    // First arrivals keep the inquiry's order.
    const firstSeen = [...new Set(receiver.requests.map((r) => idOf(r.body)))];
    expect(firstSeen).toEqual(ids);
  });
});
