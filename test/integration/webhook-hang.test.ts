/**
 * A webhook receiver that accepts the connection and never answers (request fulfilment; access provisioning below): each attempt ends within the
 * policy's timeout, is retried with the same idempotency key, and after the last attempt the request is reported as
 * failed to the fulfilment team and on the requester's card; meanwhile, while an attempt hangs, chat commands are
 * answered and other due timers run (the attempt runs with no transaction open), and nothing crashes. PGlite and
 * PostgreSQL.
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Inbound } from '../../src/core/inbound.js';
import { timersOf } from '../../src/core/timers.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { accessConfig, approvalOf, grantRow, lastGrantId, START as ACCESS_START, startAccessTread, type RequestTestTread as AccessTestTread } from '../workflows/access/access.fakes.js';
import { lastRequestId, messageText, requestRow, START, startRequestTread, type RequestTestTread } from '../workflows/request/request.fakes.js';
import { until } from '../helpers/wait.js';

const SECRET = 'hanging-webhook-secret-0123456789';
const TIMEOUT_MS = 1500;

const config = (url: string, badgeUrl: string) => parseOrganisation(`
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
  - name: badge
    title: Door badge
    fields: [{ id: site, label: Site, type: select, options: [Berlin], required: true }]
    fulfilment: { team: licences, channel: { console: licence-desk }, webhook: { url: "${badgeUrl}", secret: "\${LIC_SECRET}" } }
`, 'hooks.yaml', { LIC_SECRET: SECRET });


for (const driver of drivers) {
  describe(`a webhook receiver that hangs (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;
    let r: WebhookReceiver;
    let badges: WebhookReceiver;
    const hung: ServerResponse[] = [];
    /** The hanging requests whose connection is still open (the attempt has not given up yet). */
    const open = new Set<ServerResponse>();
    const clock = new ManualClock(new Date(START));

    beforeAll(async () => {
      r = await webhookReceiver({ secret: SECRET, clock, path: '/licences', answer: (res) => {
        hung.push(res);
        open.add(res);
        res.on('close', () => open.delete(res));
      } });
      badges = await webhookReceiver({ secret: SECRET, clock, path: '/badges' });
      database = await openTestDatabase(driver);
      t = await startRequestTread(database, {
        clock, config: config(r.url, badges.url), http: true,
        webhookPolicy: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 2000, timeoutMs: TIMEOUT_MS },
      });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
      for (const res of hung) res.destroy();
      r.server.closeAllConnections();
      await r?.close();
      await badges?.close();
    });

    /** A command handled by the router alone (no tick), timed. */
    async function timedCommand(actor: string, name: string, text: string): Promise<number> {
      const started = performance.now();
      await t.tread.router.handle({ kind: 'command', name, text, actor: { platform: 'console', id: actor }, where: { platform: 'console', channel: 'console' }, deliveryId: `h-${randomBytes(4).toString('hex')}` } as Inbound);
      return performance.now() - started;
    }

    it('each attempt ends within the timeout and is retried; after the last the request is reported failed; commands are answered meanwhile', async () => {
      const started = performance.now();
      await t.command('dave', '/request licence product:IntelliJ');
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      expect(r.seen).toHaveLength(1);
      // The first attempt hung and was given up after the timeout, not later.
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 2000);
      expect(await requestRow(t, id)).toMatchObject({ state: 'in_fulfilment' });

      // The second attempt hangs in the background. Due in the same run: another webhook (to a receiver that answers).
      clock.advance(2000);
      await t.db.transaction((tx) => t.tread.app.webhooks.send(tx, t.tread.app, { target: 'request:badge', subject: 'BADGE-1', idempotencyKey: 'BADGE-1:fulfil', body: { badge: 1 } }));
      const retry = t.tick();
      await until(() => r.seen.length === 2, 5000, 'the second attempt');
      const attempt = hung[1]!;
      // While it hangs, another person's command is answered (no transaction is open during the attempt: on PGlite the
      // command would wait for the attempt's timeout otherwise) ...
      const ms = await timedCommand('alice', 'request', 'help');
      expect(open.has(attempt)).toBe(true);
      expect(ms).toBeLessThan(500);
      // ... and the other due webhook is sent and its timer settled.
      await until(() => badges.seen.length === 1, 5000, 'the other webhook');
      await expect.poll(() => timersOf(t.db, 'BADGE-1'), { timeout: 5000, interval: 20 }).toEqual([]);
      expect(open.has(attempt)).toBe(true);
      await retry;
      expect(open.has(attempt)).toBe(false); // given up after the timeout

      await t.advance(2000);
      expect(r.seen).toHaveLength(3);
      expect(new Set(r.seen.map((s) => s.headers['idempotency-key']))).toEqual(new Set([`${subject}:fulfil`]));
      expect(r.seen.every((s) => s.valid)).toBe(true);
      const row = await requestRow(t, id);
      expect(row).toMatchObject({ state: 'in_fulfilment', webhookState: 'failed' });
      expect(row.webhookNote).toMatch(/no answer within/);
      const desk = t.port.calls.filter((c) => c.method === 'post' && c.where?.channel === 'licence-desk');
      expect(desk.at(-1)!.message!.text).toMatch(new RegExp(`^⚠ ${subject} .*did not take it after 3 attempts`));
      expect(messageText(t.port.calls.filter((c) => c.message?.subject === subject).at(-1)!.message)).toMatch(/could not be reached: .*no answer within/);
      await t.advance(60_000);
      expect(r.seen).toHaveLength(3); // given up
    }, 20_000);
  });
}

