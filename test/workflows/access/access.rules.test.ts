/**
 * The rules a security team reads first, each a test on PGlite and PostgreSQL: every refusal is a clear sentence, a
 * code, an audit row, and nothing else stored — unknown resource or role (the valid ones listed), over-long duration
 * (the limit named, never clamped), reason and ticket required, separation of duties at request and at approval,
 * self-approval, an ineligible approver. High sensitivity: the button alone never activates; a wrong or an expired
 * code does not; the right code does.
 */
import { describe, expect, it } from 'vitest';
import { schema } from '../../../db/client.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import {
  accessCounts, approvalOf, auditOf, auditWhere, codeFor, grantRow, HOUR, lastCard, lastGrantId, messageText, MINUTE, replyText, startAccessTread, tasksOf,
  type RequestTestTread,
} from './access.fakes.js';

for (const driver of drivers) {
  describe(`access rules (${driver})`, () => {
    let t: RequestTestTread;
    // the webhook resource's target is never called here: only its request rules are
    treadPerFile(driver, (db) => startAccessTread(db, { env: { HOOK_URL: 'http://127.0.0.1:9/never', HOOK_SECRET: 'a-secret-of-16-chars-or-more' } }), (started) => { t = started; });

    /** A refusal: the sentence, the audit row with its code, and nothing else stored. */
    const refused = async (who: string, text: string, code: string) => {
      const before = await accessCounts(t);
      const audits = (await auditWhere(t, `refused:${code}`)).length;
      const reply = replyText(await t.command(who, text));
      expect(await accessCounts(t)).toEqual(before);
      const rows = await auditWhere(t, `refused:${code}`);
      expect(rows).toHaveLength(audits + 1);
      expect(rows.at(-1)!.actor).toBe(who);
      return { reply, audit: rows.at(-1)! };
    };

    /** Requests, approves and completes the manual task: an active grant of dave's. */
    const activeGrant = async (text: string) => {
      await t.command('dave', text);
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id))[0]!.id}`);
      expect((await grantRow(t, id)).state).toBe('active');
      return id;
    };

    it('an unknown resource or role is refused with the valid ones listed', async () => {
      const r1 = await refused('dave', '/access request crn viewer because', 'access.unknown_resource');
      expect(r1.reply).toBe('That request cannot go ahead: resource: unknown resource "crn" (resources: crm, pay, db). Write it like: /access request <resource> <role> for 4h <reason>');
      const r2 = await refused('dave', '/access request crm admin because', 'access.unknown_role');
      expect(r2.reply).toBe('That request cannot go ahead: role: unknown role "admin" (roles of crm: viewer, editor, exporter). Write it like: /access request crm viewer for 4h <reason>');
      expect(r2.audit).toMatchObject({ subject: 'access:crm', source: 'console', data: expect.objectContaining({ resource: 'crm', role: 'admin', person: 'dave' }) });
    });

    it('a duration beyond maxDuration is refused naming the limit, never clamped; the default applies when none is asked', async () => {
      const r = await refused('dave', '/access request crm viewer for 3d a long project', 'access.duration_too_long');
      expect(r.reply).toMatch(/^That request cannot go ahead: duration: 3d is longer than the limit of 2d for this resource; ask for 2d or less\./);
      await t.command('dave', '/access request crm viewer a short look');
      expect(await grantRow(t, await lastGrantId(t))).toMatchObject({ durationMs: 4 * HOUR, state: 'requested' });
      await t.command('dave', `/access cancel GRT-${await lastGrantId(t)} not needed`);
      expect((await grantRow(t, await lastGrantId(t))).state).toBe('cancelled');
    });

    it('requireReason and requireTicket are enforced', async () => {
      const r1 = await refused('dave', '/access request crm viewer for 1h', 'access.reason_required');
      expect(r1.reply).toMatch(/reason: required: say why you need it/);
      const r2 = await refused('dave', '/access request pay auditor for 1h month-end checks', 'access.ticket_required');
      expect(r2.reply).toMatch(/ticket: required for pay: give the ticket this access is for \(ticket:ABC-123\)/);
      // the form names the field too
      const form = await t.press('dave', 'access.submit', 'crm', { role: 'viewer', duration: '9d', reason: '' });
      expect(form).toMatchObject({ kind: 'form_errors', errors: { duration: '9d is longer than the limit of 2d for this resource; ask for 2d or less', reason: 'required: say why you need it (the approvers and the audit log read it)' } });
    });

    it('separation of duties: a request for a role that conflicts with an active grant is refused naming the conflict', async () => {
      const editor = await activeGrant('/access request crm editor for 1d address clean-up');
      const r = await refused('dave', '/access request crm exporter for 1h quarterly export', 'access.sod_conflict');
      expect(r.reply).toBe(`Granting Dave Asker exporter on crm while they hold editor (GRT-${editor}, active): the roles conflict (separation of duties). Revoke the other grant first.`);
      expect(r.audit.data).toMatchObject({ resource: 'crm', role: 'exporter', person: 'dave', conflictsWith: ['editor'], grants: [`GRT-${editor}`] });
      await t.command('dave', `/access revoke GRT-${editor} done with it`);
    });

    it('separation of duties: an approval that would create a conflict is refused too (vetoed from approval.deciding)', async () => {
      await t.command('dave', '/access request crm exporter for 1h quarterly export');
      const exporter = await lastGrantId(t);
      const editor = await activeGrant('/access request crm editor for 1d more addresses');
      const before = await accessCounts(t);
      const reply = replyText(await t.press('erin', 'approval.approve', await approvalOf(t, exporter)));
      expect(reply).toBe(`Approving GRT-${exporter} would give Dave Asker exporter on crm while they hold editor (GRT-${editor}, active): the roles conflict (separation of duties). Revoke the other grant first.`);
      expect(await accessCounts(t)).toEqual(before);
      expect((await grantRow(t, exporter)).state).toBe('requested');
      const rows = await auditWhere(t, 'refused:access.sod_conflict');
      expect(rows.at(-1)).toMatchObject({ actor: 'erin', subject: `GRT-${exporter}` });
      await t.command('dave', `/access revoke GRT-${editor} done`);
      await t.command('dave', `/access cancel GRT-${exporter} later`);
    });

    it('no self-approval (access.self_approval) and only eligible approvers (approval.not_eligible): refused, audited, nothing counted', async () => {
      await t.command('carol', '/access request crm viewer for 1h checking a report');
      const id = await lastGrantId(t);
      const apr = await approvalOf(t, id);
      const before = await accessCounts(t);
      expect(replyText(await t.press('carol', 'approval.approve', apr))).toBe(`Carol Owner asked for GRT-${id} and may not approve it: self-approval is not allowed by the policy owners.`);
      expect(replyText(await t.press('frank', 'approval.approve', apr))).toBe(`Frank Outsider is not an approver of stage 1 of 1 (owners; one approver) of ${apr} (GRT-${id}); the approvers are Erin Owner.`);
      expect(await accessCounts(t)).toEqual(before);
      expect((await grantRow(t, id)).state).toBe('requested');
      const refusals = (await auditOf(t, apr)).filter((a) => a.action.startsWith('refused:')).map((a) => [a.actor, a.action, a.data.record]);
      expect(refusals).toEqual([['carol', 'refused:access.self_approval', `GRT-${id}`], ['frank', 'refused:approval.not_eligible', `GRT-${id}`]]);
      await t.press('erin', 'approval.reject.submit', apr, { reason: 'use the report export instead' });
      expect(await grantRow(t, id)).toMatchObject({ state: 'denied', outcome: 'use the report export instead', outcomeBy: 'erin' });
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('✗ Denied by Erin Owner: use the report export instead.');
    });

    it('people are matched by immutable platform ids, never by display name: a "Carol Owner" who is not carol cannot approve', async () => {
      await t.command('dave', '/access request crm viewer for 1h a quick look');
      const id = await lastGrantId(t);
      const apr = await approvalOf(t, id);
      const reply = await t.tread.router.handle({
        kind: 'action', actionId: 'approval.approve', value: apr, deliveryId: `impostor-${id}`,
        actor: { platform: 'console', id: 'c4rol', displayName: 'Carol Owner' }, where: { platform: 'console', channel: 'console' },
      });
      expect(replyText(reply)).toMatch(new RegExp(`^Carol Owner is not an approver of stage 1 of 1 \\(owners; any one of 2\\) of ${apr}`));
      expect((await auditOf(t, apr)).filter((a) => a.action === 'refused:approval.not_eligible').at(-1)!.actor).toBe('console.c4rol');
      expect((await grantRow(t, id)).state).toBe('requested');
      await t.command('dave', `/access cancel GRT-${id} not needed`);
    });

    it('high sensitivity: the button alone does not activate; a wrong or an expired code does not; the right code does', async () => {
      await t.command('dave', '/access request crm exporter for 1h quarterly export ticket:FIN-7');
      const id = await lastGrantId(t);
      const subject = `GRT-${id}`;
      const apr = await approvalOf(t, id);
      const pressed = await t.press('carol', 'approval.approve', apr);
      expect(pressed.kind === 'card' && pressed.notice!.text).toBe(`Your approval of ${subject} needs a second step before it counts.`);
      expect((await grantRow(t, id)).state).toBe('requested');
      expect(await tasksOf(t, id)).toEqual([]);
      const code = codeFor(t, 'carol', subject);
      expect(messageText(lastCard(t, subject))).toContain('Carol Owner approved; it counts once their second step (a one-time code or link) is done.');
      // the code is stored only as a hash
      const steps = await t.db.select().from(schema.accessSecondSteps);
      expect(steps.map((x) => x.kind)).toEqual(['code']);
      expect(JSON.stringify(steps)).not.toContain(code);
      const wrong = code === '000000' ? '111111' : '000000';
      expect(replyText(await t.command('carol', `/access confirm ${subject} ${wrong}`))).toBe(`That code is wrong; your approval of ${subject} does not count yet (4 tries left).`);
      expect((await grantRow(t, id)).state).toBe('requested');
      // someone else cannot use carol's code
      expect(replyText(await t.command('erin', `/access confirm ${subject} ${code}`))).toBe(`You have no approval of ${subject} waiting for a second step.`);
      t.clock.advance(5 * MINUTE + 1000);
      expect(replyText(await t.command('carol', `/access confirm ${subject} ${code}`))).toMatch(new RegExp(`^The code for ${subject} expired 10:\\d\\d CET; your approval does not count yet\\.`));
      expect((await grantRow(t, id)).state).toBe('requested');
      expect((await auditOf(t, subject)).filter((a) => a.action.startsWith('refused:')).map((a) => a.action)).toEqual(['refused:access.code_wrong', 'refused:access.code_expired']);
      expect(replyText(await t.command('carol', `/access confirm ${subject}`))).toBe(`A new one-time code for ${subject} is in your direct messages.`);
      const fresh = codeFor(t, 'carol', subject);
      const confirmed = await t.press('carol', 'access.code.submit', subject, { code: fresh });
      expect(replyText(confirmed)).toBe(`Confirmed: your approval of ${subject} counts, and crm: exporter is being provisioned.`);
      expect((await grantRow(t, id)).state).toBe('provisioning');
      // a code works once
      expect(replyText(await t.command('carol', `/access confirm ${subject} ${fresh}`))).toBe(`You have no approval of ${subject} waiting for a second step.`);
      expect((await auditOf(t, subject)).map((a) => a.action)).toEqual([
        'access.requested', 'access.second_step_sent', 'refused:access.code_wrong', 'refused:access.code_expired', 'access.second_step_sent', 'access.second_step_done', 'access.approve', 'access.provision',
      ]);
    });

    it('a second request for a role one holds is refused; five wrong codes void a code', async () => {
      const held = await lastGrantId(t);
      expect(replyText(await t.command('dave', '/access request crm exporter for 1h another export'))).toBe(`You already have GRT-${held} for exporter on crm (being provisioned).`);
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, held))[0]!.id}`);
      await t.command('dave', `/access revoke GRT-${held} export done`);
      await t.command('dave', '/access request crm exporter for 1h another export');
      const id = await lastGrantId(t);
      const subject = `GRT-${id}`;
      await t.press('erin', 'approval.approve', await approvalOf(t, id));
      const code = codeFor(t, 'erin', subject);
      const wrong = code === '000000' ? '111111' : '000000';
      for (let i = 4; i >= 1; i--) expect(replyText(await t.command('erin', `/access confirm ${subject} ${wrong}`))).toMatch(new RegExp(`\\(${i} tr(y|ies) left\\)\\.$`));
      expect(replyText(await t.command('erin', `/access confirm ${subject} ${wrong}`))).toBe(`That code is wrong, and it was the fifth try: the code is void. Type /access confirm ${subject} (without a code) for a new one.`);
      expect(replyText(await t.command('erin', `/access confirm ${subject} ${code}`))).toBe(`That code is not valid for ${subject} any more. Type /access confirm ${subject} (without a code) for a new one.`);
      expect((await grantRow(t, id)).state).toBe('requested');
      expect((await auditOf(t, subject)).filter((a) => a.action === 'refused:access.code_wrong')).toHaveLength(5);
    });
  });
}
