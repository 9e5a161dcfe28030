/**
 * Access through Slack, end to end: signed slash commands and interactions into tread's real HTTP server, the local
 * fake Slack Web API out. `/request access …` (the alias) for a high-sensitivity role, the owner's Approve button that
 * does not count alone, the one-time code in the owner's DM typed back with `/access confirm`, the team's task card
 * with Done, and the requester's one DM card edited in place until it shows active. Every step audited with the Slack
 * user id of who did it.
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { schema } from '../../../db/client.js';
import type { Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { buttonPress, commandBody, FakeSlack, type SlackCall } from './fake-slack.js';
import { slackTreadPerFile, type SlackTread } from './slack-tread.js';

const SECRET = 'test-signing-secret-0123456789';
const config = parseOrganisation(`
organisation: Slack access
people:
  - { id: bob, name: Bob, slack: U0BOB }
  - { id: carol, name: Carol, slack: U0CAROL }
  - { id: dave, name: Dave, slack: U0DAVE }
teams:
  - { id: ops, members: [bob] }
approvalPolicies:
  - { name: owners, stages: [{ approvers: [{ owners: true }] }] }
resources:
  - name: crm
    title: CRM
    team: ops
    owners: [carol]
    roles: [{ name: exporter, title: Bulk export, sensitivity: high }]
    approvalPolicy: owners
    connector: { kind: manual }
access:
  securityChannel: { slack: C0SECURITY }
`, 'test');

let seq = 0;
const trigger = () => `trig.${Date.now()}.${++seq}`;
const users: Record<string, { id: string; name: string }> = { dave: { id: 'U0DAVE', name: 'dave' }, carol: { id: 'U0CAROL', name: 'carol' }, bob: { id: 'U0BOB', name: 'bob' } };

for (const driver of drivers) {
  describe(`access through Slack (${driver})`, () => {
    let fake: FakeSlack;
    let tread: Tread;
    let send: SlackTread['send'];
    slackTreadPerFile(driver, config, SECRET, (s) => ({ tread, fake, send } = s));
    async function slash(who: keyof typeof users, command: string, text: string) {
      const t = trigger();
      await send(commandBody({ command, text, user_id: users[who]!.id, user_name: users[who]!.name, channel_id: 'C0GENERAL', channel_name: 'general', team_id: 'T0FAKE', trigger_id: t, response_url: fake.responseUrl(t) }), 'form');
      return fake.waitFor(() => fake.responses.find((r) => r.id === t), 5000, `the answer to ${command} ${text}`);
    }
    const press = (message: { channel: string; ts?: string; blocks: any[]; text?: string }, actionId: string, who: keyof typeof users) => buttonPress(fake, message, actionId, users[who]!).body;
    const posted = (channel: string, starts: string): SlackCall[] => fake.ok('chat.postMessage').filter((c) => (c.result?.channel ?? c.args.channel) === channel && String(c.args.text).startsWith(starts));
    const stored = (call: SlackCall) => fake.messages.get(`${call.result!.channel}/${call.result!.ts}`)!;
    const grant = async () => (await tread.app.db.select().from(schema.accessGrants).where(eq(schema.accessGrants.id, 1)))[0]!;

    it('/request access → the owner approves on a DM card, then types the code from her DM → the team\'s Done → active, one card edited in place', async () => {
      const asked = await slash('dave', '/request', 'access crm exporter for 2h quarterly export for finance');
      expect(JSON.stringify(asked.body)).toContain('GRT-1 requested: exporter on crm for 2h once active.');
      const daveCard = await fake.waitFor(() => posted('D0DAVE', 'GRT-1 · crm: exporter')[0], 5000, "the requester's card");
      const carolCard = await fake.waitFor(() => posted('D0CAROL', 'Approval needed · GRT-1')[0], 5000, "the owner's approval card");
      expect(JSON.stringify(carolCard.args.blocks)).toContain('quarterly export for finance');
      expect((await send(press({ ...stored(carolCard), blocks: carolCard.args.blocks }, 'approval.approve', 'carol'), 'form')).status).toBe(200);

      // the button alone does not count: a code in carol's DM
      const codeDm = await fake.waitFor(() => posted('D0CAROL', 'Second step: GRT-1')[0], 5000, 'the one-time code');
      expect((await grant()).state).toBe('requested');
      const code = /\*(\d{6})\*/.exec(JSON.stringify(codeDm.args.blocks))?.[1];
      expect(code).toMatch(/^\d{6}$/);
      const wrong = await slash('carol', '/access', `confirm GRT-1 ${code === '000000' ? '111111' : '000000'}`);
      expect(JSON.stringify(wrong.body)).toContain('That code is wrong');
      expect((await grant()).state).toBe('requested');
      const right = await slash('carol', '/access', `confirm GRT-1 ${code}`);
      expect(JSON.stringify(right.body)).toContain('Confirmed: your approval of GRT-1 counts');

      // the manual connector's task goes to the team by DM; Done makes the grant active
      const task = await fake.waitFor(() => posted('D0BOB', 'TASK-1 · Grant exporter on crm to dave')[0], 5000, 'the task card');
      expect((await send(press({ ...stored(task), blocks: task.args.blocks }, 'access.task.done', 'bob'), 'form')).status).toBe(200);
      const active = await fake.waitFor(() => { const m = stored(daveCard); return String(m.text).includes('active') ? m : undefined; }, 5000, "the requester's card active");
      expect(JSON.stringify(active.blocks)).toContain('Active until');
      expect((await grant()).state).toBe('active');
      await tread.dispatcher.flush();
      expect(posted('D0DAVE', 'GRT-1 · crm: exporter')).toHaveLength(1);
      expect(fake.ok('chat.update').filter((c) => c.args.channel === 'D0DAVE').every((c) => c.args.ts === daveCard.result!.ts)).toBe(true);

      const audit = await tread.app.db.select().from(schema.auditLog);
      const find = (action: string) => audit.find((a) => a.action === action)!;
      expect(find('access.requested')).toMatchObject({ actor: 'dave', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0DAVE' }) });
      expect(find('approval.approve')).toMatchObject({ actor: 'carol', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0CAROL', record: 'GRT-1', secondStep: 'pending' }) });
      expect(find('refused:access.code_wrong')).toMatchObject({ actor: 'carol', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0CAROL' }) });
      expect(find('access.second_step_done')).toMatchObject({ actor: 'carol', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0CAROL', via: 'code' }) });
      expect(find('access.task_grant_done')).toMatchObject({ actor: 'bob', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0BOB' }) });
    });
  });
}
