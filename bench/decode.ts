import { LogicalReplicationService } from 'pg-logical-replication';
import { KeyOnlyPgoutputPlugin } from '../src/capture/pgoutput-keys.ts';
import { ReadPacing } from '../src/capture/read-pacing.ts';
import { replicationSocket } from '../src/capture/stream.ts';
import type { Pool } from '../src/db/pool.ts';

/**
 * The ceiling: how fast this machine decodes the workload's WAL at all. A slot of its own sees the
 * workload, then the backlog is streamed and thrown away, and acknowledged once at the end. A reply
 * per commit (2,000 per backlog) is a status update the walsender must process between sends, and it
 * cost the decode a third of its rate (one backlog, slots alternating: 100k-119k changes/s replying
 * per commit, 153k-163k replying once); pushcdc replies once per batch.
 */
export async function createDecodeSlot(pool: Pool, name: string): Promise<void> {
  await pool.query(`DROP PUBLICATION IF EXISTS ${name}`);
  await pool.query(`CREATE PUBLICATION ${name} FOR TABLE bench_customer, bench_order, bench_line`);
  await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
}

export async function dropDecodeSlot(pool: Pool, name: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      await pool.query(`SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1`, [name]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100)); // still active for a moment after the stream stops
    }
  }
  await pool.query(`DROP PUBLICATION IF EXISTS ${name}`);
}

/**
 * The ceiling reads the stream as pushcdc does, keys only (see KeyOnlyPgoutputPlugin), and does
 * nothing with it. Through the library's parser, which decodes every column of every row, the ceiling
 * was partly the parser's pace, and pushcdc, which no longer uses it, could outrun it (ten decodes of
 * 20,000 row updates each way, interleaved: medians 191 ms through the library's parser, 145 ms
 * keys-only, and 201 ms reading nothing but each message's tag, so reading less is not always faster).
 */
const BENCH_KEYS = new Map(['bench_customer', 'bench_order', 'bench_line'].map((table) => [`public.${table}`, ['id']]));

/** Streams the slot's backlog until `transactions` commits arrived; returns changes/s. */
export async function decodeBacklog(databaseUrl: string, name: string, transactions: number, changes: number): Promise<number> {
  const service = new LogicalReplicationService(
    { connectionString: databaseUrl },
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
  );
  let commits = 0;
  let started = 0;
  let lastLsn = '';
  const done = new Promise<number>((resolve, reject) => {
    service.on('error', reject);
    service.on('data', (lsn: string, message: { tag: string }) => {
      if (started === 0) started = performance.now();
      if (message.tag === 'commit') {
        commits++;
        lastLsn = lsn;
        if (commits >= transactions) resolve(performance.now());
      }
    });
  });
  // Read as pushcdc reads (see ReadPacing): read message by message, the reader held the walsender back.
  const reading: { pacing: ReadPacing | null } = { pacing: null };
  service.once('start', () => {
    const socket = replicationSocket(service);
    if (socket) reading.pacing = new ReadPacing(socket);
  });
  void service.subscribe(new KeyOnlyPgoutputPlugin({ protoVersion: 1, publicationNames: [name] }, BENCH_KEYS), name).catch(() => undefined);
  const finished = await done;
  reading.pacing?.stop();
  await service.acknowledge(lastLsn);
  await service.destroy();
  return changes / ((finished - started) / 1000);
}
