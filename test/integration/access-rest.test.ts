/**
 * Access over HTTP, on PGlite and PostgreSQL: the REST surface (resources without secrets, grants listed and read with
 * approvals and timeline, requests, actions, 400 naming each field, 403 for policy refusals, 409 for states), the
 * high-sensitivity second step as a single-use link when TREAD_PUBLIC_URL is set (opening it confirms nothing, the
 * API token cannot do it, a used or late link is refused), `/access audit`, the audit export and its verification.
 */
import { describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/core/audit.js';
import { drivers } from '../helpers/db.js';
import { treadPerFile } from '../helpers/tread.js';
import {
  accessConfig, grantRow, HOUR, lastGrantId, replyText, startAccessTread, tasksOf, type RequestTestTread,
} from '../workflows/access/access.fakes.js';

const PUBLIC = 'https://tread.example.com';

for (const driver of drivers) {
  describe(`access over HTTP (${driver})`, () => {
    let t: RequestTestTread;
    treadPerFile(driver, (db) => startAccessTread(db, { http: true, publicUrl: PUBLIC, config: accessConfig({ HOOK_URL: 'http://127.0.0.1:9/never', HOOK_SECRET: 'hook-secret-never-shown-0123' }) }), (started) => { t = started; });

    /** The confirmation link DM'd to a person about a grant (its path on tread). */
    const linkFor = (person: string, subject: string) => {
      const dm = t.port.calls.filter((c) => c.method === 'dm' && c.user === person && c.message?.title === `Second step: ${subject}`).at(-1);
      const m = /<https:\/\/tread\.example\.com(\/access\/confirm\/[A-Za-z0-9_-]+)\|/.exec(dm?.message?.text ?? '');
      if (!m) throw new Error(`no link for ${person} about ${subject}`);
      return m[1]!;
    };
    const page = async (method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`http://127.0.0.1:${t.tread.port}${path}`, { method, headers });
      const text = await res.text();
      await t.tick();
      return { status: res.status, text };
    };

    it('GET /api/v1/access-resources: roles, limits and connector kinds, never a connector secret', async () => {
      const res = await t.api('GET', '/api/v1/access-resources');
      expect(res.status).toBe(200);
      expect(res.body.items.map((r: any) => [r.name, r.connector.kind, r.available])).toEqual([['crm', 'manual', true], ['pay', 'webhook', true], ['db', 'postgres', false]]);
      expect(res.body.items[0]).toMatchObject({ roles: [{ name: 'viewer', sensitivity: 'low', secondStep: false }, { name: 'editor', sensitivity: 'medium', secondStep: false }, { name: 'exporter', sensitivity: 'high', secondStep: true }], defaultDurationMs: 4 * HOUR, maxDurationMs: 48 * HOUR, conflicts: [['editor', 'exporter']] });
      expect(res.body.items[2].unavailable).toBe('the environment variable PG_URL is not set');
      expect(JSON.stringify(res.body)).not.toContain('hook-secret-never-shown');
      expect(JSON.stringify(res.body)).not.toContain('127.0.0.1:9');
    });

    it('POST /api/v1/grants: 201 requested; bad input is a 400 naming every field, and is audited', async () => {
      const bad = await t.api('POST', '/api/v1/grants', { resource: 'crm', role: 'admin', duration: '3d', by: 'dave', colour: 'red' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues).toEqual([{ path: 'colour', message: 'unknown field' }]);
      const bad2 = await t.api('POST', '/api/v1/grants', { resource: 'crm', role: 'admin', duration: '3d', by: 'dave' });
      expect(bad2.status).toBe(400);
      expect(bad2.body.error).toMatchObject({ code: 'access.unknown_role' });
      expect(bad2.body.error.issues).toEqual([
        { path: 'role', message: 'unknown role "admin" (roles of crm: viewer, editor, exporter)' },
        { path: 'duration', message: '3d is longer than the limit of 2d for this resource; ask for 2d or less' },
        { path: 'reason', message: 'required: say why you need it (the approvers and the audit log read it)' },
      ]);
      expect(await lastGrantId(t)).toBe(0);
      const ok = await t.api('POST', '/api/v1/grants', { resource: 'crm', role: 'viewer', duration: '2h', reason: 'customer call at noon', by: 'dave' });
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ id: 'GRT-1', state: 'requested', person: 'dave', source: 'api', durationMs: 2 * HOUR, approval: expect.stringMatching(/^APR-\d+$/) });
      expect(ok.body.approvals[0]).toMatchObject({ state: 'pending', waitingFor: ['carol', 'erin'] });
      expect(ok.body.timeline.map((e: any) => e.kind)).toEqual(['requested', 'approval.started']);
      const audit = await t.api('GET', '/api/v1/audit?action=refused:access.*');
      expect(audit.body.items.map((a: any) => [a.action, a.actor, a.source])).toEqual([['refused:access.unknown_role', 'dave', 'api']]);
    });

    it('actions: the token alone never approves; an ineligible approver is 403; approve starts provisioning; a wrong state is 409', async () => {
      const noBy = await t.api('POST', '/api/v1/grants/GRT-1/actions', { action: 'approve' });
      expect(noBy.status).toBe(400);
      expect(noBy.body.error.issues).toEqual([{ path: 'by', message: 'required for approve: the API token alone never approves' }]);
      const frank = await t.api('POST', '/api/v1/grants/GRT-1/actions', { action: 'approve', by: 'frank' });
      expect(frank.status).toBe(403);
      expect(frank.body.error.code).toBe('approval.not_eligible');
      const self = await t.api('POST', '/api/v1/grants/GRT-1/actions', { action: 'approve', by: 'dave' });
      expect(self.status).toBe(403);
      expect(self.body.error.code).toBe('access.self_approval');
      const approved = await t.api('POST', '/api/v1/grants/GRT-1/actions', { action: 'approve', by: 'carol' });
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({ state: 'provisioning' });
      expect((await t.api('POST', '/api/v1/grants/GRT-1/actions', { action: 'deny', by: 'erin', reason: 'too late' })).status).toBe(409);
      await t.press('gina', 'access.task.done', `TASK-${(await tasksOf(t, 1))[0]!.id}`);
      const list = await t.api('GET', '/api/v1/grants?person=dave&state=active');
      expect(list.body.items.map((g: any) => g.id)).toEqual(['GRT-1']);
      expect((await t.api('GET', '/api/v1/grants?state=bogus')).body.error.issues).toEqual([{ path: 'state', message: 'unknown state: use one of requested, approved, provisioning, active, expiring, revoked, expired, denied, cancelled, failed' }]);
      const revoked = await t.api('POST', '/api/v1/grants/GRT-1/actions', { action: 'revoke', reason: 'call moved' });
      expect(revoked.body).toMatchObject({ state: 'revoked', outcomeBy: 'api', outcome: 'call moved', removal: { state: 'pending' } });
      expect((await t.api('GET', '/api/v1/grants/GRT-77')).status).toBe(404);
    });

    it('high sensitivity through the API: 202, the approval waits for the second step, which only the approver\'s link can do', async () => {
      await t.api('POST', '/api/v1/grants', { resource: 'crm', role: 'exporter', duration: '1h', reason: 'quarterly export', by: 'dave' });
      const id = await lastGrantId(t);
      const subject = `GRT-${id}`;
      const res = await t.api('POST', `/api/v1/grants/${subject}/actions`, { action: 'approve', by: 'carol' });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ state: 'requested', secondStep: { state: 'pending', message: 'The approval counts once Carol Owner does the second step in chat (a one-time code or link was sent to them); the API cannot do it.' } });
      const path = linkFor('carol', subject);
      // opening the link (or a link scanner fetching it) confirms nothing
      const shown = await page('GET', path);
      expect(shown.status).toBe(200);
      expect(shown.text).toContain('Confirm your approval of ' + subject);
      expect(shown.text).toContain('<strong>crm: exporter</strong> (high sensitivity) for <strong>dave</strong>');
      expect((await grantRow(t, id)).state).toBe('requested');
      // the API token is not a way in: the page takes no token, and no REST action confirms
      expect((await t.api('POST', `/api/v1/grants/${subject}/actions`, { action: 'confirm', by: 'carol' })).status).toBe(400);
      expect((await page('POST', '/access/confirm/not-a-token-at-all-000000')).status).toBe(409);
      const confirmed = await page('POST', path);
      expect(confirmed.status).toBe(200);
      expect(confirmed.text).toContain(`Confirmed: your approval of ${subject} counts, and crm: exporter is being provisioned.`);
      expect((await grantRow(t, id)).state).toBe('provisioning');
      const again = await page('POST', path);
      expect(again.status).toBe(403);
      expect(again.text).toContain('was already used or replaced by a newer one');
      const rows = await t.api('GET', `/api/v1/audit?subject=${subject}`);
      expect(rows.body.items.map((a: any) => [a.action, a.actor, a.source]).reverse()).toEqual([
        ['access.requested', 'dave', 'api'], ['access.second_step_sent', 'tread', 'scheduler'], ['access.second_step_done', 'carol', 'api'],
        ['access.approve', 'carol', 'api'], ['access.provision', 'carol', 'api'], ['refused:access.link_used', 'carol', 'api'],
      ]);
    });

    it('a late link does not count', async () => {
      await t.api('POST', '/api/v1/grants', { resource: 'pay', role: 'operator', duration: '1h', reason: 'refunds', ticket: 'PAY-9', by: 'dave' });
      const id = await lastGrantId(t);
      // operator is medium: approved with the button alone
      const res = await t.api('POST', `/api/v1/grants/GRT-${id}/actions`, { action: 'approve', by: 'carol' });
      expect(res.status).toBe(200);
      await t.api('POST', '/api/v1/grants', { resource: 'crm', role: 'exporter', duration: '1h', reason: 'one more export', by: 'frank' });
      const high = await lastGrantId(t);
      await t.press('erin', 'approval.approve', `APR-${(await grantRow(t, high)).approvalId}`);
      const path = linkFor('erin', `GRT-${high}`);
      t.clock.advance(6 * 60_000);
      const late = await page('POST', path);
      expect(late.status).toBe(403);
      expect(late.text).toContain(`This link for GRT-${high} expired`);
      expect((await page('GET', path)).status).toBe(410);
      expect((await grantRow(t, high)).state).toBe('requested');
    });

    it('/access audit shows a person\'s or a resource\'s trail to those who may read it; the exported chain verifies', async () => {
      const mine = replyText(await t.command('dave', '/access audit @dave 30d'));
      expect(mine).toContain('*GRT-1* access.requested by Dave Asker (api)');
      expect(mine).toContain('access.approve by Carol Owner (api)');
      expect(mine).toContain('⛔ refused:access.unknown_role by Dave Asker (api)');
      expect(replyText(await t.command('dave', '/access audit crm'))).toMatch(/may not read this audit trail/);
      const resource = replyText(await t.command('carol', '/access audit crm 7d'));
      expect(resource).toContain('access.revoke by API (api)');
      expect(resource).not.toContain('pay:');
      const csv = await fetch(`http://127.0.0.1:${t.tread.port}/api/v1/audit?subject=GRT-1`, { headers: { authorization: `Bearer ${'request-test-token-0123456789'}`, accept: 'text/csv' } });
      expect((await csv.text()).split('\r\n')[0]).toBe('seq,at,actor,source,subject,action,data,prev_hash,hash');
      const verified = await verifyAudit(t.db);
      expect(verified).toMatchObject({ ok: true, problems: [] });
      expect(verified.rows).toBeGreaterThan(20);
    });
  });
}