const ACCESS_SECRET = 'hanging-access-secret-0123456789';
const ACCESS_TIMEOUT_MS = 500;

for (const driver of drivers) {
  describe(`an access webhook receiver that hangs (${driver})`, () => {
    let database: Database;
    let t: AccessTestTread;
    let r: WebhookReceiver;
    const hung: ServerResponse[] = [];
    const clock = new ManualClock(new Date(ACCESS_START));

    beforeAll(async () => {
      r = await webhookReceiver({ secret: ACCESS_SECRET, clock, path: '/access', answer: (res) => { hung.push(res); } });
      database = await openTestDatabase(driver);
      t = await startAccessTread(database, {
        clock, config: accessConfig({ HOOK_URL: r.url, HOOK_SECRET: ACCESS_SECRET }),
        webhookPolicy: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 2000, timeoutMs: ACCESS_TIMEOUT_MS },
      });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
      for (const res of hung) res.destroy();
      r.server.closeAllConnections();
      await r?.close();
    });

    it('each provisioning attempt ends within the timeout, is retried, then the grant is failed and the owners told', async () => {
      await t.command('dave', '/access request pay auditor for 1h audit follow-up ticket:FIN-2');
      const id = await lastGrantId(t);
      const started = performance.now();
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect(performance.now() - started).toBeLessThan(ACCESS_TIMEOUT_MS + 2000);
      expect((await grantRow(t, id)).state).toBe('provisioning');
      for (let i = 0; i < 5 && r.seen.length < 3; i++) await t.advance(1000);
      const g = await grantRow(t, id);
      expect(g.state).toBe('failed');
      expect(g.outcome).toMatch(/did not take it after 3 attempts: .*no answer within/);
      expect(r.seen.map((s) => [s.headers['idempotency-key'], s.valid])).toEqual([[`GRT-${id}:grant`, true], [`GRT-${id}:grant`, true], [`GRT-${id}:grant`, true]]);
      expect(t.port.calls.some((c) => c.method === 'dm' && c.user === 'carol' && String(c.message?.text).startsWith(`✗ GRT-${id}`))).toBe(true);
      await t.advance(60_000);
      expect(r.seen).toHaveLength(3); // given up
    }, 20_000);
  });
}
