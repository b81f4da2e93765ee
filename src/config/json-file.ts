import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { Problem } from '../errors.ts';

/**
 * Reading the JSON files users write (inquiries, destinations, stores) with errors that point into
 * the file: `file:line:col: message`, where line/col come from the parser or from locating the
 * offending field in the text.
 */
export interface JsonFile {
  /** Path as shown to the user: --dir joined with the relative path. */
  file: string;
  text: string;
  value: unknown;
}

export function lineColAt(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, col: (lines.at(-1)?.length ?? 0) + 1 };
}

/** Parses JSON text; a syntax error becomes a Problem at the line and column where it is. */
export function parseJsonText(file: string, text: string): { value: unknown } | { problem: Problem } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    try {
      jsonPathOffsets(text);
    } catch (located) {
      if (located instanceof JsonSyntaxError) {
        const at = lineColAt(text, located.offset);
        return { problem: { file, line: at.line, col: at.col, message: `not valid JSON: ${located.message}` } };
      }
      throw located;
    }
    return { problem: { file, message: `not valid JSON: ${(err as Error).message}` } };
  }
}

export async function readJsonFile(file: string): Promise<JsonFile | { problem: Problem }> {
  const text = await readFile(file, 'utf8');
  const parsed = parseJsonText(file, text);
  return 'problem' in parsed ? parsed : { file, text, value: parsed.value };
}

/** A path as shown in messages: relative when under the current folder, else absolute. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** Files of one kind in `<dir>/<folder>`, sorted; a missing folder is an empty list. */
export async function listFiles(dir: string, folder: string, extensions: string[]): Promise<string[]> {
  const where = path.join(dir, folder);
  let names: string[];
  try {
    names = await readdir(where);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => extensions.some((e) => n.endsWith(e)))
    .sort()
    .map((n) => path.join(where, n));
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Offsets of every value in a JSON text by path (`inquiries[1].fields`): the position of its key for
 * object members, of the value itself for array elements. Strict: a syntax error throws
 * JsonSyntaxError at its offset (Node's JSON.parse does not always say where).
 */
export function jsonPathOffsets(text: string): Map<string, number> {
  const offsets = new Map<string, number>();
  let i = 0;
  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, i);
  };
  const skipWs = () => {
    while (i < text.length && /[ \t\r\n]/.test(text[i]!)) i++;
  };
  const expect = (c: string, what: string) => {
    skipWs();
    if (text[i] !== c) fail(i >= text.length ? `unexpected end of file, expected ${what}` : `expected ${what}, found ${JSON.stringify(text[i])}`);
    i++;
  };
  const readString = (): string => {
    const start = i;
    if (text[i] !== '"') fail(`expected a string in double quotes, found ${JSON.stringify(text[i] ?? 'end of file')}`);
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\n') fail('unterminated string');
      i += text[i] === '\\' ? 2 : 1;
    }
    if (i >= text.length) {
      i = start;
      fail('unterminated string');
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail('invalid escape in string');
    }
  };
  const value = (pathText: string): void => {
    skipWs();
    const c = text[i];
    if (c === '{') {
      i++;
      skipWs();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipWs();
        const keyAt = i;
        const key = readString();
        const child = pathText ? `${pathText}.${key}` : key;
        offsets.set(child, keyAt);
        expect(':', '":" after the key');
        value(child);
        skipWs();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}', '"," or "}"');
        return;
      }
    } else if (c === '[') {
      i++;
      skipWs();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let index = 0; ; index++) {
        skipWs();
        const child = `${pathText}[${index}]`;
        offsets.set(child, i);
        value(child);
        skipWs();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']', '"," or "]"');
        return;
      }
    } else if (c === '"') {
      readString();
    } else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!m) fail(i >= text.length ? 'unexpected end of file, expected a value' : `expected a value, found ${JSON.stringify(text[i])}`);
      i += m![0].length;
    }
  };
  value('');
  skipWs();
  if (i < text.length) fail(`unexpected ${JSON.stringify(text[i])} after the end of the JSON value`);
  return offsets;
}

/** Position of a JSON path in the text, or of its nearest existing parent. */
export function locatePath(text: string, jsonPath: readonly PropertyKey[]): { line: number; col: number } | undefined {
  let offsets: Map<string, number>;
  try {
    offsets = jsonPathOffsets(text);
  } catch {
    return undefined;
  }
  for (let n = jsonPath.length; n > 0; n--) {
    const at = offsets.get(formatPath(jsonPath.slice(0, n)));
    if (at !== undefined) return lineColAt(text, at);
  }
  return undefined;
}

/** Finds a string value (e.g. an unknown alias) in the text, for errors about values. */
export function locateValue(text: string, value: string, after = 0): { line: number; col: number } | undefined {
  const at = text.indexOf(JSON.stringify(value), after);
  return at < 0 ? undefined : lineColAt(text, at);
}

export function formatPath(jsonPath: readonly PropertyKey[]): string {
  return jsonPath.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

/** zod issues as Problems naming the field, positioned where the field is in the file. */
export function zodProblems(file: string, text: string, error: z.ZodError): Problem[] {
  return error.issues.flatMap((issue) => {
    // An unknown key is reported on its parent; name and locate each key itself.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((key) => {
      const path = key === undefined ? issue.path : [...issue.path, key];
      const at = locatePath(text, path);
      const field = formatPath(path);
      const message = key === undefined ? issue.message : 'unknown field (not part of this file kind)';
      return { file, line: at?.line, col: at?.col, message: field ? `${field}: ${message}` : message };
    });
  });
}

/**
 * Replaces `${NAME}` in every string value from the environment. A variable that is not set is a
 * Problem naming it (secrets stay out of files, and a typo must not become an empty header).
 */
export function substituteEnv(
  value: unknown,
  file: string,
  text: string,
  env: NodeJS.ProcessEnv = process.env,
): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  const walk = (v: unknown, at: PropertyKey[]): unknown => {
    if (typeof v === 'string') {
      return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
        const replacement = env[name];
        if (replacement === undefined) {
          const where = locateValue(text, v) ?? locatePath(text, at) ?? lineColAt(text, text.indexOf(whole));
          // Named like a schema problem (`headers.Authorization: …`): the file may use the variable twice.
          problems.push({ file, line: where.line, col: where.col, message: `${formatPath(at)}: environment variable ${name} is not set (used as \${${name}})` });
          return whole;
        }
        return replacement;
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...at, k])]));
    return v;
  };
  return { value: walk(value, []), problems };
}
