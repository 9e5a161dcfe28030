/**
 * Review campaigns (recertification), on PGlite and PostgreSQL: started in chat by an owner, one card per active grant
 * for each reviewer with Keep / Revoke; nobody reviews their own access; progress in `/access review status`;
 * reminders until the deadline; at the deadline the unreviewed grants are escalated to the owners and (with
 * revokeUnreviewed) revoked; the result in the audit log; and campaigns on the resource's `review.every` schedule.
 * Reviewers in the approvers' grammar: each grantee's manager and whoever is on call when the campaign starts.
 */
import { describe, expect, it } from 'vitest';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import {
  approvalOf, auditOf, auditWhere, DAY, grantRow, HOUR, lastGrantId, messageText, replyText, securityPosts, startAccessTread, tasksOf, type RequestTestTread,
} from './access.fakes.js';

for (const driver of drivers) {
  describe(`access reviews (${driver})`, () => {
    let t: RequestTestTread;
    const grants: Record<string, number> = {};

    treadPerFile(driver, (db) => startAccessTread(db), (started) => { t = started; });

    const active = async (who: string, role: string) => {
      await t.command(who, `/access request crm ${role} for 2d ongoing work`);
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      const task = (await tasksOf(t, id)).find((x) => x.kind === 'grant')!;
      await t.press('gina', 'access.task.done', `TASK-${task.id}`);
      expect((await grantRow(t, id)).state).toBe('active');
      return id;
    };

    it('only the owners (or an admin) start a review', async () => {
      grants.dave = await active('dave', 'viewer');
      grants.frank = await active('frank', 'editor');
      grants.erin = await active('erin', 'viewer');
      expect(replyText(await t.command('frank', '/access review start crm'))).toBe('Only the owners of crm or an admin start its reviews.');
    });

    it('a campaign sends each reviewer one card per active grant, never their own; Keep and Revoke decide; status shows progress', async () => {
      expect(replyText(await t.command('carol', '/access review start crm'))).toBe('REV-1 started: 3 active grants of crm went to the reviewers, due 2026-01-06. /access review status REV-1');
      const cards = (person: string) => t.port.calls.filter((c) => c.method === 'dm' && c.user === person && c.message?.subject?.startsWith('REV-1.')).map((c) => c.message!.subject);
      expect(cards('carol')).toEqual([`REV-1.GRT-${grants.dave}`, `REV-1.GRT-${grants.frank}`, `REV-1.GRT-${grants.erin}`]);
      expect(cards('erin')).toEqual([`REV-1.GRT-${grants.dave}`, `REV-1.GRT-${grants.frank}`]);
      expect(replyText(await t.press('erin', 'access.review.keep', `REV-1/GRT-${grants.erin}`))).toBe(`Erin Owner holds GRT-${grants.erin} and may not review their own access.`);
      expect(replyText(await t.press('frank', 'access.review.keep', `REV-1/GRT-${grants.dave}`))).toBe(`Frank Outsider is not a reviewer of GRT-${grants.dave} in REV-1; its reviewers are Carol Owner, Erin Owner.`);
      expect(replyText(await t.press('carol', 'access.review.keep', `REV-1/GRT-${grants.dave}`))).toBe(`GRT-${grants.dave} kept (REV-1).`);
      expect(replyText(await t.press('erin', 'access.review.keep', `REV-1/GRT-${grants.dave}`))).toBe(`GRT-${grants.dave} was already kept in REV-1 by Carol Owner.`);
      const form = await t.press('erin', 'access.review.revoke.form', `REV-1/GRT-${grants.frank}`);
      expect(form.kind === 'form' && form.form.submit).toEqual({ actionId: 'access.review.revoke.submit', label: 'Revoke', value: `REV-1/GRT-${grants.frank}` });
      expect(replyText(await t.press('erin', 'access.review.revoke.submit', `REV-1/GRT-${grants.frank}`, { reason: 'left the project' }))).toBe(`GRT-${grants.frank} revoked (REV-1); the grantee is told.`);
      expect(await grantRow(t, grants.frank)).toMatchObject({ state: 'revoked', outcomeBy: 'erin', outcome: 'review REV-1: left the project' });
      const status = replyText(await t.command('carol', '/access review status REV-1'));
      expect(status).toContain('2 of 3 grants reviewed; deadline');
      expect(status).toContain(`- GRT-${grants.dave} Dave Asker viewer: kept by Carol Owner`);
      expect(status).toContain(`- GRT-${grants.frank} Frank Outsider editor: revoked by Erin Owner (left the project)`);
      expect(status).toContain(`- GRT-${grants.erin} Erin Owner viewer: waiting`);
      // the decided card is edited for every reviewer
      const updated = t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === `REV-1.GRT-${grants.dave}`).at(-1)!;
      expect(messageText(updated.message)).toContain('✓ Kept by Carol Owner');
      expect(updated.message!.buttons).toEqual([]);
      expect((await auditOf(t, 'REV-1')).map((a) => a.action)).toEqual(['access.review_started', 'refused:access.self_review', 'refused:access.not_reviewer', 'access.review_keep', 'access.review_revoke']);
    });

    it('reminders until the deadline; at the deadline the unreviewed grant is escalated to the owners and revoked; the result is audited', async () => {
      await t.advance(8 * HOUR);
      const reminders = () => t.port.calls.filter((c) => c.method === 'dm' && String(c.message?.text).startsWith('⏰ REV-1'));
      // erin's own grant is the only one open: carol is reminded, erin is not
      expect(reminders().map((c) => [c.user, c.message!.text])).toEqual([['carol', `⏰ REV-1 (review of crm): 1 grant waits for your Keep or Revoke, by Tue 6 Jan 10:00 CET (16h left): GRT-${grants.erin}.`]]);
      await t.advance(8 * HOUR);
      expect(reminders()).toHaveLength(2);
      expect((await grantRow(t, grants.erin)).state).toBe('active');
      await t.advance(8 * HOUR);
      expect(reminders()).toHaveLength(2);
      expect(await grantRow(t, grants.erin)).toMatchObject({ state: 'revoked', outcomeBy: 'tread', outcome: 'not reviewed in REV-1 by its deadline' });
      expect(await grantRow(t, grants.dave)).toMatchObject({ state: 'active' });
      const closed = (await auditWhere(t, 'access.review_closed')).at(-1)!;
      expect(closed.data).toMatchObject({ resource: 'crm', kept: 1, revoked: 1, unreviewed: 1, unreviewedGrants: [`GRT-${grants.erin}`], revokedUnreviewed: [`GRT-${grants.erin}`] });
      expect(t.port.calls.some((c) => c.method === 'dm' && c.user === 'carol' && c.message?.title === 'REV-1: 1 grant of crm not reviewed')).toBe(true);
      expect(securityPosts(t).at(-1)).toBe('REV-1 (review of crm) closed: 1 kept, 1 revoked, 1 not reviewed (1 revoked at the deadline).');
      expect(replyText(await t.command('carol', '/access review status REV-1'))).toContain(`- GRT-${grants.erin} Erin Owner viewer: not reviewed`);
    });

    it('campaigns also start on the resource\'s review.every schedule', async () => {
      const before = (await auditWhere(t, 'access.review_started')).length;
      // every: 30d from start-up; a day went by already
      await t.advance(29 * DAY + HOUR);
      const started = await auditWhere(t, 'access.review_started');
      expect(started).toHaveLength(before + 1);
      expect(started.at(-1)).toMatchObject({ actor: 'tread', subject: 'REV-2', source: 'scheduler' });
    });
  });
}

