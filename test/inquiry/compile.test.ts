import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatProblem } from '../../src/errors.ts';
import { loadInquiries } from '../../src/inquiry/load.ts';
import { createProjectDir, type ProjectDir } from '../support/files.ts';
import { useTestContext } from '../support/isolation.ts';

/**
 * The compiler against the live catalog: each rule of SPEC section 4 broken once, each giving its
 * own message with the file and, where the parser or PostgreSQL gives one, the line and column.
 */
const ctx = useTestContext('inquiry-compile', { sample: false });
let project: ProjectDir;

beforeAll(async () => {
  await ctx.pool.query(`
    CREATE TABLE customer (customer_id int PRIMARY KEY, customer_cd text UNIQUE NOT NULL, name text, status text, credit numeric(19,4), big bigint);
    CREATE TABLE sales_order (order_type char(2), order_nbr text, customer_id int REFERENCES customer, total numeric,
                              PRIMARY KEY (order_type, order_nbr));
    CREATE INDEX ON sales_order (customer_id);
    CREATE TABLE order_line (line_id int PRIMARY KEY, order_type char(2), order_nbr text, qty int);
    CREATE TABLE payment (payment_id int PRIMARY KEY, customer_id bigint, order_nbr text);
    CREATE TABLE audit_log (message text);
    CREATE TABLE nothing_ident (id int PRIMARY KEY);
    ALTER TABLE nothing_ident REPLICA IDENTITY NOTHING;
    CREATE VIEW customer_view AS SELECT * FROM customer;
  `);
  project = await createProjectDir('compile');
});
afterAll(async () => project?.cleanup());

async function problemsFor(file: string, content: string | object): Promise<string[]> {
  await project.write(`inquiries/${file}`, content);
  try {
    const { problems } = await loadInquiries(ctx.pool, project.dir);
    return problems.map(formatProblem);
  } finally {
    await project.remove(`inquiries/${file}`);
  }
}

