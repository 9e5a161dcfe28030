/** Helpers for the REST API under /api/v1: list envelopes, cursors, zod errors, coded errors. */
import type { ServerResponse } from 'node:http';
import type { z } from 'zod';
import { isDomainError } from '../core/errors.js';
import { formatPath } from '../core/config/org.js';
import { sendError } from './server.js';

/** Page size from `limit` (default 50, max 500); a bad value is an error naming `limit`. */
export function pageLimit(query: URLSearchParams): number | { error: string } {
  const raw = query.get('limit');
  if (raw === null) return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 500) return { error: 'limit must be a whole number from 1 to 500' };
  return n;
}

/** An opaque cursor for keyset paging by a numeric id. */
export function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`).toString('base64url');
}

/** Decodes a cursor; undefined for none, an error for a bad one. */
export function decodeCursor(raw: string | null): number | undefined | { error: string } {
  if (raw === null || raw === '') return undefined;
  const m = /^id:(\d+)$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
  const id = m ? Number(m[1]) : NaN;
  // ids are PostgreSQL integers: a larger one was not given out here (and would fail in the query)
  return Number.isSafeInteger(id) && id <= 2_147_483_647 ? id : { error: 'cursor is not one this API gave out' };
}

/** Answers 400 with zod's issues as `{path, message}`. */
export function sendZodError(res: ServerResponse, error: z.ZodError, message = 'the request is not valid'): void {
  const issues = error.issues.map((i) => ({ path: formatPath(i.path) || '(body)', message: i.message }));
  sendError(res, 400, 'api.invalid', `${message}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/** Answers a DomainError with its status and code; returns false for other errors (the caller rethrows). */
export function sendDomainError(res: ServerResponse, e: unknown): boolean {
  if (!isDomainError(e)) return false;
  sendError(res, e.status, e.code, e.message, e.issues);
  return true;
}
