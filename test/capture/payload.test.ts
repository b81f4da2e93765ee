import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { OutboxRelay } from '../../src/outbox/relay.ts';
import { ensureOutbox, insertOutbox, outboxTable } from '../../src/outbox/outbox.ts';
import { rootLogger } from '../../src/log.ts';
import { startTestCapture, type RunningCapture } from '../support/capture.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';
import { QueueReader } from '../support/queue-reader.ts';

/** The notification as receivers see it: SPEC section 5, to the byte where it matters. */
const ctx = useTestContext('capture-payload', { sample: false });
let project: ProjectDir;
let capture: RunningCapture;
let reader: QueueReader;

const TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000n;
const ticksToMs = (ticks: bigint) => Number((ticks - TICKS_AT_UNIX_EPOCH) / 10_000n);

beforeAll(async () => {
  await ctx.pool.query(`
    CREATE TABLE p_item (id bigint PRIMARY KEY, price numeric(30,4), big bigint, note text, at timestamptz,
                         flag boolean, tags text[], data jsonb);
  `);
  project = await createProjectDir('payload');
  await project.write(
    'inquiries/Items.sql',
    `SELECT i.id AS "ID", i.price AS "Price", i.big AS "Big", i.note AS "Note", i.at AS "At", i.flag AS "Flag",
            i.tags AS "Tags", i.data AS "Data"
       FROM p_item i`,
  );
  reader = new QueueReader(ctx.names.primaryQueue);
  await reader.start();
  capture = await startTestCapture(ctx, project.dir);
});
afterAll(async () => {
  await capture?.stop();
  await reader?.close();
  await project?.cleanup();
});

