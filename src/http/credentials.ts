/** Caller credentials: the token a request sends, compared in constant time. */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** True when two secrets are equal, without leaking where they differ. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token of `Authorization: Bearer <token>`, if that is what the request sent. */
export function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
}

/** The credential a caller sent: `Bearer <token>`, or the password of Basic auth (webhook senders use either). */
export function credential(req: IncomingMessage): string | undefined {
  const bearer = bearerToken(req);
  if (bearer !== undefined) return bearer;
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!basic) return undefined;
  const text = Buffer.from(basic[1]!.trim(), 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i >= 0 ? text.slice(i + 1) : undefined;
}