describe('bad inquiries get one clear message each', () => {
  const cases: [string, string, RegExp][] = [
    ['syntax error', 'SELECT c.name,, c.status\nFROM customer c', /Bad\.sql:1:15: syntax error at or near ","/],
    ['unknown table', 'SELECT c.name\nFROM custmer c', /Bad\.sql:2:6: table custmer does not exist/],
    ['unknown column', 'SELECT c.name,\n       c.nmae\nFROM customer c', /Bad\.sql:2:8: column c\.nmae does not exist/],
    ['table without primary key', 'SELECT a.message FROM audit_log a', /Bad\.sql:1:23: table public\.audit_log has no primary key/],
    ['replica identity nothing', 'SELECT n.id FROM nothing_ident n', /Bad\.sql:1:18: .*REPLICA IDENTITY NOTHING/],
    ['a view instead of a table', 'SELECT v.name FROM customer_view v', /Bad\.sql:1:20: customer_view is a view/],
    ['aggregate', 'SELECT count(*) AS n FROM customer c', /Bad\.sql:1:8: aggregate function COUNT\(\) is not allowed/],
    ['aggregate hidden in an expression', 'SELECT c.name || max(c.status) AS x FROM customer c', /Bad\.sql:1:\d+: aggregate function MAX\(\) is not allowed/i],
    ['GROUP BY', 'SELECT c.status FROM customer c\nGROUP BY c.status', /Bad\.sql:2:1: GROUP BY is not allowed/],
    ['DISTINCT', 'SELECT DISTINCT c.status FROM customer c', /Bad\.sql:1:8: DISTINCT is not allowed/],
    ['window function', 'SELECT c.name, rank() OVER (ORDER BY c.name) AS r FROM customer c', /Bad\.sql:1:16: window function rank\(\) is not allowed/],
    ['LIMIT', 'SELECT c.name FROM customer c LIMIT 10', /Bad\.sql:1:31: LIMIT is not allowed/],
    ['OFFSET', 'SELECT c.name FROM customer c OFFSET 10', /Bad\.sql:1:31: OFFSET is not allowed/],
    ['UNION', 'SELECT c.name FROM customer c\nUNION\nSELECT c.status FROM customer c', /Bad\.sql:2:1: UNION is not allowed/],
    ['now()', 'SELECT c.name, now() AS seen FROM customer c', /Bad\.sql:1:16: now\(\) depends on the current time/],
    ['random()', 'SELECT c.name FROM customer c WHERE random() < 0.5', /Bad\.sql:1:37: random\(\) is a volatile function/],
    ['set-returning function', "SELECT c.name, unnest(string_to_array(c.name, ' ')) AS word FROM customer c", /Bad\.sql:1:16: set-returning function unnest\(\) is not allowed/],
    ['CURRENT_DATE', 'SELECT c.name, current_date AS d FROM customer c', /Bad\.sql:1:16: CURRENT_DATE depends on the current date/],
    ['subquery over a table', 'SELECT c.name FROM customer c\nWHERE c.customer_id IN (SELECT o.customer_id FROM sales_order o)', /Bad\.sql:2:25: subqueries are not allowed/],
    ['a table read with TABLE in a subquery', 'SELECT c.name FROM customer c\nWHERE c.customer_id IN (TABLE nothing_ident)', /Bad\.sql:2:31: public\.nothing_ident is read outside the FROM list/],
    ['a session setting', "SELECT c.name, current_setting('TimeZone') AS tz FROM customer c", /Bad\.sql:1:16: current_setting\(\) depends on the session/],
    ['derived table', 'SELECT x.name FROM (SELECT name FROM customer) x', /Bad\.sql:1:\d+: (subqueries|parenthesised FROM items) .*not allowed/],
    ['RIGHT JOIN', 'SELECT c.name FROM customer c\nRIGHT JOIN sales_order o ON o.customer_id = c.customer_id', /Bad\.sql:2:1: RIGHT JOIN is not allowed/],
    ['FULL JOIN', 'SELECT c.name FROM customer c FULL OUTER JOIN sales_order o ON o.customer_id = c.customer_id', /Bad\.sql:1:31: FULL JOIN is not allowed/],
    ['comma join', 'SELECT c.name FROM customer c, sales_order o WHERE o.customer_id = c.customer_id', /Bad\.sql:1:30: comma joins .* are not allowed/],
    ['duplicate result columns', 'SELECT c.name, c.status AS name FROM customer c', /Bad\.sql:1:\d+: result column "name" appears more than once/],
    ['reserved hidden-key prefix', 'SELECT c.name AS __k_x FROM customer c', /Bad\.sql:1:\d+: result column "__k_x" uses the prefix __k_/],
    ['two statements', 'SELECT c.name FROM customer c; SELECT 1', /Bad\.sql:1:30: an inquiry is exactly one SELECT statement/],
    ['not a SELECT', 'DELETE FROM customer', /Bad\.sql:1:1: an inquiry is one SELECT statement/],
  ];
  it.each(cases)('%s', async (_label, sql, expected) => {
    const problems = await problemsFor('Bad.sql', sql);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it('JSON that is not JSON names the line and column', async () => {
    const problems = await problemsFor('Broken.json', '{\n  "name": "Broken",\n  "tables": [\n}');
    expect(problems).toEqual([expect.stringMatching(/Broken\.json:4:1: not valid JSON/)]);
  });

  it('a structured inquiry with an unknown alias in a relation names the field and line', async () => {
    const problems = await problemsFor('Rel.json', {
      name: 'Rel',
      tables: [{ table: 'customer', alias: 'c' }, { table: 'sales_order', alias: 'o' }],
      relations: [{ parent: 'c', child: 'x', join: 'left', on: [{ parentField: 'customer_id', childField: 'customer_id' }] }],
      results: [{ field: 'c.name' }],
    });
    expect(problems).toContainEqual(expect.stringMatching(/Rel\.json:\d+:\d+: relations\[0\]\.child: unknown alias "x"; the tables declare "c", "o"/));
  });

  it('a structured inquiry naming a column that does not exist points at its field', async () => {
    const problems = await problemsFor('Col.json', {
      name: 'Col',
      tables: [{ table: 'customer', alias: 'c' }],
      results: [{ field: 'c.name' }, { field: 'c.nmae', caption: 'Name2' }],
    });
    expect(problems).toEqual([expect.stringMatching(/Col\.json:14:\d+: column c\.nmae does not exist/)]);
  });

  it('a structured inquiry with an unknown field gets a schema error naming it', async () => {
    const problems = await problemsFor('Extra.json', { name: 'Extra', tables: [{ table: 'customer', alias: 'c' }], results: [{ field: 'c.name' }], sort: [] });
    expect(problems).toEqual([expect.stringMatching(/Extra\.json:\d+:\d+: sort: unknown field/)]);
  });

  it('two files declaring the same inquiry name are both reported', async () => {
    await project.write('inquiries/Twice.sql', 'SELECT c.name FROM customer c');
    try {
      const problems = await problemsFor('Other.json', { name: 'Twice', tables: [{ table: 'customer', alias: 'c' }], results: [{ field: 'c.name' }] });
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/Twice\.sql: inquiry "Twice" is declared twice: also in .*Other\.json/),
          expect.stringMatching(/Other\.json: inquiry "Twice" is declared twice: also in .*Twice\.sql/),
        ]),
      );
    } finally {
      await project.remove('inquiries/Twice.sql');
    }
  });
});