/** An organisation whose reviews go to each grantee's manager and to whoever is on call, like approvers can. */
const BY_MANAGER = `
organisation: Reviews by manager
timezone: Europe/Berlin
people:
  - { id: carol, name: Carol Owner }
  - { id: dave, name: Dave Asker, manager: mona }
  - { id: erin, name: Erin Asker, manager: max }
  - { id: frank, name: Frank Nomanager }
  - { id: gina, name: Gina Ops }
  - { id: mona, name: Mona Manager }
  - { id: max, name: Max Manager }
  - { id: olga, name: Olga Oncall }
  - { id: oscar, name: Oscar Oncall }
teams:
  - { id: ops, members: [gina] }
schedules:
  - name: sec-duty
    layers: [{ people: [olga, oscar], start: 2026-01-05, handoff: "09:00", length: daily }]
approvalPolicies:
  - { name: owners, stages: [{ approvers: [{ owners: true }] }] }
resources:
  - name: crm
    title: CRM
    team: ops
    owners: [carol]
    roles: [{ name: viewer, title: Read records, sensitivity: low }]
    approvalPolicy: owners
    connector: { kind: manual }
    review: { every: 90d, deadline: 2d, remindEvery: 1d, reviewers: [{ manager: true }, { schedule: sec-duty }] }
  - name: wiki
    title: Wiki
    team: ops
    owners: [carol]
    roles: [{ name: editor, title: Edit pages, sensitivity: low }]
    approvalPolicy: owners
    connector: { kind: manual }
    review: { every: 90d, deadline: 2d, reviewers: [{ manager: true }] }
access:
  securityChannel: { console: security }
`;

