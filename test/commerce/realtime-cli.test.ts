import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRealtimeState } from '../../src/commerce/realtime-state.ts';
import { BigCommerceSimulator } from '../support/bigcommerce-simulator.ts';
import { useTestContext } from '../support/isolation.ts';
import { runCli } from './cli.ts';
import { makeDir } from './harness.ts';

/**
 * `pushcdc realtime start|stop`, `history` and `events` as subprocesses against the real database
 * and the simulated storefront (webhooks registered on it with the headers the receiver checks).
 */
const t = useTestContext('commerce-cli', { sample: false });
let sim: BigCommerceSimulator;
let dir: string;
let removeDir: () => Promise<void>;
const DESTINATION = 'https://erp.example.com/commerce/webhook';
const env = () => ({ ...t.env, BC_TOKEN: sim.token, BC_HOOK_SECRET: 'hook-secret-1', PUSHCDC_COMPANY: 'Acme' });

beforeAll(async () => {
  sim = await BigCommerceSimulator.start();
  const made = await makeDir([
    {
      name: 's',
      connector: 'bigcommerce',
      baseUrl: sim.baseUrl,
      accessToken: '${BC_TOKEN}',
      webhookSecret: '${BC_HOOK_SECRET}',
      webhookBaseUrl: 'https://erp.example.com/',
      entities: {
        Customer: { direction: 'bidirectional', realtimeMode: 'prepare-and-process' },
        StockItem: { direction: 'export' },
        SalesOrder: { direction: 'import' },
        SalesCategory: { direction: 'export' },
      },
    },
  ]);
  dir = made.dir;
  removeDir = made.remove;
});

afterAll(async () => {
  await sim?.close();
  await removeDir?.();
});

const ourHooks = () => [...sim.hooks.values()].filter((h) => h.destination === DESTINATION);
const states = async (entity: string) =>
  Object.fromEntries((await listRealtimeState(t.pool)).filter((e) => e.entity === entity).map((e) => [e.direction, e.status]));

describe('pushcdc realtime', () => {
  it('start on a bidirectional entity: export and import running, storefront webhooks registered with type/company/validation', async () => {
    const foreign = sim.hooks.size;
    const result = await runCli(['realtime', 'start', '--store', 's', '--entity', 'Customer', '--dir', dir], env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^s Customer: export running, import running, webhooks \d+(, \d+){5}\n$/);
    expect(ourHooks().map((h) => h.scope).sort()).toEqual([
      'store/customer/address/created',
      'store/customer/address/deleted',
      'store/customer/address/updated',
      'store/customer/created',
      'store/customer/deleted',
      'store/customer/updated',
    ]);
    for (const hook of ourHooks()) {
      expect(hook).toMatchObject({ is_active: true, headers: { type: 'bigcommerce', company: 'Acme', validation: 'hook-secret-1' } });
    }
    expect(sim.hooks.size).toBe(foreign + 6);
    // Authenticated with the token substituted from ${BC_TOKEN}.
    expect(sim.calls(/^POST \/v3\/hooks$/).every((c) => c.headers['x-auth-token'] === sim.token)).toBe(true);
    expect(await states('Customer')).toEqual({ export: 'running', import: 'running' });
    const { rows } = await t.pool.query<{ level: string; message: string; tenant: string }>(
      `SELECT level, message, tenant FROM pushcdc.system_events WHERE source = 'commerce' ORDER BY id DESC LIMIT 1`,
    );
    expect(rows[0]).toEqual({
      level: 'information',
      tenant: 'Acme',
      message: 'Real-time sync started: Customer of store s (export running, import running, 6 webhooks registered)',
    });
  });

  it('start again registers nothing twice; stop removes our webhooks and only ours; state survives in the database', async () => {
    const foreign = sim.addCustomer({ email: 'unrelated@example.com' }); // noise in the store
    const other = { scope: 'store/customer/updated', destination: 'https://someone-else.example.com/hook', is_active: true, headers: null };
    await fetch(`${sim.baseUrl}/v3/hooks`, { method: 'POST', headers: { 'X-Auth-Token': sim.token, 'Content-Type': 'application/json' }, body: JSON.stringify(other) });
    const again = await runCli(['realtime', 'start', '--store', 's', '--entity', 'Customer', '--dir', dir], env());
    expect(again.code).toBe(0);
    expect(ourHooks()).toHaveLength(6);

    const stop = await runCli(['realtime', 'stop', '--store', 's', '--entity', 'Customer', '--dir', dir, '--json'], env());
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toEqual({ store: 's', entity: 'Customer', export: 'stopped', import: 'stopped', webhooks: 6 });
    expect(ourHooks()).toHaveLength(0);
    expect([...sim.hooks.values()].filter((h) => h.destination === other.destination)).toHaveLength(1);
    expect(await states('Customer')).toEqual({ export: 'stopped', import: 'stopped' });
    expect(sim.customers.has(foreign.id)).toBe(true);
  });

  it('directions the entity or the connector does not have are not-supported; no webhooks for export-only', async () => {
    const hooksBefore = sim.calls(/hooks/).length;
    const stock = await runCli(['realtime', 'start', '--store', 's', '--entity', 'StockItem', '--dir', dir], env());
    expect(stock.code).toBe(0);
    expect(stock.stdout).toBe('s StockItem: export running, import not-supported\n');
    expect(sim.calls(/hooks/).length).toBe(hooksBefore);
    // Import-only order: order webhooks registered, export not-supported.
    const order = await runCli(['realtime', 'start', '--store', 's', '--entity', 'SalesOrder', '--dir', dir, '--json'], env());
    expect(order.code).toBe(0);
    expect(JSON.parse(order.stdout)).toMatchObject({ export: 'not-supported', import: 'running' });
    expect(ourHooks().map((h) => h.scope).sort()).toEqual(['store/order/created', 'store/order/updated']);
    // SalesCategory has no BigCommerce processor yet.
    const category = await runCli(['realtime', 'start', '--store', 's', '--entity', 'SalesCategory', '--dir', dir], env());
    expect(category.stdout).toBe('s SalesCategory: export not-supported, import not-supported\n');
    expect(await states('SalesCategory')).toEqual({ export: 'not-supported', import: 'not-supported' });
  });

  it('a storefront refusing the webhook registration: exit 1, the entity stays stopped, an error event', async () => {
    await runCli(['realtime', 'stop', '--store', 's', '--entity', 'Customer', '--dir', dir], env());
    sim.failNext(1, 500, /^POST \/v3\/hooks$/);
    const result = await runCli(['realtime', 'start', '--store', 's', '--entity', 'Customer', '--dir', dir], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot register the storefront webhooks: POST /v3/hooks answered 500');
    expect(await states('Customer')).toEqual({ export: 'stopped', import: 'stopped' });
    const { rows } = await t.pool.query<{ level: string }>(
      `SELECT level FROM pushcdc.system_events WHERE message LIKE 'Start real-time sync of Customer (store s) failed%'`,
    );
    expect(rows).toEqual([{ level: 'error' }]);
  });

  it('unknown store or entity: exit 1 naming the known ones', async () => {
    const store = await runCli(['realtime', 'start', '--store', 'nope', '--entity', 'Customer', '--dir', dir], env());
    expect(store.code).toBe(1);
    expect(store.stderr).toBe('pushcdc: unknown store "nope"; known stores: s\n');
    const entity = await runCli(['realtime', 'stop', '--store', 's', '--entity', 'Vendor', '--dir', dir], env());
    expect(entity.code).toBe(1);
    expect(entity.stderr).toContain('unknown entity "Vendor" in store "s"');
    expect(entity.stderr).toContain('configured entities: Customer, StockItem, SalesOrder, SalesCategory');
  });

  it('a store file naming an unset variable: exit 1 with file:line:col', async () => {
    const { BC_TOKEN: _unset, ...withoutToken } = env();
    const result = await runCli(['realtime', 'start', '--store', 's', '--entity', 'StockItem', '--dir', dir], withoutToken);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/stores\/s\.json:\d+:\d+: accessToken: environment variable BC_TOKEN is not set/);
  });
});

