import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { createTestDatabase, deleteQueues, useTestContext } from '../support/isolation.ts';

/** `pushcdc status`, the queue monitor, as an operator runs it. */
const ctx = useTestContext('status');
let project: ProjectDir;
let capture: RunningCapture;

beforeAll(async () => {
  project = await createProjectDir('status');
  await project.write('inquiries/Customers.sql', 'SELECT c.customer_cd AS "CustomerID", c.name FROM customer c');
  await project.write('destinations/hook.json', {
    name: 'hook',
    type: 'webhook',
    address: 'http://127.0.0.1:9/hook',
    inquiries: [{ inquiry: 'Customers', trackAllFields: true }],
  });
  capture = await startTestCapture(ctx, project.dir);
});
afterAll(async () => {
  await capture?.stop();
  await deleteQueues([`${ctx.names.primaryQueue}.hook`]);
  await project?.cleanup();
});

describe('pushcdc status', () => {
  it('reports the slot, the outbox, every queue, the destinations and the inquiries', async () => {
    await ctx.pool.query(`INSERT INTO customer (customer_cd, name) VALUES ('S1', 'Status')`);
    const r = await runCli(['status', '--json', '--sample', '0', '--dir', project.dir], ctx.env);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as {
      slot: { name: string; active: boolean; lagBytes: number } | null;
      outboxWaiting: number;
      queues: { queue: string; messages?: number; error?: string }[];
      destinations: { name: string; type: string; failed: number; inquiries: string[] }[];
      inquiries: { name: string; stateRows: number }[];
    };
    expect(status.slot).toMatchObject({ name: ctx.names.slot, active: true });
    expect(status.slot!.lagBytes).toBeGreaterThanOrEqual(0);
    expect(status.queues.map((q) => q.queue)).toEqual([ctx.names.primaryQueue, `${ctx.names.primaryQueue}.hook`, ctx.names.commerceQueue]);
    expect(status.queues[0]!.messages).toBeGreaterThanOrEqual(0);
    expect(status.destinations).toEqual([expect.objectContaining({ name: 'hook', type: 'webhook', failed: 0, inquiries: ['Customers'] })]);
    expect(status.inquiries).toEqual([expect.objectContaining({ name: 'Customers' })]);
  });

  it('prints a readable report, with a rate sample', async () => {
    const r = await runCli(['status', '--sample', '200', '--dir', project.dir], ctx.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Replication slot ${ctx.names.slot}: streaming, lag \\d`));
    expect(r.stdout).toMatch(/Outbox: \d+ notifications waiting/);
    expect(r.stdout).toMatch(new RegExp(`${ctx.names.primaryQueue.replace('.', '\\.')}\\s+\\d+\\s+\\d+\\s+-?\\d+\\.\\d`));
    expect(r.stdout).toMatch(/not declared yet/); // the commerce queue: nobody declared it yet
  });

  it('names a destination file it cannot read instead of silently leaving it out', async () => {
    await project.write('destinations/secret.json', {
      name: 'secret',
      type: 'webhook',
      address: 'http://127.0.0.1:9/secret',
      headers: { Authorization: 'Bearer ${PUSHCDC_TEST_UNSET_TOKEN}' },
      inquiries: [{ inquiry: 'Customers' }],
    });
    try {
      const json = await runCli(['status', '--json', '--sample', '0', '--dir', project.dir], ctx.env);
      expect(json.code).toBe(0);
      const status = JSON.parse(json.stdout) as { destinations: { name: string }[]; destinationProblems: string[] };
      expect(status.destinations.map((d) => d.name)).toEqual(['hook']);
      expect(status.destinationProblems).toEqual([expect.stringMatching(/secret\.json:\d+:\d+: .*PUSHCDC_TEST_UNSET_TOKEN/)]);
      const text = await runCli(['status', '--sample', '0', '--dir', project.dir], ctx.env);
      expect(text.stdout).toMatch(/Not shown, for problems in their files \(see pushcdc validate\):\n {2}\S*secret\.json:\d+:\d+: /);
    } finally {
      await project.remove('destinations/secret.json');
    }
  });

  it('a --dir that does not exist is a user error, not an empty project', async () => {
    const r = await runCli(['status', '--json', '--sample', '0', '--dir', `${project.dir}/missing`], ctx.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--dir .*missing: there is no folder/);
    expect(r.stdout).toBe('');
  });

  it('a bad --sample is a usage error', async () => {
    const r = await runCli(['status', '--sample', 'soon', '--dir', project.dir], ctx.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sample "soon"/);
  });
});

describe('on a database pushcdc never started on', () => {
  it('events and history bring the engine schema up and answer with nothing', async () => {
    const fresh = await createTestDatabase('fresh');
    try {
      const env = { ...ctx.env, DATABASE_URL: fresh.url };
      const events = await runCli(['events', '--json', '--dir', project.dir], env);
      expect(events.stderr).toBe('');
      expect(JSON.parse(events.stdout)).toEqual([]);
      const history = await runCli(['history', '--json', '--dir', project.dir], env);
      expect(history.code).toBe(0);
      expect(JSON.parse(history.stdout)).toEqual([]);
    } finally {
      await fresh.drop();
    }
  });
});
