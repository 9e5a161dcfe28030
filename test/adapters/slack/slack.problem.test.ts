/**
 * Problem management through Slack, end to end: signed slash commands and interactions into tread's real HTTP server,
 * the local fake Slack Web API out. Incidents in the service channel → a problem from them → the root cause through the
 * card's modal → the workaround on the incidents' cards and threads (their pages stop) → a known error → a new similar
 * incident's card shows the workaround → "Workaround worked" links it. Then the problem card's Fix, Resolve and Duplicate
 * buttons and their modals.
 */
import { describe, expect, it } from 'vitest';
import { schema } from '../../../db/client.js';
import type { Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { buttonPress, commandBody, FakeSlack, interactionBody, type SlackCall } from './fake-slack.js';
import { slackTreadPerFile, type SlackTread } from './slack-tread.js';

const SECRET = 'test-signing-secret-0123456789';
const CHANNEL = 'C0CHECKOUT';
const config = parseOrganisation(`
organisation: Slack problems
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
  - { id: bob, name: Bob, slack: U0BOB, roles: [responder] }
  - { id: dave, name: Dave, slack: U0DAVE }
services:
  - { name: checkout, owners: [alice], slack: { channel: ${CHANNEL} }, escalationPolicy: checkout-oncall }
escalationPolicies:
  - { name: checkout-oncall, steps: [{ person: alice, wait: 10m }] }
`, 'test', {});

let seq = 0;
const trigger = () => `trig.${Date.now()}.${++seq}`;
const users: Record<string, { id: string; name: string }> = { alice: { id: 'U0ALICE', name: 'alice' }, bob: { id: 'U0BOB', name: 'bob' }, dave: { id: 'U0DAVE', name: 'dave' } };

for (const driver of drivers) {
  describe(`problems through Slack (${driver})`, () => {
    let fake: FakeSlack;
    let tread: Tread;
    let send: SlackTread['send'];
    slackTreadPerFile(driver, config, SECRET, (s) => ({ tread, fake, send } = s));
    async function slash(who: keyof typeof users, command: string, text: string) {
      const t = trigger();
      await send(commandBody({ command, text, user_id: users[who]!.id, user_name: who, channel_id: CHANNEL, channel_name: 'checkout', team_id: 'T0FAKE', trigger_id: t, response_url: fake.responseUrl(t) }), 'form');
      await tread.scheduler.tick();
      await tread.dispatcher.flush();
      return t;
    }
    /** Presses a button of a channel message. */
    const press = (message: { channel: string; ts?: string; blocks: any[]; text?: string }, actionId: string, who: keyof typeof users, value?: string) => buttonPress(fake, message, actionId, { id: users[who]!.id, name: who }, value);
    const cardPost = (starts: string): SlackCall | undefined => fake.ok('chat.postMessage').find((c) => c.args.channel === CHANNEL && !c.args.thread_ts && String(c.args.text).startsWith(starts));
    const stored = (call: SlackCall) => fake.messages.get(`${call.result!.channel}/${call.result!.ts}`)!;
    const threadOf = (call: SlackCall) => fake.ok('chat.postMessage').filter((c) => c.args.thread_ts === call.result!.ts).map((c) => String(c.args.text));

    it('incidents → problem → root cause (modal) → workaround on the incidents (pages stop) → known error → hint on a new incident → worked', async () => {
      await slash('alice', '/incident', 'Checkout 502 errors after deploy service:checkout');
      await slash('alice', '/incident', 'Checkout returns 502 after deploy service:checkout');
      const inc1 = await fake.waitFor(() => cardPost('INC-1 ·'), 5000, 'the card of INC-1');
      const inc2 = await fake.waitFor(() => cardPost('INC-2 ·'), 5000, 'the card of INC-2');

      const opened = await slash('bob', '/problem', 'from INC-1 INC-2');
      const reply = await fake.waitFor(() => fake.responses.find((r) => r.id === opened), 5000, 'the answer to /problem from');
      expect(reply.body.text).toBe('PRB-1 opened from INC-1, INC-2: Checkout 502 errors after deploy');
      const prb = await fake.waitFor(() => cardPost('PRB-1 ·'), 5000, 'the problem card in the service channel');
      expect(JSON.stringify(prb.args.blocks)).toContain('INC-1 (new), INC-2 (new)');
      await fake.waitFor(() => (JSON.stringify(stored(inc1).blocks).includes('Problem PRB-1') ? true : undefined), 5000, 'INC-1 shows its problem');

      // the Root cause button opens a modal; its submission records the root cause
      const open = press({ ...stored(prb), blocks: stored(prb).blocks! }, 'problem.rca.form', 'bob');
      await send(open.body, 'form');
      const views = await fake.waitFor(() => fake.ok('views.open').find((c) => c.args.trigger_id === open.trigger), 5000, 'views.open');
      const view = views.args.view;
      expect(view).toMatchObject({ type: 'modal', callback_id: 'problem.rca.submit' });
      const submitted = await send(interactionBody({
        type: 'view_submission', team: { id: 'T0FAKE' }, user: { id: 'U0BOB', username: 'bob', name: 'bob' }, api_app_id: 'A0TREAD', trigger_id: trigger(),
        view: { id: 'V0FAKE', team_id: 'T0FAKE', type: 'modal', callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, hash: '1.abc', state: { values: { rootCause: { rootCause: { type: 'plain_text_input', value: 'The connection pool runs dry while pods restart' } } } } },
      }), 'form');
      expect(submitted.status).toBe(200);
      await tread.dispatcher.flush();
      await fake.waitFor(() => (String(stored(prb).text).includes('root cause analysis') ? true : undefined), 5000, 'the problem card in root cause analysis');

      // the workaround reaches both incidents: their cards and threads; their pages stop
      await slash('bob', '/problem', 'workaround PRB-1 Restart the checkout pods one at a time');
      for (const inc of [inc1, inc2]) {
        await fake.waitFor(() => (JSON.stringify(stored(inc).blocks).includes('Restart the checkout pods one at a time') ? true : undefined), 5000, 'the workaround on the card');
        await fake.waitFor(() => threadOf(inc).some((t) => t.includes('Workaround from PRB-1')), 5000, 'the workaround in the thread');
      }
      const escalations = await tread.app.db.select().from(schema.escalations);
      expect(escalations.map((e) => [e.subject, e.state]).sort()).toEqual([['INC-1', 'workaround'], ['INC-2', 'workaround']]);

      const ke = await slash('bob', '/problem', 'known-error PRB-1 symptoms:"Checkout answers 502 Bad Gateway during deploys"');
      expect((await fake.waitFor(() => fake.responses.find((r) => r.id === ke), 5000, 'the known error')).body.text).toBe('Published KE-1 · Checkout 502 errors after deploy');
      // a new similar incident: its card is edited with the known error and two buttons, after its commit
      await slash('alice', '/incident', 'Checkout 502 Bad Gateway during deploy service:checkout');
      const inc3 = await fake.waitFor(() => cardPost('INC-3 ·'), 5000, 'the card of INC-3');
      // (Slack's command is answered first and handled right after: the scheduler runs the search once the incident committed)
      const hinted = await fake.waitFor(async () => {
        await tread.scheduler.tick();
        await tread.dispatcher.flush();
        const m = stored(inc3);
        return JSON.stringify(m.blocks).includes('Known error KE-1 may match') ? m : undefined;
      }, 5000, 'the hint on INC-3');
      expect(JSON.stringify(hinted.blocks)).toContain('Restart the checkout pods one at a time');
      const worked = press({ channel: hinted.channel, ts: hinted.ts, text: hinted.text, blocks: hinted.blocks! }, 'problem.kedb.worked', 'dave');
      await send(worked.body, 'form');
      await tread.dispatcher.flush();
      await fake.waitFor(() => (JSON.stringify(stored(inc3).blocks).includes('its workaround worked') ? true : undefined), 5000, 'the worked hint');
      expect(JSON.stringify(stored(inc3).blocks)).toContain('Problem PRB-1');
      const links = await tread.app.db.select().from(schema.problemIncidents);
      expect(links.map((l) => [l.incidentId, l.via]).sort()).toEqual([[1, 'from'], [2, 'from'], [3, 'feedback']]);
      // audited with the person, the platform and their Slack user id
      const audit = await tread.app.db.select().from(schema.auditLog);
      expect(audit.find((a) => a.action === 'problem.kedb_worked')).toMatchObject({ actor: 'dave', source: 'slack', subject: 'KE-1', data: expect.objectContaining({ platformUserId: 'U0DAVE', incident: 'INC-3' }) });
    });

    it("the problem card's Fix and Resolve buttons open modals (empty fields named inline); a new problem's Duplicate", async () => {
      const prb = cardPost('PRB-1 ·')!;
      /** Presses a button of the problem card, and the modal views.open showed. */
      const openModal = async (card: SlackCall, actionId: string) => {
        const open = press({ ...stored(card), blocks: stored(card).blocks! }, actionId, 'bob');
        await send(open.body, 'form');
        return (await fake.waitFor(() => fake.ok('views.open').find((c) => c.args.trigger_id === open.trigger), 5000, `views.open for ${actionId}`)).args.view;
      };
      /** Submits a modal with values by block id (a select's value as its selected option). */
      const submit = (view: any, values: Record<string, string>) => send(interactionBody({
        type: 'view_submission', team: { id: 'T0FAKE' }, user: { id: 'U0BOB', username: 'bob', name: 'bob' }, api_app_id: 'A0TREAD', trigger_id: trigger(),
        view: {
          id: 'V0FAKE', team_id: 'T0FAKE', type: 'modal', callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, hash: '1.abc',
          state: { values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { [k]: k === 'code' ? { type: 'static_select', selected_option: { value: v } } : { type: 'plain_text_input', value: v } }])) },
        },
      }), 'form');
      const cardText = (card: SlackCall) => JSON.stringify(stored(card).blocks);
      const actionIds = (card: SlackCall) => (stored(card).blocks ?? []).flatMap((b: any) => (b.type === 'actions' ? b.elements.map((e: any) => e.action_id) : []));
      expect(actionIds(prb)).toEqual(['problem.fix.form', 'problem.workaround.form', 'problem.rca.form', 'problem.resolve.form', 'problem.assign_me']);

      const fixView = await openModal(prb, 'problem.fix.form');
      expect(fixView).toMatchObject({ type: 'modal', callback_id: 'problem.fix.submit', submit: { text: 'Start fix' } });
      const missing = await submit(fixView, { changeRef: 'CHG-4711', notes: '' });
      expect(missing.json).toEqual({ response_action: 'errors', errors: { notes: 'Say what the fix does.' } });
      expect(await submit(fixView, { changeRef: 'CHG-4711', notes: 'Drain connections before pods restart' })).toMatchObject({ status: 200 });
      await tread.dispatcher.flush();
      await fake.waitFor(() => (cardText(prb).includes('fix in progress') ? true : undefined), 5000, 'the problem card in fix in progress');
      expect(cardText(prb)).toContain('*Fix*\\nchange CHG-4711: Drain connections before pods restart');
      expect(actionIds(prb)[0]).toBe('problem.resolve.form');

      const resolveView = await openModal(prb, 'problem.resolve.form');
      const select = resolveView.blocks.find((b: any) => b.block_id === 'code').element;
      expect(select.options.map((o: any) => o.value)).toEqual(['fix_applied', 'risk_accepted']);
      expect(select.initial_option.value).toBe('fix_applied');
      expect(await submit(resolveView, { code: 'fix_applied', notes: 'Pods now drain their connections first' })).toMatchObject({ status: 200 });
      await tread.dispatcher.flush();
      await fake.waitFor(() => (cardText(prb).includes('resolved') ? true : undefined), 5000, 'the problem card resolved');
      expect(cardText(prb)).toContain('*Resolution*\\n[fix_applied] Pods now drain their connections first');
      expect(actionIds(prb)).toEqual(['problem.close']);

      await slash('bob', '/problem', 'new Checkout 502 on every deploy service:checkout');
      const second = await fake.waitFor(() => cardPost('PRB-2 ·'), 5000, 'the card of PRB-2');
      expect(actionIds(second)).toContain('problem.duplicate.form');
      const dupView = await openModal(second, 'problem.duplicate.form');
      expect(dupView).toMatchObject({ callback_id: 'problem.duplicate.submit' });
      expect((await submit(dupView, { of: 'the first one' })).json).toEqual({ response_action: 'errors', errors: { of: 'not a problem id: the first one' } });
      expect(await submit(dupView, { of: 'PRB-1' })).toMatchObject({ status: 200 });
      await tread.dispatcher.flush();
      await fake.waitFor(() => (cardText(second).includes('Duplicate of PRB-1') ? true : undefined), 5000, 'PRB-2 resolved as a duplicate');
      const rows = await tread.app.db.select().from(schema.problems);
      expect(rows.map((r) => [r.id, r.state, r.resolution, r.changeRef]).sort()).toEqual([[1, 'resolved', 'fix_applied', 'CHG-4711'], [2, 'resolved', 'duplicate', null]]);
    });
  });
}
