/**
 * A request through Slack, end to end: signed slash commands and interactions into tread's real HTTP server, the local
 * fake Slack Web API out. The catalog, its modal, the approver's DM card, the task in the team channel, and the
 * requester's one DM card edited in place until it shows fulfilled (never posted again).
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { schema } from '../../../db/client.js';
import type { Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { buttonPress, commandBody, FakeSlack, interactionBody, type SlackCall } from './fake-slack.js';
import { slackTreadPerFile, type SlackTread } from './slack-tread.js';

const SECRET = 'test-signing-secret-0123456789';
const config = parseOrganisation(`
organisation: Slack requests
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [admin] }
  - { id: bob, name: Bob, slack: U0BOB }
  - { id: carol, name: Carol, slack: U0CAROL }
  - { id: dave, name: Dave, slack: U0DAVE, manager: carol }
teams:
  - { id: it, members: [bob] }
approvalPolicies:
  - { name: manager, stages: [{ approvers: [{ manager: true }] }] }
catalog:
  - name: laptop
    title: New laptop
    category: Hardware
    fields:
      - { id: model, label: Model, type: select, options: [standard, developer], required: true }
      - { id: reason, label: Reason, type: multiline, required: true }
    approvalPolicy: manager
    fulfilment: { team: it, channel: { slack: C0ITHELP }, tasks: [{ title: Order it }] }
`, 'test');

let seq = 0;
const trigger = () => `trig.${Date.now()}.${++seq}`;
const users: Record<string, { id: string; name: string }> = { dave: { id: 'U0DAVE', name: 'dave' }, carol: { id: 'U0CAROL', name: 'carol' }, bob: { id: 'U0BOB', name: 'bob' } };

for (const driver of drivers) {
  describe(`a request through Slack (${driver})`, () => {
    let fake: FakeSlack;
    let tread: Tread;
    let send: SlackTread['send'];
    slackTreadPerFile(driver, config, SECRET, (s) => ({ tread, fake, send } = s));

    /** Presses a button of a message (posted, updated, or an ephemeral response). */
    const press = (message: { channel: string; ts?: string; blocks: any[]; text?: string; ephemeral?: boolean }, actionId: string, who: keyof typeof users) => buttonPress(fake, message, actionId, users[who]!);

    const posted = (channel: string, starts: string): SlackCall[] => fake.ok('chat.postMessage').filter((c) => (c.result?.channel ?? c.args.channel) === channel && !c.args.thread_ts && String(c.args.text).startsWith(starts));
    const stored = (call: SlackCall) => fake.messages.get(`${call.result!.channel}/${call.result!.ts}`)!;

    it('catalog → modal → approval by the manager on a DM card → task claimed and done → the requester\'s card shows fulfilled, edited in place', async () => {
      // /request: the catalog as an ephemeral answer, a button per item
      const t1 = trigger();
      await send(commandBody({ command: '/request', text: '', user_id: 'U0DAVE', user_name: 'dave', channel_id: 'C0GENERAL', channel_name: 'general', team_id: 'T0FAKE', trigger_id: t1, response_url: fake.responseUrl(t1) }), 'form');
      const catalog = await fake.waitFor(() => fake.responses.find((r) => r.id === t1), 5000, 'the catalog');
      expect(catalog.body).toMatchObject({ response_type: 'ephemeral' });
      expect(JSON.stringify(catalog.body.blocks)).toContain('New laptop');

      // its button opens the item's form as a modal
      const open = press({ channel: 'C0GENERAL', blocks: catalog.body.blocks, ephemeral: true }, 'request.form', 'dave');
      expect((await send(open.body, 'form')).status).toBe(200);
      const views = await fake.waitFor(() => fake.ok('views.open').find((c) => c.args.trigger_id === open.trigger), 5000, 'views.open');
      const view = views.args.view;
      expect(view).toMatchObject({ type: 'modal', callback_id: 'request.submit' });
      expect(view.blocks.map((b: any) => b.block_id)).toEqual(expect.arrayContaining(['model', 'reason']));

      const submit = (values: Record<string, unknown>) => interactionBody({
        type: 'view_submission', team: { id: 'T0FAKE' }, user: { id: 'U0DAVE', username: 'dave', name: 'dave' }, api_app_id: 'A0TREAD', trigger_id: trigger(),
        view: { id: 'V0FAKE', team_id: 'T0FAKE', type: 'modal', callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, hash: '1.abc', state: { values } },
      });
      // a missing field is an error on the field, and nothing is stored
      const bad = await send(submit({ model: { model: { type: 'static_select', selected_option: { value: 'standard' } } }, reason: { reason: { type: 'plain_text_input', value: null } } }), 'form');
      expect(bad.json).toEqual({ response_action: 'errors', errors: { reason: 'Reason is required' } });
      expect(await tread.app.db.select().from(schema.requests)).toHaveLength(0);
      const good = await send(submit({ model: { model: { type: 'static_select', selected_option: { value: 'developer' } } }, reason: { reason: { type: 'plain_text_input', value: 'builds take an hour' } } }), 'form');
      expect(good.status).toBe(200);

      // the requester's card and the approver's card, both DMs
      const daveCard = await fake.waitFor(() => posted('D0DAVE', 'REQ-1 · New laptop')[0], 5000, "the requester's card");
      const carolCard = await fake.waitFor(() => posted('D0CAROL', 'Approval needed · REQ-1')[0], 5000, "the approver's card");
      expect(JSON.stringify(carolCard.args.blocks)).toContain('builds take an hour');
      const approve = press({ ...stored(carolCard), blocks: carolCard.args.blocks }, 'approval.approve', 'carol');
      expect((await send(approve.body, 'form')).status).toBe(200);

      // the task in the team channel: claimed, then done
      const task = await fake.waitFor(() => posted('C0ITHELP', 'TASK-1 · Order it')[0], 5000, 'the task card');
      await fake.waitFor(() => fake.ok('chat.update').find((c) => c.args.channel === 'D0CAROL' && c.args.ts === carolCard.result!.ts && String(c.args.text).includes('approved')), 5000, "the approver's card edited");
      await send(press({ ...stored(task), blocks: task.args.blocks }, 'request.task.claim', 'bob').body, 'form');
      const claimed = await fake.waitFor(() => { const m = stored(task); return String(m.text).includes('claimed') ? m : undefined; }, 5000, 'the task claimed');
      await send(press({ channel: claimed.channel, ts: claimed.ts, text: claimed.text, blocks: claimed.blocks! }, 'request.task.done', 'bob').body, 'form');

      const fulfilled = await fake.waitFor(() => { const m = stored(daveCard); return String(m.text).includes('fulfilled') ? m : undefined; }, 5000, "the requester's card fulfilled");
      expect(JSON.stringify(fulfilled.blocks)).toContain('Fulfilled');
      await tread.dispatcher.flush();
      // one card, edited in place every time: never posted again
      expect(posted('D0DAVE', 'REQ-1 · New laptop')).toHaveLength(1);
      const edits = fake.ok('chat.update').filter((c) => c.args.channel === 'D0DAVE');
      expect(edits.length).toBeGreaterThanOrEqual(2);
      expect(edits.every((c) => c.args.ts === daveCard.result!.ts)).toBe(true);
      const [row] = await tread.app.db.select().from(schema.requests).where(eq(schema.requests.id, 1));
      expect(row).toMatchObject({ state: 'fulfilled', requester: 'dave', source: 'slack', fields: { model: 'developer', reason: 'builds take an hour' } });
      // audited with the person, the platform and their Slack user id
      const audit = await tread.app.db.select().from(schema.auditLog);
      const find = (action: string) => audit.find((a) => a.action === action)!;
      expect(find('request.submitted')).toMatchObject({ actor: 'dave', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0DAVE' }) });
      expect(find('approval.approve')).toMatchObject({ actor: 'carol', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0CAROL', record: 'REQ-1' }) });
      expect(find('request.task_done')).toMatchObject({ actor: 'bob', source: 'slack', data: expect.objectContaining({ platformUserId: 'U0BOB' }) });
    });
  });
}
