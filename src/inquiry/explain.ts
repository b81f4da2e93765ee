import type { TableScan } from '../diff/table-scans.ts';
import type { CompiledInquiry } from './compile.ts';
import { viewStatements } from './views.ts';

/** The human-readable account of a compiled inquiry that `pushcdc explain` prints. */
export function explainInquiry(inquiry: CompiledInquiry, schema: string, scans: TableScan[] | { failed: string }): string {
  const lines: string[] = [];
  const root = inquiry.tables[0]!;
  const qualified = (t: (typeof inquiry.tables)[number]) => `${t.info.schema}.${t.info.name}`;
  lines.push(`Inquiry: ${inquiry.name}  (${inquiry.file})`);
  lines.push(`Root table: ${qualified(root)} (alias ${root.alias}), key ${root.info.keyColumns.map((k) => k.name).join(', ')}`);
  lines.push('');
  lines.push('Tables and their key columns:');
  for (const t of inquiry.tables) {
    const keys = t.info.keyColumns.map((k) => `${k.name} ${k.type}`).join(', ');
    const join = t.join === 'root' ? 'root' : t.join === 'left' ? 'LEFT JOIN' : 'INNER JOIN';
    lines.push(`  ${t.alias.padEnd(6)} ${qualified(t).padEnd(32)} ${join.padEnd(10)} key (${keys})  hidden ${t.hiddenKeys.join(', ')}`);
  }
  lines.push('');
  lines.push('Join tree:');
  const children = (alias: string | null) => inquiry.tables.filter((t) => t.parent === alias && t !== root);
  const draw = (alias: string, prefix: string) => {
    const kids = children(alias);
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      lines.push(`${prefix}${last ? '└─' : '├─'} ${k.join === 'left' ? 'LEFT' : 'INNER'} JOIN ${qualified(k)} ${k.alias}`);
      draw(k.alias, `${prefix}${last ? '   ' : '│  '}`);
    });
  };
  lines.push(`  ${qualified(root)} ${root.alias}`);
  draw(root.alias, '  ');
  for (const orphan of children(null)) lines.push(`  (joined to every row) ${qualified(orphan)} ${orphan.alias}`);
  lines.push('');
  lines.push('Tracked columns (a change to another column cannot change the result):');
  for (const t of inquiry.tables) lines.push(`  ${t.alias}: ${t.trackedColumns.join(', ')}`);
  if (inquiry.tables.length > 1) {
    lines.push('');
    lines.push('How a changed row of a joined table finds the roots to diff (besides those of its stored rows):');
    for (const t of inquiry.tables.slice(1)) {
      const path = t.rootPath;
      if (path === null) lines.push(`  ${t.alias}: through the lookup view (its join condition has no plain equality with the table it joins, or names a table off its path to the root)`);
      else lines.push(`  ${t.alias}: ${path.rootKeys.join(', ')} of ${path.from}`);
    }
  }
  lines.push('');
  lines.push(...lookupLines(scans));
  lines.push('');
  lines.push('Result columns:');
  for (const c of inquiry.resultColumns) lines.push(`  ${c.name}  ${c.type}${c.json === 'plain' ? '' : '  (exact: a string when a double would round it)'}`);
  lines.push('');
  lines.push(
    inquiry.supportSql
      ? `Diff: by root key; ${inquiry.whereReadsRootOnly ? 'inner joins' : 'the WHERE condition reads joined tables'}, so a keys-only support view (all LEFT JOINs) is stored too, to find the rows a change removes`
      : 'Diff: by root key; left joins and a root-only WHERE: the result view alone finds every affected row',
  );
  if (inquiry.droppedOrderBy) lines.push('Note: ORDER BY is ignored (a watched result has no order)');
  if (inquiry.parsedBy === 'postgresql') lines.push('Note: node-sql-parser could not read this SQL; PostgreSQL accepted it, and the catalog checks applied');
  lines.push('');
  lines.push('Generated SQL:');
  for (const s of viewStatements(inquiry, schema)) lines.push(`${s};`, '');
  return lines.join('\n');
}

/**
 * Whether every lookup of a diff by key goes through an index, and where not, which table it reads
 * whole (see findTableScans); or why that could not be checked.
 */
function lookupLines(scans: TableScan[] | { failed: string }): string[] {
  if ('failed' in scans) return [`Lookups by key: could not be checked (${scans.failed})`];
  if (scans.length === 0) return ['Lookups by key: every one goes through an index (a batch reads only the rows it needs; a one-page table may be read whole, at no more cost)'];
  return [
    'Lookups by key: some read a whole table, in every batch that needs them, for want of an index to look its rows up by',
    '(index the columns the join conditions read):',
    ...scans.map((s) => `  ${s.table} ${s.alias}, about ${Math.round(s.rows).toLocaleString('en-US')} rows: read whole for ${s.purpose}`),
  ];
}
