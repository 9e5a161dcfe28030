/** Request bodies: read with a size limit, and JSON parsed with a depth limit and strings PostgreSQL can store. */
import type { IncomingMessage } from 'node:http';

/** Largest body accepted by `readBody` unless a route says otherwise (512 KB). */
export const MAX_BODY_BYTES = 512 * 1024;
/** Deepest nesting of objects and arrays a JSON body may have (PostgreSQL and JSON.stringify have limits too). */
export const MAX_JSON_DEPTH = 64;

/**
 * How much more than the limit is still read (and thrown away) after a body turned out too large, so that a client
 * still sending can finish and read the 413 instead of hanging or finding its connection reset. Beyond it the
 * connection is closed.
 */
export const MAX_DISCARD_BYTES = 16 * 1024 * 1024;

/** Raised by readBody when the body is too large (413). */
export class BodyTooLargeError extends Error {
  readonly status = 413;
}

/** Raised for a body that is not acceptable JSON (400): empty, not JSON, or nested too deep. */
export class BadJsonError extends Error {
  readonly status = 400;
  constructor(message: string, readonly code = 'http.bad_json') {
    super(message);
  }
}

/**
 * Reads the whole request body, refusing more than `limit` bytes. A body found too large is refused at once (the caller
 * answers 413 while the client may still be sending); the rest of it is read and discarded, up to MAX_DISCARD_BYTES,
 * so the connection stays usable. Breaking out of the stream instead stopped reading it: a client still sending hung.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const tooLarge = () => {
      cleanup();
      chunks.length = 0;
      discardRest(req);
      reject(new BodyTooLargeError(`the body is larger than ${limit / 1024} KB`));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge();
      else chunks.push(chunk);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.concat(chunks, size)); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const onClose = () => { cleanup(); reject(new Error('the client closed the connection before the body was complete')); };
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return tooLarge();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Reads and drops the rest of a refused body; past MAX_DISCARD_BYTES the connection is closed. */
function discardRest(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > MAX_DISCARD_BYTES) req.socket?.destroy();
  });
  req.on('error', () => { /* the socket went away: nothing to read */ });
  req.resume();
}

/** Reads and parses a JSON body (see `parseJson`). */
export async function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  return parseJson(await readBody(req, limit));
}

const NEEDS_CLEANING = /\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/**
 * Parses a JSON body: empty, invalid or deeper than MAX_JSON_DEPTH is a BadJsonError with a sentence; NUL and lone
 * surrogates (PostgreSQL text and jsonb refuse them) are replaced in every string.
 */
export function parseJson(body: Buffer): unknown {
  return parseJsonText(body.toString('utf8'));
}

/** `parseJson` of text already decoded (a body stored as received). */
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
