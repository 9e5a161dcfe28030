/**
 * Break-glass and extensions, on PGlite and PostgreSQL: break-glass is granted at once for at most breakGlassMax,
 * announced in the security channel, opens a review task for the owners that stays open until someone reviews it (and
 * reminds them after breakGlassRemindAfter, then every breakGlassRemindEvery),
 * and is revoked when its incident resolves (through incident.changed) or at the time limit; an extension needs a new
 * approval (unless selfExtend) and is refused beyond maxDuration; a grant that expires while its extension waits
 * ends the extension's approval.
 */
import { describe, expect, it } from 'vitest';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { approvalRow, timersOf } from '../request/request.fakes.js';
import {
  ACCESS_YAML, approvalOf, auditOf, grantRow, HOUR, lastCard, lastGrantId, messageText, MINUTE, replyText, securityPosts, startAccessTread, tasksOf, type RequestTestTread,
} from './access.fakes.js';

for (const driver of drivers) {
  describe(`break-glass and extensions (${driver})`, () => {
    let t: RequestTestTread;
    // the owners' review of a break-glass use is reminded after 2h, then every 12h
    const config = parseOrganisation(ACCESS_YAML.replace('  breakGlassMax: 1h\n', '  breakGlassMax: 1h\n  breakGlassRemindAfter: 2h\n  breakGlassRemindEvery: 12h\n'), 'access.yaml', { PG_PREFIX: 'x_' });
    treadPerFile(driver, (db) => startAccessTread(db, { config }), (started) => { t = started; });

    it('break-glass needs the responder role and a reason', async () => {
      expect(replyText(await t.command('dave', '/access breakglass crm editor the database is on fire'))).toBe('Dave Asker may not break the glass (emergency access): that needs the responder role. Ask an admin to add it to your entry in the config.');
      expect(replyText(await t.command('bob', '/access breakglass crm editor'))).toBe('Say why you break the glass: /access breakglass <resource> <role> <reason> [incident:INC-n]');
      expect(await lastGrantId(t)).toBe(0);
    });

    it('granted at once, announced to security, a review task for the owners; revoked when its incident is resolved', async () => {
      await t.command('bob', '/incident Checkout is down for everyone');
      const reply = await t.command('bob', '/access breakglass crm editor fixing broken orders by hand incident:INC-1');
      const id = await lastGrantId(t);
      expect(replyText(reply)).toBe(`🔓 GRT-${id}: break-glass editor on crm, being provisioned now, for at most 1h or until INC-1 is resolved. The security channel and the owners are told; the owners will review it.`);
      const g = await grantRow(t, id);
      expect(g).toMatchObject({ kind: 'breakglass', state: 'provisioning', incident: 'INC-1', durationMs: HOUR, approvalId: null });
      expect(g.endsAt!.toISOString()).toBe('2026-01-05T10:00:00.000Z');
      expect(securityPosts(t).at(-1)).toBe(`🔓 Break-glass: GRT-${id}\nBob Responder broke the glass for *editor* on *crm* (medium sensitivity), until 11:00 CET at the latest, for INC-1 (revoked when it is resolved).\nReason: fixing broken orders by hand`);
      const tasks = await tasksOf(t, id);
      const grantTask = tasks.find((x) => x.kind === 'grant');
      const review = tasks.find((x) => x.kind === 'breakglass_review');
      expect([grantTask!.team, review!.team, review!.state]).toEqual(['ops', null, 'open']);
      expect(t.port.calls.filter((c) => c.method === 'dm' && c.message?.subject === `TASK-${review!.id}`).map((c) => c.user).sort()).toEqual(['carol', 'erin']);
      await t.press('gina', 'access.task.done', `TASK-${grantTask!.id}`);
      expect((await grantRow(t, id)).state).toBe('active');
      // the incident is resolved: the grant is revoked with it (incident.changed)
      await t.advance(10 * MINUTE);
      await t.command('bob', '/incident resolve INC-1 orders fixed, checkout back');
      const after = await grantRow(t, id);
      expect(after).toMatchObject({ state: 'revoked', outcomeBy: 'tread', outcome: 'INC-1 was resolved by Bob Responder', removal: 'pending' });
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('Revoked 10:10 CET: INC-1 was resolved by Bob Responder.');
      expect((await auditOf(t, `GRT-${id}`)).map((a) => a.action)).toEqual(['access.breakglass', 'access.provision', 'access.task_grant_done', 'access.activate', 'access.revoke']);
      // the review stays open until an owner reviews it
      expect((await tasksOf(t, id)).find((x) => x.kind === 'breakglass_review')!.state).toBe('open');
      expect(replyText(await t.press('gina', 'access.task.done', `TASK-${review!.id}`))).toBe(`TASK-${review!.id} is for the owners of crm; Gina Ops is not one of them.`);
      const reviewed = await t.press('erin', 'access.task.done', `TASK-${review!.id}`);
      expect(reviewed.kind === 'card' && reviewed.notice!.text).toBe(`TASK-${review!.id} done: the break-glass use of GRT-${id} is marked reviewed.`);
      expect(securityPosts(t).at(-1)).toBe(`✓ GRT-${id} (break-glass crm: editor by Bob Responder) was reviewed by Erin Owner.`);
    });

    it('without an incident, break-glass ends at breakGlassMax', async () => {
      await t.command('alice', '/access breakglass crm viewer looking into a customer escalation');
      const id = await lastGrantId(t);
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id)).find((x) => x.kind === 'grant')!.id}`);
      expect((await grantRow(t, id)).state).toBe('active');
      expect(replyText(await t.command('alice', `/access extend GRT-${id} 1h more`))).toBe(`GRT-${id} is a break-glass grant: it ends at 1h or with its incident. Request access the usual way if you need more time.`);
      await t.advance(HOUR);
      expect(await grantRow(t, id)).toMatchObject({ state: 'expired', outcome: 'the break-glass limit of 1h was reached' });
    });

    it('the owners are reminded of an open break-glass review after breakGlassRemindAfter, then every breakGlassRemindEvery, until one reviews it', async () => {
      await t.command('bob', '/access breakglass crm viewer checking one customer record');
      const id = await lastGrantId(t);
      const task = `TASK-${(await tasksOf(t, id)).find((x) => x.kind === 'breakglass_review')!.id}`;
      const reminders = () => t.port.calls.filter((c) => c.method === 'dm' && c.message?.subject === task && String(c.message.text).startsWith('⏰'));
      expect(config.access).toMatchObject({ breakGlassRemindAfter: 2 * HOUR, breakGlassRemindEvery: 12 * HOUR });
      await t.advance(2 * HOUR - MINUTE);
      expect(reminders()).toHaveLength(0);
      await t.advance(MINUTE);
      expect(reminders().map((c) => c.user).sort()).toEqual(['carol', 'erin']);
      const first = reminders()[0]!.message!;
      expect(first.text).toMatch(/^⏰ Reminder: this has waited for your review since .+ CET\.\nBob Responder broke the glass for \*viewer\* on \*crm\* /);
      expect(first.buttons).toEqual([{ actionId: 'access.task.done', label: 'Reviewed', value: task, style: 'primary' }]);
      await t.advance(12 * HOUR - MINUTE);
      expect(reminders()).toHaveLength(2);
      await t.advance(MINUTE);
      expect(reminders()).toHaveLength(4);
      // Reviewed on a reminder: every copy of the card is edited, and the reminders stop
      const updatesBefore = t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === task).length;
      await t.press('carol', 'access.task.done', task);
      const edited = t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === task).slice(updatesBefore);
      expect(new Set(edited.map((c) => c.messageId))).toEqual(new Set(t.port.calls.filter((c) => c.method === 'dm' && c.message?.subject === task).map((c) => c.messageId)));
      expect(edited.every((c) => c.message!.buttons?.length === 0 && messageText(c.message).includes('✓ Reviewed by Carol Owner'))).toBe(true);
      expect(await timersOf(t, task)).toEqual({});
      await t.advance(2 * 12 * HOUR);
      expect(reminders()).toHaveLength(4);
      const reminded = (await auditOf(t, `GRT-${id}`)).filter((a) => a.action === 'access.task_reminded');
      expect(reminded.map((a) => [a.actor, a.data])).toEqual([
        ['tread', { task, kind: 'breakglass_review', resource: 'crm', people: ['carol', 'erin'] }],
        ['tread', { task, kind: 'breakglass_review', resource: 'crm', people: ['carol', 'erin'] }],
      ]);
    });

    it('an extension needs a new approval; approved, the end moves and the clocks with it', async () => {
      await t.command('dave', '/access request crm viewer for 2h reading tickets');
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id))[0]!.id}`);
      const ends = (await grantRow(t, id)).endsAt!.getTime();
      expect(replyText(await t.command('dave', `/access extend GRT-${id} 2d still reading`))).toBe(`GRT-${id} cannot be extended so far: 2h plus 2d is longer than the limit of 2d in total for this resource; at most 1d 22h more.`);
      const asked = replyText(await t.command('dave', `/access extend GRT-${id} 3h the backlog is long`));
      const apr = await approvalOf(t, id);
      expect(asked).toBe(`The extension of GRT-${id} by 3h went to the approvers (${apr}); the grant stays as it is until they decide.`);
      expect(await grantRow(t, id)).toMatchObject({ state: 'active', pendingExtensionMs: 3 * HOUR });
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('An extension by 3h waits for approval by Carol Owner, Erin Owner.');
      expect(replyText(await t.command('dave', `/access extend GRT-${id} 1h and more`))).toBe(`An extension of GRT-${id} by 3h already waits for approval.`);
      await t.press('erin', 'approval.approve', apr);
      const g = await grantRow(t, id);
      expect(g).toMatchObject({ state: 'active', durationMs: 5 * HOUR, extensions: 1, pendingExtensionMs: null });
      expect(g.endsAt!.getTime()).toBe(ends + 3 * HOUR);
      // the old end passes: nothing happens; the new one ends it
      await t.advance(ends - t.clock.now().getTime());
      expect((await grantRow(t, id)).state).toBe('active');
      await t.advance(3 * HOUR);
      expect((await grantRow(t, id)).state).toBe('expired');
    });

    it('an extension denied leaves the end as it was; one still waiting at the end is cancelled with the grant', async () => {
      await t.command('dave', '/access request crm viewer for 1h short look');
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id))[0]!.id}`);
      await t.command('dave', `/access extend GRT-${id} 1h more`);
      await t.press('carol', 'approval.reject.submit', await approvalOf(t, id), { reason: 'one hour is enough' });
      expect(await grantRow(t, id)).toMatchObject({ state: 'active', pendingExtensionMs: null, durationMs: HOUR });
      expect(t.port.calls.some((c) => c.method === 'dm' && c.user === 'dave' && String(c.message?.text).startsWith(`✗ The extension of GRT-${id} (crm: viewer) was not approved: one hour is enough.`))).toBe(true);
      await t.command('dave', `/access extend GRT-${id} 30m really`);
      const apr = await approvalOf(t, id);
      await t.advance(HOUR);
      expect(await grantRow(t, id)).toMatchObject({ state: 'expired', pendingExtensionMs: null });
      expect((await approvalRow(t, Number(apr.slice(4)))).state).toBe('cancelled');
    });
  });
}