for (const driver of drivers) {
  describe(`access reviews by manager and on call (${driver})`, () => {
    let t: RequestTestTread;
    const grants: Record<string, number> = {};
    treadPerFile(driver, (db) => startAccessTread(db, { config: parseOrganisation(BY_MANAGER, 'reviews.yaml', {}) }), (started) => { t = started; });

    const active = async (who: string, resource: string, role: string) => {
      await t.command(who, `/access request ${resource} ${role} for 3d ongoing work`);
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id)).find((x) => x.kind === 'grant')!.id}`);
      expect((await grantRow(t, id)).state).toBe('active');
      return id;
    };
    const cards = (person: string, review: string) => t.port.calls.filter((c) => c.method === 'dm' && c.user === person && c.message?.subject?.startsWith(`${review}.`)).map((c) => c.message!.subject);

    it('each grant goes to its grantee\'s manager and to whoever was on call when the campaign started; nobody else may decide it', async () => {
      grants.dave = await active('dave', 'crm', 'viewer');
      grants.erin = await active('erin', 'crm', 'viewer');
      grants.frank = await active('frank', 'crm', 'viewer');
      expect(replyText(await t.command('carol', '/access review start crm'))).toBe('REV-1 started: 3 active grants of crm went to the reviewers, due 2026-01-07. /access review status REV-1');
      const [dave, erin, frank] = [`REV-1.GRT-${grants.dave}`, `REV-1.GRT-${grants.erin}`, `REV-1.GRT-${grants.frank}`];
      expect(cards('mona', 'REV-1')).toEqual([dave]);
      expect(cards('max', 'REV-1')).toEqual([erin]);
      // olga is on call for sec-duty on Monday 5 January (oscar from Tuesday 09:00)
      expect(cards('olga', 'REV-1')).toEqual([dave, erin, frank]);
      expect(cards('oscar', 'REV-1')).toEqual([]);
      expect(cards('carol', 'REV-1')).toEqual([]);
      const started = (await auditWhere(t, 'access.review_started')).at(-1)!;
      expect(started.data).toMatchObject({
        reviewers: ['olga', 'mona', 'max'],
        reviewersByGrant: { [`GRT-${grants.dave}`]: ['olga', 'mona'], [`GRT-${grants.erin}`]: ['olga', 'max'], [`GRT-${grants.frank}`]: ['olga'] },
      });

      expect(replyText(await t.press('max', 'access.review.keep', `REV-1/GRT-${grants.dave}`))).toBe(`Max Manager is not a reviewer of GRT-${grants.dave} in REV-1; its reviewers are Olga Oncall, Mona Manager.`);
      expect(replyText(await t.press('carol', 'access.review.keep', `REV-1/GRT-${grants.frank}`))).toBe(`Carol Owner is not a reviewer of GRT-${grants.frank} in REV-1; its reviewers are Olga Oncall.`);
      expect(replyText(await t.press('mona', 'access.review.keep', `REV-1/GRT-${grants.dave}`))).toBe(`GRT-${grants.dave} kept (REV-1).`);
      expect(replyText(await t.press('olga', 'access.review.revoke.submit', `REV-1/GRT-${grants.frank}`, { reason: 'no longer on the project' }))).toBe(`GRT-${grants.frank} revoked (REV-1); the grantee is told.`);
      expect((await auditOf(t, 'REV-1')).map((a) => [a.action, a.actor])).toEqual([
        ['access.review_started', 'carol'], ['refused:access.not_reviewer', 'max'], ['refused:access.not_reviewer', 'carol'], ['access.review_keep', 'mona'], ['access.review_revoke', 'olga'],
      ]);
    });

    it('reminders go to the reviewers of what is still open, as resolved at the start (not to whoever is on call now)', async () => {
      await t.advance(DAY);
      const reminders = t.port.calls.filter((c) => c.method === 'dm' && String(c.message?.text).startsWith('⏰ REV-1'));
      expect(reminders.map((c) => c.user).sort()).toEqual(['max', 'olga']);
      expect(reminders.find((c) => c.user === 'max')!.message!.text).toContain(`1 grant waits for your Keep or Revoke`);
      expect(reminders.find((c) => c.user === 'olga')!.message!.text).toContain(`: GRT-${grants.erin}.`);
      expect(replyText(await t.press('oscar', 'access.review.keep', `REV-1/GRT-${grants.erin}`))).toBe(`Oscar Oncall is not a reviewer of GRT-${grants.erin} in REV-1; its reviewers are Olga Oncall, Max Manager.`);
      expect(replyText(await t.press('max', 'access.review.keep', `REV-1/GRT-${grants.erin}`))).toBe(`GRT-${grants.erin} kept (REV-1).`);
      expect((await auditWhere(t, 'access.review_closed')).at(-1)!.data).toMatchObject({ kept: 2, revoked: 1, unreviewed: 0 });
    });

    it('a grantee without a manager, when the manager is the only reviewer, is reviewed by the resource\'s owners', async () => {
      grants.wikiDave = await active('dave', 'wiki', 'editor');
      grants.wikiFrank = await active('frank', 'wiki', 'editor');
      expect(replyText(await t.command('carol', '/access review start wiki'))).toContain('REV-2 started: 2 active grants of wiki');
      expect(cards('mona', 'REV-2')).toEqual([`REV-2.GRT-${grants.wikiDave}`]);
      expect(cards('carol', 'REV-2')).toEqual([`REV-2.GRT-${grants.wikiFrank}`]);
      expect(replyText(await t.press('carol', 'access.review.keep', `REV-2/GRT-${grants.wikiFrank}`))).toBe(`GRT-${grants.wikiFrank} kept (REV-2).`);
    });
  });
}
