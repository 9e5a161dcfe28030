/** Teams end to end: activities into tread's real HTTP server, replies and proactive posts out to a fake connector. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createTeamsAdapter } from '../../../adapters/teams/index.js';
import type { TeamsChatPort } from '../../../adapters/teams/teams.port.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { PermanentChatError, RateLimitedError, UnsupportedError } from '../../../src/core/errors.js';
import { enqueue } from '../../../src/core/outbox.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';
import { cardOf, FakeConnector, type ConnectorCall } from './fake-connector.js';

const CONFIG = `
organisation: Example
people:
  - id: alice
    name: Alice Responder
    teams: aad-alice
    roles: [responder]
  - id: bob
    name: Bob Builder
    teams: aad-bob
    roles: [responder]
services:
  - name: payments
    owners: [alice]
    teams: { team: group-ops, channel: "19:payments@thread.tacv2" }
`;

const TENANT = 'tenant-1';
const BOT = { id: '28:tread-bot', name: 'tread' };
const ALICE = { id: '29:alice', name: 'Alice Responder', aadObjectId: 'aad-alice' };
const BOB = { id: '29:bob', name: 'Bob Builder', aadObjectId: 'aad-bob' };
const PERSONAL = 'a:personal-alice';
const GENERAL = '19:general@thread.tacv2';
const PAYMENTS = '19:payments@thread.tacv2';
const TEAM = { id: GENERAL, name: 'Ops', aadGroupId: 'group-ops' };

let seq = 0;

for (const driver of drivers) {
  describe(`Teams adapter end to end (${driver})`, () => {
    let database: Database;
    let connector: FakeConnector;
    let tread: Tread;
    /** Activity ids of the cards posted for INC-1 (personal chat) and INC-2 (channel). */
    const cardIds: Record<string, string> = {};

    const start = async () => startTread({
      database,
      config: parseOrganisation(CONFIG, 'test', {}),
      http: { host: '127.0.0.1', port: 0 },
      tickSeconds: 0,
      platforms: async (app, router) => [await createTeamsAdapter({ env: loadEnv({ HOST: '127.0.0.1' }), app, router })],
    });

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      connector = await new FakeConnector().start();
      tread = await start();
    });

    afterAll(async () => {
      await tread?.stop();
      await connector?.stop();
    });

    const port = () => tread.adapters[0]!.port as TeamsChatPort;
    /** Waits for the outbox sends the router kicked off after the last request, then forgets recorded calls. */
    const settle = async () => {
      await tread.dispatcher.flush();
      connector.clear();
    };

    async function post(activity: Record<string, unknown>): Promise<{ status: number; body: any }> {
      const res = await fetch(`http://127.0.0.1:${tread.port}/api/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }

    function personal(text: string, extra: Record<string, unknown> = {}) {
      return {
        type: 'message', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, text,
        from: ALICE, recipient: BOT, conversation: { id: PERSONAL, conversationType: 'personal', tenantId: TENANT },
        channelData: { tenant: { id: TENANT } }, ...extra,
      };
    }

    function inChannel(text: string, entities: unknown[], from = ALICE) {
      const id = `act-${++seq}`;
      return {
        type: 'message', id, channelId: 'msteams', serviceUrl: connector.url, text, entities, from, recipient: BOT,
        conversation: { id: `${GENERAL};messageid=${id}`, conversationType: 'channel', isGroup: true, tenantId: TENANT },
        channelData: { team: TEAM, channel: { id: GENERAL, name: 'General' }, tenant: { id: TENANT } },
      };
    }

    function cardAction(verb: string, value: string, replyToId: string, conversationId = PERSONAL, data: Record<string, unknown> = {}) {
      return {
        type: 'invoke', name: 'adaptiveCard/action', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, replyToId,
        from: ALICE, recipient: BOT, conversation: { id: conversationId, conversationType: 'personal', tenantId: TENANT },
        value: { action: { type: 'Action.Execute', verb, data: { value, ...data } }, trigger: 'manual' },
      };
    }

    const botMention = { type: 'mention', text: '<at>tread</at>', mentioned: BOT };
    const incidents = async () => database.rows<{ id: number; title: string; state: string; assignee: string | null; service: string | null }>(sql`select id, title, state, assignee, service from incidents order by id`);
    const cardPosts = (conversationId: string, subject: string) => connector.activityCalls()
      .filter((c) => c.method === 'POST' && c.conversationId === conversationId && JSON.stringify(cardOf(c) ?? {}).includes(subject));

    it('opens an incident from a personal chat and posts its Adaptive Card there', async () => {
      const res = await post(personal('incident Payment API down'));
      expect(res.status).toBe(200);
      const rows = await incidents();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ title: 'Payment API down', state: 'new' });
      await tread.dispatcher.flush();
      const posted = cardPosts(PERSONAL, 'INC-1');
      expect(posted).toHaveLength(1);
      cardIds['INC-1'] = posted[0]!.answeredId!;
      const card = cardOf(posted[0]!);
      expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.5' });
      expect(adaptiveCardProblems(card)).toEqual([]);
      expect(JSON.stringify(card)).toContain('Payment API down');
      const ack = card.actions.find((a: any) => a.verb === 'incident.ack');
      expect(ack).toMatchObject({ type: 'Action.Execute', title: 'Acknowledge', data: { value: 'INC-1' } });
      const stored = await database.rows<{ key: string }>(sql`select key from conversations where platform = 'teams' order by key`);
      expect(stored.map((r) => r.key)).toEqual(expect.arrayContaining([PERSONAL, 'user:aad-alice', 'member:aad-alice', 'member:29:alice']));
    });

    it('strips a leading bot mention and a slash in a channel, and posts to the service channel from the team reference', async () => {
      await settle();
      const res = await post(inChannel('<at>tread</at> /incident Checkout&nbsp;slow service:payments', [botMention]));
      expect(res.status).toBe(200);
      const rows = await incidents();
      expect(rows[1]).toMatchObject({ title: 'Checkout slow', service: 'payments' });
      await tread.dispatcher.flush();
      expect(cardPosts(GENERAL, 'INC-2')).toHaveLength(1);
      cardIds['INC-2'] = cardPosts(GENERAL, 'INC-2')[0]!.answeredId!;
      const service = cardPosts(PAYMENTS, 'INC-2');
      expect(service).toHaveLength(1);
      expect(service[0]!.replyToId).toBeUndefined();
      const team = await database.rows<{ key: string }>(sql`select key from conversations where key in ('team:group-ops', ${`team:${GENERAL}`}, ${PAYMENTS})`);
      expect(team).toHaveLength(3);
    });

    it('answers an Acknowledge card action with the refreshed card and updates the posted card', async () => {
      const messageId = cardIds['INC-1']!;
      await settle();
      const res = await post(cardAction('incident.ack', 'INC-1', messageId));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.card.adaptive' });
      expect(res.body.value).toMatchObject({ type: 'AdaptiveCard', version: '1.5' });
      expect(adaptiveCardProblems(res.body.value)).toEqual([]);
      expect(JSON.stringify(res.body.value)).toMatch(/acknowledged/i);
      expect(res.body.value.actions.some((a: any) => a.verb === 'incident.ack')).toBe(false);
      expect((await incidents())[0]!.state).toBe('acknowledged');
      await tread.dispatcher.flush();
      const updates = connector.activityCalls().filter((c) => c.method === 'PUT' && c.activityId === messageId);
      expect(updates).toHaveLength(1);
      expect(updates[0]!.conversationId).toBe(PERSONAL);
      expect(JSON.stringify(cardOf(updates[0]!))).toMatch(/acknowledged/i);
    });

    it('opens the resolve form in the card, shows field errors on it, and resolves on a good submission', async () => {
      const messageId = cardIds['INC-2']!;
      const form = await post(cardAction('incident.resolve.form', 'INC-2', messageId, GENERAL));
      expect(form.body.type).toBe('application/vnd.microsoft.card.adaptive');
      const submit = form.body.value.actions.find((a: any) => a.verb === 'incident.resolve.submit');
      expect(submit.data.value).toBe('INC-2');
      const formId = submit.data.treadForm;
      expect(formId).toBeTruthy();
      expect(form.body.value.body.find((e: any) => e.id === 'notes')).toMatchObject({ type: 'Input.Text', isMultiline: true, isRequired: true });

      const bad = await post(cardAction('incident.resolve.submit', 'INC-2', messageId, GENERAL, { treadForm: formId, notes: '', code: 'fixed' }));
      expect(bad.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(adaptiveCardProblems(bad.body.value)).toEqual([]);
      const text = JSON.stringify(bad.body.value);
      expect(text).toContain('Say what restored the service.');
      expect(bad.body.value.body.find((e: any) => e.id === 'notes')).toBeTruthy();
      expect((await incidents())[1]!.state).toBe('new');

      const good = await post(cardAction('incident.resolve.submit', 'INC-2', messageId, GENERAL, { treadForm: formId, notes: 'Rolled back the deploy', code: 'fixed' }));
      expect(good.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(JSON.stringify(good.body.value)).toMatch(/resolved/i);
      expect((await incidents())[1]!.state).toBe('resolved');
    });

    it('answers a button the actor may not press with a transient message, and changes nothing', async () => {
      const res = await post({ ...cardAction('incident.ack', 'INC-99', 'm-x'), from: { id: '29:stranger', name: 'Stranger', aadObjectId: 'aad-stranger' } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.activity.message' });
      expect(typeof res.body.value).toBe('string');
    });

    it('replies to help and to an unknown command in the conversation, as a reply to the message', async () => {
      await settle();
      const help = personal('help');
      await post(help);
      const unknown = personal('frobnicate the widgets');
      await post(unknown);
      const replies = connector.activityCalls();
      expect(replies[0]).toMatchObject({ conversationId: PERSONAL, replyToId: help.id });
      expect(JSON.stringify(replies[0]!.body)).toContain('incident');
      expect(replies[1]).toMatchObject({ conversationId: PERSONAL, replyToId: unknown.id });
      expect(replies[1]!.body.text).toContain('frobnicate');
    });

    it('turns a mention of another person into their AAD object id (looked up through the connector)', async () => {
      connector.members.set('29:bob', { id: '29:bob', name: 'Bob Builder', aadObjectId: 'aad-bob' });
      const res = await post(personal('incident assign INC-1 <at>Bob Builder</at>', { entities: [{ type: 'mention', text: '<at>Bob Builder</at>', mentioned: { id: '29:bob', name: 'Bob Builder' } }] }));
      expect(res.status).toBe(200);
      expect((await incidents())[0]!.assignee).toBe('bob');
    });

    it('ignores a repeated delivery of the same activity', async () => {
      const activity = personal('incident Repeated delivery');
      await post(activity);
      await post(activity);
      expect((await incidents()).filter((r) => r.title === 'Repeated delivery')).toHaveLength(1);
    });

    it('refuses a body that is not an activity with 400 naming the field', async () => {
      const res = await post({ hello: 'world' });
      expect(res.status).toBe(400);
      expect(res.body.error.issues[0].path).toBe('type');
    });

    it('maps throttling, permanent and transient connector errors for the outbox', async () => {
      await settle();
      const where = { platform: 'teams' as const, channel: PERSONAL };
      connector.failNext(429, { 'retry-after': '2' });
      const throttled = await port().post(where, { text: 'hello' }).catch((e) => e);
      expect(throttled).toBeInstanceOf(RateLimitedError);
      expect(throttled.retryAfterMs).toBe(2000);
      // Inside the Retry-After window the conversation is held back without asking Teams.
      const calls = connector.activityCalls().length;
      const held = await port().post(where, { text: 'hello' }).catch((e) => e);
      expect(held).toBeInstanceOf(RateLimitedError);
      expect(held.message).toMatch(/inside a Retry-After window/);
      expect(connector.activityCalls()).toHaveLength(calls);
      await new Promise((r) => setTimeout(r, 2050));
      connector.failNext(404);
      expect(await port().post(where, { text: 'hello' }).catch((e) => e)).toBeInstanceOf(PermanentChatError);
      connector.failNext(502);
      const transient = await port().post(where, { text: 'hello' }).catch((e) => e);
      expect(transient).toBeInstanceOf(Error);
      expect(transient).not.toBeInstanceOf(PermanentChatError);
      expect(transient).not.toBeInstanceOf(RateLimitedError);
      const ok = await port().post(where, { text: 'hello' });
      expect(ok.messageId).toMatch(/^m-/);
    });

    it('paces by the Bot Framework\'s limits: 7 a second in one conversation, then a wait; other conversations go on', async () => {
      const teams = port();
      const run = (conversation: string) => teams.pacer.run({ method: 'sendActivity', lanes: teams.lanes(conversation) }, async () => Date.now());
      const started = Date.now();
      const first = await Promise.all(Array.from({ length: 8 }, () => run('19:paced@thread.tacv2')));
      first.sort((x, y) => x - y);
      expect(first[6]! - started).toBeLessThan(500);
      // The eighth waits for the first to leave the one-second window.
      expect(first[7]! - started).toBeGreaterThanOrEqual(950);
      // The ninth waits for the first to leave the two-second window (8 in 2 s).
      expect(await run('19:paced@thread.tacv2') - started).toBeGreaterThanOrEqual(1950);
      // A burst that would wait longer than 1.5 s for its slot goes back to the outbox instead.
      const burst = await Promise.all(Array.from({ length: 16 }, () => run('19:paced@thread.tacv2').catch((e) => e)));
      const deferred = burst.filter((r) => r instanceof RateLimitedError);
      expect(deferred.length).toBeGreaterThan(0);
      expect(deferred[0].message).toMatch(/over its budget/);
      // Another conversation is not held back.
      const other = await run('19:other@thread.tacv2');
      expect(other - Date.now()).toBeLessThan(50);
    });

    it('keeps an outbox row through throttling and sends it once Teams accepts', async () => {
      await settle();
      await enqueue(tread.app.db, { kind: 'post', where: { platform: 'teams', channel: PERSONAL }, message: { text: 'after the throttle' } });
      connector.failNext(429, { 'retry-after': '0' });
      await tread.dispatcher.flush();
      await tread.dispatcher.flush();
      const rows = await database.rows<{ status: string }>(sql`select status from outbox where payload->'message'->>'text' = 'after the throttle'`);
      expect(rows[0]!.status).toBe('sent');
      expect(connector.activityCalls().filter((c) => c.body?.text === 'after the throttle')).toHaveLength(2);
    });

    it('reports channel creation and pinning as unsupported with a sentence', async () => {
      const e = await port().createChannel('inc-7-checkout', []).catch((x) => x);
      expect(e).toBeInstanceOf(UnsupportedError);
      expect(e.message).toMatch(/Graph permissions/);
      expect(await port().pin({ where: { platform: 'teams', channel: PERSONAL }, messageId: 'm-1' }).catch((x) => x)).toBeInstanceOf(UnsupportedError);
    });

    it('sends personal messages: in a known chat, by creating one for a person seen in a channel, and refuses a stranger', async () => {
      await settle();
      const toAlice = await port().dm({ platform: 'teams', userId: 'aad-alice', name: 'Alice' }, { text: 'You are paged' });
      expect(toAlice.where.channel).toBe(PERSONAL);
      const stranger = await port().dm({ platform: 'teams', userId: 'aad-nobody', name: 'Nobody' }, { text: 'hi' }).catch((e) => e);
      expect(stranger).toBeInstanceOf(PermanentChatError);
      await post(inChannel('<at>tread</at> help', [botMention], BOB));
      await settle();
      const toBob = await port().dm({ platform: 'teams', userId: 'aad-bob', name: 'Bob' }, { text: 'You are paged too' });
      const create = connector.calls.find((c) => c.method === 'POST' && c.path === '/v3/conversations');
      expect(create?.body.members[0].id).toBe('29:bob');
      expect(toBob.where.channel).toBe(create!.answeredId);
      expect(connector.activityCalls().some((c: ConnectorCall) => c.conversationId === create!.answeredId && c.body.text === 'You are paged too')).toBe(true);
    });

    it('after a restart, posts an outbox row to a service channel from the stored reference', async () => {
      // Forget the channel itself: only the team's reference (stored when the bot was mentioned there) is left.
      await database.rows(sql`delete from conversations where platform = 'teams' and key = ${PAYMENTS}`);
      await tread.stop({ closeDatabase: false });
      tread = await start();
      connector.clear();
      await enqueue(tread.app.db, { kind: 'post', where: { platform: 'teams', tenant: 'group-ops', channel: PAYMENTS }, message: { title: 'After restart', text: 'still here' }, subject: 'TEST-1' });
      await tread.dispatcher.flush();
      const posted = connector.activityCalls().filter((c) => c.conversationId === PAYMENTS);
      expect(posted).toHaveLength(1);
      expect(JSON.stringify(cardOf(posted[0]!))).toContain('After restart');
      const rows = await database.rows<{ status: string }>(sql`select status from outbox where order_key = 'TEST-1'`);
      expect(rows[0]!.status).toBe('sent');
      // A new post in the channel the bot has never been addressed in is a post into the channel, not a reply.
      expect(posted[0]!.replyToId).toBeUndefined();
    });
  });
}
