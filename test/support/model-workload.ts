/**
 * The model workload shared by the model-based and crash tests: three joined tables without foreign
 * keys (so joins dangle and reattach), five inquiries that cover left chains, inner joins with a
 * filter on the joined table, an anti-join, a composite-key root, a self join and duplicate result
 * rows, and a seeded generator of random statements (key and join-key updates included).
 */
export const MODEL_SCHEMA = `
    CREATE TABLE m_customer (id int PRIMARY KEY, name text, region text, active boolean, parent_id int);
    CREATE TABLE m_order (kind char(1), nbr int, customer_id int, amount numeric(12,2), status text, PRIMARY KEY (kind, nbr));
    CREATE INDEX ON m_order (customer_id);
    CREATE TABLE m_line (kind char(1), nbr int, line int, item text, qty int, PRIMARY KEY (kind, nbr, line));
    CREATE INDEX ON m_customer (parent_id);
`;

export const INQUIRIES: Record<string, string> = {
  // Left chain, root-only WHERE: the result view alone finds every affected row.
  LeftChain: `SELECT c.id AS cid, c.name, o.nbr, o.amount, l.item, l.qty
      FROM m_customer c
      LEFT JOIN m_order o ON o.customer_id = c.id
      LEFT JOIN m_line l ON l.kind = o.kind AND l.nbr = o.nbr
      WHERE c.active`,
  // Inner join and a filter on the joined table: the support view is needed.
  InnerFiltered: `SELECT o.kind, o.nbr, c.name, o.status, o.amount
      FROM m_order o
      JOIN m_customer c ON c.id = o.customer_id
      WHERE o.status <> 'void' AND c.region = 'north'`,
  // Anti-join: a row leaves the result when a row appears that is not in the result.
  NoOpenOrders: `SELECT c.id, c.name
      FROM m_customer c
      LEFT JOIN m_order o ON o.customer_id = c.id AND o.status = 'open'
      WHERE o.nbr IS NULL`,
  // Root with a composite key, inner then left join.
  Lines: `SELECT l.kind, l.nbr, l.line, l.qty, o.amount, c.name AS customer
      FROM m_line l
      JOIN m_order o ON o.kind = l.kind AND o.nbr = l.nbr
      LEFT JOIN m_customer c ON c.id = o.customer_id`,
  // Every key is a result column: equal rows are the same view row, so nothing needs cancelling.
  AllKeys: `SELECT c.id, c.name, o.kind, o.nbr, o.status, l.kind AS line_kind, l.nbr AS line_nbr, L.line, l.qty
      FROM m_customer c
      LEFT JOIN m_order o ON o.customer_id = c.id
      LEFT JOIN m_line l ON l.kind = o.kind AND l.nbr = o.nbr`,
  // Identical result rows (a multiset) and a self join.
  Regions: `SELECT c.region, p.region AS parent_region
      FROM m_customer c
      LEFT JOIN m_customer p ON p.id = c.parent_id
      LEFT JOIN m_order o ON o.customer_id = c.id`,
  // One table: a root's key is its row's identity (the keyed comparison); rows enter and leave by filter.
  NorthCustomers: `SELECT c.id, c.name, c.region FROM m_customer c WHERE c.region = 'north' AND c.active`,
  // One table with a composite key, its rows not showing it: equal rows of different roots.
  OrderAmounts: `SELECT o.status, o.amount FROM m_order o WHERE o.status <> 'void'`,
};

/** Small deterministic PRNG (mulberry32): a failing seed reproduces. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomStatement(rand: () => number): string {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T,>(xs: T[]) => xs[int(xs.length)]!;
  const cid = () => 1 + int(30);
  const kind = () => pick(["'A'", "'B'"]);
  const nbr = () => 1 + int(25);
  const name = () => pick(["'ann'", "'bob'", "'cy'", "'dee'", 'NULL']);
  const region = () => pick(["'north'", "'south'", "'north'", 'NULL']);
  const status = () => pick(["'open'", "'closed'", "'void'", "'open'"]);
  switch (int(16)) {
    case 0:
    case 1:
      return `INSERT INTO m_customer VALUES (${cid()}, ${name()}, ${region()}, ${pick(['true', 'false', 'true'])}, ${pick([String(cid()), 'NULL'])}) ON CONFLICT DO NOTHING`;
    case 2:
      return `UPDATE m_customer SET name = ${name()}, region = ${region()} WHERE id = ${cid()}`;
    case 3:
      return `UPDATE m_customer SET active = NOT active, parent_id = ${pick([String(cid()), 'NULL'])} WHERE id = ${cid()}`;
    case 4: {
      // A key update onto a free key (a taken one would fail the whole transaction).
      const to = cid();
      return `UPDATE m_customer SET id = ${to} WHERE id = ${cid()} AND NOT EXISTS (SELECT 1 FROM m_customer WHERE id = ${to})`;
    }
    case 5:
      return `DELETE FROM m_customer WHERE id = ${cid()}`;
    case 6:
    case 7:
      return `INSERT INTO m_order VALUES (${kind()}, ${nbr()}, ${1 + int(34)}, ${(rand() * 1000).toFixed(2)}, ${status()}) ON CONFLICT DO NOTHING`;
    case 8:
      return `UPDATE m_order SET status = ${status()}, amount = amount + 1 WHERE kind = ${kind()} AND nbr = ${nbr()}`;
    case 9:
      return `UPDATE m_order SET customer_id = ${1 + int(34)} WHERE kind = ${kind()} AND nbr = ${nbr()}`;
    case 10: {
      const to = nbr();
      return `UPDATE m_order SET nbr = ${to} WHERE kind = ${kind()} AND nbr = ${nbr()} AND NOT EXISTS (SELECT 1 FROM m_order x WHERE x.nbr = ${to})`;
    }
    case 11:
      return `DELETE FROM m_order WHERE kind = ${kind()} AND nbr = ${nbr()}`;
    case 12:
    case 13:
      return `INSERT INTO m_line VALUES (${kind()}, ${nbr()}, ${1 + int(3)}, ${pick(["'x'", "'y'", 'NULL'])}, ${int(9)}) ON CONFLICT DO NOTHING`;
    case 14: {
      const to = nbr();
      return `UPDATE m_line SET qty = qty + 1, nbr = ${to} WHERE kind = ${kind()} AND nbr = ${nbr()} AND line = ${1 + int(3)} AND NOT EXISTS (SELECT 1 FROM m_line WHERE nbr = ${to})`;
    }
    default:
      return `DELETE FROM m_line WHERE kind = ${kind()} AND nbr = ${nbr()}`;
  }
}

