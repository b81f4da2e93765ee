import { describe, expect, it } from 'vitest';
import { PushcdcError } from '../../src/errors.ts';
import { readArray, readObject, skipWhitespace, valueEnd } from '../../src/json-text.ts';
import { prng } from '../support/model-workload.ts';

/**
 * The JSON value scanner that keeps row texts exact: boundaries of values, array elements and object
 * members, checked against texts written by hand and against JSON.parse on generated ones.
 */
const elements = (text: string): string[] => {
  const found: string[] = [];
  const end = readArray(text, skipWhitespace(text, 0), (start, stop) => found.push(text.slice(start, stop)));
  expect(skipWhitespace(text, end)).toBe(text.length);
  return found;
};

const members = (text: string): [string, string][] => {
  const found: [string, string][] = [];
  const end = readObject(text, skipWhitespace(text, 0), (key, start) => {
    const stop = valueEnd(text, start);
    found.push([key, text.slice(start, stop)]);
    return stop;
  });
  expect(skipWhitespace(text, end)).toBe(text.length);
  return found;
};

describe('valueEnd', () => {
  it('ends a number, a literal, a string, an object or an array where its text ends', () => {
    const cases: [string, string][] = [
      ['7.000000,', '7.000000'],
      ['0.0000001]', '0.0000001'],
      ['-1E+21}', '-1E+21'],
      ['1000000000000000000000 ', '1000000000000000000000'],
      ['true\n', 'true'],
      ['null', 'null'],
      ['"plain",1', '"plain"'],
      ['"a\\"b" ', '"a\\"b"'],
      ['"ends in a backslash\\\\",2', '"ends in a backslash\\\\"'],
      ['"\\\\\\"still inside\\\\",3', '"\\\\\\"still inside\\\\"'],
      ['"brackets ]}{[ and , in a string"]', '"brackets ]}{[ and , in a string"'],
      ['{"a":[1,{"b":"}]"}],"c":{}} ,', '{"a":[1,{"b":"}]"}],"c":{}}'],
      ['[[],[[]],{}]]', '[[],[[]],{}]'],
      ['"snow ☃ 😀 \\ud83d\\ude00 \\u0022"}', '"snow ☃ 😀 \\ud83d\\ude00 \\u0022"'],
    ];
    for (const [text, value] of cases) expect(text.slice(0, valueEnd(text, 0)), text).toBe(value);
  });

  it('starts anywhere in a larger text', () => {
    const text = '{"x": "a\\"]", "y": [1, 2]}';
    const at = text.indexOf('[');
    expect(text.slice(at, valueEnd(text, at))).toBe('[1, 2]');
  });

  it('says where the text is not JSON', () => {
    expect(() => valueEnd('"never closed', 0)).toThrow(PushcdcError);
    expect(() => valueEnd('{"a":[1,2}', 0)).toThrow(/expected the end of the value starting at index 0/);
    expect(() => valueEnd(',', 0)).toThrow(/expected a value at index 0/);
  });
});

describe('readArray', () => {
  it('gives each element its text, without the whitespace around it', () => {
    expect(elements('[]')).toEqual([]);
    expect(elements(' [ \n\t] ')).toEqual([]);
    expect(elements('[7.000000]')).toEqual(['7.000000']);
    expect(elements('[ 1 ,"x",\r\n{ "a" : [ 1.50 ] } , [] ,null ]')).toEqual(['1', '"x"', '{ "a" : [ 1.50 ] }', '[]', 'null']);
    expect(elements('[{"Note":"a \\"quoted\\" \\\\ ] , word"},{"Note":"é ☃ 😀 \\u00e9"}]')).toEqual([
      '{"Note":"a \\"quoted\\" \\\\ ] , word"}',
      '{"Note":"é ☃ 😀 \\u00e9"}',
    ]);
  });

  it('refuses what is not an array', () => {
    expect(() => readArray('{}', 0, () => undefined)).toThrow(/expected \[ at index 0/);
    expect(() => readArray('[1 2]', 0, () => undefined)).toThrow(/expected , or \] at index 3/);
  });
});

describe('readObject', () => {
  it('gives each member its decoded name and its value text, in order, repeats included', () => {
    expect(members('{}')).toEqual([]);
    expect(members(' { } ')).toEqual([]);
    expect(members('{ "a" : 1.0 , "b\\"c":"\\"" ,"\\u0041":{"x":[]},"a":[ 2 ]}')).toEqual([
      ['a', '1.0'],
      ['b"c', '"\\""'],
      ['A', '{"x":[]}'],
      ['a', '[ 2 ]'],
    ]);
  });

  it('lets the caller read a member instead of skipping it', () => {
    const text = '{"n":{"Inserted":[{"a":1.10},{"b":"]"}],"Deleted":[]},"lsn":"0/1"}';
    const rows: string[] = [];
    readObject(text, 0, (key, start) => {
      if (key !== 'n') return valueEnd(text, start);
      return readObject(text, start, (inner, at) =>
        inner === 'Inserted' ? readArray(text, at, (s, e) => rows.push(text.slice(s, e))) : valueEnd(text, at),
      );
    });
    expect(rows).toEqual(['{"a":1.10}', '{"b":"]"}']);
  });

  it('refuses what is not an object', () => {
    expect(() => readObject('[]', 0, () => 0)).toThrow(/expected \{ at index 0/);
    expect(() => readObject('{"a" 1}', 0, () => 0)).toThrow(/expected : at index 5/);
    expect(() => readObject('{1:2}', 0, () => 0)).toThrow(/expected a member name at index 1/);
  });
});

describe('generated JSON texts', () => {
  // A fixed seed, so a failure repeats.
  const next = prng(20240320);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const space = () => pick(['', '', '', ' ', '\n  ', '\t', '\r\n']);
  const NUMBERS = ['0', '-0', '7.000000', '0.0000001', '1e21', '1E+21', '-2.5e-300', '12345678901234567890.123456789', '100'];
  const PIECES = ['a', ' ', '\\"', '\\\\', '\\/', '\\n', '\\u00e9', '\\ud83d\\ude00', 'é', '☃', '😀', ']', '}', '[', '{', ',', ':'];
  const string = () => `"${Array.from({ length: Math.floor(next() * 6) }, () => pick(PIECES)).join('')}"`;
  function value(depth: number): string {
    const kind = depth > 3 ? Math.floor(next() * 3) : Math.floor(next() * 5);
    if (kind === 0) return pick(NUMBERS);
    if (kind === 1) return string();
    if (kind === 2) return pick(['true', 'false', 'null']);
    const count = Math.floor(next() * 4);
    const items = Array.from({ length: count }, () => (kind === 3 ? value(depth + 1) : `${string()}${space()}:${space()}${value(depth + 1)}`));
    const [open, close] = kind === 3 ? ['[', ']'] : ['{', '}'];
    return `${open}${space()}${items.join(`${space()},${space()}`)}${space()}${close}`;
  }

  it('finds exactly the texts it was built from, each one the value JSON.parse reads there', () => {
    for (let round = 0; round < 300; round++) {
      const parts = Array.from({ length: Math.floor(next() * 5) }, () => value(0));
      const text = `${space()}[${space()}${parts.join(`${space()},${space()}`)}${space()}]${space()}`;
      const found = elements(text);
      expect(found).toEqual(parts);
      expect(found.map((p) => JSON.parse(p) as unknown)).toEqual(JSON.parse(text));
    }
  });
});