describe('the payload', () => {
  it('has the SPEC fields, exact numbers and ticks, and no hidden keys', async () => {
    const before = Date.now();
    await ctx.pool.query(
      `INSERT INTO p_item VALUES
         (1, 10.5, 42, 'plain', '2026-11-30T10:00:00Z', true, ARRAY['a','b'], '{"k": [1, 2]}'),
         (9007199254740993, 12345678901234567.8900, 9007199254740993, NULL, NULL, NULL, NULL, NULL)`,
    );
    const after = Date.now();
    await reader.waitFor(() => reader.for('Items').length >= 1);
    const message = reader.messages.find((m) => m.envelope.notification.Query === 'Items')!;
    const payloadText = /^\{"notification":(\{.*\}),"timeStamp"/.exec(message.raw)![1]!;
    expect(Object.keys(JSON.parse(payloadText) as object)).toEqual(['Inserted', 'Deleted', 'Query', 'CompanyId', 'Id', 'TimeStamp', 'AdditionalInfo']);
    expect(payloadText).not.toMatch(/__k_/);
    // TimeStamp: an exact integer in the text (above 2^53), the commit time in .NET ticks.
    const ticksText = /"TimeStamp":(\d+),/.exec(payloadText)![1]!;
    expect(ticksText).toHaveLength(18);
    const ticks = BigInt(ticksText);
    expect(ticks).toBe(message.envelope.notification.TimeStamp);
    expect(ticksToMs(ticks)).toBeGreaterThanOrEqual(before - 1000);
    expect(ticksToMs(ticks)).toBeLessThanOrEqual(after + 1000);
    expect(message.envelope.notification.Id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(message.messageId).toBe(message.envelope.notification.Id);
    expect(message.envelope.notification.CompanyId).toBe('Company');
    expect(message.envelope.notification.AdditionalInfo).toEqual({});
    // Values exactly as PostgreSQL renders them (SPEC 5): numbers plain where a double holds them,
    // strings where it would round them; rows compact.
    expect(payloadText).toContain('{"ID":1,"Price":10.5000,"Big":42,"Note":"plain","At":"2026-11-30T10:00:00+00:00","Flag":true,"Tags":["a","b"],"Data":{"k": [1, 2]}}');
    expect(payloadText).toContain('"ID":"9007199254740993","Price":"12345678901234567.8900","Big":"9007199254740993","Note":null');
    expect(message.envelope.notification.Deleted).toEqual([]);
  });

  it('an update of a row with an unchanged TOASTed column carries its real value', async () => {
    const big = Array.from({ length: 20_000 }, (_, i) => ((i * 7919) % 9973).toString(36)).join('');
    await ctx.pool.query(`INSERT INTO p_item (id, price, note) VALUES (2, 1, $1)`, [big]);
    await reader.waitFor(() => reader.for('Items').some((n) => n.notification.Inserted.some((r) => r.ID === 2)));
    // The note is stored out of line and does not change: pgoutput sends it as "unchanged".
    await ctx.pool.query(`UPDATE p_item SET price = 2 WHERE id = 2`);
    await reader.waitFor(() => reader.for('Items').some((n) => n.notification.Inserted.some((r) => r.ID === 2 && r.Price === 2)));
    const update = reader.for('Items').find((n) => n.notification.Inserted.some((r) => r.ID === 2 && r.Price === 2))!;
    expect(update.notification.Inserted[0]!.Note).toBe(big);
    expect(update.notification.Deleted[0]).toMatchObject({ ID: 2, Price: 1, Note: big });
  });

  it('a transaction touching several rows is one notification', async () => {
    const count = reader.for('Items').length;
    await ctx.pool.query(`BEGIN; UPDATE p_item SET flag = false WHERE id = 1; DELETE FROM p_item WHERE id = 9007199254740993; INSERT INTO p_item (id, price) VALUES (3, 3); COMMIT;`);
    await reader.waitFor(() => reader.for('Items').length > count);
    await new Promise((r) => setTimeout(r, 300));
    const added = reader.for('Items').slice(count);
    expect(added).toHaveLength(1);
    expect(added[0]!.notification.Deleted.map((r) => r.ID).sort()).toEqual([1, '9007199254740993']);
    expect(added[0]!.notification.Inserted.map((r) => r.ID).sort()).toEqual([1, 3]);
  });

  it('a 5,000-row transaction is one notification, however many sessions capture could diff it in', async () => {
    await ctx.pool.query(`INSERT INTO p_item (id, price, note) SELECT 100000 + g, g, 'bulk' FROM generate_series(1, 5000) g`);
    await reader.waitFor(() => reader.for('Items').some((n) => n.notification.Inserted.length === 5000), 20_000, 'the bulk insert');
    await new Promise((r) => setTimeout(r, 300));
    const bulk = reader.for('Items').filter((n) => n.notification.Inserted.some((row) => row.Note === 'bulk'));
    expect(bulk).toHaveLength(1);
    expect(bulk[0]!.notification.AdditionalInfo).toEqual({});
  });

  it('an update that does not change the result sends nothing', async () => {
    await ctx.pool.query(`UPDATE p_item SET price = 3 WHERE id = 3`);
    const count = reader.for('Items').length;
    await ctx.pool.query(`UPDATE p_item SET price = price WHERE id = 3`);
    await ctx.pool.query(`INSERT INTO p_item (id, price) VALUES (4, 4)`);
    await reader.waitFor(() => reader.for('Items').length > count);
    await new Promise((r) => setTimeout(r, 300));
    const added = reader.for('Items').slice(count);
    expect(added.map((n) => n.notification.Inserted.map((r) => r.ID))).toEqual([[4]]);
  });

  it('a relay that crashes after the broker confirmed re-sends the stored row with the same Id', async () => {
    const id = '6d0e6bc2-6f8e-4c53-9a55-1c5e3f9b0c11';
    const payload = `{"notification":{"Inserted":[{"ID":99}],"Deleted":[],"Query":"Items","CompanyId":"Company","Id":"${id}","TimeStamp":639316304226479060,"AdditionalInfo":{}},"timeStamp":"639316304226479060","keys":{"Inserted":[["99"]],"Deleted":[]},"lsn":"0/0"}`;
    await insertOutbox(ctx.pool, ctx.names.stateSchema, [{ inquiry: 'Items', notificationId: id, payload }]);
    const crashing: Broker = {
      ...capture.broker,
      publish: async (queue, messages) => {
        await capture.broker.publish(queue, messages);
        throw new Error('crash after the confirm, before the outbox row is deleted');
      },
    };
    const relay = new OutboxRelay(ctx.pool, crashing, ctx.names.stateSchema, ctx.names.primaryQueue, rootLogger);
    await expect(relay.drainOnce()).rejects.toThrow(/crash after the confirm/);
    // The restarted relay finds the row still there and sends it again.
    await new OutboxRelay(ctx.pool, capture.broker, ctx.names.stateSchema, ctx.names.primaryQueue, rootLogger).drainOnce();
    await reader.waitFor(() => reader.messages.filter((m) => m.messageId === id).length >= 2);
    const copies = reader.messages.filter((m) => m.messageId === id);
    expect(copies.map((c) => c.raw)).toEqual([payload, payload]);
    expect(copies.every((c) => c.envelope.notification.Id === id)).toBe(true);
  });

  it('a payload read back from the outbox leaves as the UTF-8 it was written, characters beyond ASCII included', async () => {
    const id = '6d0e6bc2-6f8e-4c53-9a55-1c5e3f9b0c12';
    const payload = `{"notification":{"Inserted":[{"ID":7,"City":"Zürich – 東京 🚚"}],"Deleted":[],"Query":"Items","CompanyId":"Company","Id":"${id}","TimeStamp":1,"AdditionalInfo":{}},"timeStamp":"1","keys":{"Inserted":[["7"]],"Deleted":[]},"lsn":"0/0"}`;
    const schema = `${ctx.names.stateSchema}_utf8`;
    await ensureOutbox(ctx.pool, schema);
    await insertOutbox(ctx.pool, schema, [{ inquiry: 'Items', notificationId: id, payload }]);
    expect(await new OutboxRelay(ctx.pool, capture.broker, schema, ctx.names.primaryQueue, rootLogger).drainOnce()).toBe(1);
    await reader.waitFor(() => reader.messages.some((m) => m.messageId === id));
    expect(reader.messages.find((m) => m.messageId === id)!.raw).toBe(payload);
  });

  it('is stored in the outbox lz4-compressed, and a big one leaves the outbox as it was written', async () => {
    const { rows } = await ctx.pool.query<{ storage: string; compression: string }>(
      `SELECT attstorage AS storage, attcompression AS compression FROM pg_attribute
        WHERE attrelid = to_regclass($1) AND attname = 'payload'`,
      [outboxTable(ctx.names.stateSchema)],
    );
    // This server is built with lz4 (PostgreSQL 15 on Debian is); 'x': compressed, then out of line.
    expect(rows).toEqual([{ storage: 'x', compression: 'l' }]);
    const ids = Array.from({ length: 3000 }, (_, i) => 10_000 + i);
    await ctx.pool.query(`INSERT INTO p_item (id, note) SELECT i, 'row ' || i FROM unnest($1::bigint[]) i`, [ids]);
    const before = reader.messages.length;
    await reader.waitFor(() => reader.messages.slice(before).some((m) => m.envelope.notification.Inserted.length === ids.length), 20_000, 'the 3,000-row insert');
    const message = reader.messages.slice(before).find((m) => m.envelope.notification.Inserted.length === ids.length)!;
    // In no particular order: a notification's rows are a set (the diff groups them by hash slot).
    expect(message.envelope.notification.Inserted.map((r) => Number(r.ID)).sort((a, b) => a - b)).toEqual(ids);
    await ctx.pool.query('DELETE FROM p_item WHERE id >= 10000');
  });

  it('the relay sends the payloads handed to it as they were handed, reads the others, and keeps none it has sent', async () => {
    const ids = ['0b6c2f3e-0000-4000-8000-000000000011', '0b6c2f3e-0000-4000-8000-000000000012'];
    const payloadOf = (id: string) =>
      `{"notification":{"Inserted":[{"ID":1}],"Deleted":[],"Query":"Items","CompanyId":"Company","Id":"${id}","TimeStamp":1,"AdditionalInfo":{}},"timeStamp":"1","keys":{"Inserted":[["1"]],"Deleted":[]},"lsn":"0/0"}`;
    const schema = `${ctx.names.stateSchema}_handed`;
    await ensureOutbox(ctx.pool, schema);
    await insertOutbox(ctx.pool, schema, ids.map((id) => ({ inquiry: 'Items', notificationId: id, payload: payloadOf(id) })));
    const seqs = (await ctx.pool.query<{ seq: string }>(`SELECT seq::text FROM ${outboxTable(schema)} ORDER BY seq`)).rows.map((r) => r.seq);
    const published: string[] = [];
    const recording: Broker = {
      ...capture.broker,
      publish: async (queue, messages) => {
        published.push(...messages.map((m) => m.body.toString('utf8')));
        await capture.broker.publish(queue, messages);
      },
    };
    const relay = new OutboxRelay(ctx.pool, recording, schema, ctx.names.primaryQueue, rootLogger);
    // Marked, to tell which was sent: capture hands over exactly the stored bytes.
    const handed = `${payloadOf(ids[0]!)} `;
    relay.offer([{ seq: seqs[0]!, inquiry: 'Items', notificationId: ids[0]!, body: Buffer.from(handed) }]);
    expect(await relay.drainOnce()).toBe(2);
    expect(published).toEqual([handed, payloadOf(ids[1]!)]);
    // A payload handed over for a row a round already read comes too late, and is never sent.
    relay.offer([{ seq: seqs[1]!, inquiry: 'Items', notificationId: ids[1]!, body: Buffer.from('stale') }]);
    await insertOutbox(ctx.pool, schema, [{ inquiry: 'Items', notificationId: ids[1]!, payload: payloadOf(ids[1]!) }]);
    expect(await relay.drainOnce()).toBe(1);
    expect(published).toEqual([handed, payloadOf(ids[1]!), payloadOf(ids[1]!)]);
  });

  it('the relay takes the rows handed over without reading the outbox once it found it sent to its end, and reads again after a row that was not', async () => {
    const id = (n: number) => `0b6c2f3e-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
    const payloadOf = (n: number) =>
      `{"notification":{"Inserted":[{"ID":${n}}],"Deleted":[],"Query":"Items","CompanyId":"Company","Id":"${id(n)}","TimeStamp":1,"AdditionalInfo":{}},"timeStamp":"1","keys":{"Inserted":[["1"]],"Deleted":[]},"lsn":"0/0"}`;
    const schema = `${ctx.names.stateSchema}_complete`;
    await ensureOutbox(ctx.pool, schema);
    const commit = async (n: number) => {
      await insertOutbox(ctx.pool, schema, [{ inquiry: 'Items', notificationId: id(n), payload: payloadOf(n) }]);
      return (await ctx.pool.query<{ seq: string }>(`SELECT max(seq)::text AS seq FROM ${outboxTable(schema)}`)).rows[0]!.seq;
    };
    const published: string[] = [];
    const recording: Broker = {
      ...capture.broker,
      publish: async (queue, messages) => {
        published.push(...messages.map((m) => m.messageId ?? ''));
        await capture.broker.publish(queue, messages);
      },
    };
    const relay = new OutboxRelay(ctx.pool, recording, schema, ctx.names.primaryQueue, rootLogger);
    const hand = (seq: string, n: number, body: Buffer | null = Buffer.from(payloadOf(n))) => relay.offer([{ seq, inquiry: 'Items', notificationId: id(n), body }]);

    // Before any read found the outbox sent to its end, it is read: row 1 was never handed over.
    await commit(1);
    hand(await commit(2), 2);
    expect(await relay.drainOnce()).toBe(2);
    // Found sent to its end: a handed row is sent as it was handed, without a read (which would give
    // the Id the outbox holds for it, not the one handed over).
    hand(await commit(3), 4);
    expect(await relay.drainOnce()).toBe(1);
    expect(published).toEqual([id(1), id(2), id(4)]);
    await ctx.pool.query(`DELETE FROM ${outboxTable(schema)}`);
    published.length = 0;

    // A row committed without its payload handed over (a batch too big to hand over): read again,
    // in order, before the handed row after it.
    const tooBig = await commit(5);
    hand(tooBig, 5, null);
    hand(await commit(6), 6);
    expect(await relay.drainOnce()).toBe(2);
    expect(published).toEqual([id(5), id(6)]);
    // A restart of capture, or a resync, may have left rows no one handed over.
    await commit(7);
    relay.expectUnhanded();
    hand(await commit(8), 8);
    expect(await relay.drainOnce()).toBe(2);
    expect(published).toEqual([id(5), id(6), id(7), id(8)]);
  });

  it('the relay sends rounds of big rows in order, reading ahead, and deletes every confirmed row', async () => {
    const ids = ['0b6c2f3e-0000-4000-8000-000000000001', '0b6c2f3e-0000-4000-8000-000000000002', '0b6c2f3e-0000-4000-8000-000000000003'];
    // 5 MiB each: a round takes rows starting within its first 4 MiB, so one row per round.
    const big = 'x'.repeat(5 * 1024 * 1024);
    const payloadOf = (id: string) =>
      `{"notification":{"Inserted":[{"ID":"${big}"}],"Deleted":[],"Query":"Items","CompanyId":"Company","Id":"${id}","TimeStamp":1,"AdditionalInfo":{}},"timeStamp":"1","keys":{"Inserted":[["1"]],"Deleted":[]},"lsn":"0/0"}`;
    // An outbox of its own: the engine's relay would send these rows too (two relays are at least once).
    const schema = `${ctx.names.stateSchema}_relay`;
    await ensureOutbox(ctx.pool, schema);
    await insertOutbox(ctx.pool, schema, ids.map((id) => ({ inquiry: 'Items', notificationId: id, payload: payloadOf(id) })));
    const published: string[][] = [];
    const recording: Broker = {
      ...capture.broker,
      publish: async (queue, messages) => {
        published.push(messages.map((m) => m.messageId ?? ''));
        await capture.broker.publish(queue, messages);
      },
    };
    const sent = await new OutboxRelay(ctx.pool, recording, schema, ctx.names.primaryQueue, rootLogger).drainOnce();
    await reader.waitFor(() => ids.every((id) => reader.messages.some((m) => m.messageId === id)), 20_000, 'the three big rows');
    expect(published).toEqual(ids.map((id) => [id]));
    expect(sent).toBe(3);
    const order = reader.messages.map((m) => m.messageId ?? '').filter((id) => ids.includes(id));
    expect(order).toEqual(ids);
    const left = await ctx.pool.query(`SELECT count(*)::int AS n FROM ${outboxTable(schema)}`);
    expect(left.rows[0].n).toBe(0);
  });
});
