/** Request bodies: read with a size limit, and JSON parsed with a depth limit and strings PostgreSQL can store (src/core/json.ts). */
import type { IncomingMessage } from 'node:http';
import { parseJsonText } from '../core/json.js';

export { BadJsonError, cleanStrings, jsonDepth, MAX_JSON_DEPTH, parseJsonText } from '../core/json.js';

/** Largest body accepted by `readBody` unless a route says otherwise (512 KB). */
export const MAX_BODY_BYTES = 512 * 1024;
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

/**
 * Parses a JSON body: empty, invalid or deeper than MAX_JSON_DEPTH is a BadJsonError with a sentence; NUL and lone
 * surrogates (PostgreSQL text and jsonb refuse them) are replaced in every string.
 */
export function parseJson(body: Buffer): unknown {
  return parseJsonText(body.toString('utf8'));
}
