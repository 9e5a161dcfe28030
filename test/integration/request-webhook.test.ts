/**
 * Webhook fulfilment against a local receiver that checks what a real one would (the signature over "<timestamp>.<body>"
 * with the shared secret, the idempotency key), the receiver's signed report to POST /hooks/requests/REQ-n, and a failing
 * receiver retried and finally reported to the team and on the requester's card; a cancelled request's signed
 * cancellation (`action: "cancel"`, `Idempotency-Key: REQ-n:cancel`), retried and reported the same way. PGlite and
 * PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { signWebhook } from '../../src/core/webhooks.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { auditOf, lastRequestId, messageText, replyText, requestRow, START, startRequestTread, type RequestTestTread } from '../workflows/request/request.fakes.js';

const SECRET = 'licence-webhook-secret-0123456789';

const config = (url: string) => parseOrganisation(`
organisation: Hooks
timezone: Europe/Berlin
people:
  - { id: alice, name: Alice Admin, roles: [admin] }
  - { id: bob, name: Bob Fixer }
  - { id: dave, name: Dave Asker, email: dave@example.com }
teams:
  - { id: licences, members: [bob] }
catalog:
  - name: licence
    title: Software licence
    fields: [{ id: product, label: Product, type: select, options: [Figma, IntelliJ], required: true }]
    fulfilment: { team: licences, channel: { console: licence-desk }, webhook: { url: "${url}", secret: "\${LIC_SECRET}" } }
    sla: { response: 1h, resolution: 1d }
`, 'hooks.yaml', { LIC_SECRET: SECRET });

for (const driver of drivers) {
  describe(`webhook fulfilment (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;
    let r: WebhookReceiver;
    const clock = new ManualClock(new Date(START));

    beforeAll(async () => {
      r = await webhookReceiver({ secret: SECRET, clock, path: '/licences', answer: (res) => { res.writeHead(202, { 'content-type': 'application/json' }); res.end(JSON.stringify({ accepted: true, ticket: 'LIC-42' })); } });
      database = await openTestDatabase(driver);
      t = await startRequestTread(database, {
        clock, config: config(r.url), http: true, publicUrl: 'https://tread.example.com',
        webhookPolicy: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 5000, timeoutMs: 2000 },
      });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
      await r?.close();
    });

    /** POSTs a report to the hook, signed with `secret` at `at` (Unix seconds). */
    async function report(subject: string, body: unknown, options: { secret?: string; at?: number; raw?: string } = {}) {
      const text = options.raw ?? JSON.stringify(body);
      const ts = options.at ?? Math.floor(clock.now().getTime() / 1000);
      const res = await fetch(`http://127.0.0.1:${t.tread.port}/hooks/requests/${subject}`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-tread-timestamp': String(ts), 'x-tread-signature': signWebhook(options.secret ?? SECRET, ts, text) }, body: text,
      });
      const out = { status: res.status, body: await res.json() as any };
      await t.tick();
      return out;
    }

    it('sends the request signed to the receiver; a 2xx is accepted (the first response); the signed report fulfils it', async () => {
      await t.command('dave', '/request licence product:Figma');
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      expect(r.seen).toHaveLength(1);
      const sent = r.seen[0]!;
      expect(sent.valid).toBe(true);
      expect(sent.headers['idempotency-key']).toBe(`${subject}:fulfil`);
      expect(sent.body).toEqual({
        action: 'fulfil', request: subject, item: 'licence', title: 'Software licence', fields: { product: 'Figma' },
        requester: { id: 'dave', name: 'Dave Asker', email: 'dave@example.com' }, submittedAt: '2026-01-05T09:00:00.000Z',
        callback: `https://tread.example.com/hooks/requests/${subject}`,
      });
      const accepted = await requestRow(t, id);
      expect(accepted).toMatchObject({ state: 'in_fulfilment', webhookState: 'accepted', webhookNote: 'reference LIC-42' });
      expect(accepted.respondedAt).not.toBeNull();
      const card = t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!;
      expect(messageText(card.message)).toContain('Accepted by the fulfilment system 10:00 CET (reference LIC-42); waiting for it to finish.');

      const before = (await requestRow(t, id)).version;
      expect((await report(subject, { status: 'fulfilled' }, { secret: 'wrong-secret-0123456789' })).body.error.code).toBe('request.bad_signature');
      const stale = await report(subject, { status: 'fulfilled' }, { at: Math.floor(clock.now().getTime() / 1000) - 600 });
      expect(stale).toMatchObject({ status: 401, body: { error: { message: 'X-Tread-Timestamp is more than 300 s away from now (replayed or a wrong clock)' } } });
      const unsigned = await fetch(`http://127.0.0.1:${t.tread.port}/hooks/requests/${subject}`, { method: 'POST', body: '{"status":"fulfilled"}' });
      expect(unsigned.status).toBe(401);
      const bad = await report(subject, { status: 'done', extra: 1 });
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues.map((i: any) => i.path)).toEqual(['status', 'extra']);
      expect((await report(subject, { status: 'incomplete' })).body.error.issues).toEqual([{ path: 'note', message: 'say why it is incomplete' }]);
      expect((await report('REQ-999', { status: 'fulfilled' })).status).toBe(404);
      expect((await requestRow(t, id)).version).toBe(before);

      const ok = await report(subject, { status: 'fulfilled', note: 'seat assigned to dave@example.com' });
      expect(ok).toMatchObject({ status: 200, body: { id: subject, state: 'fulfilled', outcome: 'seat assigned to dave@example.com' } });
      expect(messageText(t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!.message)).toContain('✓ Fulfilled 10:00 CET: seat assigned to dave@example.com.');
      expect(await report(subject, { status: 'fulfilled', note: 'again' })).toMatchObject({ status: 200, body: { repeated: true } });
      expect((await report(subject, { status: 'incomplete', note: 'changed my mind' })).status).toBe(409);
      expect(r.seen).toHaveLength(1); // sent once
    });

    it('a failing receiver is retried with the same idempotency key, then the team and the requester\'s card are told; an admin completes by hand', async () => {
      r.plan.push(
        (res) => { res.writeHead(503); res.end('maintenance'); },
        (res) => { res.writeHead(500); res.end('boom'); },
        (res) => { res.writeHead(502); res.end('bad gateway'); },
      );
      const seenBefore = r.seen.length;
      await t.command('dave', '/request licence product:IntelliJ');
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      expect(r.seen.length - seenBefore).toBe(1);
      await t.advance(1000);
      await t.advance(2000);
      await t.advance(5000);
      const attempts = r.seen.slice(seenBefore);
      expect(attempts).toHaveLength(3);
      expect(new Set(attempts.map((a) => a.headers['idempotency-key']))).toEqual(new Set([`${subject}:fulfil`]));
      expect(attempts.every((a) => a.valid)).toBe(true);
      const row = await requestRow(t, id);
      expect(row).toMatchObject({ state: 'in_fulfilment', webhookState: 'failed' });
      expect(row.webhookNote).toMatch(/answered 502: bad gateway/);
      expect(messageText(t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!.message)).toMatch(/⚠ The fulfilment system could not be reached: .*answered 502: bad gateway\. The fulfilment team was told\./);
      const desk = t.port.calls.filter((c) => c.method === 'post' && c.where?.channel === 'licence-desk');
      expect(desk.at(-1)!.message!.text).toMatch(new RegExp(`^⚠ ${subject} \\(Software licence\\): the fulfilment system did not take it after 3 attempts .*/request complete ${subject} fulfilled <note>$`));
      expect(t.port.dms('bob').at(-1)!.message!.text).toMatch(new RegExp(`^⚠ ${subject}: the webhook to request:licence failed after 3 attempts`));
      expect(r.seen).toHaveLength(seenBefore + 3);
      await t.advance(60_000);
      expect(r.seen).toHaveLength(seenBefore + 3); // given up: no more attempts
      expect(replyText(await t.command('alice', `/request complete ${subject} fulfilled assigned by hand in the admin console`))).toBe(`${subject} marked fulfilled.`);
      expect(await requestRow(t, id)).toMatchObject({ state: 'fulfilled', outcomeBy: 'alice' });
    });

    it('a request cancelled while its webhook still retries gets no more fulfilment attempts, and the receiver a signed cancellation', async () => {
      r.plan.push((res) => { res.writeHead(503); res.end('maintenance'); });
      const seenBefore = r.seen.length;
      await t.command('dave', '/request licence product:Figma');
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      expect(r.seen.length - seenBefore).toBe(1);
      expect(replyText(await t.command('dave', `/request cancel ${subject} not needed after all`))).toBe(`${subject} cancelled.`);
      await t.advance(10_000);
      // the attempt that answered 503 may have reached the receiver: it is told to stop, and the fulfilment is not retried
      expect(r.seen.slice(seenBefore).map((s) => s.headers['idempotency-key'])).toEqual([`${subject}:fulfil`, `${subject}:cancel`]);
      expect(r.seen.at(-1)!.valid).toBe(true);
      expect(r.seen.at(-1)!.body).toMatchObject({ action: 'cancel', request: subject, reason: 'not needed after all' });
      expect(await requestRow(t, id)).toMatchObject({ state: 'cancelled', webhookState: 'cancel_accepted' });
    });

    it('a request cancelled after the receiver took it: a signed cancellation with its own idempotency key, confirmed on the card', async () => {
      const seenBefore = r.seen.length;
      await t.command('dave', '/request licence product:IntelliJ');
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      expect(await requestRow(t, id)).toMatchObject({ state: 'in_fulfilment', webhookState: 'accepted' });
      await t.advance(60_000);
      const cancelledAt = clock.now().toISOString();
      expect(replyText(await t.command('dave', `/request cancel ${subject} the team bought a site licence`))).toBe(`${subject} cancelled.`);
      const sent = r.seen.slice(seenBefore);
      expect(sent.map((s) => s.headers['idempotency-key'])).toEqual([`${subject}:fulfil`, `${subject}:cancel`]);
      const cancel = sent[1]!;
      expect(cancel.valid).toBe(true);
      expect(cancel.body).toEqual({
        action: 'cancel', request: subject, item: 'licence', title: 'Software licence', reason: 'the team bought a site licence',
        cancelledBy: { id: 'dave', name: 'Dave Asker' }, cancelledAt,
      });
      expect(await requestRow(t, id)).toMatchObject({ state: 'cancelled', webhookState: 'cancel_accepted', webhookNote: 'reference LIC-42' });
      const card = messageText(t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!.message);
      expect(card).toContain('Cancelled by Dave Asker: the team bought a site licence.');
      expect(card).toContain('The fulfilment system confirmed the cancellation.');
      expect(card).toContain('The fulfilment system confirmed the cancellation (HTTP 202)');
      // a report for a cancelled request is refused
      expect((await report(subject, { status: 'fulfilled', note: 'too late' })).status).toBe(409);
      await t.advance(60_000);
      expect(r.seen.length - seenBefore).toBe(2);
    });

    it('a receiver that fails the cancellation is retried with the same key, then the team and the requester\'s card are told', async () => {
      const seenBefore = r.seen.length;
      await t.command('dave', '/request licence product:Figma');
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      r.plan.push(
        (res) => { res.writeHead(500); res.end('boom'); },
        (res) => { res.writeHead(503); res.end('maintenance'); },
        (res) => { res.writeHead(502); res.end('bad gateway'); },
      );
      await t.command('alice', `/request cancel ${subject} bought by mistake`);
      expect((await requestRow(t, id)).webhookState).toBe('cancel_sent');
      expect(messageText(t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!.message)).toContain('The fulfilment system is being told to stop.');
      await t.advance(1000);
      await t.advance(2000);
      await t.advance(5000);
      const cancels = r.seen.slice(seenBefore + 1);
      expect(cancels.map((c) => c.headers['idempotency-key'])).toEqual([`${subject}:cancel`, `${subject}:cancel`, `${subject}:cancel`]);
      expect(cancels.every((c) => c.valid && c.body.action === 'cancel')).toBe(true);
      const row = await requestRow(t, id);
      expect(row).toMatchObject({ state: 'cancelled', webhookState: 'cancel_failed' });
      expect(row.webhookNote).toMatch(/answered 502: bad gateway/);
      expect(messageText(t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!.message))
        .toMatch(/⚠ The fulfilment system could not be told of the cancellation: .*answered 502: bad gateway\. The fulfilment team was told\./);
      const desk = t.port.calls.filter((c) => c.method === 'post' && c.where?.channel === 'licence-desk');
      expect(desk.at(-1)!.message!.text).toMatch(new RegExp(`^⚠ ${subject} \\(Software licence\\) was cancelled, but the fulfilment system did not take the cancellation after 3 attempts \\(.*answered 502: bad gateway\\)\\. Stop its fulfilment there by hand\\.$`));
      expect(t.port.dms('bob').at(-1)!.message!.text).toMatch(new RegExp(`^⚠ ${subject}: the webhook to request:licence failed after 3 attempts`));
      expect((await auditOf(t, subject)).map((a) => a.action)).toEqual(['request.submitted', 'request.approve', 'request.start', 'request.cancel']);
      await t.advance(60_000);
      expect(r.seen.length - seenBefore).toBe(4); // given up: no more attempts
    });
  });
}
