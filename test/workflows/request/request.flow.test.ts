/**
 * Requests end to end on the example organisation, through the router with a recording chat port: the catalog, typed
 * submissions with bad fields, the approval on a DM card, tasks in the team's channel, and the requester's one live card.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, type Database } from '../../../db/client.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import {
  approvalRow, auditOf, cardsOf, counts, DAY, HOUR, lastApprovalId, lastRequestId, messageText, MINUTE, replyText, requestRow, startRequestTread,
  tasksOfRequest, timersOf, type RequestTestTread,
} from './request.fakes.js';

const LAPTOP = '/request laptop model:"14-inch standard" reason: my old one has a broken hinge';

for (const driver of drivers) {
  describe(`requests end to end (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startRequestTread(database);
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    /** DM calls to a person about a subject. */
    const dmsAbout = (person: string, subject: string) => t.port.calls.filter((c) => c.method === 'dm' && c.user === person && c.message?.subject === subject);
    const updatesOf = (subject: string) => t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === subject);

    it('/request shows the catalog grouped by category, with a button per item that opens its form', async () => {
      const reply = await t.command('dave', '/request');
      expect(reply.kind).toBe('ephemeral');
      const text = replyText(reply);
      expect(text.indexOf('*Hardware*')).toBeLessThan(text.indexOf('*Software*'));
      expect(text).toContain('*New laptop* (`laptop`)');
      expect(text).toContain('*Other*');
      const buttons = reply.kind === 'ephemeral' ? reply.message.buttons! : [];
      expect(buttons.map((b) => [b.actionId, b.value])).toEqual([['request.form', 'laptop'], ['request.form', 'software-licence'], ['request.form', 'new-starter'], ['request.form', 'something-else']]);
      const form = await t.press('dave', 'request.form', 'laptop');
      expect(form.kind).toBe('form');
      if (form.kind !== 'form') return;
      expect(form.form.submit).toEqual({ actionId: 'request.submit', label: 'Submit request', value: 'laptop' });
      expect(form.form.inputs!.map((i) => [i.id, i.type, i.required])).toEqual([['model', 'select', true], ['needed_by', 'date', false], ['reason', 'multiline', true]]);
    });

    it('a bad or missing field opens the form with the error on that field, and nothing is stored', async () => {
      const before = await counts(t);
      const outboxBefore = await queryRows<{ n: number }>(t.db, sql`select count(*)::int as n from outbox`);
      const bad = await t.command('dave', '/request laptop model:"17-inch" needed_by:tomorrow reason: hinge broke');
      expect(bad.kind).toBe('form');
      if (bad.kind !== 'form') return;
      const input = (id: string) => bad.form.inputs!.find((i) => i.id === id)!;
      expect(input('model')).toMatchObject({ initial: '17-inch', error: 'pick one of 14-inch standard, 16-inch developer' });
      expect(input('needed_by')).toMatchObject({ initial: 'tomorrow', error: 'write a date as YYYY-MM-DD' });
      expect(input('reason')).toMatchObject({ initial: 'hinge broke' });
      expect(input('reason').error).toBeUndefined();

      const missing = await t.command('dave', '/request laptop model:"14-inch standard"');
      expect(missing.kind === 'form' && missing.form.inputs!.find((i) => i.id === 'reason')!.error).toBe('Why do you need it? is required');
      const unknown = await t.command('dave', '/request laptop colour:red reason: x');
      expect(unknown.kind === 'form' && unknown.form.text).toContain('colour: there is no field "colour"');
      expect(replyText(await t.command('dave', '/request spaceship'))).toMatch(/There is no catalog item "spaceship"\. You can request: laptop, software-licence, new-starter, something-else/);

      // the same validation for a submitted form: errors come back on the fields
      const submitted = await t.press('dave', 'request.submit', 'laptop', { model: '17-inch', reason: '' });
      expect(submitted).toMatchObject({ kind: 'form_errors', errors: { model: 'pick one of 14-inch standard, 16-inch developer', reason: 'Why do you need it? is required' } });
      expect(await counts(t)).toEqual(before);
      expect((await queryRows<{ n: number }>(t.db, sql`select count(*)::int as n from outbox`))[0]).toEqual(outboxBefore[0]);
    });

    it('a requester without a manager: the manager stage goes to its fallback at once', async () => {
      await t.command('bob', LAPTOP);
      const apr = await lastApprovalId(t);
      expect(await approvalRow(t, apr)).toMatchObject({ escalated: true, requester: 'bob' });
      const card = dmsAbout('alice', `APR-${apr}.1`);
      expect(card).toHaveLength(1);
      expect(messageText(card[0]!.message)).toContain('Approval stage 1 of 1 (manager; its fallback decides): Alice Chen.');
      expect(messageText(card[0]!.message)).toContain('Escalated: any one of the fallback approvers may decide.');
      await t.command('bob', `/request cancel REQ-${await lastRequestId(t)} testing the fallback`);
    });

    it('the whole path: typed request → approval on a DM card → tasks claimed and done in order → the card shows fulfilled, edited in place', async () => {
      const reply = await t.command('dave', LAPTOP);
      const id = await lastRequestId(t);
      const subject = `REQ-${id}`;
      expect(replyText(reply)).toBe(`${subject} submitted: New laptop. It waits for approval now; your card in a direct message shows where it stands.`);
      expect(await requestRow(t, id)).toMatchObject({ state: 'awaiting_approval', requester: 'dave', source: 'console', fields: { model: '14-inch standard', reason: 'my old one has a broken hinge' } });
      // one live card for the requester, in a DM
      const card = dmsAbout('dave', subject);
      expect(card).toHaveLength(1);
      expect(messageText(card[0]!.message)).toContain('Waiting for approval from Carol Diaz since 10:00 CET.');
      expect(card[0]!.message!.buttons!.map((b) => b.actionId)).toEqual(['request.comment.form', 'request.cancel.form']);

      // the approver's DM card: who asks, what, the fields, the reason, the stage, and the three buttons
      const apr = await lastApprovalId(t);
      const approverCard = dmsAbout('carol', `APR-${apr}.1`);
      expect(approverCard).toHaveLength(1);
      const text = messageText(approverCard[0]!.message);
      expect(text).toContain(`*Dave Müller* asks for *New laptop* (${subject}).`);
      expect(text).toContain('Approval stage 1 of 1 (manager; one approver): Carol Diaz.');
      expect(text).toContain('Model: 14-inch standard');
      expect(text).toContain('Reason: my old one has a broken hinge');
      expect(approverCard[0]!.message!.buttons!.map((b) => `${b.actionId}:${b.value}`)).toEqual([`approval.approve:APR-${apr}`, `approval.reject.form:APR-${apr}`, `approval.ask.form:APR-${apr}`]);

      t.clock.advance(20 * MINUTE);
      const approved = await t.press('carol', 'approval.approve', `APR-${apr}`);
      expect(approved.kind).toBe('card');
      if (approved.kind === 'card') {
        expect(approved.message.buttons).toEqual([]);
        expect(messageText(approved.message)).toContain('*Approved* by Carol Diaz at 10:20 CET.');
        expect(approved.notice!.text).toBe(`You approved ${subject} (New laptop).`);
      }
      expect(await requestRow(t, id)).toMatchObject({ state: 'in_fulfilment' });
      const tasks = await tasksOfRequest(t, id);
      expect(tasks.map((x) => [x.title, x.state])).toEqual([['Order the laptop', 'open'], ['Set up and enrol', 'waiting'], ['Hand over', 'waiting']]);
      // only the open task is posted, to the fulfilment channel
      const posted = t.port.calls.filter((c) => c.method === 'post' && c.message?.subject?.startsWith('TASK-') && tasks.some((x) => `TASK-${x.id}` === c.message?.subject));
      expect(posted.map((c) => [c.where!.channel, c.message!.subject])).toEqual([['it-help', `TASK-${tasks[0]!.id}`]]);
      expect(posted[0]!.message!.buttons!.map((b) => b.label)).toEqual(['Claim', 'Done', "Can't complete"]);

      const [t1, t2, t3] = tasks.map((x) => `TASK-${x.id}`) as [string, string, string];
      t.clock.advance(10 * MINUTE);
      const claimed = await t.press('bob', 'request.task.claim', t1);
      expect(claimed.kind === 'card' && messageText(claimed.message)).toContain('Held by Bob Okafor since 10:30 CET.');
      expect(messageText(updatesOf(subject).at(-1)!.message)).toContain(`Task ${t1} Order the laptop: held by Bob Okafor since 10:30 CET`);
      // someone else may not claim it again
      expect(replyText(await t.press('alice', 'request.task.claim', t1))).toBe(`${t1} is already claimed by Bob Okafor.`);
      // a task that waits cannot be finished yet; someone outside the team may not touch it
      expect(replyText(await t.press('bob', 'request.task.done', t2))).toMatch(/waits for the tasks before it/);
      expect(replyText(await t.press('dave', 'request.task.claim', t1))).toBe(`${t1} is for team it-support; Dave Müller is not in it.`);

      await t.press('bob', 'request.task.done', t1);
      expect((await tasksOfRequest(t, id)).map((x) => x.state)).toEqual(['done', 'open', 'waiting']);
      expect(t.port.calls.some((c) => c.method === 'post' && c.message?.subject === t2)).toBe(true);
      expect(t.port.calls.some((c) => c.method === 'post' && c.message?.subject === t3)).toBe(false);
      await t.press('bob', 'request.task.done', t2);
      t.clock.advance(HOUR);
      await t.press('bob', 'request.task.done', t3);
      expect(await requestRow(t, id)).toMatchObject({ state: 'fulfilled', completion: 'fulfilled' });

      // the requester's card: still the one DM, edited in place every time, now fulfilled
      expect(dmsAbout('dave', subject)).toHaveLength(1);
      expect(await cardsOf(t, subject)).toHaveLength(1);
      const last = updatesOf(subject).at(-1)!;
      expect(last.where!.channel).toBe('dm:dave');
      expect(last.messageId).toBe(card[0]!.messageId);
      expect(messageText(last.message)).toContain('✓ Fulfilled 11:30 CET.');
      expect(messageText(last.message)).toContain('Fulfilled: all 3 tasks done');
      expect(last.message!.buttons).toEqual([]);
      expect(t.port.dms('dave').some((c) => c.message?.text === `✓ ${subject} (New laptop) is fulfilled.`)).toBe(true);
      const actions = (await auditOf(t, subject)).map((a) => `${a.actor}:${a.action}`);
      expect(actions).toEqual(['dave:request.submitted', 'dave:request.await_approval', 'carol:request.approve', 'carol:request.start', 'bob:request.fulfil']);
      expect((await auditOf(t, `APR-${apr}`)).map((a) => `${a.actor}:${a.action}:${a.source}`)).toEqual(['dave:approval.started:console', 'carol:approval.approve:console', 'carol:approval.approved:console']);

      // closed by itself after closeAfter (3d)
      expect(Object.keys(await timersOf(t, subject))).toEqual([`${subject}:close`]);
      await t.advance(3 * DAY);
      expect(await requestRow(t, id)).toMatchObject({ state: 'closed' });
      expect(messageText(updatesOf(subject).at(-1)!.message)).toContain(`${subject} · New laptop · closed`);
      expect(dmsAbout('dave', subject)).toHaveLength(1);
    });

    it('a rejection needs a reason; the requester is told and the card says who and why', async () => {
      await t.command('dave', LAPTOP);
      const id = await lastRequestId(t);
      const apr = await lastApprovalId(t);
      const form = await t.press('carol', 'approval.reject.form', `APR-${apr}`);
      expect(form.kind === 'form' && form.form.inputs![0]).toMatchObject({ id: 'reason', required: true });
      expect(await t.press('carol', 'approval.reject.submit', `APR-${apr}`, { reason: '' })).toMatchObject({ kind: 'form_errors', errors: { reason: 'Say why it is rejected.' } });
      await t.press('carol', 'approval.reject.submit', `APR-${apr}`, { reason: 'budget is frozen until March' });
      expect(await requestRow(t, id)).toMatchObject({ state: 'rejected', outcome: 'budget is frozen until March', outcomeBy: 'carol' });
      expect(messageText(updatesOf(`REQ-${id}`).at(-1)!.message)).toContain('✗ Rejected by Carol Diaz: budget is frozen until March.');
      expect(t.port.dms('dave').some((c) => c.message?.text === `✗ REQ-${id} (New laptop) was rejected: budget is frozen until March.`)).toBe(true);
      expect(messageText(updatesOf(`APR-${apr}.1`).at(-1)!.message)).toContain('*Rejected* by Carol Diaz at');
      expect(await counts(t).then((c) => c.tasks)).toBe((await tasksOfRequest(t, id - 1)).length);
      // a press after the end is answered, not counted
      expect(replyText(await t.press('carol', 'approval.approve', `APR-${apr}`))).toMatch(/^APR-\d+ \(REQ-\d+\) is already rejected by Carol Diaz at .*; your decision was not counted\.$/);
    });

    it('a question pauses the expiry until the requester answers (here with /request comment)', async () => {
      await t.command('dave', LAPTOP);
      const id = await lastRequestId(t);
      const apr = await lastApprovalId(t);
      const expires = (await approvalRow(t, apr)).expiresAt;
      await t.press('carol', 'approval.ask.submit', `APR-${apr}`, { question: 'Could the 14-inch from the spare pool do?' });
      expect((await approvalRow(t, apr)).pausedAt).not.toBeNull();
      const question = t.port.dms('dave').at(-1)!;
      expect(messageText(question.message)).toContain('Carol Diaz asks before approving: Could the 14-inch from the spare pool do?');
      expect(question.message!.buttons![0]).toMatchObject({ actionId: 'approval.answer.form', value: `APR-${apr}` });
      expect(messageText(updatesOf(`REQ-${id}`).at(-1)!.message)).toContain('❓ Carol Diaz asks: Could the 14-inch from the spare pool do?');
      expect(Object.keys(await timersOf(t, `APR-${apr}`))).not.toContain(`approval.expire:APR-${apr}`);
      // days pass: nothing expires while the question is open
      await t.advance(4 * DAY);
      expect((await approvalRow(t, apr)).state).toBe('pending');
      const answer = await t.command('dave', `/request comment REQ-${id} yes, any laptop that works`);
      expect(replyText(answer)).toBe(`Your answer went to the approver of REQ-${id}.`);
      const after = await approvalRow(t, apr);
      expect(after.pausedAt).toBeNull();
      expect(after.expiresAt.getTime()).toBe(expires.getTime() + 4 * DAY);
      expect(t.port.dms('carol').at(-1)!.message!.text).toBe('Dave Müller answered: yes, any laptop that works');
      await t.press('carol', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
    });

    it('cancel: only the requester (or an admin), with a reason; the approval stops and its cards lose their buttons', async () => {
      await t.command('dave', LAPTOP);
      const id = await lastRequestId(t);
      const apr = await lastApprovalId(t);
      expect(replyText(await t.command('bob', `/request cancel REQ-${id} not needed`))).toBe(`Only Dave Müller (who asked for it) or an admin may cancel REQ-${id}.`);
      expect(replyText(await t.command('dave', `/request cancel REQ-${id}`))).toBe(`Say why: /request cancel REQ-${id} <reason>.`);
      expect(replyText(await t.command('dave', `/request cancel REQ-${id} found one in a drawer`))).toBe(`REQ-${id} cancelled.`);
      expect(await requestRow(t, id)).toMatchObject({ state: 'cancelled', outcome: 'found one in a drawer' });
      expect(await approvalRow(t, apr)).toMatchObject({ state: 'cancelled' });
      const edited = updatesOf(`APR-${apr}.1`).at(-1)!;
      expect(edited.message!.buttons).toEqual([]);
      expect(messageText(edited.message)).toContain('*Cancelled* by Dave Müller');
      expect(Object.keys(await timersOf(t, `APR-${apr}`))).toEqual([]);
      expect(replyText(await t.command('dave', `/request cancel REQ-${id} again`))).toMatch(/A request that is cancelled cannot be cancelled\. Cancelled is final\./);
    });

    it('parallel tasks, one that waits for all three; a task that cannot be completed makes the request incomplete with the reason on the card', async () => {
      const reply = await t.command('dave', '/request new-starter name:"Erika Muster" email:erika@example.com start_date:2026-02-02 manager:@carol');
      expect(replyText(reply)).toMatch(/submitted: New starter/);
      const id = await lastRequestId(t);
      expect((await requestRow(t, id)).fields).toEqual({ name: 'Erika Muster', email: 'erika@example.com', start_date: '2026-02-02', manager: 'carol', equipment: ['laptop'] });
      await t.press('carol', 'approval.approve', `APR-${await lastApprovalId(t)}`);
      let tasks = await tasksOfRequest(t, id);
      expect(tasks.map((x) => x.state)).toEqual(['open', 'open', 'open', 'waiting']);
      expect(tasks[3]!.after).toEqual(tasks.slice(0, 3).map((x) => x.id));
      await t.press('bob', 'request.task.done', `TASK-${tasks[0]!.id}`);
      await t.press('bob', 'request.task.claim', `TASK-${tasks[2]!.id}`);
      expect((await tasksOfRequest(t, id)).map((x) => x.state)).toEqual(['done', 'open', 'claimed', 'waiting']);
      expect(await t.press('bob', 'request.task.cannot.submit', `TASK-${tasks[1]!.id}`, { reason: '' })).toMatchObject({ kind: 'form_errors' });
      await t.press('bob', 'request.task.cannot.submit', `TASK-${tasks[1]!.id}`, { reason: 'no monitors in stock until March' });
      tasks = await tasksOfRequest(t, id);
      expect(tasks.map((x) => x.state)).toEqual(['done', 'cannot_complete', 'cancelled', 'cancelled']);
      expect(await requestRow(t, id)).toMatchObject({ state: 'incomplete', completion: 'incomplete' });
      expect(messageText(updatesOf(`REQ-${id}`).at(-1)!.message)).toContain(`✗ Could not be completed by Bob Okafor: TASK-${tasks[1]!.id} Prepare equipment: no monitors in stock until March.`);
      expect(t.port.dms('dave').at(-1)!.message!.text).toBe(`✗ REQ-${id} (New starter) could not be completed: TASK-${tasks[1]!.id} Prepare equipment: no monitors in stock until March.`);
    });

    it('a comment of the requester reaches the task holder and shows on the card; a stranger may not see or comment', async () => {
      await t.command('carol', '/request something-else my monitor flickers when docked');
      const id = await lastRequestId(t);
      expect(await requestRow(t, id)).toMatchObject({ state: 'in_fulfilment', fields: { details: 'my monitor flickers when docked' } });
      const [task] = await tasksOfRequest(t, id);
      await t.press('bob', 'request.task.claim', `TASK-${task!.id}`);
      expect(replyText(await t.command('carol', `/request comment REQ-${id} it happens with the USB-C dock only`))).toBe(`Comment added to REQ-${id} and sent to Bob Okafor.`);
      expect(t.port.dms('bob').at(-1)!.message).toMatchObject({ title: `Comment on REQ-${id} · Something else`, text: 'Carol Diaz: it happens with the USB-C dock only' });
      expect(messageText(updatesOf(`REQ-${id}`).at(-1)!.message)).toContain('💬 Carol Diaz: it happens with the USB-C dock only');
      expect(replyText(await t.command('dave', `/request show REQ-${id}`))).toMatch(/is not yours to see/);
      expect(replyText(await t.command('dave', `/request comment REQ-${id} me too`))).toMatch(/is not yours to see/);
      expect(replyText(await t.command('bob', `/request show REQ-${id}`))).toContain(`REQ-${id} · Something else · in fulfilment`);
      // an admin completes it by hand
      expect(replyText(await t.command('bob', `/request complete REQ-${id} fulfilled swapped the dock`))).toMatch(/may not complete REQ-\d+ by hand: that needs the admin role/);
      expect(replyText(await t.command('alice', `/request complete REQ-${id} fulfilled swapped the dock`))).toBe(`REQ-${id} marked fulfilled.`);
      expect((await tasksOfRequest(t, id)).map((x) => x.state)).toEqual(['cancelled']);
    });

    it('SLA in business hours: warning at 75 % and breach in the team channel, the card says so; the first claim meets the response clock', async () => {
      // Friday 16:00 CET: 4 business hours of response run to Monday 12:00 CET
      t.clock.set('2026-01-16T15:00:00Z');
      await t.command('carol', '/request something-else the office printer on floor 2 is jammed');
      const id = await lastRequestId(t);
      let row = await requestRow(t, id);
      expect(row.responseDueAt!.toISOString()).toBe('2026-01-19T11:00:00.000Z');
      expect(row.resolutionDueAt!.toISOString()).toBe('2026-01-20T15:00:00.000Z'); // 2 business days = 16 business hours
      t.clock.set('2026-01-19T10:00:00Z'); // Monday 11:00 CET: 3 of 4 hours used
      await t.tick();
      const warn = t.port.calls.filter((c) => c.method === 'post' && c.where?.channel === 'it-help' && String(c.message?.text).startsWith(`⚠ REQ-${id} `));
      expect(warn.map((c) => c.message!.text)).toEqual([`⚠ REQ-${id} (Something else) response (first claim) SLA is 75% used: due 12:00 CET (1h left).`]);
      await t.advance(HOUR);
      row = await requestRow(t, id);
      expect(row.responseBreached).toBe(true);
      expect(t.port.calls.some((c) => c.method === 'post' && c.message?.text === `🚨 REQ-${id} (Something else) breached its response (first claim) SLA.`)).toBe(true);
      expect(messageText(updatesOf(`REQ-${id}`).at(-1)!.message)).toContain('response SLA breached');
      const [task] = await tasksOfRequest(t, id);
      await t.press('bob', 'request.task.claim', `TASK-${task!.id}`);
      expect((await requestRow(t, id)).respondedAt).not.toBeNull();
      await t.press('bob', 'request.task.done', `TASK-${task!.id}`);
      const keys = Object.keys(await timersOf(t, `REQ-${id}`));
      expect(keys).toEqual([`REQ-${id}:close`]);
    });

    it('lists and stats', async () => {
      const mine = replyText(await t.command('dave', '/request list mine'));
      expect(mine).toContain('Requests (mine, yours)');
      expect(mine).not.toContain('Carol Diaz');
      const open = replyText(await t.command('bob', '/request list open'));
      expect(open).toContain('Requests (open)');
      expect(replyText(await t.command('bob', '/request list sideways'))).toMatch(/I don't understand "sideways"/);
      const stats = await t.command('dave', '/request stats 30d');
      const text = replyText(stats);
      // REQ-1 and REQ-5 cancelled, REQ-3 rejected; REQ-2, REQ-7 and REQ-8 fulfilled, REQ-6 incomplete; REQ-4 never claimed
      expect(text).toBe([
        'Requests, last 30 days: 8',
        'By item: laptop 5 · new-starter 1 · something-else 2',
        'By state: in fulfilment 1 · fulfilled 1 · closed 3 · rejected 1 · cancelled 2',
        'Approval time: median 20m · p90 4d (3 approved)',
        'Fulfilment time: median 1h 10m · p90 2d 20h (3 fulfilled)',
        'SLA response: 60% met (3 met, 2 breached)',
        'SLA resolution: 80% met (4 met, 1 breached)',
        '2025-12-20 11:00 – 2026-01-19 11:00 UTC',
      ].join('\n'));
    });
  });
}
