/**
 * Access through Teams, end to end, on a controllable clock: activities into tread's real HTTP server (personal chats,
 * Action.Execute presses), proactive posts and in-place updates out to the fake connector. `access request …` and its
 * alias `request access …` → the owner's Adaptive Card with Approve → the team's task card with Done → the grant active
 * and the grantee's one card edited in place (PUT on the same activity, never posted again) → the expiry warning and the
 * expiry with the clock, the removal task → revoked by the owner from her card of the grant. The grantee reads every
 * time in his own time zone. Every step audited with the Teams user id.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';
import { cardOf } from './fake-connector.js';
import { actionOf, personalOf, teamsTreadPerFile, type TeamsTread } from './teams-tread.js';

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

const PEOPLE = {
  carol: { id: '29:carol', name: 'Carol Owner', aadObjectId: 'aad-carol' },
  dave: { id: '29:dave', name: 'Dave Asker', aadObjectId: 'aad-dave' },
  gina: { id: '29:gina', name: 'Gina Ops', aadObjectId: 'aad-gina' },
};
const MINUTE = 60_000;

for (const driver of drivers) {
  describe(`access through Teams (${driver})`, () => {
    // Monday 5 January 2026, 10:00 in Berlin
    const clock = new ManualClock(new Date('2026-01-05T09:00:00Z'));
    let t: TeamsTread;
    teamsTreadPerFile(driver, { config: parseOrganisation(CONFIG, 'test', {}), people: PEOPLE, clock }, (started) => { t = started; });

    const advance = async (ms: number) => {
      clock.advance(ms);
      await t.tread.scheduler.tick();
      await t.tread.dispatcher.flush();
    };
    /** Plain-text or card activities posted to a conversation, as text. */
    const postsTo = (conversationId: string) => t.connector.activityCalls().filter((c) => c.method === 'POST' && c.conversationId === conversationId).map((c) => JSON.stringify(c.body));
    /** The newest task card in a person's DM that mentions both words. */
    const taskCard = (who: string, what: string, subject: string) => t.cardPosts(personalOf(who), what).filter((c) => JSON.stringify(cardOf(c)).includes(subject)).at(-1);
    const grant = async (id: number) => (await t.database.rows<{ state: string; source: string; outcome: string | null; outcome_by: string | null; removal: string | null }>(
      sql`select state, source, outcome, outcome_by, removal from access_grants where id = ${id}`))[0]!;
    /** Approves a grant on the owner's DM card and has the team do the manual task: the grant is active. */
    async function approveAndProvision(subject: string): Promise<void> {
      const carolCard = t.cardPosts(personalOf('carol'), `Approval needed · ${subject}`);
      expect(carolCard).toHaveLength(1);
      expect(adaptiveCardProblems(cardOf(carolCard[0]!))).toEqual([]);
      const approved = await t.post(t.press('carol', 'approval.approve', actionOf(cardOf(carolCard[0]!), 'approval.approve').data, carolCard[0]!.answeredId!));
      // Teams answers the press with the refreshed card: approved, no buttons left
      expect(approved.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(JSON.stringify(approved.body.value)).toContain('Approved');
      expect(approved.body.value.actions ?? []).toEqual([]);
      // the manual connector: a task card in the team member's DM, with Done
      const task = taskCard('gina', 'Grant ', subject)!;
      expect(task).toBeDefined();
      expect(adaptiveCardProblems(cardOf(task))).toEqual([]);
      const done = await t.post(t.press('gina', 'access.task.done', actionOf(cardOf(task), 'access.task.done').data, task.answeredId!));
      expect(JSON.stringify(done.body.value)).toContain('Done by Gina Ops');
    }

    it('everyone has talked to the bot once (Teams lets a bot message only people who have the app)', async () => {
      for (const who of Object.keys(PEOPLE)) expect((await t.post(t.personal(who, 'help'))).status).toBe(200);
    });

    it('access request → the owner approves on her card → the team\'s Done → active, the grantee\'s card edited in place → warned and expired with the clock', async () => {
      const asked = t.personal('dave', 'access request crm viewer for 1h reading support tickets');
      await t.post(asked);
      const answer = t.connector.activityCalls().find((c) => c.replyToId === asked.id);
      expect(JSON.stringify(answer?.body)).toContain('GRT-1 requested: viewer on crm for 1h once active.');
      const daveCard = t.cardPosts(personalOf('dave'), 'GRT-1 · crm: viewer');
      expect(daveCard).toHaveLength(1);
      expect(JSON.stringify(cardOf(daveCard[0]!))).toContain('Pending approval by Carol Owner');
      expect(JSON.stringify(cardOf(t.cardPosts(personalOf('carol'), 'Approval needed · GRT-1')[0]!))).toContain('reading support tickets');

      await approveAndProvision('GRT-1');
      expect((await grant(1)).state).toBe('active');
      const active = t.latest(daveCard[0]!);
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
      expect(JSON.stringify(t.latest(daveCard[0]!))).toContain('⏳ Expiring soon: access ends 10:00 GMT (15m left).');

      // the end: expired, a removal task for the team; once it is done the card says the access is gone
      await advance(15 * MINUTE);
      expect((await grant(1)).state).toBe('expired');
      expect(JSON.stringify(t.latest(daveCard[0]!))).toContain('GRT-1 · crm: viewer · expired');
      const removal = taskCard('gina', 'Remove viewer on crm', 'GRT-1')!;
      expect(removal).toBeDefined();
      await t.post(t.press('gina', 'access.task.done', actionOf(cardOf(removal), 'access.task.done').data, removal.answeredId!));
      expect((await grant(1)).removal).toBe('done');
      const ended = t.latest(daveCard[0]!);
      expect(JSON.stringify(ended)).toContain('Expired 10:00 GMT');
      expect(JSON.stringify(ended)).toContain('Access removed at the target 10:00 GMT.');
      expect(adaptiveCardProblems(ended)).toEqual([]);
      expect(t.cardPosts(personalOf('dave'), 'GRT-1 · crm: viewer')).toHaveLength(1);
    });

    it('request access (the alias) → approved and active → revoked by the owner: the card shows revoked, edited in place', async () => {
      await t.post(t.personal('dave', 'request access crm editor for 2h fixing the import mapping'));
      const daveCard = t.cardPosts(personalOf('dave'), 'GRT-2 · crm: editor');
      expect(daveCard).toHaveLength(1);
      await approveAndProvision('GRT-2');
      expect((await grant(2)).state).toBe('active');
      await advance(20 * MINUTE);

      // the owner revokes from her own card of the grant: /access show, the Revoke button, the form
      const show = t.personal('carol', 'access show GRT-2');
      await t.post(show);
      const shown = t.connector.activityCalls().find((c) => c.replyToId === show.id)!;
      const form = await t.post(t.press('carol', 'access.revoke.form', actionOf(cardOf(shown), 'access.revoke.form').data, shown.answeredId!));
      expect(form.body.type).toBe('application/vnd.microsoft.card.adaptive');
      expect(adaptiveCardProblems(form.body.value)).toEqual([]);
      const submit = actionOf(form.body.value, 'access.revoke.submit');
      await t.post(t.press('carol', 'access.revoke.submit', { ...submit.data, reason: 'the mapping is fixed' }, shown.answeredId!));
      expect(await grant(2)).toMatchObject({ state: 'revoked', outcome: 'the mapping is fixed', outcome_by: 'carol' });

      const revoked = t.latest(daveCard[0]!);
      expect(JSON.stringify(revoked)).toContain('GRT-2 · crm: editor · revoked');
      expect(JSON.stringify(revoked)).toContain('Revoked by Carol Owner 10:20 GMT: the mapping is fixed.');
      expect(revoked.actions ?? []).toEqual([]);
      expect(adaptiveCardProblems(revoked)).toEqual([]);
      expect(postsTo(personalOf('dave')).some((p) => p.includes('GRT-2 (crm: editor) was revoked by Carol Owner: the mapping is fixed.'))).toBe(true);
      expect(t.cardPosts(personalOf('dave'), 'GRT-2 · crm: editor')).toHaveLength(1);
      // the grantee's card was only ever edited (PUT on the one activity), never posted again
      const puts = t.connector.activityCalls().filter((c) => c.method === 'PUT' && c.conversationId === personalOf('dave'));
      expect(puts.length).toBeGreaterThanOrEqual(4);
      expect(new Set(puts.map((c) => c.activityId))).toEqual(new Set([t.cardPosts(personalOf('dave'), 'GRT-1 · crm: viewer')[0]!.answeredId, daveCard[0]!.answeredId]));

      const audit = await t.database.rows<{ action: string; actor: string; source: string; data: any }>(sql`select action, actor, source, data from audit_log where subject = 'GRT-2' order by seq`);
      expect(audit.map((a) => a.action)).toEqual(['access.requested', 'access.approve', 'access.provision', 'access.task_grant_done', 'access.activate', 'access.revoke']);
      expect(audit[0]).toMatchObject({ actor: 'dave', source: 'teams', data: expect.objectContaining({ platformUserId: 'aad-dave' }) });
      expect(audit.at(-1)).toMatchObject({ actor: 'carol', source: 'teams', data: expect.objectContaining({ platformUserId: 'aad-carol', reason: 'the mapping is fixed' }) });
      expect((await grant(2)).source).toBe('teams');
    });
  });
}