describe('pushcdc history and events', () => {
  beforeAll(async () => {
    await t.pool.query(
      `INSERT INTO pushcdc.sync_status (store, entity, local_id, extern_id, status, attempt_count, last_error, last_operation)
       VALUES ('s', 'Customer', 'C1', '17', 'processed', 0, NULL, 'created'),
              ('s', 'Customer', 'C2', NULL, 'failed', 2, 'POST /v3/customers answered 500', 'push'),
              ('t', 'StockItem', 'I1', NULL, 'prepared', 0, NULL, 'push')`,
    );
  });

  it('history filters by store, entity and status; table and JSON', async () => {
    const json = await runCli(['history', '--store', 's', '--status', 'failed', '--json', '--dir', dir], env());
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ store: 's', entity: 'Customer', local_id: 'C2', status: 'failed', attempt_count: 2, last_error: 'POST /v3/customers answered 500' });
    const table = await runCli(['history', '--entity', 'Customer', '--dir', dir], env());
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^updated_at\s+store\s+entity\s+local_id\s+extern_id\s+status\s+attempt_count\s+last_operation\s+last_error\s*$/);
    expect(lines).toHaveLength(4);
    expect(table.stdout).not.toContain('StockItem');
  });

  it('history --status with an unknown value: usage error listing the statuses', async () => {
    const result = await runCli(['history', '--status', 'done', '--dir', dir], env());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--status "done" is not a sync status; use one of: prepared, processed, failed, aborted, skipped, deleted, filtered, invalid');
  });

  it('events filters by level and source; unknown level is a usage error', async () => {
    await t.pool.query(`INSERT INTO pushcdc.system_events (level, source, message) VALUES ('warning', 'capture', 'slot lag high')`);
    const json = await runCli(['events', '--source', 'commerce', '--level', 'information', '--json', '--dir', dir], env());
    expect(json.code).toBe(0);
    const events = JSON.parse(json.stdout) as { level: string; source: string; message: string }[];
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.level === 'information' && e.source === 'commerce')).toBe(true);
    expect(events.some((e) => e.message.startsWith('Real-time sync stopped: Customer of store s'))).toBe(true);
    const table = await runCli(['events', '--level', 'warning', '--dir', dir], env());
    expect(table.stdout).toMatch(/^at\s+level\s+source\s+tenant\s+message\s*\n/);
    expect(table.stdout).toContain('slot lag high');
    expect(table.stdout).not.toContain('Real-time sync');
    const bad = await runCli(['events', '--level', 'debug', '--dir', dir], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--level "debug" is not an event level; use one of: information, warning, error, fatal');
  });
});

