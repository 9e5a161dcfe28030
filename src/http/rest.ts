/**
 * The REST helpers workflow routes use (the only part of src/http a `*.routes.ts` may import): responses and errors,
 * list paging, record ids in paths, the acting person, request bodies, caller credentials and rate limits.
 */
import type { ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { AppContext } from '../core/app.js';
import { parseRecordId } from '../core/commands.js';
import { formatPath } from '../core/config/org.js';
import { badInput, isDomainError, notFound } from '../core/errors.js';
import { API_PERSON, findPerson, type Person } from '../core/identity.js';
import type { Request } from '../core/route.js';
import { sendError, sendJson } from './server.js';

export { sendError, sendJson } from './server.js';
export { BadJsonError, BodyTooLargeError, MAX_BODY_BYTES, parseJson, parseJsonText, readBody, readJson } from './body.js';
export { credential, sameSecret } from './credentials.js';
export { RateLimiter } from './rate-limit.js';

/** One bad field of a request. */
export interface Issue {
  path: string;
  message: string;
}

/** An ISO 8601 time, or null. */
export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** Page size from `limit` (default 50, max 500); a bad value is an error naming `limit`. */
export function pageLimit(query: URLSearchParams): number | { error: string } {
  const raw = query.get('limit');
  if (raw === null) return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 500) return { error: 'limit must be a whole number from 1 to 500' };
  return n;
}

/** An opaque cursor for keyset paging by a numeric id (or an index). */
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

/** A list request's paging: `limit` and `cursor`, the problems noted in `issues` (then the values must not be used). */
export function listQuery(query: URLSearchParams, issues: Issue[]): { limit: number; cursor: number | undefined } {
  const limit = pageLimit(query);
  if (typeof limit === 'object') issues.push({ path: 'limit', message: limit.error });
  const cursor = decodeCursor(query.get('cursor'));
  if (typeof cursor === 'object') issues.push({ path: 'cursor', message: cursor.error });
  return { limit: typeof limit === 'number' ? limit : 0, cursor: typeof cursor === 'number' ? cursor : undefined };
}

/**
 * Sends one page of rows (fetched in key order, one beyond `limit`) with the cursor of the next page, or null on the
 * last. The key is the row's `id` unless given.
 */
export function sendList<R>(res: ServerResponse, rows: R[], limit: number, json: (row: R) => unknown, key: (row: R) => number = (r) => (r as { id: number }).id): void {
  const page = rows.slice(0, limit);
  sendJson(res, 200, { items: page.map(json), nextCursor: rows.length > limit ? encodeCursor(key(page[page.length - 1]!)) : null });
}

/** Answers 400 listing every bad field. */
export function sendIssues(res: ServerResponse, issues: Issue[], message = 'the request is not valid'): void {
  sendError(res, 400, 'api.invalid', `${message}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/** zod's issues as `{path, message}`; an unknown key is an issue of its own path (`severity: unknown field`). */
export function zodIssues(error: z.ZodError): Issue[] {
  return error.issues.flatMap((i) => (i.code === 'unrecognized_keys'
    ? i.keys.map((k) => ({ path: formatPath([...i.path, k]), message: 'unknown field' }))
    : [{ path: formatPath(i.path) || '(body)', message: i.message }]));
}

/** Answers 400 with zod's issues as `{path, message}`. */
export function sendZodError(res: ServerResponse, error: z.ZodError, message = 'the request is not valid'): void {
  sendIssues(res, zodIssues(error), message);
}

/** Answers a DomainError with its status and code; returns false for other errors (the caller rethrows). */
export function sendDomainError(res: ServerResponse, e: unknown): boolean {
  if (!isDomainError(e)) return false;
  sendError(res, e.status, e.code, e.message, e.issues);
  return true;
}

/** Runs a route's work and answers a DomainError it throws with its status (other errors go on to the server: 500). */
export async function answering(res: ServerResponse, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    if (!sendDomainError(res, e)) throw e;
  }
}

/**
 * The record id in a path parameter (`INC-7`, or `7` like in chat), with the same parser chat uses; a 404-coded error
 * naming the id otherwise.
 */
export function pathId(req: Request, prefix: string, code: string, what: string, param = 'id'): number {
  const text = req.params[param] ?? '';
  const id = parseRecordId(prefix, text);
  if (id === undefined) throw notFound(code, `there is no ${what} "${text}"; ids look like ${prefix}-7`);
  return id;
}

/**
 * The person the API acts for: with `by`, that person (a known one, a 400 naming `by` otherwise) with that person's own
 * roles, so the API may do on their behalf only what they may do in chat (403 otherwise) and the audit log never shows a
 * person doing what they were not allowed to do; without `by`, the `api` actor (admin rights).
 */
export async function restActor(app: AppContext, by: string | undefined): Promise<Person> {
  if (by === undefined) return API_PERSON;
  const person = await findPerson(app, by);
  if (!person) throw badInput('api.invalid', `by: unknown person "${by}"`, [{ path: 'by', message: `unknown person "${by}"` }]);
  return person;
}

/** A `service` named in a body that the config does not know, as an issue (reported with the body's other problems). */
export function unknownServiceIssues(app: AppContext, body: unknown): Issue[] {
  const service = (body as { service?: unknown } | null)?.service;
  return typeof service === 'string' && service !== '' && !app.config.services.some((s) => s.name === service.toLowerCase())
    ? [{ path: 'service', message: `unknown service "${service}"` }] : [];
}
