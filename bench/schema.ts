import type { Pool } from '../src/db/pool.ts';

/**
 * The benchmark's tables: customers, one order each, one line each (1:1:1 so the join inquiry has
 * exactly one result row per root). Every table has a `seq` column the workload writes, so a
 * notification row tells which transaction it reflects.
 */
export const INQUIRIES = {
  single: 'SELECT c.id, c.name, c.region, c.score, c.seq FROM bench_customer c',
  join: `SELECT c.id, c.name, c.seq AS c_seq, o.id AS order_id, o.amount, o.seq AS o_seq, l.id AS line_id, l.qty, l.seq AS l_seq
           FROM bench_customer c
           LEFT JOIN bench_order o ON o.customer_id = c.id
           LEFT JOIN bench_line l ON l.order_id = o.id`,
} as const;
export type InquiryKind = keyof typeof INQUIRIES;

export async function loadTables(pool: Pool, rows: number): Promise<void> {
  await pool.query(`
    DROP TABLE IF EXISTS bench_line, bench_order, bench_customer;
    CREATE TABLE bench_customer (id int PRIMARY KEY, name text, region text, score int, seq bigint NOT NULL DEFAULT 0);
    CREATE TABLE bench_order (id int PRIMARY KEY, customer_id int, amount numeric(12,2), seq bigint NOT NULL DEFAULT 0);
    CREATE TABLE bench_line (id int PRIMARY KEY, order_id int, qty int, seq bigint NOT NULL DEFAULT 0);
  `);
  await pool.query(`INSERT INTO bench_customer SELECT g, 'customer ' || g, (ARRAY['north','south','east','west'])[1 + g % 4], g % 1000, 0 FROM generate_series(1, $1) g`, [rows]);
  await pool.query(`INSERT INTO bench_order SELECT g, g, (g % 10000) / 100.0, 0 FROM generate_series(1, $1) g`, [rows]);
  await pool.query(`INSERT INTO bench_line SELECT g, g, g % 10, 0 FROM generate_series(1, $1) g`, [rows]);
  await pool.query('CREATE INDEX ON bench_order (customer_id); CREATE INDEX ON bench_line (order_id)');
  await pool.query('VACUUM ANALYZE bench_customer, bench_order, bench_line');
}
