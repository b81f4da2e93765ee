import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cp } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/** validate, compile and explain as a user runs them: subprocesses, exit codes, stdout/stderr. */
const ctx = useTestContext('inquiry-cli');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
let project: ProjectDir;

beforeAll(async () => {
  project = await createProjectDir('cli');
  await cp(path.join(REPO, 'inquiries'), path.join(project.dir, 'inquiries'), { recursive: true });
});
afterAll(async () => project?.cleanup());

async function viewsIn(schema: string): Promise<string[]> {
  const { rows } = await ctx.pool.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.name);
}

describe('the shipped inquiries', () => {
  it('pushcdc validate passes on them', async () => {
    const r = await runCli(['validate', '--dir', project.dir], ctx.env);
    expect(r.stdout).toMatch(/^ok: 9 inquiries, 0 destinations, 0 stores$/m);
    expect(r.code).toBe(0);
  });

  it('pushcdc explain BC-PUSH-Customers shows the root, join tree, hidden keys and SQL', async () => {
    const r = await runCli(['explain', 'BC-PUSH-Customers', '--dir', project.dir], ctx.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Root table: public\.customer \(alias c\), key customer_id/);
    expect(r.stdout).toMatch(/Join tree:\n {2}public\.customer c\n {2}├─ LEFT JOIN public\.contact/);
    expect(r.stdout).toMatch(/hidden __k_c_customer_id/);
    expect(r.stdout).toMatch(/How a changed row of a joined table finds the roots to diff.*\n {2}\w+: ("\w+"\."\w+"(, )?)+ of |through the lookup view/);
    expect(r.stdout).toMatch(/Generated SQL:\nCREATE VIEW "pushcdc_[a-z0-9_]+"\."BC-PUSH-Customers" AS\nSELECT "c"\."customer_id" AS "__k_c_customer_id"/);
  });

  it('pushcdc compile prints the views; --apply creates them in the instance schema', async () => {
    const printed = await runCli(['compile', '--dir', project.dir], ctx.env);
    expect(printed.code).toBe(0);
    expect(printed.stdout.match(/^CREATE VIEW /gm)?.length).toBeGreaterThanOrEqual(9);
    expect(await viewsIn(ctx.names.viewSchema)).toEqual([]);

    const applied = await runCli(['compile', '--apply', '--dir', project.dir], ctx.env);
    expect(applied.code).toBe(0);
    const views = await viewsIn(ctx.names.viewSchema);
    expect(views).toContain('BC-PUSH-Customers');
    expect(views).toContain('BC-PUSH-AvailabilityStockItem__support');
    // The view is the inquiry's result: same rows as the inquiry itself on the demo-free schema.
    await ctx.pool.query(`INSERT INTO customer (customer_cd, name, status) VALUES ('C1', 'Acme', 'A')`);
    const { rows } = await ctx.pool.query(`SELECT "CustomerID", "CustomerName" FROM "${ctx.names.viewSchema}"."BC-PUSH-Customers"`);
    expect(rows).toEqual([{ CustomerID: 'C1', CustomerName: 'Acme' }]);
  });
});

describe('bad input at the command line', () => {
  it('validate prints path:line:col per problem on stdout and exits 1; compile --apply creates nothing', async () => {
    const bad = await createProjectDir('cli-bad');
    try {
      await bad.write('inquiries/Good.sql', 'SELECT c.name FROM customer c');
      await bad.write('inquiries/Agg.sql', 'SELECT c.status,\n  count(*) AS n\nFROM customer c');
      await bad.write('inquiries/Bad.json', '{"name": "Bad",');
      const r = await runCli(['validate', '--dir', bad.dir], ctx.env);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/inquiries\/Agg\.sql:2:3: aggregate function COUNT\(\) is not allowed/);
      expect(r.stdout).toMatch(/inquiries\/Bad\.json:1:\d+: not valid JSON/);
      expect(r.stdout).not.toMatch(/Good/);

      // explain shows an inquiry's own file's problems, not those of a file whose name contains it.
      const own = await runCli(['explain', 'Agg', '--dir', bad.dir], ctx.env);
      expect(own.code).toBe(1);
      expect(own.stderr).toMatch(/inquiries\/Agg\.sql:2:3: aggregate function COUNT\(\) is not allowed/);
      const other = await runCli(['explain', 'Ag', '--dir', bad.dir], ctx.env);
      expect(other.code).toBe(1);
      expect(other.stderr).toMatch(/no inquiry named "Ag"; known: /);

      const env = { ...ctx.env, PUSHCDC_INSTANCE: `${ctx.instance}_bad` };
      const applied = await runCli(['compile', '--apply', '--dir', bad.dir], env);
      expect(applied.code).toBe(1);
      expect(applied.stderr).toMatch(/Agg\.sql:2:3/);
      expect(await viewsIn(`pushcdc_${ctx.instance}_bad`)).toEqual([]);
    } finally {
      await bad.cleanup();
    }
  });

  it('explain of an unknown inquiry lists the known ones and exits 1', async () => {
    const r = await runCli(['explain', 'BC-PUSH-Nope', '--dir', project.dir], ctx.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no inquiry named "BC-PUSH-Nope"; known: .*BC-PUSH-Customers/);
  });

  it('usage errors exit 2, --help exits 0', async () => {
    expect((await runCli(['explain'], ctx.env)).code).toBe(2);
    expect((await runCli(['validate', '--bogus'], ctx.env)).code).toBe(2);
    const help = await runCli(['--help'], ctx.env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: pushcdc/);
  });

  it('a bad environment variable is an error naming it', async () => {
    const r = await runCli(['validate', '--dir', project.dir], { ...ctx.env, PUSHCDC_HTTP_PORT: 'eighty' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PUSHCDC_HTTP_PORT="eighty": must be a whole number/);
    const url = await runCli(['validate', '--dir', project.dir], { ...ctx.env, DATABASE_URL: 'not a url' });
    expect(url.code).toBe(1);
    expect(url.stderr).toMatch(/DATABASE_URL="not a url": must be a URL starting with postgres:\/\/ or postgresql:\/\/; this one is not a URL/);
    const port = await runCli(['validate', '--dir', project.dir], { ...ctx.env, DATABASE_URL: 'postgres://u@127.0.0.1:99999/db' });
    expect(port.code).toBe(1);
    expect(port.stderr).toMatch(/DATABASE_URL="postgres:\/\/u@127\.0\.0\.1:99999\/db": .*; its port 99999 is above 65535/);
    // Read as the logger is made, before the rest of the environment: the same kind of message.
    const level = await runCli(['validate', '--dir', project.dir], { ...ctx.env, PUSHCDC_LOG_LEVEL: 'loud' });
    expect(level.code).toBe(1);
    expect(level.stderr).toBe('pushcdc: environment variable PUSHCDC_LOG_LEVEL="loud": must be one of trace, debug, info, warn, error, fatal, silent\n');
  });
});
