/**
 * A local receiver of tread's outgoing webhooks that checks what a real one would, as the README tells receivers to:
 * the HMAC-SHA256 signature over "<timestamp>.<body>" with the shared secret (constant-time compare) and a fresh
 * timestamp. Tests plan its next answers and read what it saw.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../src/core/clock.js';

/** One request the receiver saw: the raw body, the body as JSON (when it is JSON), and whether the signature held. */
export interface SeenRequest {
  headers: IncomingMessage['headers'];
  raw: string;
  body: any;
  valid: boolean;
}

/** A running receiver. */
export interface WebhookReceiver {
  server: Server;
  url: string;
  /** What it does with the next requests, in order; after them, `answer`. */
  plan: ((res: ServerResponse) => void)[];
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** True when the headers carry tread's signature of the body with the secret, made within 5 minutes of `now`. */
export function signedByTread(secret: string, headers: IncomingMessage['headers'], body: string, now: Date): boolean {
  const ts = String(headers['x-tread-timestamp'] ?? '');
  const given = Buffer.from(String(headers['x-tread-signature'] ?? ''));
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`);
  const fresh = Math.abs(now.getTime() / 1000 - Number(ts)) < 300;
  return fresh && given.length === expected.length && timingSafeEqual(given, expected);
}

/** Starts a receiver on a free local port; without a plan it answers with `answer` (200 `{"ok":true}` by default). */
export async function webhookReceiver(options: { secret: string; clock: Clock; path?: string; answer?: (res: ServerResponse) => void }): Promise<WebhookReceiver> {
  const answer = options.answer ?? ((res: ServerResponse) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"ok":true}'); });
  const r = { plan: [], seen: [] } as unknown as WebhookReceiver;
  r.server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      let body: unknown = raw;
      try { body = JSON.parse(raw); } catch { /* not JSON: the text */ }
      r.seen.push({ headers: req.headers, raw, body, valid: signedByTread(options.secret, req.headers, raw, options.clock.now()) });
      (r.plan.shift() ?? answer)(res);
    });
  });
  await new Promise<void>((ok) => r.server.listen(0, '127.0.0.1', () => ok()));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}${options.path ?? '/hook'}`;
  r.close = () => new Promise((ok) => r.server.close(() => ok()));
  return r;
}
