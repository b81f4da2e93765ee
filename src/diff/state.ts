import { inTransaction, quoteIdent, quoteLiteral, quoteTable, type Pool } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import { freshSql, type InquiryPlan } from './plan.ts';

/**
 * Stored state per inquiry: its life cycle. Pages keep free space (see BUILD_FILLFACTOR): a diff
 * rewrites `__row`, which no index covers, so the update can stay on its page (HOT) without
 * touching the indexes. A new inquiry starts from its current rows (no
 * notification); a changed definition rebuilds; a removed one is dropped. The registry records which
 * definition each state was built from. Building reads in chunks of root keys inside one snapshot,
 * each chunk committed on its own (see BUILD_TRANSACTION_BYTES), so writers are never blocked and
 * progress is visible; indexes and statistics come after the bulk load (without statistics the
 * planner scans the whole state on every batch).
 */

/**
 * A state is built with its pages this full, then keeps STEADY_FILLFACTOR for the rows added later.
 * PostgreSQL prunes a page (a WAL record, and its tuples moved together) whenever a read finds its
 * free space below the table's fillfactor reserve (10% at least) and a dead row on it. Built at the
 * same fillfactor it keeps, every page is at that mark after its first rewrite, so a diff pruned
 * about one page per row it rewrote — a WAL record for the walsender to read and discard beside each
 * HOT update. Built emptier than the reserve, a page takes about fifteen rewrites (of 150-byte rows)
 * before its first prune. Measured, batches of 20,000 roots of a million-row state, two states side
 * by side: 8,300-11,800 prune records a batch beside its 20,000 updates → about 100, the diff
 * session's CPU 250 → 230 ms (medians of 16); the state's files are 1.3× larger (134 → 180 MB).
 */
const BUILD_FILLFACTOR = 60;
const STEADY_FILLFACTOR = 90;

/** Roots per chunk at most, and how often progress is logged. */
const BUILD_CHUNK_ROOTS = 50_000;

