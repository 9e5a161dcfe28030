/**
 * Teams with authentication on, end to end: tread has an app id and a client secret; activities come in signed by the
 * channel's key (served by a fake OpenID endpoint), and everything tread sends goes to a connector fake that refuses
 * requests without a token from the fake Azure AD token endpoint (client-credentials grant). Replies, proactive posts,
 * card updates and new personal chats all carry that token; an activity without a valid token is refused and leaves
 * nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'drizzle-orm';
import { createTeamsAdapter } from '../../../adapters/teams/index.js';
import type { TeamsChatPort } from '../../../adapters/teams/teams.port.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { cardOf, FakeConnector } from './fake-connector.js';
import { FakeIdentity } from './fake-identity.js';

const APP_ID = '0b7c2a4e-5d1f-4c3b-9a8e-6f2d1c0b9a87';
const SECRET = 'tread~test.client-secret_0123456789';
const CONFIG = `
organisation: Example
people:
  - { id: alice, name: Alice Responder, teams: aad-alice, roles: [responder] }
  - { id: bob, name: Bob Builder, teams: aad-bob, roles: [responder] }
services:
  - name: payments
    owners: [alice]
    teams: { team: group-ops, channel: "19:payments@thread.tacv2" }
`;
const TENANT = 'tenant-1';
const BOT = { id: `28:${APP_ID}`, name: 'tread' };
const ALICE = { id: '29:alice', name: 'Alice Responder', aadObjectId: 'aad-alice' };
const BOB = { id: '29:bob', name: 'Bob Builder', aadObjectId: 'aad-bob' };
const PERSONAL = 'a:personal-alice';
const GENERAL = '19:general@thread.tacv2';
const PAYMENTS = '19:payments@thread.tacv2';
const TEAM = { id: GENERAL, name: 'Ops', aadGroupId: 'group-ops' };

let seq = 0;

for (const driver of drivers) {
  describe(`Teams with authentication on, end to end (${driver})`, () => {
    let database: Database;
    let identity: FakeIdentity;
    let connector: FakeConnector;
    let tread: Tread;

    beforeAll(async () => {
      // botbuilder prints each refused token with console.error; the tests check the answers instead.
      vi.spyOn(console, 'error').mockImplementation(() => {});
      database = await openTestDatabase(driver);
      identity = await new FakeIdentity(APP_ID, SECRET).start();
      connector = await new FakeConnector({ authorize: (header) => identity.checkBotToken(header) }).start();
      tread = await startTread({
        database, config: parseOrganisation(CONFIG, 'test', {}), http: { host: '127.0.0.1', port: 0 }, tickSeconds: 0,
        platforms: async (app, router) => [await createTeamsAdapter({
          env: loadEnv({ HOST: '127.0.0.1', MICROSOFT_APP_ID: APP_ID, MICROSOFT_APP_PASSWORD: SECRET }), app, router,
          auth: identity.authOptions(), authTimeoutMs: 3000, tokenTimeoutMs: 2000, sendTimeoutMs: 3000,
        })],
      });
    });

    afterAll(async () => {
      vi.restoreAllMocks();
      await tread?.stop();
      await connector?.stop();
      await identity?.stop();
    });

    const port = () => tread.adapters[0]!.port as TeamsChatPort;

    /** Posts an activity to /api/messages with the channel's token (`null`: without an Authorization header). */
    async function post(activity: Record<string, unknown>, token?: string | null): Promise<{ status: number; body: any }> {
      const authorization = token === undefined ? identity.channelAuthorization(connector.url) : token;
      const res = await fetch(`http://127.0.0.1:${tread.port}/api/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(activity),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }

    const personal = (text: string, from = ALICE) => ({
      type: 'message', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, text, from, recipient: BOT,
      conversation: { id: `a:personal-${from.id.slice(3)}`, conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
    });
    const inChannel = (text: string, from = ALICE) => {
      const id = `act-${++seq}`;
      return {
        type: 'message', id, channelId: 'msteams', serviceUrl: connector.url, text: `<at>tread</at> ${text}`, from, recipient: BOT,
        entities: [{ type: 'mention', text: '<at>tread</at>', mentioned: BOT }],
        conversation: { id: `${GENERAL};messageid=${id}`, conversationType: 'channel', isGroup: true, tenantId: TENANT },
        channelData: { team: TEAM, channel: { id: GENERAL, name: 'General' }, tenant: { id: TENANT } },
      };
    };
    const press = (verb: string, value: string, replyToId: string) => ({
      type: 'invoke', name: 'adaptiveCard/action', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, replyToId,
      from: ALICE, recipient: BOT, conversation: { id: PERSONAL, conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
      value: { action: { type: 'Action.Execute', verb, data: { value } }, trigger: 'manual' },
    });

    /** Every request that reached the connector carried a token the fake Azure AD issued to this bot. */
    const allSignedByTheBot = () => {
      expect(connector.refused).toEqual([]);
      for (const call of connector.calls) expect(identity.checkBotToken(call.authorization), `${call.method} ${call.path}`).toBeUndefined();
    };

    it('the connector fake is strict: it refuses a missing, a forged and a foreign bot token with 401', async () => {
      const forged = identity.channelAuthorization(connector.url, {}, identity.otherKeys.privateKey);
      for (const authorization of [undefined, 'Bearer x.y.z', forged]) {
        const res = await fetch(`${connector.url}v3/conversations/${encodeURIComponent(PERSONAL)}/activities`, {
          method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: '{"type":"message","text":"hi"}',
        });
        expect(res.status).toBe(401);
      }
      // A well-signed channel token is not a bot token either (wrong audience).
      const res = await fetch(`${connector.url}v3/conversations/x/activities`, { method: 'POST', headers: { authorization: identity.channelAuthorization(connector.url) }, body: '{}' });
      expect(res.status).toBe(401);
      expect(connector.refused.map((r) => r.reason)).toEqual(['no bearer token', 'bad signature', 'bad signature', `audience ${APP_ID}`]);
      expect(connector.calls).toEqual([]);
      connector.refused.length = 0;
    });

    it('refuses an activity with a missing, forged, foreign or misdirected token (401) and stores nothing', async () => {
      const cases: Record<string, string | null> = {
        missing: null,
        'signed by another key': identity.channelAuthorization(connector.url, {}, identity.otherKeys.privateKey),
        'for another bot': identity.channelAuthorization(connector.url, { aud: 'another-bot' }),
        'from another issuer': identity.channelAuthorization(connector.url, { iss: 'https://evil.example' }),
        'for another service url': identity.channelAuthorization('https://smba.example/emea/'),
        expired: identity.channelAuthorization(connector.url, { exp: Math.floor(Date.now() / 1000) - 600, nbf: Math.floor(Date.now() / 1000) - 4000 }),
      };
      for (const [name, authorization] of Object.entries(cases)) {
        const res = await post(personal('incident Forged outage'), authorization);
        expect(res.status, name).toBe(401);
        expect(res.body.error.code, name).toBe('teams.unauthorized');
      }
      await tread.dispatcher.flush();
      const [counts] = await database.rows<Record<string, number>>(sql`select
        (select count(*)::int from conversations) as conversations, (select count(*)::int from incidents) as incidents,
        (select count(*)::int from deliveries) as deliveries, (select count(*)::int from people where not from_config) as unknown_people,
        (select count(*)::int from outbox) as outbox`);
      expect(counts).toEqual({ conversations: 0, incidents: 0, deliveries: 0, unknown_people: 0, outbox: 0 });
      expect(connector.calls).toEqual([]);
      expect(identity.tokenRequests).toEqual([]);
    });

    it('answers a command in a channel: the reply carries the bot token got with the client-credentials grant', async () => {
      const help = inChannel('help');
      const res = await post(help);
      expect(res.status).toBe(200);
      const replies = connector.activityCalls().filter((c) => c.replyToId === help.id);
      expect(replies).toHaveLength(1);
      expect(JSON.stringify(replies[0]!.body)).toContain('incident');
      expect(identity.tokenRequests).toEqual([{
        tenant: 'botframework.com', contentType: 'application/x-www-form-urlencoded', status: 200,
        form: { grant_type: 'client_credentials', client_id: APP_ID, client_secret: SECRET, scope: 'https://api.botframework.com/.default' },
      }]);
      allSignedByTheBot();
    });

    let cardId = '';
    it('opens an incident: the card (a reply) and the service channel\'s card (proactive, from the outbox) go out with the token', async () => {
      const res = await post(personal('incident Payment API down service:payments'));
      expect(res.status).toBe(200);
      await tread.dispatcher.flush();
      const mine = connector.activityCalls().filter((c) => c.method === 'POST' && c.conversationId === PERSONAL && JSON.stringify(cardOf(c) ?? {}).includes('INC-1'));
      const service = connector.activityCalls().filter((c) => c.method === 'POST' && c.conversationId === PAYMENTS && JSON.stringify(cardOf(c) ?? {}).includes('INC-1'));
      expect(mine).toHaveLength(1);
      expect(service).toHaveLength(1);
      cardId = mine[0]!.answeredId!;
      const [row] = await database.rows<{ n: number }>(sql`select count(*)::int as n from outbox where status <> 'sent'`);
      expect(row!.n).toBe(0);
      allSignedByTheBot();
    });

    it('a button press answers with the refreshed card and updates the posted cards with the token', async () => {
      connector.clear();
      const res = await post(press('incident.ack', 'INC-1', cardId));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.card.adaptive' });
      expect(JSON.stringify(res.body.value)).toMatch(/acknowledged/i);
      await tread.dispatcher.flush();
      const updates = connector.activityCalls().filter((c) => c.method === 'PUT');
      expect(updates.map((u) => u.conversationId).sort()).toEqual([PAYMENTS, PERSONAL].sort());
      expect(updates.find((u) => u.conversationId === PERSONAL)!.activityId).toBe(cardId);
      for (const u of updates) expect(JSON.stringify(cardOf(u))).toMatch(/acknowledged/i);
      allSignedByTheBot();
    });

    it('starts a personal chat proactively (createConversation) and messages the person, with the token', async () => {
      // Bob is seen in the team's channel once, so tread knows where to reach him.
      expect((await post(inChannel('help', BOB))).status).toBe(200);
      connector.clear();
      const ref = await port().dm({ platform: 'teams', userId: 'aad-bob', name: 'Bob' }, { text: 'You are on call from now.' });
      const created = connector.calls.filter((c) => c.method === 'POST' && c.path === '/v3/conversations');
      expect(created).toHaveLength(1);
      expect(created[0]!.body).toMatchObject({ isGroup: false, members: [{ id: BOB.id }], tenantId: TENANT });
      const sent = connector.activityCalls().filter((c) => c.conversationId === created[0]!.answeredId);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.body.text ?? JSON.stringify(sent[0]!.body)).toContain('on call');
      expect(ref.messageId).toBe(sent[0]!.answeredId);
      allSignedByTheBot();
    });

    it('asked Azure AD for a token once: every later call reused it', async () => {
      expect(identity.tokenRequests.filter((r) => r.status === 200)).toHaveLength(1);
      expect(identity.tokenRequests).toHaveLength(1);
    });
  });
}
