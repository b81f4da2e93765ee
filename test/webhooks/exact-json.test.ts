import { describe, expect, it } from 'vitest';
import { parseJsonExact, quoteUnsafeIntegers } from '../../src/webhooks/exact-json.ts';

/** Storefront ids beyond 2^53 must reach the message digit for digit (JSON.parse would round them). */
describe('parseJsonExact', () => {
  it('keeps integers beyond Number.MAX_SAFE_INTEGER as their exact digits', () => {
    expect(parseJsonExact('{"id":820982911946154508,"n":[-9007199254740993,9007199254740993]}')).toEqual({
      id: '820982911946154508',
      n: ['-9007199254740993', '9007199254740993'],
    });
  });

  it('leaves safe integers, decimals, exponents and digits inside strings alone', () => {
    const text = '{"a":9007199254740991,"b":12345678901234567890.5,"c":1e400,"d":"820982911946154508","e":"x\\"9007199254740993"}';
    expect(quoteUnsafeIntegers(text)).toBe(text);
    expect(parseJsonExact(text)).toEqual(JSON.parse(text));
  });

  it('is as strict as JSON.parse: a big integer where a key belongs stays an error', () => {
    expect(() => parseJsonExact('{12345678901234567890:1}')).toThrow(SyntaxError);
    expect(() => parseJsonExact('{"a":}')).toThrow(SyntaxError);
  });
});
