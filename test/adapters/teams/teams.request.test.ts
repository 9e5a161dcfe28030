/**
 * A request through Teams, end to end: activities into tread's real HTTP server (personal chats, a team channel, card
 * actions), replies and proactive posts out to the fake connector. The catalog card, the form card with an error on its
 * field, the approver's DM card, the task card in the team's channel, and the requester's one card updated in place.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTeamsAdapter } from '../../../adapters/teams/index.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';
import { cardOf, FakeConnector } from './fake-connector.js';

const IT_CHANNEL = '19:it@thread.tacv2';
const CONFIG = `
organisation: Teams requests
people:
  - { id: bob, name: Bob Fixer, teams: aad-bob }
  - { id: carol, name: Carol Boss, teams: aad-carol }
  - { id: dave, name: Dave Asker, teams: aad-dave, manager: carol }
teams:
  - { id: it, members: [bob] }
approvalPolicies:
  - { name: manager, stages: [{ approvers: [{ manager: true }] }] }
catalog:
  - name: laptop
    title: New laptop
    category: Hardware
    fields:
      - { id: model, label: Model, type: select, options: [standard, developer], required: true }
      - { id: reason, label: Reason, type: multiline, required: true }
    approvalPolicy: manager
    fulfilment: { team: it, channel: { teams: { team: group-it, channel: "${IT_CHANNEL}" } }, tasks: [{ title: Order it }] }
`;

const TENANT = 'tenant-1';
const BOT = { id: '28:tread-bot', name: 'tread' };
const PEOPLE = {
  dave: { id: '29:dave', name: 'Dave Asker', aadObjectId: 'aad-dave' },
  carol: { id: '29:carol', name: 'Carol Boss', aadObjectId: 'aad-carol' },
  bob: { id: '29:bob', name: 'Bob Fixer', aadObjectId: 'aad-bob' },
};
const personalOf = (who: keyof typeof PEOPLE) => `a:personal-${who}`;
let seq = 0;

for (const driver of drivers) {
  describe(`a request through Teams (${driver})`, () => {
    let database: Database;
    let connector: FakeConnector;
    let tread: Tread;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      connector = await new FakeConnector().start();
      tread = await startTread({
        database, config: parseOrganisation(CONFIG, 'test', {}), http: { host: '127.0.0.1', port: 0 }, tickSeconds: 0,
        platforms: async (app, router) => [await createTeamsAdapter({ env: loadEnv({ HOST: '127.0.0.1' }), app, router })],
      });
    });
    afterAll(async () => {
      await tread?.stop();
      await connector?.stop();
    });

    async function post(activity: Record<string, unknown>): Promise<{ status: number; body: any }> {
      const res = await fetch(`http://127.0.0.1:${tread.port}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
      const text = await res.text();
      await tread.scheduler.tick();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }
    const personal = (who: keyof typeof PEOPLE, text: string) => ({
      type: 'message', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, text, from: PEOPLE[who], recipient: BOT,
      conversation: { id: personalOf(who), conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
    });
    const inChannel = (who: keyof typeof PEOPLE, text: string) => {
      const id = `act-${++seq}`;
      return {
        type: 'message', id, channelId: 'msteams', serviceUrl: connector.url, text, from: PEOPLE[who], recipient: BOT,
        entities: [{ type: 'mention', text: '<at>tread</at>', mentioned: BOT }],
        conversation: { id: `${IT_CHANNEL};messageid=${id}`, conversationType: 'channel', isGroup: true, tenantId: TENANT },
        channelData: { team: { id: IT_CHANNEL, name: 'IT', aadGroupId: 'group-it' }, channel: { id: IT_CHANNEL, name: 'IT' }, tenant: { id: TENANT } },
      };
    };
    const action = (who: keyof typeof PEOPLE, verb: string, data: Record<string, unknown>, replyToId: string, conversationId = personalOf(who), channel = false) => ({
      type: 'invoke', name: 'adaptiveCard/action', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, replyToId, from: PEOPLE[who], recipient: BOT,
      conversation: { id: conversationId, conversationType: channel ? 'channel' : 'personal', tenantId: TENANT },
      ...(channel ? { channelData: { team: { id: IT_CHANNEL, name: 'IT', aadGroupId: 'group-it' }, channel: { id: IT_CHANNEL }, tenant: { id: TENANT } } } : {}),
      value: { action: { type: 'Action.Execute', verb, data }, trigger: 'manual' },
    });
    const cardPosts = (conversationId: string, title: string) => connector.activityCalls()
      .filter((c) => c.method === 'POST' && c.conversationId === conversationId && JSON.stringify(cardOf(c) ?? {}).includes(title));

    it('catalog → form card → approval by the manager on a DM card → task claimed and done → the requester\'s card shows fulfilled, updated in place', async () => {
      // everyone has talked to the bot once (Teams lets a bot message only people who have the app)
      await post(personal('carol', 'help'));
      await post(inChannel('bob', '<at>tread</at> help'));
      const catalogMessage = personal('dave', 'request');
      await post(catalogMessage);
      const catalogReply = connector.activityCalls().find((c) => c.replyToId === catalogMessage.id)!;
      const catalogCard = cardOf(catalogReply);
      expect(adaptiveCardProblems(catalogCard)).toEqual([]);
      const formButton = catalogCard.actions.find((a: any) => a.verb === 'request.form');
      expect(formButton).toMatchObject({ type: 'Action.Execute', title: 'New laptop', data: { value: 'laptop' } });

      // the button answers with the item's form
      const form = await post(action('dave', 'request.form', formButton.data, catalogReply.answeredId!));
      expect(form.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(adaptiveCardProblems(form.body.value)).toEqual([]);
      const submit = form.body.value.actions.find((a: any) => a.verb === 'request.submit');
      expect(form.body.value.body.find((e: any) => e.id === 'model')).toMatchObject({ type: 'Input.ChoiceSet', isRequired: true });
      // a missing field comes back on the form, and nothing is stored
      const bad = await post(action('dave', 'request.submit', { ...submit.data, model: 'standard', reason: '' }, catalogReply.answeredId!));
      expect(JSON.stringify(bad.body.value)).toContain('Reason is required');
      expect(await database.rows(sql`select id from requests`)).toHaveLength(0);
      await post(action('dave', 'request.submit', { ...submit.data, model: 'standard', reason: 'the screen cracked' }, catalogReply.answeredId!));
      await tread.dispatcher.flush();

      const daveCard = cardPosts(personalOf('dave'), 'REQ-1 · New laptop');
      expect(daveCard).toHaveLength(1);
      const carolCard = cardPosts(personalOf('carol'), 'Approval needed · REQ-1');
      expect(carolCard).toHaveLength(1);
      expect(JSON.stringify(cardOf(carolCard[0]!))).toContain('the screen cracked');
      const approve = cardOf(carolCard[0]!).actions.find((a: any) => a.verb === 'approval.approve');
      const approved = await post(action('carol', 'approval.approve', approve.data, carolCard[0]!.answeredId!));
      expect(approved.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(JSON.stringify(approved.body.value)).toContain('Approved');
      expect(approved.body.value.actions ?? []).toEqual([]);
      await tread.dispatcher.flush();

      // the task card in the team's channel
      const task = cardPosts(IT_CHANNEL, 'TASK-1 · Order it');
      expect(task).toHaveLength(1);
      const claim = cardOf(task[0]!).actions.find((a: any) => a.verb === 'request.task.claim');
      const claimed = await post(action('bob', 'request.task.claim', claim.data, task[0]!.answeredId!, IT_CHANNEL, true));
      expect(JSON.stringify(claimed.body.value)).toContain('Held by Bob Fixer');
      const done = claimed.body.value.actions.find((a: any) => a.verb === 'request.task.done');
      await post(action('bob', 'request.task.done', done.data, task[0]!.answeredId!, IT_CHANNEL, true));
      await tread.dispatcher.flush();

      // the requester's card: updated in place (PUT on the same activity), never posted again
      const updates = connector.activityCalls().filter((c) => c.method === 'PUT' && c.activityId === daveCard[0]!.answeredId);
      expect(updates.length).toBeGreaterThanOrEqual(2);
      expect(JSON.stringify(cardOf(updates.at(-1)!))).toContain('REQ-1 · New laptop · fulfilled');
      expect(adaptiveCardProblems(cardOf(updates.at(-1)!))).toEqual([]);
      expect(cardPosts(personalOf('dave'), 'REQ-1 · New laptop')).toHaveLength(1);
      const [row] = await database.rows<{ state: string; source: string }>(sql`select state, source from requests where id = 1`);
      expect(row).toEqual({ state: 'fulfilled', source: 'teams' });
    });
  });
}
