/**
 * JSON.parse that keeps large integers exact. Storefront ids are 64-bit (Shopify's are 13-18
 * digits, e.g. 820982911946154508), and JSON.parse rounds any integer beyond 2^53 to a different
 * number, so the message would name another record. Integer literals outside Number's safe range
 * become strings of their exact digits; everything else parses as usual.
 */
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

export function parseJsonExact(text: string): unknown {
  // Parsing the original first keeps JSON's own validity rules: quoting can turn an invalid text
  // (a number where a key belongs) into a valid one.
  const value: unknown = JSON.parse(text);
  const quoted = quoteUnsafeIntegers(text);
  return quoted === text ? value : (JSON.parse(quoted) as unknown);
}

/** The text with every integer literal beyond Number.MAX_SAFE_INTEGER put in quotes. */
export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let copiedUpTo = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string, escapes included: digits inside strings are not numbers.
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      if (!match) {
        i++;
        continue;
      }
      const token = match[0];
      const integer = match[1] === undefined && match[2] === undefined;
      if (integer && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(copiedUpTo, i)}"${token}"`;
        copiedUpTo = i + token.length;
      }
      i += token.length;
      continue;
    }
    i++;
  }
  return copiedUpTo === 0 ? text : out + text.slice(copiedUpTo);
}
