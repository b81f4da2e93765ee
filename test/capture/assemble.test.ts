import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CREATE_DIFF_ROWS_SQL, DIFF_ROWS_TABLE } from '../../src/diff/diff-rows.ts';
import { serializeEnvelope, type ResultRow } from '../../src/notification.ts';
import { assembleNotifications } from '../../src/outbox/assemble.ts';
import { ensureOutbox, outboxTable } from '../../src/outbox/outbox.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';

/**
 * Notifications are assembled in PostgreSQL from the batch's diff rows: the text must be the
 * envelope the engine has always written, identical rows leaving and entering cancel as a multiset,
 * and a diff too big for one broker message leaves in parts that fold to the same result.
 */
const ctx = useTestContext('capture-assemble', { sample: false });

describe('assembling notifications from diff rows', () => {
  let client: pg.Client;
  const meta = { companyJson: '"Company"', ticks: 639316304226479060n, lsn: '0/16B3748' };

  beforeAll(async () => {
    await ensureOutbox(ctx.pool, ctx.names.stateSchema);
    client = new pg.Client({ connectionString: ctx.db.url });
    await client.connect();
    await client.query(CREATE_DIFF_ROWS_SQL);
  });
  afterAll(async () => {
    await client?.end();
  });
  beforeEach(async () => {
    await ctx.pool.query(`DELETE FROM ${outboxTable(ctx.names.stateSchema)}`);
  });

  const addRows = (rows: [inquiry: string, op: 'D' | 'I', keys: string, row: string][]) =>
    client.query(`INSERT INTO ${DIFF_ROWS_TABLE} (inquiry, op, keys, row) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`, [
      rows.map((r) => r[0]),
      rows.map((r) => r[1]),
      rows.map((r) => r[2]),
      rows.map((r) => r[3]),
    ]);
  const outbox = async () =>
    (await ctx.pool.query<{ inquiry: string; notification_id: string; payload: string }>(`SELECT inquiry, notification_id, payload FROM ${outboxTable(ctx.names.stateSchema)} ORDER BY seq`)).rows;

  it('writes the same envelope text as serializeEnvelope, one notification per inquiry, in name order', async () => {
    await client.query('BEGIN');
    await addRows([
      ['Orders', 'I', '["7"]', '{"Nbr":7,"Total":"12.50"}'],
      ['Customers', 'D', '["1"]', '{"ID":1,"Name":"Acme"}'],
      ['Customers', 'I', '["1"]', '{"ID":1,"Name":"Acme Ltd"}'],
      ['Customers', 'I', '["2"]', '{"ID":2,"Name":null}'],
    ]);
    const made = await assembleNotifications([client], ctx.names.stateSchema, meta, 1 << 20, [], 1 << 20);
    await client.query('COMMIT');
    const rows = await outbox();
    expect(made.map((m) => m.inquiry)).toEqual(['Customers', 'Orders']);
    expect(rows.map((r) => r.inquiry)).toEqual(['Customers', 'Orders']);
    const expected = serializeEnvelope({
      notification: {
        Inserted: [{ ID: 1, Name: 'Acme Ltd' }, { ID: 2, Name: null }] as ResultRow[],
        Deleted: [{ ID: 1, Name: 'Acme' }] as ResultRow[],
        Query: 'Customers',
        CompanyId: 'Company',
        Id: rows[0]!.notification_id,
        TimeStamp: meta.ticks,
        AdditionalInfo: {},
      },
      keys: { Inserted: [['1'], ['2']], Deleted: [['1']] },
      lsn: meta.lsn,
    });
    expect(rows[0]!.payload).toBe(expected);
    expect(made[0]!.notificationId).toBe(rows[0]!.notification_id);
    // Handed back for the relay (the batch is under handOverUpTo): the stored text's bytes.
    expect(made.map((m) => m.body?.toString('utf8'))).toEqual(rows.map((r) => r.payload));
    // The diff rows were consumed by the assembly.
    expect((await client.query(`SELECT count(*)::int AS n FROM ${DIFF_ROWS_TABLE}`)).rows[0].n).toBe(0);
  });

  it('empties the diff rows in the batch: deleted while the table is small, truncated once its file has grown', async () => {
    const fileBytes = async () => Number((await client.query(`SELECT pg_relation_size('${DIFF_ROWS_TABLE}') AS b`)).rows[0].b);
    const count = async () => (await client.query(`SELECT count(*)::int AS n FROM ${DIFF_ROWS_TABLE}`)).rows[0].n as number;
    const batch = async (rows: number) => {
      await client.query('BEGIN');
      await addRows(Array.from({ length: rows }, (_, i) => ['Customers', 'I', `["${i}"]`, `{"ID":${i},"Name":"customer number ${i}"}`] as const).map((r) => [...r]));
      const made = await assembleNotifications([client], ctx.names.stateSchema, meta, 64 << 20, []);
      expect(await count()).toBe(0);
      const bytes = await fileBytes();
      await client.query('COMMIT');
      // Nothing comes back after the commit, whichever way the rows went.
      expect(await count()).toBe(0);
      return { made: made.length, bytes };
    };
    await client.query(`TRUNCATE ${DIFF_ROWS_TABLE}`);
    // Small batches: their rows are deleted, the pages they filled stay (and are scanned) until…
    const small = await batch(50);
    expect(small.made).toBe(1);
    expect(small.bytes).toBeGreaterThan(0);
    // …a batch that leaves the file over a megabyte truncates it.
    const big = await batch(12_000);
    expect(big.made).toBe(1);
    expect(big.bytes).toBe(0);
    // A rolled-back batch takes its rows with it.
    await client.query('BEGIN');
    await addRows([['Customers', 'I', '["1"]', '{"ID":1}']]);
    await client.query('ROLLBACK');
    expect(await count()).toBe(0);
  });

  it('cancels identical rows leaving and entering, as a multiset; nothing left means no notification', async () => {
    await client.query('BEGIN');
    await addRows([
      ['Items', 'D', '["1","10"]', '{"Item":"A"}'],
      ['Items', 'D', '["1","11"]', '{"Item":"A"}'],
      ['Items', 'I', '["1","12"]', '{"Item":"A"}'],
      ['Lines', 'D', '["5"]', '{"Line":5}'],
      ['Lines', 'I', '["6"]', '{"Line":5}'],
      // Not asked to cancel (its rows show every key): left as they are.
      ['Shown', 'D', '["5"]', '{"Line":5}'],
      ['Shown', 'I', '["6"]', '{"Line":5}'],
    ]);
    const made = await assembleNotifications([client], ctx.names.stateSchema, meta, 1 << 20, ['Items', 'Lines']);
    await client.query('COMMIT');
    expect(made.map((m) => m.inquiry)).toEqual(['Items', 'Shown']);
    const payload = JSON.parse((await outbox())[0]!.payload) as { notification: { Inserted: unknown[]; Deleted: unknown[] }; keys: { Deleted: string[][] } };
    expect(payload.notification.Inserted).toEqual([]);
    expect(payload.notification.Deleted).toEqual([{ Item: 'A' }]);
    expect(payload.keys.Deleted).toHaveLength(1);
  });

  it('splits a diff bigger than the limit into parts that fold to the whole, each update in one part', async () => {
    const rows: [string, 'D' | 'I', string, string][] = [];
    for (let id = 1; id <= 200; id++) {
      rows.push(['Big', 'D', `["${id}"]`, `{"ID":${id},"V":"old ${'x'.repeat(id % 7)}"}`]);
      rows.push(['Big', 'I', `["${id}"]`, `{"ID":${id},"V":"new"}`]);
    }
    await client.query('BEGIN');
    await addRows(rows);
    await addRows([['Small', 'I', '["1"]', '{"ID":1}']]);
    // Its rows come to more bytes than it may hand back: the relay reads them from the outbox.
    const made = await assembleNotifications([client], ctx.names.stateSchema, meta, 1000, [], 1000);
    await client.query('COMMIT');
    expect(made.every((m) => m.body === null)).toBe(true);
    const out = await outbox();
    const big = out.filter((r) => r.inquiry === 'Big').map((r) => ({ text: r.payload, ...(JSON.parse(r.payload) as { notification: { Inserted: { ID: number }[]; Deleted: { ID: number }[]; Id: string; AdditionalInfo: Record<string, number> } }) }));
    expect(big.length).toBeGreaterThan(5);
    big.forEach((p, i) => {
      expect(p.notification.AdditionalInfo).toEqual({ Part: i + 1, Parts: big.length });
      // A part holds about the limit: rows until it is reached, plus the envelope.
      expect(p.text.length).toBeLessThan(1000 + 400);
      expect(p.notification.Deleted.map((r) => r.ID).sort()).toEqual(p.notification.Inserted.map((r) => r.ID).sort());
    });
    expect(new Set(big.map((p) => p.notification.Id)).size).toBe(big.length);
    expect(big.flatMap((p) => p.notification.Inserted.map((r) => r.ID)).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // The small inquiry of the same batch stays whole.
    const small = out.filter((r) => r.inquiry === 'Small');
    expect(small).toHaveLength(1);
    expect((JSON.parse(small[0]!.payload) as { notification: { AdditionalInfo: object } }).notification.AdditionalInfo).toEqual({});
  });
});

describe('assembling a batch diffed by two sessions', () => {
  /** Two sessions, each in a transaction with its own diff-rows table, over an empty outbox; ended after `body`. */
  async function withTwoSessions(body: (sessions: pg.Client[]) => Promise<void>): Promise<void> {
    const sessions = [new pg.Client({ connectionString: ctx.db.url }), new pg.Client({ connectionString: ctx.db.url })];
    await ctx.pool.query(`DELETE FROM ${outboxTable(ctx.names.stateSchema)}`);
    try {
      for (const s of sessions) {
        await s.connect();
        await s.query(CREATE_DIFF_ROWS_SQL);
        await s.query('BEGIN');
      }
      await body(sessions);
    } finally {
      for (const s of sessions) await s.end();
    }
  }

  it('numbers the parts across the sessions, session by session; an inquiry in one session only stays whole', async () => {
    const meta = { companyJson: '"Company"', ticks: 639316304226479061n, lsn: '0/16B3749' };
    await withTwoSessions(async (sessions) => {
      const add = (s: pg.Client, rows: string[][]) =>
        s.query(`INSERT INTO ${DIFF_ROWS_TABLE} (inquiry, op, keys, row) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`, [0, 1, 2, 3].map((i) => rows.map((r) => r[i]!)));
      await add(sessions[0]!, [['Shared', 'I', '["1"]', '{"ID":1}']]);
      await add(sessions[1]!, [['Shared', 'I', '["2"]', '{"ID":2}'], ['Alone', 'D', '["3"]', '{"ID":3}']]);
      const made = await assembleNotifications(sessions, ctx.names.stateSchema, meta, 1 << 20, []);
      for (const s of sessions) await s.query('COMMIT');
      // Session by session (the order they commit in), inquiries in name order within each.
      expect(made.map((m) => m.inquiry)).toEqual(['Shared', 'Alone', 'Shared']);
      const sent = (await ctx.pool.query<{ payload: string }>(`SELECT payload FROM ${outboxTable(ctx.names.stateSchema)} ORDER BY seq`)).rows.map(
        (r) => (JSON.parse(r.payload) as { notification: { Query: string; Inserted: unknown[]; AdditionalInfo: object } }).notification,
      );
      expect(sent.map((n) => [n.Query, n.AdditionalInfo, n.Inserted])).toEqual([
        ['Shared', { Part: 1, Parts: 2 }, [{ ID: 1 }]],
        ['Alone', {}, []],
        ['Shared', { Part: 2, Parts: 2 }, [{ ID: 2 }]],
      ]);
    });
  });

  it('builds both sessions\' parts at once, yet every part of the first has a lower seq than any of the second, in part order', async () => {
    const meta = { companyJson: '"Company"', ticks: 639316304226479062n, lsn: '0/16B374A' };
    await withTwoSessions(async (sessions) => {
      const add = (s: pg.Client, from: number) =>
        s.query(
          `INSERT INTO ${DIFF_ROWS_TABLE} (inquiry, op, keys, row)
           SELECT 'Big', 'I', json_build_array(g::text)::text, json_build_object('ID', g, 'V', repeat('v', g % 9))::text FROM generate_series($1::int, $1::int + 199) g`,
          [from],
        );
      await add(sessions[0]!, 1);
      await add(sessions[1]!, 1001);
      // A whole notification in the second session too, after its parts of Big (name order).
      await sessions[1]!.query(`INSERT INTO ${DIFF_ROWS_TABLE} (inquiry, op, keys, row) VALUES ('Small', 'D', '["7"]', '{"ID":7}')`);
      const made = await assembleNotifications(sessions, ctx.names.stateSchema, meta, 1000, [], 1 << 20);
      for (const s of sessions) await s.query('COMMIT');
      const out = (await ctx.pool.query<{ seq: string; notification_id: string; payload: string }>(`SELECT seq::text, notification_id::text, payload FROM ${outboxTable(ctx.names.stateSchema)} ORDER BY seq`)).rows;
      // What assembleNotifications reports, in its order, is what the relay will send, in seq order:
      // each part's row, and the payload it handed back is that row's.
      expect(out.map((r) => r.notification_id)).toEqual(made.map((m) => m.notificationId));
      expect(out.map((r) => r.seq)).toEqual(made.map((m) => m.seq));
      expect(made.map((m) => m.body?.toString('utf8'))).toEqual(out.map((r) => r.payload));
      const sent = out.map((r) => (JSON.parse(r.payload) as { notification: { Query: string; Inserted: { ID: number }[]; AdditionalInfo: { Part?: number; Parts?: number } } }).notification);
      const big = sent.filter((n) => n.Query === 'Big');
      expect(big.length).toBeGreaterThan(4);
      expect(big.map((n) => n.AdditionalInfo)).toEqual(big.map((_, i) => ({ Part: i + 1, Parts: big.length })));
      // Seq order is session order: every row of the first session's parts comes before the second's.
      const firstSecond = big.findIndex((n) => n.Inserted.some((r) => r.ID > 1000));
      expect(firstSecond).toBeGreaterThan(0);
      expect(big.slice(0, firstSecond).every((n) => n.Inserted.every((r) => r.ID <= 200))).toBe(true);
      expect(big.slice(firstSecond).every((n) => n.Inserted.every((r) => r.ID > 1000))).toBe(true);
      expect(sent.at(-1)!.Query).toBe('Small');
      expect(big.flatMap((n) => n.Inserted.map((r) => r.ID)).sort((a, b) => a - b)).toEqual([
        ...Array.from({ length: 200 }, (_, i) => i + 1),
        ...Array.from({ length: 200 }, (_, i) => i + 1001),
      ]);
    });
  });
});

describe('a huge transaction through capture', () => {
  let project: ProjectDir;
  let capture: RunningCapture;
  let reader: QueueReader;

  beforeAll(async () => {
    await ctx.pool.query(`CREATE TABLE h_item (id int PRIMARY KEY, label text NOT NULL, qty int NOT NULL)`);
    await ctx.pool.query(`INSERT INTO h_item SELECT g, 'item ' || g, 0 FROM generate_series(1, 3000) g`);
    project = await createProjectDir('assemble');
    await project.write('inquiries/HItems.sql', 'SELECT i.id AS "ID", i.label AS "Label", i.qty AS "Qty" FROM h_item i WHERE i.qty >= 0');
    reader = new QueueReader(ctx.names.primaryQueue);
    await reader.start();
    // Small limits: the transaction becomes "recompute everything" and its diff leaves in parts.
    capture = await startTestCapture(ctx, project.dir, { maxKeysPerTable: 500, maxNotificationBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await capture?.stop();
    await reader?.close();
    await project?.cleanup();
  });

  it('every row of one 3,000-row transaction arrives once, in parts folding to the final result', async () => {
    await ctx.pool.query(`BEGIN; UPDATE h_item SET qty = qty + 1; UPDATE h_item SET qty = -1 WHERE id % 10 = 0; COMMIT;`);
    const inserted = () => reader.for('HItems').reduce((n, e) => n + e.notification.Inserted.length, 0);
    await reader.waitFor(() => inserted() >= 2700, 30_000, 'the update of 2,700 visible rows');
    const parts = reader.for('HItems');
    expect(parts.length).toBeGreaterThan(1);
    expect(new Set(parts.map((p) => p.notification.TimeStamp)).size).toBe(1);
    expect(parts.map((p) => p.notification.AdditionalInfo)).toEqual(parts.map((_, i) => ({ Part: i + 1, Parts: parts.length })));
    // Fold onto the starting result: every row once, in its new version; the hidden rows left.
    const result = new Map<number, string>();
    for (let id = 1; id <= 3000; id++) result.set(id, JSON.stringify({ ID: id, Label: `item ${id}`, Qty: 0 }));
    for (const p of parts) {
      for (const row of p.notification.Deleted) {
        const id = Number(row.ID);
        expect(result.get(id)).toBe(JSON.stringify(row));
        result.delete(id);
      }
      for (const row of p.notification.Inserted) {
        expect(result.has(Number(row.ID))).toBe(false);
        result.set(Number(row.ID), JSON.stringify(row));
      }
    }
    const final = await ctx.pool.query<{ r: string }>(`SELECT json_build_object('ID', id, 'Label', label, 'Qty', qty)::text AS r FROM h_item WHERE qty >= 0 ORDER BY id`);
    expect([...result.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r)).toEqual(final.rows.map((r) => JSON.stringify(JSON.parse(r.r))));
  });
});
