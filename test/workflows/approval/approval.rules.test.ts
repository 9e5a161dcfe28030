/**
 * Approval rules through chat and REST on a small organisation: any, all, n of a team, two stages (manager, then the
 * service's owners with whoever was on call), self-approval refused (and allowed by policy), ineligible approvers
 * refused, a second press answered but not counted; REST decisions must name `by` and are checked like chat ones.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, schema, type Database } from '../../../db/client.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import {
  API_TOKEN, approvalRow, auditOf, counts, lastApprovalId, lastRequestId, messageText, replyText, requestRow, rulesConfig, startRequestTread,
  tasksOfRequest, type RequestTestTread,
} from '../request/request.fakes.js';

for (const driver of drivers) {
  describe(`approval rules (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startRequestTread(database, { config: rulesConfig(), http: true });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    const submit = async (who: string, text: string) => {
      const reply = await t.command(who, `/request ${text}`);
      expect(replyText(reply)).toMatch(/^REQ-\d+ submitted/);
      return { id: await lastRequestId(t), apr: await lastApprovalId(t) };
    };
    const decisions = async (apr: number) => (await queryRows<{ n: number }>(t.db, sql`select count(*)::int as n from approval_decisions where approval_id = ${apr}`))[0]!.n;
    const refusals = async (code: string) => (await auditOf(t)).filter((a) => a.action === `refused:${code}`);
    const stageCards = (apr: number, stage: number) => t.port.calls.filter((c) => c.message?.subject === `APR-${apr}.${stage}`);

    it('any: the manager decides; the requester and someone else are refused, audited, and nothing is counted', async () => {
      const { id, apr } = await submit('dave', 'any reason: access to the CRM');
      const self = await t.press('dave', 'approval.approve', `APR-${apr}`);
      expect(replyText(self)).toBe('Dave Asker asked for REQ-' + id + ' and may not approve it: self-approval is not allowed by the policy any-manager.');
      const other = await t.press('erin', 'approval.approve', `APR-${apr}`);
      expect(replyText(other)).toBe(`Erin Second is not an approver of stage 1 of 1 (manager; one approver) of APR-${apr} (REQ-${id}); the approvers are Carol Boss.`);
      expect(await decisions(apr)).toBe(0);
      expect((await refusals('approval.self_approval')).map((a) => [a.actor, a.subject, a.source])).toEqual([['dave', `APR-${apr}`, 'console']]);
      expect((await refusals('approval.not_eligible')).at(-1)).toMatchObject({ actor: 'erin', subject: `APR-${apr}`, data: expect.objectContaining({ record: `REQ-${id}`, decision: 'approve' }) });
      await t.press('carol', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
    });

    it('all: every team member but the requester; a second press is answered and not counted; the others\' cards are edited', async () => {
      const { id, apr } = await submit('erin', 'all'); // erin is in the team: left out of the approvers
      const a = await approvalRow(t, apr);
      expect((a.policy as any).stages[0].approvers).toEqual(['carol', 'frank']);
      expect(t.port.dms().filter((c) => c.message?.subject === `APR-${apr}.1`).map((c) => c.user).sort()).toEqual(['carol', 'frank']);
      expect(replyText(await t.press('erin', 'approval.approve', `APR-${apr}`))).toMatch(/self-approval is not allowed/);
      await t.press('carol', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('awaiting_approval');
      const again = await t.press('carol', 'approval.approve', `APR-${apr}`);
      expect(replyText(again)).toMatch(new RegExp(`^You already approved stage 1 of APR-${apr} \\(REQ-${id}\\) at 10:00 CET; a decision counts once\\.$`));
      expect(await decisions(apr)).toBe(1);
      expect(messageText(stageCards(apr, 1).filter((c) => c.method === 'update').at(-1)!.message)).toContain('✓ Carol Boss approved 10:00 CET');
      await t.press('frank', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
      const final = stageCards(apr, 1).filter((c) => c.method === 'update').at(-1)!;
      expect(final.message!.buttons).toEqual([]);
      expect(messageText(final.message)).toContain('*Approved* by Frank Third at 10:00 CET.');
    });

    it('n: two of three', async () => {
      const { id, apr } = await submit('dave', 'two');
      await t.press('erin', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('awaiting_approval');
      await t.press('frank', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
      expect(replyText(await t.press('carol', 'approval.approve', `APR-${apr}`))).toMatch(/is already approved by Frank Third at .*; your decision was not counted\./);
    });

    it('two stages: the manager, then the service owner and whoever was on call when approval started (all); the first stage\'s card shows the hand-over', async () => {
      const { id, apr } = await submit('dave', 'staged');
      const policy = (await approvalRow(t, apr)).policy as any;
      expect(policy.stages.map((s: any) => s.approvers)).toEqual([['carol'], ['frank', 'erin']]); // owners of crm, then on call for duty on Monday
      expect(policy.stages[1].targets).toEqual(['owners', 'on call for duty']);
      // a later override of the schedule does not change the running approval
      expect(replyText(await t.command('bob', '/oncall override duty @gina now +2h'))).toMatch(/\*Gina Fallback\* is on call for \*duty\*/);
      expect(stageCards(apr, 2)).toEqual([]);
      await t.press('carol', 'approval.approve', `APR-${apr}`);
      expect(await approvalRow(t, apr)).toMatchObject({ stage: 1, state: 'pending' });
      expect(messageText(stageCards(apr, 1).filter((c) => c.method === 'update').at(-1)!.message)).toContain('*Stage 1 approved* by Carol Boss at 10:00 CET; now with stage 2 (owners, on call for duty).');
      expect(stageCards(apr, 2).filter((c) => c.method === 'dm').map((c) => c.user).sort()).toEqual(['erin', 'frank']);
      expect(replyText(await t.press('gina', 'approval.approve', `APR-${apr}`))).toMatch(/Gina Fallback is not an approver of stage 2 of 2/);
      expect(replyText(await t.press('carol', 'approval.approve', `APR-${apr}`))).toMatch(/^You already approved stage 1 of APR-\d+/);
      await t.press('frank', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('awaiting_approval');
      await t.press('erin', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
      // a rejection in the second stage ends it
      const second = await submit('dave', 'staged');
      await t.press('carol', 'approval.approve', `APR-${second.apr}`);
      await t.press('frank', 'approval.reject.submit', `APR-${second.apr}`, { reason: 'CRM licences are used up' });
      expect(await requestRow(t, second.id)).toMatchObject({ state: 'rejected', outcome: 'CRM licences are used up' });
      expect(await approvalRow(t, second.apr)).toMatchObject({ state: 'rejected', stage: 1, decidedBy: 'frank' });
    });

    it('a policy that allows self-approval lets the requester approve their own request', async () => {
      const { id, apr } = await submit('erin', 'self');
      expect(((await approvalRow(t, apr)).policy as any).stages[0].approvers).toEqual(['carol', 'erin', 'frank']);
      await t.press('erin', 'approval.approve', `APR-${apr}`);
      expect((await requestRow(t, id)).state).toBe('in_fulfilment');
    });

    it('an item visible only to a team: others neither see nor request it', async () => {
      expect(replyText(await t.command('dave', '/request'))).not.toContain('Internal item');
      expect(replyText(await t.command('bob', '/request'))).toContain('Internal item');
      expect(replyText(await t.command('dave', '/request internal'))).toMatch(/^"internal" is not in the catalog for you\./);
    });

    it('REST: a decision must name `by`, is checked like a chat decision (403 with its code), and a wrong state is 409', async () => {
      const created = await t.api('POST', '/api/v1/requests', { item: 'any', fields: { reason: 'REST access' }, by: 'dave' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ state: 'awaiting_approval', requester: 'dave', source: 'api', approvals: [{ state: 'pending', waitingFor: ['carol'], stage: 1, stages: 1 }] });
      const path = `/api/v1/requests/${created.body.id}/actions`;
      const before = await counts(t);
      const noBy = await t.api('POST', path, { action: 'approve' });
      expect(noBy.status).toBe(400);
      expect(noBy.body.error.issues).toEqual([{ path: 'by', message: 'required for approve: the API token alone never approves' }]);
      const other = await t.api('POST', path, { action: 'approve', by: 'frank' });
      expect(other.status).toBe(403);
      expect(other.body.error.code).toBe('approval.not_eligible');
      const self = await t.api('POST', path, { action: 'approve', by: 'dave' });
      expect(self.status).toBe(403);
      expect(self.body.error.code).toBe('approval.self_approval');
      expect((await refusals('approval.self_approval')).at(-1)).toMatchObject({ actor: 'dave', source: 'api' });
      const noReason = await t.api('POST', path, { action: 'reject', by: 'carol' });
      expect(noReason.status).toBe(400);
      expect(noReason.body.error.issues).toEqual([{ path: 'reason', message: 'required for reject' }]);
      expect(await counts(t)).toEqual(before);
      const ok = await t.api('POST', path, { action: 'approve', by: 'carol' });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ state: 'in_fulfilment', approvals: [{ state: 'approved', decisions: [{ stage: 1, person: 'carol', decision: 'approve' }] }] });
      expect(ok.body.tasks).toEqual([expect.objectContaining({ title: 'Do it', state: 'open', team: 'fixers' })]);
      const late = await t.api('POST', path, { action: 'approve', by: 'carol' });
      expect(late.status).toBe(409);
      expect(late.body.error.code).toBe('request.not_awaiting_approval');
      // task actions: a person, and a reason for can't complete
      expect((await t.api('POST', path, { action: 'claim' })).body.error.issues).toEqual([{ path: 'by', message: 'required for claim: tasks are held by people' }]);
      expect((await t.api('POST', path, { action: 'claim', by: 'dave' })).status).toBe(403);
      expect((await t.api('POST', path, { action: 'claim', by: 'bob' })).body.tasks[0]).toMatchObject({ state: 'claimed', holder: 'bob' });
      expect((await t.api('POST', path, { action: 'cannot_complete', by: 'bob' })).body.error.issues).toEqual([{ path: 'reason', message: 'required for cannot_complete' }]);
      const done = await t.api('POST', path, { action: 'done', by: 'bob', task: ok.body.tasks[0].id });
      expect(done.body).toMatchObject({ state: 'fulfilled' });
      expect(done.body.timeline.map((e: any) => e.kind)).toEqual(['submitted', 'await_approval', 'approval.started', 'approve', 'start', 'tasks', 'task.claim', 'task.done', 'fulfil']);
      const approval = await t.api('GET', `/api/v1/approvals/${ok.body.approvals[0].id}`);
      expect(approval.body).toMatchObject({ subject: created.body.id, owner: 'request', state: 'approved', policy: { name: 'any-manager', stages: [{ approvers: ['carol'], rule: 'any' }] } });
    });

    it('REST: bad bodies are 400 naming each field; nothing is stored', async () => {
      const before = await counts(t);
      const bad = await t.api('POST', '/api/v1/requests', { item: 'any', fields: { reason: '', colour: 'red' }, by: 'dave' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues).toEqual([{ path: 'fields.colour', message: 'there is no field "colour" (fields: reason)' }, { path: 'fields.reason', message: 'Reason is required' }]);
      const noBy = await t.api('POST', '/api/v1/requests', { item: 'any', fields: { reason: 'x' } });
      expect(noBy.body.error.issues).toEqual([{ path: 'by', message: expect.stringMatching(/expected string/) }]);
      expect((await t.api('POST', '/api/v1/requests', { item: 'any', fields: { reason: 'x' }, by: 'nobody' })).body.error.issues).toEqual([{ path: 'by', message: 'unknown person "nobody"' }]);
      expect((await t.api('POST', '/api/v1/requests', { item: 'spaceship', by: 'dave' })).body.error).toMatchObject({ code: 'request.unknown_item', issues: [{ path: 'item', message: 'unknown item "spaceship"' }] });
      expect((await t.api('POST', '/api/v1/requests', { item: 'any', by: 'dave', extra: 1 })).body.error.issues).toEqual([{ path: 'extra', message: 'unknown field' }]);
      expect((await t.api('POST', '/api/v1/requests/REQ-1/actions', { action: 'launch' })).status).toBe(400);
      expect((await t.api('GET', '/api/v1/requests?state=lost')).body.error.issues).toEqual([{ path: 'state', message: expect.stringMatching(/^unknown state/) }]);
      expect((await t.api('GET', '/api/v1/requests/REQ-999')).status).toBe(404);
      expect((await t.api('GET', '/api/v1/requests', undefined, 'wrong-token')).status).toBe(401);
      expect(await counts(t)).toEqual(before);
    });

    it('REST: the catalog (no webhook secrets) and lists filtered by state, item and requester', async () => {
      const catalog = await t.api('GET', '/api/v1/catalog');
      expect(catalog.body.items.map((i: any) => i.name)).toEqual(['any', 'all', 'two', 'staged', 'self', 'slow', 'free', 'internal']);
      const list = await t.api('GET', '/api/v1/requests?state=in_fulfilment&requester=erin');
      expect(list.body.items.map((r: any) => [r.item, r.requester, r.state])).toEqual([['self', 'erin', 'in_fulfilment'], ['all', 'erin', 'in_fulfilment']]);
      const page = await t.api('GET', '/api/v1/requests?limit=2');
      expect(page.body.items).toHaveLength(2);
      const next = await t.api('GET', `/api/v1/requests?limit=2&cursor=${page.body.nextCursor}`);
      expect(next.body.items[0].id).not.toBe(page.body.items[1].id);
      const [row] = await t.db.select().from(schema.requests).where(eq(schema.requests.item, 'two'));
      expect((await tasksOfRequest(t, row!.id)).length).toBe(1);
      expect(API_TOKEN).toBeTruthy();
    });
  });
}
