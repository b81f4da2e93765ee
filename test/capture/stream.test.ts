import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/capture/changes.ts';
import { parseLsn } from '../../src/capture/lsn.ts';
import { ReplicationStream } from '../../src/capture/stream.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * The replication stream against a real walsender: what capture needs of it — transactions with
 * their keys and commit LSNs, barriers with their token and LSN, and the keepalive a ping asks for.
 */
const ctx = useTestContext('stream', { sample: false });
const slot = () => `pushcdc_${ctx.instance}_stream`;
const prefix = () => `pushcdc_${ctx.instance}_barrier`;

const logger = pino({ level: 'silent' });
const events: StreamEvent[] = [];
const errors: Error[] = [];
let stream: ReplicationStream;

async function until<T>(find: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  await ctx.pool.query(`
    CREATE TABLE s_item (id int, part text, note text, PRIMARY KEY (part, id));
    CREATE PUBLICATION stream_pub FOR TABLE s_item;
  `);
  await ctx.pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot()]);
  stream = new ReplicationStream(
    {
      connectionString: ctx.db.url,
      slot: slot(),
      publication: 'stream_pub',
      barrierPrefix: prefix(),
      keyColumns: new Map([['public.s_item', ['part', 'id']]]),
    },
    (event) => events.push(event),
    (err) => errors.push(err),
    logger,
  );
  await stream.start();
});

// The slot goes with the test database: its teardown waits out (or ends) the walsender, which can
// still hold the slot for a moment after the stream's socket closes (a drop right here failed in CI).
afterAll(async () => {
  await stream?.stop();
});

describe('the replication stream', () => {
  it('brings a transaction as begin, its keys and commit, with the commit LSN the server reports', async () => {
    const client = await ctx.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO s_item VALUES (1, 'a', 'x'), (2, 'b', 'y')`);
      await client.query(`UPDATE s_item SET note = 'z' WHERE id = 1`);
      const { rows } = await client.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
      await client.query('COMMIT');
      const xid = Number(rows[0]!.xid);
      const begin = await until(() => events.find((e) => e.kind === 'begin' && e.xid === xid), 'the begin');
      const from = events.indexOf(begin);
      const commit = await until(() => events.slice(from).find((e) => e.kind === 'commit'), 'the commit');
      const between = events.slice(from + 1, events.indexOf(commit));
      expect(between).toEqual([
        { kind: 'row', table: 'public.s_item', keys: [['a', '1']] },
        { kind: 'row', table: 'public.s_item', keys: [['b', '2']] },
        { kind: 'row', table: 'public.s_item', keys: [['a', '1']] },
      ]);
      if (begin.kind !== 'begin' || commit.kind !== 'commit') throw new Error('unreachable');
      expect(begin.commitLsn).toBe(commit.commitLsn);
      expect(commit.commitEndLsn).toBeGreaterThan(commit.commitLsn);
    } finally {
      client.release();
    }
    expect(errors).toEqual([]);
  });

  it('brings a barrier with its token, at the LSN its write returned', async () => {
    const { rows } = await ctx.pool.query<{ lsn: string }>('SELECT pg_logical_emit_message(false, $1, $2)::text AS lsn', [prefix(), 'token-1']);
    const barrier = await until(() => events.find((e) => e.kind === 'barrier'), 'the barrier');
    if (barrier.kind !== 'barrier') throw new Error('unreachable');
    expect(barrier.token).toBe('token-1');
    expect(barrier.lsn).toBe(parseLsn(rows[0]!.lsn));
  });

  it('reads nothing while held, then every transaction written meanwhile, in order, once released', async () => {
    stream.pause();
    // Past any pause after a read (see ReadPacing), whose end must not undo the hold.
    await new Promise((r) => setTimeout(r, 20));
    const seen = events.length;
    for (let tx = 0; tx < 40; tx++) {
      const values = Array.from({ length: 10 }, (_, i) => `(${1000 + tx * 10 + i}, 'h', 'burst')`).join(', ');
      await ctx.pool.query(`INSERT INTO s_item VALUES ${values}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(events.slice(seen).filter((e) => e.kind === 'row')).toEqual([]);
    stream.resume();
    const rows = () => events.slice(seen).filter((e) => e.kind === 'row');
    await until(() => (rows().length >= 400 ? true : undefined), 'the rows written while held');
    expect(rows().map((e) => (e.kind === 'row' ? Number(e.keys[0]![1]) : 0))).toEqual(Array.from({ length: 400 }, (_, i) => 1000 + i));
    expect(events.slice(seen).filter((e) => e.kind === 'commit')).toHaveLength(40);
    expect(errors).toEqual([]);
  });

  it('brings the keepalive a ping asks for, with the server’s WAL position', async () => {
    const confirmed = parseLsn((await ctx.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
    const answer = async () => {
      const seen = events.length;
      await stream.ping(confirmed);
      const heartbeat = await until(() => events.slice(seen).find((e) => e.kind === 'heartbeat'), 'a keepalive');
      if (heartbeat.kind !== 'heartbeat') throw new Error('unreachable');
      return heartbeat;
    };
    // A keepalive brings the position the walsender has read to: while other tests write elsewhere in
    // the cluster (it reads all of the WAL), or one sent before the ping is still on its way, that can
    // fall short of `confirmed` for a moment. Each ping is answered; ask again until one gets there.
    const deadline = Date.now() + 10_000;
    let heartbeat = await answer();
    while (heartbeat.lsn < confirmed && Date.now() < deadline) heartbeat = await answer();
    expect(heartbeat.lsn).toBeGreaterThanOrEqual(confirmed);
    expect(errors).toEqual([]);
  });
});
