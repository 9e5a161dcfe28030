/**
 * Approval clocks with the controllable clock, on PGlite and PostgreSQL: reminders after remindAfter and then every
 * remindEvery to those who have not decided, escalation to the fallback after escalateAfter, expiry after expireAfter
 * (the request rejected as expired and the requester told), and no reminders while a question waits for the requester.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../db/client.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import {
  approvalRow, auditOf, HOUR, lastApprovalId, lastRequestId, messageText, MINUTE, replyText, requestRow, rulesConfig, START, startRequestTread,
  timersOf, type RequestTestTread,
} from '../request/request.fakes.js';

for (const driver of drivers) {
  describe(`approval reminders, escalation and expiry (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startRequestTread(database, { config: rulesConfig() });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    const reminders = async (apr: number) => (await auditOf(t, `APR-${apr}`)).filter((a) => a.action === 'approval.reminded').map((a) => (a.data as { people: string[] }).people);
    const cardsTo = (person: string, apr: number) => t.port.dms(person).filter((c) => c.message?.subject === `APR-${apr}.1`);

    it('reminds after remindAfter and then every remindEvery, escalates to the fallback, and expires: rejected as expired, the requester told', async () => {
      t.clock.set(START);
      await t.command('dave', '/request slow');
      const id = await lastRequestId(t);
      const apr = await lastApprovalId(t);
      expect(Object.keys(await timersOf(t, `APR-${apr}`)).sort()).toEqual([`approval.escalate:APR-${apr}`, `approval.expire:APR-${apr}`, `approval.remind:APR-${apr}`]);
      await t.advance(2 * HOUR - MINUTE);
      expect(await reminders(apr)).toEqual([]);
      await t.advance(MINUTE); // 12:00 CET: the first reminder, the card again with its buttons
      expect(await reminders(apr)).toEqual([['frank']]);
      const reminder = cardsTo('frank', apr).at(-1)!;
      expect(reminder.message!.text).toMatch(/^⏰ Reminder: this has waited for your decision since 10:00 CET\./);
      expect(reminder.message!.buttons!.map((b) => b.actionId)).toEqual(['approval.approve', 'approval.reject.form', 'approval.ask.form']);
      await t.advance(6 * HOUR); // 18:00 CET: the second reminder (7h), and the escalation (8h)
      const a = await approvalRow(t, apr);
      expect(a.escalated).toBe(true);
      expect(cardsTo('gina', apr).map((c) => c.message!.text!.split('\n')[0])).toEqual(['⬆ Escalated to you: nobody decided within 8h.']);
      expect((await auditOf(t, `APR-${apr}`)).map((r) => r.action)).toEqual(['approval.started', 'approval.reminded', 'approval.reminded', 'approval.escalated']);
      expect(messageText(t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === `APR-${apr}.1`).at(-1)!.message)).toContain('Escalated: any one of the fallback approvers may decide.');
      await t.advance(6 * HOUR); // 00:00: the reminder of 22:00 went to both undecided approvers
      expect((await reminders(apr)).at(-1)).toEqual(['frank', 'gina']);
      // expiry: 2 days after it started
      await t.advance(2 * 24 * HOUR - 14 * HOUR - MINUTE);
      expect((await approvalRow(t, apr)).state).toBe('pending');
      await t.advance(MINUTE);
      expect(await approvalRow(t, apr)).toMatchObject({ state: 'expired', outcomeReason: 'no decision within 2d', decidedBy: 'tread' });
      expect(await requestRow(t, id)).toMatchObject({ state: 'rejected', outcome: 'the approval expired (no decision within 2d)' });
      expect(t.port.dms('dave').at(-1)!.message!.text).toBe(`✗ REQ-${id} (Slow item) was rejected: the approval expired (no decision within 2d).`);
      expect(messageText(t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === `REQ-${id}`).at(-1)!.message)).toContain('✗ Rejected: the approval expired (no decision within 2d).');
      expect(Object.keys(await timersOf(t, `APR-${apr}`))).toEqual([]);
      const count = (await reminders(apr)).length;
      await t.advance(3 * 24 * HOUR);
      expect((await reminders(apr)).length).toBe(count);
      expect((await auditOf(t, `APR-${apr}`)).at(-1)).toMatchObject({ action: 'approval.expired', actor: 'tread', source: 'scheduler' });
    });

    it('after the escalation a fallback approver decides alone, and the first approver\'s card loses its buttons', async () => {
      await t.command('dave', '/request slow');
      const id = await lastRequestId(t);
      const apr = await lastApprovalId(t);
      expect(replyText(await t.press('gina', 'approval.approve', `APR-${apr}`))).toMatch(/Gina Fallback is not an approver/);
      await t.advance(8 * HOUR);
      await t.press('gina', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
      const last = t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === `APR-${apr}.1`).at(-1)!;
      expect(last.message!.buttons).toEqual([]);
      expect(messageText(last.message)).toContain('*Approved* by Gina Fallback');
    });

    it('no reminders while a question waits for the requester; the clocks run on after the answer', async () => {
      await t.command('dave', '/request any reason: CRM export');
      const apr = await lastApprovalId(t);
      await t.advance(HOUR);
      await t.press('carol', 'approval.ask.submit', `APR-${apr}`, { question: 'Which CRM fields?' });
      await t.advance(5 * HOUR); // past remindAfter (4h): paused, no reminder
      expect(await reminders(apr)).toEqual([]);
      await t.press('dave', 'approval.answer.submit', `APR-${apr}`, { answer: 'Only accounts and contacts' });
      expect((await approvalRow(t, apr)).pausedAt).toBeNull();
      await t.advance(24 * HOUR);
      expect(await reminders(apr)).toEqual([['carol']]);
      // someone else cannot answer for the requester
      expect(replyText(await t.press('erin', 'approval.answer.submit', `APR-${apr}`, { answer: 'x' }))).toMatch(/Only the requester of REQ-\d+ answers questions about it\./);
    });
  });
}
