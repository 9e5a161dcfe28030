/**
 * A request through Teams, end to end: activities into tread's real HTTP server (personal chats, a team channel, card
 * actions), replies and proactive posts out to the fake connector. The catalog card, the form card with an error on its
 * field, the approver's DM card, the task card in the team's channel, and the requester's one card updated in place.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';
import { cardOf } from './fake-connector.js';
import { personalOf, teamsTreadPerFile, type TeamsChannel, type TeamsTread } from './teams-tread.js';

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

const PEOPLE = {
  dave: { id: '29:dave', name: 'Dave Asker', aadObjectId: 'aad-dave' },
  carol: { id: '29:carol', name: 'Carol Boss', aadObjectId: 'aad-carol' },
  bob: { id: '29:bob', name: 'Bob Fixer', aadObjectId: 'aad-bob' },
};
const IT: TeamsChannel = { id: IT_CHANNEL, name: 'IT', aadGroupId: 'group-it' };

for (const driver of drivers) {
  describe(`a request through Teams (${driver})`, () => {
    let t: TeamsTread;
    teamsTreadPerFile(driver, { config: parseOrganisation(CONFIG, 'test', {}), people: PEOPLE }, (started) => { t = started; });
    const post = (activity: Record<string, unknown>) => t.post(activity);
    const personal = (who: string, text: string) => t.personal(who, text);
    const action = (who: string, verb: string, data: Record<string, unknown>, replyToId: string, channel?: TeamsChannel) => t.press(who, verb, data, replyToId, channel);
    const cardPosts = (conversationId: string, title: string) => t.cardPosts(conversationId, title);

    it('catalog → form card → approval by the manager on a DM card → task claimed and done → the requester\'s card shows fulfilled, updated in place', async () => {
      // everyone has talked to the bot once (Teams lets a bot message only people who have the app)
      await post(personal('carol', 'help'));
      await post(t.inChannel('bob', IT, 'help'));
      const catalogMessage = personal('dave', 'request');
      await post(catalogMessage);
      const catalogReply = t.connector.activityCalls().find((c) => c.replyToId === catalogMessage.id)!;
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
      expect(await t.database.rows(sql`select id from requests`)).toHaveLength(0);
      await post(action('dave', 'request.submit', { ...submit.data, model: 'standard', reason: 'the screen cracked' }, catalogReply.answeredId!));
      await t.tread.dispatcher.flush();

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
      await t.tread.dispatcher.flush();

      // the task card in the team's channel
      const task = cardPosts(IT_CHANNEL, 'TASK-1 · Order it');
      expect(task).toHaveLength(1);
      const claim = cardOf(task[0]!).actions.find((a: any) => a.verb === 'request.task.claim');
      const claimed = await post(action('bob', 'request.task.claim', claim.data, task[0]!.answeredId!, IT));
      expect(JSON.stringify(claimed.body.value)).toContain('Held by Bob Fixer');
      const done = claimed.body.value.actions.find((a: any) => a.verb === 'request.task.done');
      await post(action('bob', 'request.task.done', done.data, task[0]!.answeredId!, IT));
      await t.tread.dispatcher.flush();

      // the requester's card: updated in place (PUT on the same activity), never posted again
      const updates = t.connector.activityCalls().filter((c) => c.method === 'PUT' && c.activityId === daveCard[0]!.answeredId);
      expect(updates.length).toBeGreaterThanOrEqual(2);
      expect(JSON.stringify(cardOf(updates.at(-1)!))).toContain('REQ-1 · New laptop · fulfilled');
      expect(adaptiveCardProblems(cardOf(updates.at(-1)!))).toEqual([]);
      expect(cardPosts(personalOf('dave'), 'REQ-1 · New laptop')).toHaveLength(1);
      const [row] = await t.database.rows<{ state: string; source: string }>(sql`select state, source from requests where id = 1`);
      expect(row).toEqual({ state: 'fulfilled', source: 'teams' });
    });
  });
}
