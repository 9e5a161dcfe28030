/**
 * Access end to end in chat with the manual connector, on PGlite and PostgreSQL: the resource list, `/request access …`
 * through its alias, the owners' approval on their DM cards, the team's grant task, the grantee's one live card from
 * pending to active, the expiry warning with Extend, expiry with the removal task, and revocation.
 */
import { describe, expect, it } from 'vitest';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { timersOf } from '../request/request.fakes.js';
import {
  approvalOf, auditOf, grantRow, HOUR, lastCard, lastGrantId, messageText, MINUTE, replyText, securityPosts, startAccessTread, tasksOf, type RequestTestTread,
} from './access.fakes.js';

for (const driver of drivers) {
  describe(`access with the manual connector (${driver})`, () => {
    let t: RequestTestTread;
    treadPerFile(driver, (db) => startAccessTread(db), (started) => { t = started; });

    const dmsTo = (person: string, subject: string) => t.port.calls.filter((c) => c.method === 'dm' && c.user === person && c.message?.subject === subject);

    it('/access lists the resources with a button each; a resource whose target is not configured says why', async () => {
      const reply = await t.command('dave', '/access');
      const text = replyText(reply);
      expect(text).toContain('*CRM* (`crm`): `viewer` low, `editor` medium, `exporter` high');
      expect(text).toContain('*Database* (`db`)');
      expect(text).toContain('not available now: the environment variable PG_URL is not set');
      expect(reply.kind === 'ephemeral' && reply.message.buttons!.map((b) => [b.actionId, b.value])).toEqual([['access.form', 'crm']]);
      const form = await t.press('dave', 'access.form', 'crm');
      expect(form.kind === 'form' && form.form.inputs!.map((i) => [i.id, i.type, i.required ?? false])).toEqual([['role', 'select', true], ['duration', 'text', false], ['reason', 'multiline', true]]);
    });

    it('/request access … is /access request …: GRT-1 waits for the owners; the requester has one live card', async () => {
      const reply = await t.command('dave', '/request access crm viewer for 2h checking a customer complaint ticket:SUP-12');
      expect(replyText(reply)).toBe('GRT-1 requested: viewer on crm for 2h once active. It waits for approval now; your card in a direct message shows where it stands.');
      const g = await grantRow(t, 1);
      expect(g).toMatchObject({ resource: 'crm', role: 'viewer', person: 'dave', login: 'dave', state: 'requested', durationMs: 2 * HOUR, reason: 'checking a customer complaint', ticket: 'SUP-12', sensitivity: 'low', connector: 'manual', source: 'console' });
      const card = dmsTo('dave', 'GRT-1');
      expect(card).toHaveLength(1);
      expect(messageText(card[0]!.message)).toMatch(/GRT-1 · crm: viewer · pending approval\nPending approval by Carol Owner, Erin Owner since 10:00 CET\./);
      // each owner got the approval's card by DM, through the approvals workflow
      const apr = await approvalOf(t, 1);
      expect(t.port.calls.filter((c) => c.method === 'dm' && c.message?.subject === `${apr}.1`).map((c) => c.user).sort()).toEqual(['carol', 'erin']);
      expect((await auditOf(t, 'GRT-1')).map((a) => a.action)).toEqual(['access.requested']);
    });

    it('an owner approves with the button: provisioning sends a task to the team; Done makes it active until its end', async () => {
      const apr = await approvalOf(t, 1);
      const pressed = await t.press('carol', 'approval.approve', apr);
      expect(pressed.kind === 'card' && pressed.notice!.text).toBe('You approved GRT-1 (Access: CRM · Read records for 2h).');
      expect(await grantRow(t, 1)).toMatchObject({ state: 'provisioning' });
      const [task] = await tasksOf(t, 1);
      expect(task).toMatchObject({ kind: 'grant', team: 'ops', state: 'open' });
      const taskCard = dmsTo('gina', `TASK-${task!.id}`);
      expect(messageText(taskCard[0]!.message)).toContain('Grant *viewer* on *crm* to Dave Asker (login `dave`) for GRT-1, then press Done');
      expect(messageText(lastCard(t, 'GRT-1'))).toContain(`Being provisioned: task TASK-${task!.id} for team ops to grant it by hand.`);
      // only the team may do it
      expect(replyText(await t.press('frank', 'access.task.done', `TASK-${task!.id}`))).toBe(`TASK-${task!.id} is for team ops; Frank Outsider is not one of them.`);
      t.clock.advance(10 * MINUTE);
      const done = await t.press('gina', 'access.task.done', `TASK-${task!.id}`);
      expect(done.kind === 'card' && done.notice!.text).toBe(`TASK-${task!.id} done: GRT-1 is active.`);
      const g = await grantRow(t, 1);
      expect(g.state).toBe('active');
      expect(g.activatedAt!.toISOString()).toBe('2026-01-05T09:10:00.000Z');
      expect(g.endsAt!.toISOString()).toBe('2026-01-05T11:10:00.000Z');
      expect(messageText(lastCard(t, 'GRT-1'))).toContain('✓ Active until 12:10 CET (2h left).');
      expect((await auditOf(t, 'GRT-1')).map((a) => a.action)).toEqual(['access.requested', 'access.approve', 'access.provision', 'access.task_grant_done', 'access.activate']);
      // the grantee's card only ever has one message: the DM, edited in place
      expect(dmsTo('dave', 'GRT-1')).toHaveLength(1);
    });

    it('the expiry warning comes expiryWarning before the end, with Extend; at the end it expires and a removal task goes out', async () => {
      await t.advance(HOUR + 44 * MINUTE);
      expect((await grantRow(t, 1)).state).toBe('active');
      await t.advance(MINUTE);
      expect((await grantRow(t, 1)).state).toBe('expiring');
      const warning = t.port.calls.filter((c) => c.method === 'dm' && c.user === 'dave' && c.message?.text?.startsWith('⏳ GRT-1')).at(-1)!;
      expect(warning.message!.text).toBe('⏳ GRT-1 (crm: viewer) ends 12:10 CET, in 15m. Still need it? Extend it: /access extend GRT-1 <duration> <reason>');
      expect(warning.message!.buttons).toEqual([{ actionId: 'access.extend.form', label: 'Extend', value: 'GRT-1', style: 'primary' }]);
      expect(messageText(lastCard(t, 'GRT-1'))).toContain('⏳ Expiring soon: access ends 12:10 CET (15m left).');
      await t.advance(15 * MINUTE);
      const g = await grantRow(t, 1);
      expect(g).toMatchObject({ state: 'expired', outcome: 'its 2h are up', removal: 'pending' });
      const removal = (await tasksOf(t, 1)).at(-1)!;
      expect(removal).toMatchObject({ kind: 'revoke', state: 'open', team: 'ops' });
      expect(messageText(lastCard(t, 'GRT-1'))).toContain(`Removal: task TASK-${removal.id} for team ops to remove it by hand.`);
      await t.press('gina', 'access.task.done', `TASK-${removal.id}`);
      expect(await grantRow(t, 1)).toMatchObject({ state: 'expired', removal: 'done' });
      expect(messageText(lastCard(t, 'GRT-1'))).toMatch(/Expired 12:10 CET \(its 2h are up\)\.\nAccess removed at the target 12:10 CET\./);
      expect((await auditOf(t, 'GRT-1')).map((a) => a.action).slice(-4)).toEqual(['access.warn', 'access.expire', 'access.task_revoke_done', 'access.removed']);
    });

    it('revoke: the grantee may give it up, an owner or an admin may revoke, nobody else; the grantee hears who and why', async () => {
      await t.command('dave', '/access request crm editor for 1d fixing addresses');
      const id = await lastGrantId(t);
      await t.press('erin', 'approval.approve', await approvalOf(t, id));
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id))[0]!.id}`);
      expect((await grantRow(t, id)).state).toBe('active');
      expect(replyText(await t.command('frank', `/access revoke GRT-${id} looks wrong`))).toBe(`Only Dave Asker (who holds it), the owners of crm or an admin may revoke GRT-${id}.`);
      expect(replyText(await t.command('carol', `/access revoke GRT-${id}`))).toBe(`Say why: /access revoke GRT-${id} <reason>.`);
      expect(replyText(await t.command('carol', `/access revoke GRT-${id} no longer on the address project`))).toBe(`GRT-${id} revoked; access is being removed at crm.`);
      expect(await grantRow(t, id)).toMatchObject({ state: 'revoked', outcomeBy: 'carol', outcome: 'no longer on the address project', removal: 'pending' });
      expect(t.port.calls.some((c) => c.method === 'dm' && c.user === 'dave' && c.message?.text === `GRT-${id} (crm: editor) was revoked by Carol Owner: no longer on the address project.`)).toBe(true);
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('Revoked by Carol Owner 12:10 CET: no longer on the address project.');
      // the expiry clocks stopped with it; the removal went to the team
      expect(Object.keys(await timersOf(t, `GRT-${id}`))).toEqual([]);
      expect((await tasksOf(t, id)).map((x) => [x.kind, x.state])).toEqual([['grant', 'done'], ['revoke', 'open']]);
      expect(securityPosts(t)).toEqual([]);
    });

    it('/access list shows what a person holds with time left, and Extend and Revoke buttons', async () => {
      await t.command('dave', '/access request crm viewer for 3h more complaints');
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, id))[0]!.id}`);
      const reply = await t.command('dave', '/access list');
      expect(replyText(reply)).toContain(`*GRT-${id}* · crm: viewer · Dave Asker · active · until 15:10 CET (3h left)`);
      expect(reply.kind === 'ephemeral' && reply.message.buttons!.map((b) => b.label)).toEqual([`Extend GRT-${id}`, `Revoke GRT-${id}`]);
      expect(replyText(await t.command('carol', '/access list crm'))).toContain(`GRT-${id}`);
      expect(replyText(await t.command('frank', '/access list crm'))).toBe('Access to crm (yours)\nNo grants to show.');
      const shown = await t.command('dave', `/access show GRT-${id}`);
      expect(replyText(shown)).toContain(`GRT-${id} · crm: viewer · active`);
      expect(replyText(await t.command('frank', `/access show GRT-${id}`))).toMatch(/is not yours to see/);
    });
  });
}
