import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from '../db/pool.ts';
import { ProblemsError, type Problem } from '../errors.ts';
import { displayPath, lineColAt, listFiles, parseJsonText } from '../config/json-file.ts';
import type { InquiryCatalog } from './catalog.ts';
import { compileInquiry, type CompiledInquiry, type InquirySource } from './compile.ts';
import { compileStructured } from './structured.ts';

/**
 * Reads `inquiries/*.sql` and `inquiries/*.json` and compiles them against the live database.
 * One bad inquiry never hides the others: every file is checked and every problem is returned.
 */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_. -]{0,54}$/;

export async function readInquirySources(dir: string): Promise<{ sources: InquirySource[]; problems: Problem[] }> {
  const sources: InquirySource[] = [];
  const problems: Problem[] = [];
  for (const file of await listFiles(dir, 'inquiries', ['.sql', '.json'])) {
    const shown = displayPath(file);
    const text = await readFile(file, 'utf8');
    if (file.endsWith('.sql')) {
      sources.push({ name: path.basename(file, '.sql'), file: shown, kind: 'sql', sql: text, locate: (offset) => lineColAt(text, offset) });
      continue;
    }
    const parsed = parseJsonText(shown, text);
    if ('problem' in parsed) {
      problems.push(parsed.problem);
      continue;
    }
    const structured = compileStructured(shown, text, parsed.value);
    problems.push(...structured.problems);
    if (structured.result) {
      sources.push({ name: structured.result.name, file: shown, kind: 'json', sql: structured.result.sql, locate: structured.result.locate });
    }
  }
  const byName = new Map<string, InquirySource[]>();
  for (const s of sources) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const unique: InquirySource[] = [];
  for (const [name, declared] of byName) {
    if (declared.length > 1) {
      for (const s of declared) {
        const others = declared.filter((o) => o !== s).map((o) => o.file).join(', ');
        problems.push({ file: s.file, message: `inquiry "${name}" is declared twice: also in ${others}` });
      }
      continue;
    }
    const source = declared[0]!;
    if (!NAME_PATTERN.test(name)) {
      problems.push({ file: source.file, message: `inquiry name "${name}" must be 1-55 characters of letters, digits, _ . - and spaces, starting with a letter or digit` });
      continue;
    }
    unique.push(source);
  }
  return { sources: unique, problems };
}

export interface LoadedInquiries {
  inquiries: CompiledInquiry[];
  problems: Problem[];
}

/** Compiles every inquiry in `<dir>/inquiries` (or only `only`) in one rolled-back transaction. */
export async function loadInquiries(pool: Pool, dir: string, options: { only?: string } = {}): Promise<LoadedInquiries> {
  const read = await readInquirySources(dir);
  const sources = options.only === undefined ? read.sources : read.sources.filter((s) => s.name === options.only);
  const problems = [...read.problems];
  const inquiries: CompiledInquiry[] = [];
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const source of sources) {
      const result = await compileInquiry(client, source);
      problems.push(...result.problems);
      if (result.inquiry) inquiries.push(result.inquiry);
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
  return { inquiries, problems };
}

export function toCatalog(inquiries: CompiledInquiry[]): InquiryCatalog {
  return new Map(
    inquiries.map((q) => [q.name, { name: q.name, file: q.file, resultColumns: q.resultColumns.map((c) => c.name) }]),
  );
}

/** What the engine runs on: every inquiry compiled, or a ProblemsError listing what is wrong. */
export async function loadInquiriesOrThrow(pool: Pool, dir: string): Promise<{ inquiries: CompiledInquiry[]; catalog: InquiryCatalog }> {
  const { inquiries, problems } = await loadInquiries(pool, dir);
  if (problems.length > 0) throw new ProblemsError(problems);
  return { inquiries, catalog: toCatalog(inquiries) };
}
