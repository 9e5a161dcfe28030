/**
 * What another owner of approvals (access management) relies on, through a stand-in workflow that owns `GRT-n` records:
 * it starts approvals through the seam with resource owners, its own self-approval code and a second step; it vetoes a
 * decision from `approval.deciding` (separation of duties); it hears `approval.second_step` and counts the press with
 * `approval.confirm`; and it learns the outcome only from `approval.decided`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../db/client.js';
import { SCHEDULER_ACTOR } from '../../../src/core/identity.js';
import { PolicyRefusal } from '../../../src/core/refusals.js';
import { actorFromRef } from '../../../src/core/identity.js';
import { on, type RecordEvents, type Workflow } from '../../../src/core/workflow.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { approvalRow, auditOf, lastApprovalId, messageText, replyText, rulesConfig, startRequestTread, type RequestTestTread } from '../request/request.fakes.js';

const heard: { event: string; data: any }[] = [];

/** A stand-in owner: grants that need approval, with a veto on erin (she holds a conflicting role). */
const grants: Workflow = {
  name: 'grant',
  subscribes: [
    on('approval.deciding', 'inline', 'sod', async (_tx, _app, e) => {
      if (e.owner === 'grant' && e.person === 'erin' && e.decision === 'approve') {
        throw new PolicyRefusal('grant.sod_conflict', 'Erin holds a conflicting role and may not approve this grant.', { actor: actorFromRef(e.actor), subject: e.id, data: { record: e.subject } });
      }
    }),
    on('approval.second_step', 'inline', 'second-step', async (_tx, _app, e) => { heard.push({ event: 'second_step', data: e }); }),
    on('approval.decided', 'inline', 'decided', async (_tx, _app, e: RecordEvents['approval.decided']) => { if (e.owner === 'grant') heard.push({ event: 'decided', data: e }); }),
  ],
};

for (const driver of drivers) {
  describe(`approvals for another owner (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startRequestTread(database, { config: rulesConfig(), extraWorkflows: [grants] });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    const start = (subject: string, policy: string, extra: Record<string, unknown> = {}) => t.db.transaction(async (tx) => {
      const op = { tx, app: t.tread.app, now: t.clock.now(), actor: SCHEDULER_ACTOR };
      return t.tread.app.seam.call('approval.start', op, {
        subject, owner: 'grant', policy, requester: 'dave', title: 'crm-db: read (4h)', details: [{ label: 'Role', value: 'read' }], reason: 'debugging ticket 42',
        selfApprovalCode: 'grant.self_approval', ...extra,
      });
    }).then(async (r) => { await t.tick(); return r; });

    it('a second step: the press does not count until the owner confirms it; then the owner hears the outcome', async () => {
      heard.length = 0;
      const { approvalId, id } = await start('GRT-1', 'any-manager', { secondStep: true });
      expect(id).toBe(`APR-${approvalId}`);
      const pressed = await t.press('carol', 'approval.approve', id);
      expect(pressed.kind === 'card' && pressed.notice!.text).toBe('Your approval of GRT-1 needs a second step before it counts.');
      expect(await approvalRow(t, approvalId)).toMatchObject({ state: 'pending' });
      expect(heard).toEqual([{ event: 'second_step', data: expect.objectContaining({ id, subject: 'GRT-1', owner: 'grant', person: 'carol', stage: 1 }) }]);
      expect(messageText(t.port.calls.filter((c) => c.message?.subject === `${id}.1`).at(-1)!.message)).toContain('✓ Carol Boss approved (second step pending)');
      // a second press is still answered, not counted
      expect(replyText(await t.press('carol', 'approval.approve', id))).toMatch(/You already approved stage 1/);
      await t.db.transaction((tx) => t.tread.app.seam.call('approval.confirm', { tx, app: t.tread.app, now: t.clock.now(), actor: SCHEDULER_ACTOR }, { subject: 'GRT-1', person: 'carol' }));
      expect(await approvalRow(t, approvalId)).toMatchObject({ state: 'approved' });
      expect(heard.at(-1)).toEqual({ event: 'decided', data: expect.objectContaining({ subject: 'GRT-1', outcome: 'approved', decisions: [expect.objectContaining({ person: 'carol', decision: 'approve' })] }) });
      expect((await auditOf(t, id)).map((a) => a.action)).toEqual(['approval.started', 'approval.approve', 'approval.confirmed', 'approval.approved']);
    });

    it('the owner\'s own self-approval code, and a veto from approval.deciding: refused, audited, nothing counted', async () => {
      const { approvalId, id } = await start('GRT-2', 'self-ok', { selfApprovalCode: 'grant.self_approval' });
      // self-ok lets the requester approve: dave is not in the team, so he is simply not eligible
      expect(replyText(await t.press('dave', 'approval.approve', id))).toMatch(/Dave Asker is not an approver/);
      const other = await start('GRT-3', 'all-team');
      expect(replyText(await t.press('dave', 'approval.approve', other.id))).toBe('Dave Asker asked for GRT-3 and may not approve it: self-approval is not allowed by the policy all-team.');
      expect(replyText(await t.press('erin', 'approval.approve', other.id))).toBe('Erin holds a conflicting role and may not approve this grant.');
      const refused = (await auditOf(t, other.id)).filter((a) => a.action.startsWith('refused:')).map((a) => [a.actor, a.action]);
      expect(refused).toEqual([['dave', 'refused:grant.self_approval'], ['erin', 'refused:grant.sod_conflict']]);
      expect((await approvalRow(t, other.approvalId)).state).toBe('pending');
      // erin may still reject (the veto is on approving)
      await t.press('erin', 'approval.reject.submit', other.id, { reason: 'conflicting role' });
      expect(await approvalRow(t, other.approvalId)).toMatchObject({ state: 'rejected', outcomeReason: 'conflicting role' });
      expect(heard.at(-1)).toEqual({ event: 'decided', data: expect.objectContaining({ subject: 'GRT-3', outcome: 'rejected', reason: 'conflicting role', by: expect.objectContaining({ id: 'erin' }) }) });
      expect(approvalId).toBeGreaterThan(0);
    });

    it('{owners: true} is the resource\'s owners the owner names, resolved when approval starts', async () => {
      const { approvalId } = await start('GRT-4', 'two-stages', { owners: ['gina'] });
      const policy = (await approvalRow(t, approvalId)).policy as any;
      expect(policy.stages.map((s: any) => s.approvers)).toEqual([['carol'], ['gina', 'erin']]);
      const status = await t.db.transaction((tx) => t.tread.app.seam.call('approval.status', { tx, app: t.tread.app, now: t.clock.now(), actor: SCHEDULER_ACTOR }, { subject: 'GRT-4' }));
      expect(status).toMatchObject({ id: `APR-${approvalId}`, state: 'pending', stage: 1, stages: 2, waitingFor: ['carol'] });
      const cancelled = await t.db.transaction((tx) => t.tread.app.seam.call('approval.cancel', { tx, app: t.tread.app, now: t.clock.now(), actor: SCHEDULER_ACTOR }, { subject: 'GRT-4', reason: 'withdrawn' }));
      expect(cancelled).toBe(true);
      expect(await approvalRow(t, await lastApprovalId(t))).toMatchObject({ state: 'cancelled', outcomeReason: 'withdrawn' });
    });
  });
}
