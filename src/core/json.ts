/** JSON text parsed with a depth limit and strings PostgreSQL can store (request bodies, bodies stored as received). */

/** Deepest nesting of objects and arrays a JSON body may have (PostgreSQL and JSON.stringify have limits too). */
export const MAX_JSON_DEPTH = 64;

/** Raised for a body that is not acceptable JSON (400): empty, not JSON, or nested too deep. */
export class BadJsonError extends Error {
  readonly status = 400;
  constructor(message: string, readonly code = 'http.bad_json') {
    super(message);
  }
}

const NEEDS_CLEANING = /\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/**
 * Parses JSON text: empty, invalid or deeper than MAX_JSON_DEPTH is a BadJsonError with a sentence; NUL and lone
 * surrogates (PostgreSQL text and jsonb refuse them) are replaced in every string.
 */
export function parseJsonText(text: string): unknown {
  if (text.length === 0) throw new BadJsonError('the request body is empty; send a JSON object');
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw new BadJsonError(`the body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep`, 'http.too_deep');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadJsonError(`the request body is not valid JSON: ${(e as Error).message}`);
  }
  return NEEDS_CLEANING.test(text) ? cleanStrings(value) : value;
}

/** The deepest nesting of `[` and `{` in JSON text, outside strings (strings are skipped with indexOf). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // jump to the closing quote: one not preceded by an odd number of backslashes
      let j = i + 1;
      for (;;) {
        j = text.indexOf('"', j);
        if (j < 0) return max;
        let k = j - 1;
        while (text.charCodeAt(k) === 92) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j++;
      }
      i = j;
    } else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) {
      depth--;
    }
  }
  return max;
}

/** Replaces NUL and unpaired surrogates (PostgreSQL text and jsonb refuse them) in every string. */
export function cleanStrings(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  if (Array.isArray(value)) return value.map(cleanStrings);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [(cleanStrings(k) as string), cleanStrings(v)]));
  }
  return value;
}
