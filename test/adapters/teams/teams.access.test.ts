/**
 * Access through Teams, end to end, on a controllable clock: activities into tread's real HTTP server (personal chats,
 * Action.Execute presses), proactive posts and in-place updates out to the fake connector. `access request …` and its
 * alias `request access …` → the owner's Adaptive Card with Approve → the team's task card with Done → the grant active
 * and the grantee's one card edited in place (PUT on the same activity, never posted again) → the expiry warning and the
 * expiry with the clock, the removal task → revoked by the owner from her card of the grant. The grantee reads every
 * time in his own time zone. Every step audited with the Teams user id.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTeamsAdapter } from '../../../adapters/teams/index.js';
import type { Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';
import { cardOf, FakeConnector, type ConnectorCall } from './fake-connector.js';

const SECURITY = '19:security@thread.tacv2';
const CONFIG = `
organisation: Teams access
timezone: Europe/Berlin
people:
  - { id: carol, name: Carol Owner, teams: aad-carol }
  - { id: dave, name: Dave Asker, teams: aad-dave, timezone: Europe/London }
  - { id: gina, name: Gina Ops, teams: aad-gina }
teams:
  - { id: ops, members: [gina] }
approvalPolicies:
  - { name: owners, stages: [{ approvers: [{ owners: true }] }] }
resources:
  - name: crm
    title: CRM
    team: ops
    owners: [carol]
    roles:
      - { name: viewer, title: Read records, sensitivity: low }
      - { name: editor, title: Edit records, sensitivity: medium }
    approvalPolicy: owners
    defaultDuration: 2h
    maxDuration: 1d
    connector: { kind: manual }
access:
  securityChannel: { teams: { team: group-security, channel: "${SECURITY}" } }
  expiryWarning: 15m
`;

const TENANT = 'tenant-1';
const BOT = { id: '28:tread-bot', name: 'tread' };
const PEOPLE = {
  carol: { id: '29:carol', name: 'Carol Owner', aadObjectId: 'aad-carol' },
  dave: { id: '29:dave', name: 'Dave Asker', aadObjectId: 'aad-dave' },
  gina: { id: '29:gina', name: 'Gina Ops', aadObjectId: 'aad-gina' },
};
type Who = keyof typeof PEOPLE;
const personalOf = (who: Who) => `a:personal-${who}`;
const MINUTE = 60_000;
let seq = 0;

for (const driver of drivers) {
  describe(`access through Teams (${driver})`, () => {
    let database: Database;
    let connector: FakeConnector;
    let tread: Tread;
    // Monday 5 January 2026, 10:00 in Berlin
    const clock = new ManualClock(new Date('2026-01-05T09:00:00Z'));

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      connector = await new FakeConnector().start();
      tread = await startTread({
        database, clock, config: parseOrganisation(CONFIG, 'test', {}), http: { host: '127.0.0.1', port: 0 }, tickSeconds: 0,
        platforms: async (app, router) => [await createTeamsAdapter({ env: loadEnv({ HOST: '127.0.0.1' }), app, router })],
      });
    });
    afterAll(async () => {
      await tread?.stop();
      await connector?.stop();
    });

    /** Runs what is due and sends what the outbox holds. */
    const settle = async () => {
      await tread.scheduler.tick();
      await tread.dispatcher.flush();
    };
    async function post(activity: Record<string, unknown>): Promise<{ status: number; body: any }> {
      const res = await fetch(`http://127.0.0.1:${tread.port}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
      const text = await res.text();
      await settle();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }
    const advance = async (ms: number) => {
      clock.advance(ms);
      await settle();
    };
    const personal = (who: Who, text: string) => ({
      type: 'message', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, text, from: PEOPLE[who], recipient: BOT,
      conversation: { id: personalOf(who), conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
    });
    const press = (who: Who, verb: string, data: Record<string, unknown>, replyToId: string) => ({
      type: 'invoke', name: 'adaptiveCard/action', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, replyToId, from: PEOPLE[who], recipient: BOT,
      conversation: { id: personalOf(who), conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
      value: { action: { type: 'Action.Execute', verb, data }, trigger: 'manual' },
    });
    /** Cards posted (not updated) to a conversation whose card mentions `title`. */
    const cardPosts = (conversationId: string, title: string) => connector.activityCalls()
      .filter((c) => c.method === 'POST' && c.conversationId === conversationId && JSON.stringify(cardOf(c) ?? {}).includes(title));
    /** Plain-text or card activities posted to a conversation, as text. */
    const postsTo = (conversationId: string) => connector.activityCalls().filter((c) => c.method === 'POST' && c.conversationId === conversationId).map((c) => JSON.stringify(c.body));
    /** The newest version of a posted card (its last PUT, else the post). */
    const latest = (posted: ConnectorCall) => cardOf(connector.activityCalls().filter((c) => c.method === 'PUT' && c.activityId === posted.answeredId).at(-1) ?? posted);
    /** The card's actions, with those behind a confirmation (a danger button is an Action.ShowCard asking "are you sure?"). */
    const actionsOf = (card: any): any[] => [...(card.actions ?? []), ...(card.body ?? []).flatMap((e: any) => (e.type === 'ActionSet' ? e.actions : []))]
      .flatMap((a: any) => (a.type === 'Action.ShowCard' ? [a, ...actionsOf(a.card)] : [a]));
    const actionOf = (card: any, verb: string) => {
      const found = actionsOf(card).find((a: any) => a.verb === verb);
      if (!found) throw new Error(`no ${verb} on ${JSON.stringify(card)}`);
      return found;
    };
    const grant = async (id: number) => (await database.rows<{ state: string; source: string; outcome: string | null; outcome_by: string | null; removal: string | null }>(
      sql`select state, source, outcome, outcome_by, removal from access_grants where id = ${id}`))[0]!;
    /** Approves a grant on the owner's DM card and has the team do the manual task: the grant is active. */
    async function approveAndProvision(subject: string): Promise<void> {
      const carolCard = cardPosts(personalOf('carol'), `Approval needed · ${subject}`);
      expect(carolCard).toHaveLength(1);
      expect(adaptiveCardProblems(cardOf(carolCard[0]!))).toEqual([]);
      const approved = await post(press('carol', 'approval.approve', actionOf(cardOf(carolCard[0]!), 'approval.approve').data, carolCard[0]!.answeredId!));
      // Teams answers the press with the refreshed card: approved, no buttons left
      expect(approved.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(JSON.stringify(approved.body.value)).toContain('Approved');
      expect(approved.body.value.actions ?? []).toEqual([]);
      // the manual connector: a task card in the team member's DM, with Done
      const task = connector.activityCalls().filter((c) => c.method === 'POST' && c.conversationId === personalOf('gina') && JSON.stringify(cardOf(c) ?? {}).includes(`Grant `) && JSON.stringify(cardOf(c) ?? {}).includes(subject)).at(-1)!;
      expect(task).toBeDefined();
      expect(adaptiveCardProblems(cardOf(task))).toEqual([]);
      const done = await post(press('gina', 'access.task.done', actionOf(cardOf(task), 'access.task.done').data, task.answeredId!));
      expect(JSON.stringify(done.body.value)).toContain('Done by Gina Ops');
    }

    it('everyone has talked to the bot once (Teams lets a bot message only people who have the app)', async () => {
      for (const who of Object.keys(PEOPLE) as Who[]) expect((await post(personal(who, 'help'))).status).toBe(200);
    });

    it('access request → the owner approves on her card → the team\'s Done → active, the grantee\'s card edited in place → warned and expired with the clock', async () => {
      const asked = personal('dave', 'access request crm viewer for 1h reading support tickets');
      await post(asked);
      const answer = connector.activityCalls().find((c) => c.replyToId === asked.id);
      expect(JSON.stringify(answer?.body)).toContain('GRT-1 requested: viewer on crm for 1h once active.');
      const daveCard = cardPosts(personalOf('dave'), 'GRT-1 · crm: viewer');
      expect(daveCard).toHaveLength(1);
      expect(JSON.stringify(cardOf(daveCard[0]!))).toContain('Pending approval by Carol Owner');
      expect(JSON.stringify(cardOf(cardPosts(personalOf('carol'), 'Approval needed · GRT-1')[0]!))).toContain('reading support tickets');

      await approveAndProvision('GRT-1');
      expect((await grant(1)).state).toBe('active');
      const active = latest(daveCard[0]!);
      expect(JSON.stringify(active)).toContain('GRT-1 · crm: viewer · active');
      // the grantee reads times in his own zone (London), on the card and in the notice
      expect(JSON.stringify(active)).toContain('✓ Active until 10:00 GMT (1h left).');
      expect(postsTo(personalOf('dave')).some((p) => p.includes('✓ GRT-1 (crm: viewer) is active until 10:00 GMT.'))).toBe(true);
      expect(adaptiveCardProblems(active)).toEqual([]);
      expect(actionOf(active, 'access.revoke.form')).toMatchObject({ type: 'Action.Execute', title: 'Yes, revoke', data: { value: 'GRT-1' } });

      // 15 minutes before the end: a warning with Extend in the DM, and the card says so
      await advance(45 * MINUTE);
      expect((await grant(1)).state).toBe('expiring');
      expect(postsTo(personalOf('dave')).some((p) => p.includes('⏳ GRT-1 (crm: viewer) ends 10:00 GMT, in 15m.'))).toBe(true);
      expect(JSON.stringify(latest(daveCard[0]!))).toContain('⏳ Expiring soon: access ends 10:00 GMT (15m left).');

      // the end: expired, a removal task for the team; once it is done the card says the access is gone
      await advance(15 * MINUTE);
      expect((await grant(1)).state).toBe('expired');
      expect(JSON.stringify(latest(daveCard[0]!))).toContain('GRT-1 · crm: viewer · expired');
      const removal = connector.activityCalls().filter((c) => c.method === 'POST' && c.conversationId === personalOf('gina') && JSON.stringify(cardOf(c) ?? {}).includes('Remove viewer on crm')).at(-1)!;
      expect(removal).toBeDefined();
      await post(press('gina', 'access.task.done', actionOf(cardOf(removal), 'access.task.done').data, removal.answeredId!));
      expect((await grant(1)).removal).toBe('done');
      const ended = latest(daveCard[0]!);
      expect(JSON.stringify(ended)).toContain('Expired 10:00 GMT');
      expect(JSON.stringify(ended)).toContain('Access removed at the target 10:00 GMT.');
      expect(adaptiveCardProblems(ended)).toEqual([]);
      expect(cardPosts(personalOf('dave'), 'GRT-1 · crm: viewer')).toHaveLength(1);
    });

    it('request access (the alias) → approved and active → revoked by the owner: the card shows revoked, edited in place', async () => {
      await post(personal('dave', 'request access crm editor for 2h fixing the import mapping'));
      const daveCard = cardPosts(personalOf('dave'), 'GRT-2 · crm: editor');
      expect(daveCard).toHaveLength(1);
      await approveAndProvision('GRT-2');
      expect((await grant(2)).state).toBe('active');
      await advance(20 * MINUTE);

      // the owner revokes from her own card of the grant: /access show, the Revoke button, the form
      const show = personal('carol', 'access show GRT-2');
      await post(show);
      const shown = connector.activityCalls().find((c) => c.replyToId === show.id)!;
      const form = await post(press('carol', 'access.revoke.form', actionOf(cardOf(shown), 'access.revoke.form').data, shown.answeredId!));
      expect(form.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(adaptiveCardProblems(form.body.value)).toEqual([]);
      const submit = actionOf(form.body.value, 'access.revoke.submit');
      await post(press('carol', 'access.revoke.submit', { ...submit.data, reason: 'the mapping is fixed' }, shown.answeredId!));
      expect(await grant(2)).toMatchObject({ state: 'revoked', outcome: 'the mapping is fixed', outcome_by: 'carol' });

      const revoked = latest(daveCard[0]!);
      expect(JSON.stringify(revoked)).toContain('GRT-2 · crm: editor · revoked');
      expect(JSON.stringify(revoked)).toContain('Revoked by Carol Owner 10:20 GMT: the mapping is fixed.');
      expect(revoked.actions ?? []).toEqual([]);
      expect(adaptiveCardProblems(revoked)).toEqual([]);
      expect(postsTo(personalOf('dave')).some((p) => p.includes('GRT-2 (crm: editor) was revoked by Carol Owner: the mapping is fixed.'))).toBe(true);
      expect(cardPosts(personalOf('dave'), 'GRT-2 · crm: editor')).toHaveLength(1);
      // the grantee's card was only ever edited (PUT on the one activity), never posted again
      const puts = connector.activityCalls().filter((c) => c.method === 'PUT' && c.conversationId === personalOf('dave'));
      expect(puts.length).toBeGreaterThanOrEqual(4);
      expect(new Set(puts.map((c) => c.activityId))).toEqual(new Set([cardPosts(personalOf('dave'), 'GRT-1 · crm: viewer')[0]!.answeredId, daveCard[0]!.answeredId]));

      const audit = await database.rows<{ action: string; actor: string; source: string; data: any }>(sql`select action, actor, source, data from audit_log where subject = 'GRT-2' order by seq`);
      expect(audit.map((a) => a.action)).toEqual(['access.requested', 'access.approve', 'access.provision', 'access.task_grant_done', 'access.activate', 'access.revoke']);
      expect(audit[0]).toMatchObject({ actor: 'dave', source: 'teams', data: expect.objectContaining({ platformUserId: 'aad-dave' }) });
      expect(audit.at(-1)).toMatchObject({ actor: 'carol', source: 'teams', data: expect.objectContaining({ platformUserId: 'aad-carol', reason: 'the mapping is fixed' }) });
      expect((await grant(2)).source).toBe('teams');
    });
  });
}
