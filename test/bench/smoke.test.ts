import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { benchInstance } from '../../bench/instance.ts';
import { instanceNames } from '../../src/config/env.ts';
import { uniqueKey } from '../support/isolation.ts';
import { ADMIN_DATABASE_URL, TEST_AMQP_URL } from '../support/services.ts';

/**
 * `npm run bench` is a deliverable of its own: this runs every part of it (but the opt-in memory
 * run) at a tiny size, as a subprocess under a name of its own, and checks that every run delivered
 * every transaction and that nothing it created is left on the servers. No figure is asserted.
 */
const BENCH = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

interface BenchResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[], timeoutMs: number): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BENCH, ...args], {
      env: { ...process.env, DATABASE_URL: ADMIN_DATABASE_URL, AMQP_URL: TEST_AMQP_URL, PUSHCDC_LOG_LEVEL: 'warn', VITEST: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGTERM first: the bench then drops its slots and database itself.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function queueExists(queue: string): Promise<boolean> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.checkQueue(queue);
      return true;
    } catch {
      return false;
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describe('npm run bench', () => {
  it('runs decode, live, paced (also beside a side load), backlog (short and long) and naive for both inquiries, delivers every transaction, and leaves nothing behind', async () => {
    // Its database then looks like a test database, which a later run drops if this one was killed.
    const name = `t_${Math.floor(Date.now() / 1000)}_${uniqueKey('bench')}`;
    const result = await runBench(['--name', name, '--sizes', '500', '--changes', '200', '--long-backlog', '400', '--paced-rate', '200', '--paced-seconds', '1', '--side-load', '50'], 240_000);
    expect(result.code, result.stderr).toBe(0);

    const rows = result.stdout.split('\n').filter((line) => /^\s*(single|join)\s+500\s/.test(line));
    for (const kind of ['single', 'join']) {
      for (const system of ['decode ceiling', 'pushcdc live', 'pushcdc paced', 'pushcdc paced + side load', 'pushcdc backlog', 'pushcdc long backlog', 'naive re-run']) {
        expect(rows.some((line) => line.trim().startsWith(kind) && line.includes(system)), `${kind} ${system}\n${result.stdout}`).toBe(true);
      }
    }
    const delivered = rows.flatMap((line) => [...line.matchAll(/(\d+)\/(\d+)/g)]);
    expect(delivered.length).toBe(12); // every run but the two decode ceilings
    for (const [text, got, of] of delivered) expect(got, text).toBe(of);
    expect(result.stdout).toMatch(/single @ +500: backlog \d+% of the decode ceiling; \d+% of decoding the backlog's own WAL; long backlog \(400 changes\) \d+% of decoding its own WAL/);
    expect(result.stdout).toMatch(/join +@ +500: .*; \d+ ms with 50 transactions\/s on another database/);
    // Where a drain's CPU went, per change: the engine's backends (read from /proc: the server is local) and its process.
    expect(result.stdout).toMatch(/CPU per change for pushcdc long backlog single @ 500 \(µs, median of \d\): diff sessions [\d.]+, walsender [\d.]+, .*engine process [\d.]+; [\d.]+ in all/);
    expect(result.stdout).toMatch(/pushcdc paced \+ side load single @ 500: the other database took \d+ transactions\/s/);

    const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    try {
      const slots = await admin.query('SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE $1', [`%${name}%`]);
      expect(slots.rows).toEqual([]);
      const databases = await admin.query('SELECT datname FROM pg_database WHERE datname IN ($1, $2)', [`pushcdc_${name}`, `pushcdc_${name}_side`]);
      expect(databases.rows).toEqual([]);
    } finally {
      await admin.end();
    }
    for (const kind of ['single', 'join'] as const) expect(await queueExists(instanceNames(benchInstance(name, kind)).primaryQueue)).toBe(false);
  }, 300_000);

  it('refuses a name it cannot use in database, slot and queue names, naming the option', async () => {
    const result = await runBench(['--name', 'Bench-1', '--only', 'decode'], 30_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--name: expected a lower-case letter');
    expect(result.stderr).toContain('"Bench-1"');
  });

  it('refuses a side load without the paced run it repeats, naming the option', async () => {
    const result = await runBench(['--only', 'decode', '--side-load', '100'], 30_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--side-load: it repeats the paced run');
  });
});