export async function ensureStateSchema(pool: Pool, stateSchema: string): Promise<void> {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(stateSchema)}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${quoteIdent(stateSchema)}.inquiries (
       name text PRIMARY KEY,
       definition_hash text NOT NULL,
       state_rows bigint NOT NULL,
       built_at timestamptz NOT NULL DEFAULT now())`,
  );
}

export interface StateSync {
  built: string[];
  kept: string[];
  dropped: string[];
}

/** Brings the stored states in line with the compiled inquiries. */
export async function syncStates(pool: Pool, stateSchema: string, plans: InquiryPlan[], logger: Logger): Promise<StateSync> {
  await ensureStateSchema(pool, stateSchema);
  const registry = new Map(
    (
      await pool.query<{ name: string; definition_hash: string; present: boolean }>(
        `SELECT name, definition_hash, to_regclass(quote_ident($1) || '.' || quote_ident('state:' || name)) IS NOT NULL AS present
           FROM ${quoteIdent(stateSchema)}.inquiries`,
        [stateSchema],
      )
    ).rows.map((r) => [r.name, r]),
  );
  const result: StateSync = { built: [], kept: [], dropped: [] };
  for (const plan of plans) {
    const known = registry.get(plan.inquiry.name);
    if (known && known.present && known.definition_hash === plan.inquiry.definitionHash) {
      result.kept.push(plan.inquiry.name);
      continue;
    }
    await buildState(pool, stateSchema, plan, logger.child({ inquiry: plan.inquiry.name }));
    result.built.push(plan.inquiry.name);
  }
  const wanted = new Set(plans.map((p) => p.inquiry.name));
  for (const name of registry.keys()) {
    if (wanted.has(name)) continue;
    await pool.query(`DROP TABLE IF EXISTS ${quoteIdent(stateSchema)}.${quoteIdent(`state:${name}`)}`);
    await pool.query(`DELETE FROM ${quoteIdent(stateSchema)}.inquiries WHERE name = $1`, [name]);
    logger.info({ inquiry: name }, 'inquiry removed: dropped its state');
    result.dropped.push(name);
  }
  return result;
}

/**
 * Each chunk of a build commits on its own, holding about this many bytes: the walsender decodes every
 * transaction, this build's too (though no publication lists the state), and one it cannot hold in
 * logical_decoding_work_mem (64 MB by default) it spills to disk and reads back. Measured, 300,000 state
 * rows: decoded in 1.97 s as one transaction (68 MB spilled), 0.21 s as six. A million-row build in one
 * transaction left capture 9-10 s behind its end, and ~300 MB of spill files for the kernel to write.
 */
const BUILD_TRANSACTION_BYTES = 16 * 1024 * 1024;
/** What the walsender holds per decoded row beyond its `__row` text (change and tuple headers, keys). */
const DECODED_ROW_OVERHEAD_BYTES = 200;
const MIN_CHUNK_ROOTS = 1_000;

export interface BuildOptions {
  /** See BUILD_TRANSACTION_BYTES; smaller in tests, to see a build in several transactions. */
  transactionBytes?: number;
}

export async function buildState(pool: Pool, stateSchema: string, plan: InquiryPlan, logger: Logger, options: BuildOptions = {}): Promise<number> {
  const transactionBytes = options.transactionBytes ?? BUILD_TRANSACTION_BYTES;
  const root = plan.inquiry.tables[0]!.info;
  const rootTable = quoteTable(root);
  const pk = root.keyColumns.map((k) => quoteIdent(k.name)).join(', ');
  const n = plan.rootHidden.length;
  const typed = (first: number) => plan.rootHidden.map((h, i) => `$${first + i}::text::${h.type}`).join(', ');
  const tuple = (x: string) => `(${plan.rootHidden.map((h) => `${x}.${quoteIdent(h.name)}`).join(', ')})`;
  const columns = plan.hidden.map((h) => quoteIdent(h.name));
  const registry = `${quoteIdent(stateSchema)}.inquiries`;
  const started = Date.now();
  // Start over, at once: a build cut short (a crash between its chunks) leaves a state with no
  // registry row, which the next start builds again.
  await inTransaction(pool, async (client) => {
    await client.query(`DROP TABLE IF EXISTS ${plan.stateTable}`);
    await client.query(
      `CREATE TABLE ${plan.stateTable} (${plan.hidden
        .map((h) => `${quoteIdent(h.name)} ${h.type}${h.alias === plan.rootHidden[0]!.alias ? ' NOT NULL' : ''}`)
        .join(', ')}, __visible boolean NOT NULL, __row text) WITH (fillfactor = ${BUILD_FILLFACTOR})`,
    );
    await client.query(`DELETE FROM ${registry} WHERE name = $1`, [plan.inquiry.name]);
  });
  // One snapshot for the whole build: the state is the result at one instant, and changes after it
  // arrive through the slot (created before this build started). `reader` holds it open; each chunk
  // is written in a transaction of its own that imports it (see BUILD_TRANSACTION_BYTES).
  let rows = 0;
  const reader = await pool.connect();
  try {
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const snapshot = (await reader.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const estimate = Number(
      (await reader.query<{ n: string }>('SELECT greatest(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = $1', [root.oid])).rows[0]?.n ?? 0,
    );
    let last: string[] | null = null;
    let roots = 0;
    let chunkRoots = MIN_CHUNK_ROOTS;
    let loggedAt = 0;
    for (;;) {
      const boundary: { rows: Record<string, string>[] } = await reader.query(
        `SELECT ${root.keyColumns.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(', ')} FROM ${rootTable}
          ${last ? `WHERE (${pk}) > (${typed(1)})` : ''} ORDER BY ${pk} OFFSET ${chunkRoots - 1} LIMIT 1`,
        last ?? [],
      );
      const upper = boundary.rows[0] ? plan.rootHidden.map((_, i) => boundary.rows[0]![`k${i}`]!) : null;
      const lower = last;
      const filter = (x: string) =>
        [lower ? `${tuple(x)} > (${typed(1)})` : null, upper ? `${tuple(x)} <= (${typed(lower ? n + 1 : 1)})` : null]
          .filter(Boolean)
          .join(' AND ') || 'true';
      // Up to `upper`, the chunk holds exactly this many roots (the boundary is the last of them).
      const taken = chunkRoots;
      const added = await inTransaction(
        pool,
        async (writer) => {
          await writer.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
          const { rows: sums } = await writer.query<{ rows: string; bytes: string }>(
            `WITH added AS (
               INSERT INTO ${plan.stateTable} (${columns.join(', ')}, __visible, __row)
               SELECT ${columns.join(', ')}, __visible, __row FROM (${freshSql(plan, filter)}) f
               RETURNING octet_length(__row) AS bytes)
             SELECT count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM added`,
            [...(lower ?? []), ...(upper ?? [])],
          );
          return { rows: Number(sums[0]!.rows), bytes: Number(sums[0]!.bytes) };
        },
        'BEGIN ISOLATION LEVEL REPEATABLE READ',
      );
      rows += added.rows;
      // The next chunk sized on this one: rows per root and bytes per row vary with the inquiry.
      const bytesPerRoot = (added.bytes + added.rows * DECODED_ROW_OVERHEAD_BYTES) / taken;
      chunkRoots = Math.max(MIN_CHUNK_ROOTS, Math.min(BUILD_CHUNK_ROOTS, Math.floor(transactionBytes / Math.max(1, bytesPerRoot))));
      if (!upper) break;
      roots += taken;
      last = upper;
      if (roots - loggedAt >= BUILD_CHUNK_ROOTS) {
        loggedAt = roots;
        logger.info({ roots, estimate }, `building state: ${roots} of about ${estimate} root rows`);
      }
    }
  } finally {
    await reader.query('ROLLBACK').catch(() => undefined);
    reader.release();
  }
  await inTransaction(pool, async (client) => {
    await client.query(`ALTER TABLE ${plan.stateTable} SET (fillfactor = ${STEADY_FILLFACTOR})`);
    const rootIndexColumns = plan.rootHidden.map((h) => quoteIdent(h.name)).join(', ');
    await client.query(`CREATE INDEX ON ${plan.stateTable} (${rootIndexColumns})`);
    for (const t of plan.inquiry.tables.slice(1)) {
      const cols = plan.hidden.filter((h) => h.alias === t.alias).map((h) => quoteIdent(h.name));
      await client.query(`CREATE INDEX ON ${plan.stateTable} (${cols.join(', ')}) WHERE ${cols[0]} IS NOT NULL`);
    }
    await client.query(
      `INSERT INTO ${registry} (name, definition_hash, state_rows) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET definition_hash = EXCLUDED.definition_hash, state_rows = EXCLUDED.state_rows, built_at = now()`,
      [plan.inquiry.name, plan.inquiry.definitionHash, rows],
    );
  });
  await pool.query(`ANALYZE ${plan.stateTable}`);
  logger.info({ rows, ms: Date.now() - started }, 'state built from the current rows (no notification)');
  return rows;
}
