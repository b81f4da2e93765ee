import { chmod, cp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopEmbedded } from '../../src/db/embedded.ts';
import { runCli } from '../support/cli.ts';
import { EngineProcess } from '../support/engine-process.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';

/**
 * The newcomer's path: no DATABASE_URL, no AMQP_URL. pushcdc brings up its own PostgreSQL under
 * `.pushcdc/` (sample ERP and demo data on first use) and uses the embedded broker.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const EMBEDDED = { DATABASE_URL: '', AMQP_URL: '', PUSHCDC_HTTP_PORT: '0', PUSHCDC_LOG_LEVEL: 'info' };
let project: ProjectDir;

beforeAll(async () => {
  project = await createProjectDir('embedded');
  // As root, the embedded server runs as the postgres user, which must be able to reach the folder.
  await chmod(project.dir, 0o755);
  await cp(path.join(REPO, 'inquiries'), path.join(project.dir, 'inquiries'), { recursive: true });
});
afterAll(async () => {
  // Whatever happened, do not leave a server running.
  if (project) await stopEmbedded(project.dir);
  await project?.cleanup();
});

describe('embedded defaults', () => {
  it('validate initialises the embedded PostgreSQL with the sample ERP, and stops it again', async () => {
    const r = await runCli(['validate', '--dir', project.dir], EMBEDDED, { timeoutMs: 120_000 });
    expect(r.stderr + r.stdout).toMatch(/ok: 9 inquiries/);
    expect(r.code).toBe(0);
    expect(existsSync(path.join(project.dir, '.pushcdc', 'postgres', 'PG_VERSION'))).toBe(true);
    expect(existsSync(path.join(project.dir, '.pushcdc', 'postgres', 'postmaster.pid'))).toBe(false);
  }, 150_000);

  it('start streams on the embedded database and broker; SIGTERM drains, exits 0, stops the server', async () => {
    const engine = new EngineProcess(['--roles', 'capture', '--dir', project.dir], EMBEDDED);
    await engine.start(/"msg":"streaming"/, 120_000);
    expect(engine.stderr).toMatch(/embedded PostgreSQL running/);
    expect(engine.stderr).toMatch(/built":\["BC-PUSH-AvailabilityStockItem"/);
    expect(await engine.kill('SIGTERM')).toBe(0);
    expect(existsSync(path.join(project.dir, '.pushcdc', 'postgres', 'postmaster.pid'))).toBe(false);
  }, 150_000);
});
