/**
 * Outgoing webhooks against a local receiver that checks what a real one would: the HMAC signature over
 * "<timestamp>.<body>" with the shared secret, and the idempotency key. Retries on 5xx, 429 (Retry-After) and network
 * errors; none on other 4xx; the owner told after the last attempt.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows, type Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import type { WebhookOutcome } from '../../src/core/webhooks.js';
import { signWebhook, webhookDelayMs } from '../../src/core/webhooks.js';
import { on, type Workflow } from '../../src/core/workflow.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { RecordingPort } from '../helpers/recording-port.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'webhook-secret-0123456789';
const T0 = new Date('2026-01-05T09:00:00Z');
const config = parseOrganisation('people:\n  - { id: alice, name: Alice, roles: [responder] }\n', 'test', {});

const outcomes: { kind: string; o: WebhookOutcome }[] = [];

function workflowFor(url: string): Workflow {
  return {
    name: 'demo',
    webhookTargets: () => [{ name: 'demo:fulfil', url, secret: SECRET }, { name: 'demo:nowhere', url: 'http://127.0.0.1:1/closed', secret: SECRET }],
    subscribes: [
      on('webhook.delivered', 'inline', 'delivered', async (_tx, _app, o) => { outcomes.push({ kind: 'delivered', o }); }),
      on('webhook.failed', 'inline', 'failed', async (_tx, _app, o) => { outcomes.push({ kind: 'failed', o }); }),
    ],
  };
}

for (const driver of drivers) {
  describe(`outgoing webhooks (${driver})`, () => {
    let database: Database;
    let tread: Tread;
    let r: WebhookReceiver;
    const clock = new ManualClock(T0);
    const port = new RecordingPort('console');

    beforeAll(async () => {
      r = await webhookReceiver({ secret: SECRET, clock, answer: (res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ accepted: true, ticket: 'EXT-1' })); } });
      database = await openTestDatabase(driver);
      tread = await startTread({
        database, config, clock, tickSeconds: 0, workflows: [workflowFor(r.url)], platforms: () => [{ platform: 'console', port }],
        webhookPolicy: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 10_000, timeoutMs: 1500 },
      });
    });
    afterAll(async () => {
      await tread?.stop({ closeDatabase: false });
      await database?.close();
      await r?.close();
    });
    beforeEach(async () => {
      outcomes.length = 0;
      r.seen.length = 0;
      r.plan.length = 0;
      port.calls.length = 0;
    });

    const send = (key: string, target = 'demo:fulfil') => tread.app.db.transaction((tx) => tread.app.webhooks.send(tx, tread.app, {
      target, body: { request: 'REQ-7', item: 'laptop', fields: { model: 'M3' } }, idempotencyKey: key, subject: 'REQ-7', notify: ['alice'],
    }));
    const pending = async () => queryRows<{ attempts: number; due_at: Date | string; payload: { attempt: number } }>(database.db, sql`select attempts, due_at, payload from timers where kind = 'core.webhook'`);

    it('sends after commit, signed and with its idempotency key; a 2xx is delivered (with the answer)', async () => {
      await send('REQ-7:fulfil');
      expect(r.seen).toHaveLength(0); // nothing leaves inside the change's transaction
      await tread.scheduler.tick();
      expect(r.seen).toHaveLength(1);
      const [hit] = r.seen;
      expect(hit!.valid).toBe(true);
      expect(hit!.headers['idempotency-key']).toBe('REQ-7:fulfil');
      expect(hit!.headers['content-type']).toBe('application/json');
      expect(hit!.body).toEqual({ request: 'REQ-7', item: 'laptop', fields: { model: 'M3' } });
      expect(hit!.headers['x-tread-signature']).toBe(signWebhook(SECRET, String(hit!.headers['x-tread-timestamp']), hit!.raw));
      expect(outcomes).toEqual([{ kind: 'delivered', o: { subject: 'REQ-7', target: 'demo:fulfil', idempotencyKey: 'REQ-7:fulfil', attempts: 1, status: 200, response: { accepted: true, ticket: 'EXT-1' } } }]);
      expect(await pending()).toEqual([]);
    });

    it('retries a 5xx with backoff, keeping the idempotency key, until it is accepted', async () => {
      r.plan.push((res) => { res.writeHead(503); res.end('busy'); });
      await send('REQ-7:retry');
      await tread.scheduler.tick();
      const [waiting] = await pending();
      expect(waiting!.payload.attempt).toBe(1);
      const delay = new Date(waiting!.due_at).getTime() - clock.now().getTime();
      expect(delay).toBeGreaterThanOrEqual(500);
      expect(delay).toBeLessThanOrEqual(1000);
      await tread.scheduler.tick(); // not due yet: nothing sent
      expect(r.seen).toHaveLength(1);
      clock.advance(1000);
      await tread.scheduler.tick();
      expect(r.seen.map((s) => s.headers['idempotency-key'])).toEqual(['REQ-7:retry', 'REQ-7:retry']);
      expect(r.seen.every((s) => s.valid)).toBe(true);
      expect(outcomes.map((x) => [x.kind, x.o.attempts])).toEqual([['delivered', 2]]);
    });

    it('honours Retry-After on 429', async () => {
      r.plan.push((res) => { res.writeHead(429, { 'retry-after': '30' }); res.end(); });
      await send('REQ-7:throttled');
      await tread.scheduler.tick();
      const [waiting] = await pending();
      expect(new Date(waiting!.due_at).getTime() - clock.now().getTime()).toBe(30_000);
      clock.advance(30_000);
      await tread.scheduler.tick();
      expect(outcomes.map((x) => x.kind)).toEqual(['delivered']);
    });

    it('never retries another 4xx: the owner is told at once (cards and the people named), and webhook.failed is announced', async () => {
      r.plan.push((res) => { res.writeHead(400, { 'content-type': 'application/json' }); res.end('{"error":"unknown item"}'); });
      await send('REQ-7:bad');
      await tread.scheduler.tick();
      expect(r.seen).toHaveLength(1);
      expect(await pending()).toEqual([]);
      expect(outcomes).toMatchObject([{ kind: 'failed', o: { attempts: 1, status: 400, error: expect.stringMatching(/answered 400: \{"error":"unknown item"\}/) } }]);
      expect(port.dms('alice').map((c) => c.message?.text)).toEqual([expect.stringMatching(/^⚠ REQ-7: the webhook to demo:fulfil failed after 1 attempt: /)]);
      expect(port.dms('alice')[0]!.message!.text).not.toContain(SECRET);
    });

    it('gives up after the last attempt on network errors, and tells the owner', async () => {
      await send('REQ-7:unreachable', 'demo:nowhere');
      for (let i = 0; i < 3; i++) {
        await tread.scheduler.tick();
        clock.advance(20_000);
      }
      expect(outcomes).toMatchObject([{ kind: 'failed', o: { attempts: 3, target: 'demo:nowhere', error: expect.stringMatching(/127\.0\.0\.1:1/) } }]);
      expect(await pending()).toEqual([]);
      expect(port.dms('alice')).toHaveLength(1);
    });

    it('a receiver that never answers is a failed attempt after the timeout, not a stalled scheduler', async () => {
      r.plan.push(() => { /* never answers */ });
      await send('REQ-7:hung');
      const started = Date.now();
      await tread.scheduler.tick();
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await pending())[0]!.payload.attempt).toBe(1);
      clock.advance(10_000);
      await tread.scheduler.tick();
      expect(outcomes.map((x) => [x.kind, x.o.attempts])).toEqual([['delivered', 2]]);
    });
  });
}

describe('webhook backoff', () => {
  it('grows exponentially to its cap, with jitter in the upper half', () => {
    const policy = { maxAttempts: 8, baseDelayMs: 2000, maxDelayMs: 60_000, timeoutMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => webhookDelayMs(a, policy, () => 1))).toEqual([2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect(webhookDelayMs(3, policy, () => 0)).toBe(4000);
  });
});