describe('what a good inquiry compiles to', () => {
  async function compileOne(file: string, content: string | object) {
    await project.write(`inquiries/${file}`, content);
    try {
      const { inquiries, problems } = await loadInquiries(ctx.pool, project.dir);
      expect(problems.map(formatProblem)).toEqual([]);
      return inquiries[0]!;
    } finally {
      await project.remove(`inquiries/${file}`);
    }
  }

  it('adds the hidden keys of every alias, keeps the text verbatim, drops ORDER BY', async () => {
    const q = await compileOne(
      'Orders.sql',
      `-- orders with customers\nSELECT o.order_nbr AS "OrderNbr", c.name AS "Customer", o.total\nFROM sales_order o\nLEFT JOIN Customer C ON C.customer_id = o.customer_id\nWHERE o.total > 10\nORDER BY 1;\n`,
    );
    expect(q.tables.map((t) => [t.alias, t.join, t.parent, t.hiddenKeys])).toEqual([
      ['o', 'root', null, ['__k_o_order_type', '__k_o_order_nbr']],
      ['c', 'left', 'o', ['__k_c_customer_id']],
    ]);
    expect(q.viewSql).toContain('LEFT JOIN Customer C ON C.customer_id = o.customer_id\nWHERE o.total > 10');
    expect(q.viewSql).not.toMatch(/ORDER BY/);
    expect(q.droppedOrderBy).toBe(true);
    expect(q.supportSql).toBeNull();
    expect(q.resultColumns).toEqual([
      { name: 'OrderNbr', type: 'text', json: 'plain' },
      { name: 'Customer', type: 'text', json: 'plain' },
      { name: 'total', type: 'numeric', json: 'numeric' },
    ]);
    expect(q.tables[0]!.trackedColumns).toEqual(['customer_id', 'order_nbr', 'order_type', 'total']);
  });

  it('an inner join or a WHERE on a joined table adds the all-LEFT-JOIN support view', async () => {
    const anti = await compileOne('Anti.sql', 'SELECT c.customer_cd FROM customer c LEFT JOIN sales_order o ON o.customer_id = c.customer_id WHERE o.order_nbr IS NULL');
    expect(anti.whereReadsRootOnly).toBe(false);
    expect(anti.supportSql).toMatch(/LEFT JOIN sales_order o ON \(o\.customer_id = c\.customer_id\)$/);
    const inner = await compileOne('Inner.sql', 'SELECT c.customer_cd FROM customer c JOIN sales_order o ON o.customer_id = c.customer_id WHERE c.status = \'A\'');
    expect(inner.supportSql).toMatch(/LEFT JOIN sales_order o ON \(o\.customer_id = c\.customer_id\) WHERE c\.status = 'A'$/);
  });

  it('the structured form compiles to the same views as the SQL form', async () => {
    const fromJson = await compileOne('Same.json', {
      name: 'Same',
      tables: [{ table: 'customer', alias: 'c' }, { table: 'sales_order', alias: 'o' }],
      relations: [{ parent: 'c', child: 'o', join: 'left', on: [{ parentField: 'customer_id', childField: 'customer_id' }] }],
      conditions: [{ field: 'c.status', op: 'in', value: ['A', 'H'] }],
      results: [{ field: 'c.customer_cd', caption: 'CustomerID' }, { field: 'o.total' }],
    });
    expect(fromJson.resultColumns.map((c) => c.name)).toEqual(['CustomerID', 'o_total']);
    expect(fromJson.tables.map((t) => [t.alias, t.join, t.parent])).toEqual([['c', 'root', null], ['o', 'left', 'c']]);
    expect(fromJson.supportSql).toBeNull();
    const fromSql = await compileOne(
      'Same.sql',
      `SELECT "c"."customer_cd" AS "CustomerID", "o"."total" AS "o_total"\nFROM "customer" "c"\nLEFT JOIN "sales_order" "o" ON "o"."customer_id" = "c"."customer_id"\nWHERE "c"."status" IN ('A', 'H')`,
    );
    expect(fromSql.viewSql).toBe(fromJson.viewSql);
    expect(fromSql.definitionHash).toBe(fromJson.definitionHash);
  });

  it('knows whether the result rows show every key (then equal rows are the same view row)', async () => {
    const shows = async (sql: string) => (await compileOne('Keys.sql', sql)).rowsShowKeys;
    expect(await shows('SELECT c.customer_id, c.name FROM customer c')).toBe(true);
    expect(await shows('SELECT C.CUSTOMER_ID AS "ID" FROM customer c')).toBe(true);
    expect(await shows('SELECT * FROM customer c')).toBe(true);
    expect(await shows('SELECT c.name FROM customer c')).toBe(false);
    expect(await shows('SELECT c.customer_id + 0 AS id FROM customer c')).toBe(false);
    const join = 'FROM sales_order o LEFT JOIN customer c ON c.customer_id = o.customer_id';
    expect(await shows(`SELECT o.order_type, o.order_nbr, c.customer_id AS cust, c.name ${join}`)).toBe(true);
    expect(await shows(`SELECT o.order_type, order_nbr, c.* ${join}`)).toBe(true);
    // o.customer_id equals c.customer_id only where the join matched: not a key of c.
    expect(await shows(`SELECT o.order_type, o.order_nbr, o.customer_id ${join}`)).toBe(false);
  });

  it('finds the roots of a joined table along its join conditions, where they say which rows join', async () => {
    const paths = async (sql: string) => (await compileOne('Paths.sql', sql)).tables.map((t) => t.rootPath);
    const chain = `FROM customer c
      LEFT JOIN sales_order o ON o.customer_id = c.customer_id AND o.total > 0
      LEFT JOIN order_line l ON (l.order_type = o.order_type AND l."order_nbr" = o.order_nbr)`;
    // The root key is the order's customer_id (same type): the customer table is left out.
    expect(await paths(`SELECT c.name, o.total, l.qty ${chain}`)).toEqual([
      null,
      { from: 'sales_order o', rootKeys: ['"o"."customer_id"'], keysFromChild: true },
      { from: 'sales_order o JOIN order_line l ON ((l.order_type = o.order_type AND l."order_nbr" = o.order_nbr))', rootKeys: ['"o"."customer_id"'], keysFromChild: true },
    ]);
    // A bigint customer_id is not read as the integer key: the path goes through the customer.
    expect((await paths('SELECT c.name FROM customer c JOIN payment p ON p.customer_id = c.customer_id'))[1]).toEqual({
      from: 'customer c JOIN payment p ON (p.customer_id = c.customer_id)',
      rootKeys: ['"c"."customer_id"'],
      keysFromChild: false,
    });
    // A composite root key its child does not cover: the root is joined.
    expect((await paths('SELECT o.total, C.name FROM sales_order o LEFT JOIN Customer C ON C.customer_id = o.customer_id'))[1]).toEqual({
      from: 'sales_order o JOIN Customer C ON (C.customer_id = o.customer_id)',
      rootKeys: ['"o"."order_type"', '"o"."order_nbr"'],
      keysFromChild: false,
    });
    // No path: an OR, USING, a BETWEEN (its AND is not a conjunction), no equality with the parent,
    // a condition naming a table off the path.
    expect((await paths('SELECT c.name FROM customer c LEFT JOIN sales_order o ON o.customer_id = c.customer_id OR o.total > 0'))[1]).toBeNull();
    expect((await paths('SELECT c.name FROM customer c LEFT JOIN sales_order o USING (customer_id)'))[1]).toBeNull();
    expect((await paths('SELECT c.name FROM customer c LEFT JOIN sales_order o ON o.total BETWEEN 0 AND 9 AND o.customer_id = c.customer_id'))[1]).toBeNull();
    expect((await paths('SELECT c.name FROM customer c LEFT JOIN sales_order o ON o.total > c.credit'))[1]).toBeNull();
    const offPath = await paths(`SELECT c.name FROM customer c
      LEFT JOIN sales_order o ON o.customer_id = c.customer_id
      LEFT JOIN payment p ON p.customer_id = c.customer_id
      LEFT JOIN order_line l ON l.line_id = p.payment_id AND l.order_nbr = o.order_nbr`);
    expect(offPath[3]).toBeNull();
    expect(offPath[2]).toEqual({ from: 'customer c JOIN payment p ON (p.customer_id = c.customer_id)', rootKeys: ['"c"."customer_id"'], keysFromChild: false });
  });

  it('numbers a double would round are marked for exact JSON, small integers for their plain text', async () => {
    const q = await compileOne('Num.sql', 'SELECT c.credit, c.big, c.customer_id, c.name FROM customer c');
    expect(q.resultColumns.map((c) => c.json)).toEqual(['numeric', 'int8', 'int', 'plain']);
  });
});
