/**
 * The webhook connector against a local receiver that checks what a real one would (the signature over
 * "<timestamp>.<body>" with the shared secret, one idempotency key per grant and action): a grant confirmed by a 2xx,
 * its removal at expiry, a failing receiver retried then `failed` (owners and the security channel told), a failing
 * removal retried under one alert until it succeeds; self-extension within maxDuration. PGlite and PostgreSQL.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import {
  accessConfig, approvalOf, grantRow, HOUR, lastCard, lastGrantId, messageText, replyText, securityPosts, START, startAccessTread, type RequestTestTread,
} from '../workflows/access/access.fakes.js';

const SECRET = 'payments-access-secret-0123456789';

const fail500 = (res: ServerResponse) => { res.writeHead(500); res.end('boom'); };

for (const driver of drivers) {
  describe(`the webhook connector (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;
    let r: WebhookReceiver;
    const clock = new ManualClock(new Date(START));

    beforeAll(async () => {
      r = await webhookReceiver({ secret: SECRET, clock, path: '/access' });
      database = await openTestDatabase(driver);
      t = await startAccessTread(database, {
        clock, config: accessConfig({ HOOK_URL: r.url, HOOK_SECRET: SECRET }),
        webhookPolicy: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 4000, timeoutMs: 2000 },
      });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
      await r?.close();
    });

    /** Runs retries due within the next `ms`. */
    const settle = async (ms: number) => { for (let i = 0; i < ms / 1000; i++) await t.advance(1000); };

    it('grant: the receiver gets a signed POST with the grant\'s idempotency key; its 2xx makes the grant active', async () => {
      await t.command('dave', '/access request pay auditor for 1h month-end checks ticket:FIN-1');
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect(r.seen).toHaveLength(1);
      const [hit] = r.seen;
      expect(hit!.valid).toBe(true);
      expect(hit!.headers['idempotency-key']).toBe(`GRT-${id}:grant`);
      expect(hit!.body).toMatchObject({ action: 'grant', grant: `GRT-${id}`, resource: 'pay', role: 'auditor', login: 'dave', person: { id: 'dave', name: 'Dave Asker', email: 'dave@example.com' }, reason: 'month-end checks', ticket: 'FIN-1', durationMs: HOUR });
      expect(await grantRow(t, id)).toMatchObject({ state: 'active' });
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('✓ Active until 11:00 CET (1h left).');
    });

    it('selfExtend: the grantee extends at once within maxDuration; beyond it is refused naming the limit', async () => {
      const id = await lastGrantId(t);
      expect(replyText(await t.command('dave', `/access extend GRT-${id} 2h the checks take longer`))).toBe(`GRT-${id} extended by 2h: now until 13:00 CET.`);
      expect(await grantRow(t, id)).toMatchObject({ durationMs: 3 * HOUR, extensions: 1 });
      expect(replyText(await t.command('dave', `/access extend GRT-${id} 6h even longer`))).toBe(`GRT-${id} cannot be extended so far: 3h plus 6h is longer than the limit of 8h in total for this resource; at most 5h more.`);
      expect(replyText(await t.command('carol', `/access extend GRT-${id} 1h for him`))).toBe(`Only Dave Asker (who holds it) may extend GRT-${id}; they ask, the approvers decide.`);
    });

    it('expiry: the removal goes to the receiver with its own idempotency key; its 2xx records the removal', async () => {
      const id = await lastGrantId(t);
      await t.advance(3 * HOUR);
      const hit = r.seen.at(-1)!;
      expect(hit.valid).toBe(true);
      expect(hit.headers['idempotency-key']).toBe(`GRT-${id}:revoke`);
      expect(hit.body).toMatchObject({ action: 'revoke', grant: `GRT-${id}`, role: 'auditor', login: 'dave' });
      expect(await grantRow(t, id)).toMatchObject({ state: 'expired', removal: 'done' });
    });

    it('a failing receiver is retried, then the grant is failed: the owners and the security channel are told', async () => {
      r.plan.push(fail500, fail500, fail500);
      await t.command('dave', '/access request pay auditor for 1h audit follow-up ticket:FIN-2');
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect((await grantRow(t, id)).state).toBe('provisioning');
      await settle(8000);
      const g = await grantRow(t, id);
      expect(g.state).toBe('failed');
      expect(g.outcome).toBe(`the access system did not take it after 3 attempts: ${r.url} answered 500: boom`);
      expect(r.seen.slice(-3).map((s) => [s.headers['idempotency-key'], s.valid])).toEqual([[`GRT-${id}:grant`, true], [`GRT-${id}:grant`, true], [`GRT-${id}:grant`, true]]);
      expect(securityPosts(t).some((p) => p.startsWith(`✗ GRT-${id} (pay: auditor for Dave Asker) could not be provisioned`))).toBe(true);
      expect(t.port.calls.some((c) => c.method === 'dm' && c.user === 'carol' && String(c.message?.text).startsWith(`✗ GRT-${id}`))).toBe(true);
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('✗ Provisioning failed: the access system did not take it after 3 attempts');
    });

    it('a failing removal is retried under one alert until the receiver takes it, then resolved', async () => {
      await t.command('dave', '/access request pay auditor for 1h one more check ticket:FIN-3');
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect((await grantRow(t, id)).state).toBe('active');
      r.plan.push(fail500, fail500, fail500, fail500);
      await t.advance(HOUR);
      await settle(8000);
      expect(await grantRow(t, id)).toMatchObject({ state: 'expired', removal: 'retrying', removalAttempts: 1 });
      const alertPosts = () => t.port.calls.filter((c) => c.method === 'post' && c.where?.channel === 'security' && messageText(c.message).includes(`GRT-${id}: auditor on pay could not be removed`));
      expect(alertPosts()).toHaveLength(1);
      // tread's own retry (30 s later) sends the same removal again; the receiver fails once more, then takes it
      await settle(40_000);
      await settle(70_000);
      const g = await grantRow(t, id);
      expect(g.removal).toBe('done');
      expect(alertPosts()).toHaveLength(1);
      expect(r.seen.filter((s) => s.headers['idempotency-key'] === `GRT-${id}:revoke`).length).toBeGreaterThanOrEqual(5);
      expect(securityPosts(t).some((p) => p.startsWith(`✓ GRT-${id}: auditor on pay is now removed from dave`))).toBe(true);
    });
  });
}
