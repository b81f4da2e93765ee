import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressPageImages } from '../../src/db/wal-compression.ts';
import { createTestDatabase, type TestDatabase } from '../support/isolation.ts';

/**
 * The diff sessions rewrite state rows spread over big tables; after a checkpoint each first write to
 * a page logs the whole page. Their page images go to the WAL compressed where the session may choose.
 * Measured per statement (EXPLAIN's WAL figures are the session's own, whatever else runs).
 */
let db: TestDatabase;
const role = `pushcdc_t_walc_${randomBytes(4).toString('hex')}`;
const clients: pg.Client[] = [];

async function session(options: { user?: string; settings?: string } = {}): Promise<pg.Client> {
  const url = new URL(db.url);
  if (options.user) url.username = options.user;
  const client = new pg.Client({ connectionString: url.toString(), options: options.settings });
  clients.push(client);
  await client.connect();
  return client;
}

interface WalUse {
  fpi: number;
  bytes: number;
}

/**
 * Right after a checkpoint, rewrites one row in 50 (about one per page, as a diff's rows spread over a
 * big state): nearly all of the WAL is page images.
 */
async function rewriteAfterCheckpoint(client: pg.Client, parity: number): Promise<WalUse> {
  await client.query('CHECKPOINT');
  const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'WAL FPI': number; 'WAL Bytes': number } }] }>(
    `EXPLAIN (ANALYZE, WAL, FORMAT JSON) UPDATE state_like SET row = row || ' ' WHERE id % 50 = ${parity}`,
  );
  const plan = rows[0]!['QUERY PLAN'][0].Plan;
  return { fpi: plan['WAL FPI'], bytes: plan['WAL Bytes'] };
}

beforeAll(async () => {
  db = await createTestDatabase('wal-compression');
  const admin = await session();
  // State-like rows: a key and the result row's JSON, 80% full pages.
  await admin.query(`CREATE TABLE state_like (id int PRIMARY KEY, row text) WITH (fillfactor = 80)`);
  await admin.query(
    `INSERT INTO state_like SELECT g, '{"id":' || g || ',"name":"customer ' || g || '","region":"north","score":' || g % 1000 || ',"seq":0}'
       FROM generate_series(1, 20000) g`,
  );
  await admin.query(`CREATE ROLE "${role}" LOGIN`);
  // As if the server's setting were off, which a plain role may not change.
  await admin.query(`ALTER ROLE "${role}" SET wal_compression = off`);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end()));
  await db?.drop();
  const admin = new pg.Client({ connectionString: new URL('/postgres', db.url).toString() });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS "${role}"`);
  await admin.end();
});

describe('page images of the diff sessions', () => {
  it('are compressed with lz4 where the server leaves them uncompressed: under 40% of the WAL', async () => {
    const plain = await session({ settings: '-c wal_compression=off' });
    const compressing = await session({ settings: '-c wal_compression=off' });
    expect(await compressPageImages(compressing)).toEqual({ setting: 'lz4' });
    expect((await compressing.query('SHOW wal_compression')).rows[0]).toEqual({ wal_compression: 'lz4' });

    const uncompressed = await rewriteAfterCheckpoint(plain, 0);
    const compressed = await rewriteAfterCheckpoint(compressing, 1);
    // Both wrote nearly every page whole (20,000 rows of about 90 bytes fill some 300 pages).
    expect(uncompressed.fpi).toBeGreaterThan(200);
    expect(compressed.fpi).toBeGreaterThan(200);
    // Measured: 2.26 MB → 0.66 MB.
    expect(compressed.bytes).toBeLessThan(uncompressed.bytes * 0.4);
  });

  it('keep a compression the DBA chose', async () => {
    const client = await session({ settings: '-c wal_compression=pglz' });
    expect(await compressPageImages(client)).toEqual({ setting: 'pglz' });
    expect((await client.query('SHOW wal_compression')).rows[0]).toEqual({ wal_compression: 'pglz' });
  });

  it('stay as the server writes them for a role that may not change the setting, which is told why', async () => {
    const client = await session({ user: role });
    const result = await compressPageImages(client);
    expect(result.setting).toBe('off');
    expect(result.refused).toMatch(/permission denied.*wal_compression/);
    // The session is still usable.
    expect((await client.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
  });
});
