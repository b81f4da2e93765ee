import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { canonicalRow, foldNotifications, waitForCatchUp } from '../support/model.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * A database whose DBA set short statement and idle-in-transaction timeouts for everyone: the state
 * build, a big diff and a batch waiting inside its transaction take longer than that, and capture
 * must still get through (cut off, each would only be retried and cut off again).
 */
const ctx = useTestContext('capture-timeouts', { sample: false });
let project: ProjectDir;
let reader: QueueReader;
/** The test's own writes and reads: a plain session that lifts the timeouts for itself alone. */
let writer: pg.Client;
const INQUIRY = 'SELECT t.id, t.name, t.n FROM to_item t';

async function result(): Promise<string[]> {
  const { rows } = await writer.query<Record<string, unknown>>(INQUIRY);
  return rows.map(canonicalRow).sort();
}

beforeAll(async () => {
  await ctx.pool.query(`CREATE TABLE to_item (id int PRIMARY KEY, name text, n int)`);
  await ctx.pool.query(`INSERT INTO to_item SELECT g, 'item ' || g, 0 FROM generate_series(1, 60000) g`);
  await ctx.pool.query(`ALTER DATABASE "${ctx.db.name}" SET statement_timeout = '20ms'`);
  await ctx.pool.query(`ALTER DATABASE "${ctx.db.name}" SET idle_in_transaction_session_timeout = '20ms'`);
  writer = new pg.Client({ connectionString: ctx.db.url });
  await writer.connect();
  await writer.query(`SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0`);
  project = await createProjectDir('timeouts');
  await project.write('inquiries/Items.sql', INQUIRY);
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
});
afterAll(async () => {
  await writer?.end();
  await reader?.close();
  await project?.cleanup();
});

describe('short timeouts set by the DBA', () => {
  it('do not stop the state build, a 60,000-row diff or a batch waiting for its barrier', async () => {
    const start = await result();
    const capture = await startTestCapture(ctx, project.dir);
    try {
      await writer.query(`UPDATE to_item SET n = n + 1`);
      for (let i = 0; i < 50; i++) await writer.query(`UPDATE to_item SET n = n + 1 WHERE id = $1`, [1 + i * 7]);
      await waitForCatchUp(ctx, reader, 60_000);
      expect(reader.messages.length).toBeGreaterThan(0);
      expect(foldNotifications(start, reader.for('Items'), 'Items')).toEqual(await result());
    } finally {
      await capture.stop();
    }
  }, 90_000);
});
