/** Slack end to end: signed requests to tread's real HTTP server, a local fake Slack Web API, a real database. */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../../adapters/slack/index.js';
import { queryRows, schema, type Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { commandBody, FakeSlack, interactionBody, signedHeaders, SLACK_TEST_BUDGETS, type SlackCall } from './fake-slack.js';

const SECRET = 'test-signing-secret-0123456789';
const config = parseOrganisation(`
organisation: Test
matchByEmail: true
people:
  - { id: dave, name: Dave, email: dave@example.com, roles: [responder] }
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
  - { id: bob, name: Bob, slack: U0BOB, roles: [responder] }
  - { id: rita, name: Rita, slack: U0RITA }
services:
  - { name: payments, owners: [alice], slack: { channel: C0PAYMENTS } }
  - { name: ghost, owners: [bob], slack: { channel: "#nowhere" } }
`, 'test');

let seq = 0;
const nextTrigger = () => `trig.${Date.now()}.${++seq}`;

for (const driver of drivers) {
  describe(`Slack over HTTP (${driver})`, () => {
    let database: Database;
    let fake: FakeSlack;
    let tread: Tread;
    let slack: SlackAdapter;

    beforeAll(async () => {
      fake = await new FakeSlack().start();
      fake.channelsByName.set('ops', 'C0OPS');
      database = await openTestDatabase(driver);
      const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl });
      tread = await startTread({
        database, config, tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
        platforms: async (app, router) => [slack = await createSlackAdapter({ env, app, router, port: { budgets: SLACK_TEST_BUDGETS } })],
      });
    });
    afterAll(async () => {
      await tread?.stop();
      await fake?.stop();
    });

    /** POSTs a signed body to /slack/events. */
    async function send(body: string, kind: 'form' | 'json', options: { secret?: string; timestamp?: number; headers?: Record<string, string> } = {}) {
      const headers = { ...signedHeaders(options.secret ?? SECRET, body, kind, options.timestamp), ...options.headers };
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${tread.port}/slack/events`, { method: 'POST', headers, body });
      const text = await res.text();
      return { status: res.status, text, json: text.startsWith('{') ? JSON.parse(text) : undefined, ms: performance.now() - started };
    }

    function command(text: string, over: Record<string, string> = {}) {
      const trigger = over.trigger_id ?? nextTrigger();
      return {
        trigger,
        body: commandBody({
          token: 'legacy', team_id: 'T0FAKE', team_domain: 'fake', channel_id: 'C0OPS', channel_name: 'ops', user_id: 'U0ALICE', user_name: 'alice',
          command: '/incident', text, api_app_id: 'A0TREAD', response_url: fake.responseUrl(trigger), trigger_id: trigger, ...over,
        }),
      };
    }

    async function incidents() {
      return tread.app.db.select().from(schema.incidents).orderBy(schema.incidents.id);
    }

    async function counts() {
      const [row] = await queryRows<{ incidents: number; deliveries: number; outbox: number }>(tread.app.db, sql`select
        (select count(*)::int from incidents) as incidents, (select count(*)::int from deliveries) as deliveries, (select count(*)::int from outbox) as outbox`);
      return row!;
    }

    /** The card posted for an incident title. */
    function postedCard(title: string): SlackCall | undefined {
      return fake.ok('chat.postMessage').find((c) => !c.args.thread_ts && String(c.args.text).includes(title));
    }

    /** A block_actions payload built from a posted card's blocks, as Slack sends it when the button is pressed. */
    function press(card: SlackCall, actionId: string, user: { id: string; name: string }, trigger = nextTrigger()) {
      const ts = findTs(card);
      const block = card.args.blocks.find((b: any) => b.type === 'actions' && b.elements.some((e: any) => e.action_id === actionId));
      const element = block.elements.find((e: any) => e.action_id === actionId);
      return {
        trigger,
        body: interactionBody({
          type: 'block_actions', user: { id: user.id, username: user.name, name: user.name, team_id: 'T0FAKE' }, api_app_id: 'A0TREAD', token: 'legacy',
          container: { type: 'message', message_ts: ts, channel_id: card.args.channel, is_ephemeral: false },
          trigger_id: trigger, team: { id: 'T0FAKE', domain: 'fake' }, channel: { id: card.args.channel, name: 'ops' },
          message: { type: 'message', ts, text: card.args.text, blocks: card.args.blocks, bot_id: 'B0TREADBOT' },
          response_url: fake.responseUrl(trigger),
          actions: [{ action_id: element.action_id, block_id: block.block_id, text: element.text, value: element.value, style: element.style, type: 'button', action_ts: '1700000001.000' }],
        }),
      };
    }

    /** The ts Slack gave a posted message. */
    function findTs(card: SlackCall): string {
      return card.result!.ts as string;
    }

    it('/incident Payment API down: 200 within the limit, the card reaches the channel, Acknowledge updates it in place', async () => {
      const { body } = command('Payment API down');
      const res = await send(body, 'form');
      expect(res.status).toBe(200);
      expect(res.ms).toBeLessThan(3000);
      const card = await fake.waitFor(() => postedCard('Payment API down'), 5000, 'the incident card');
      expect(card.args.channel).toBe('C0OPS');
      expect(card.args.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: expect.stringContaining('Payment API down') } });
      const [created] = (await incidents()).filter((i) => i.title === 'Payment API down');
      expect(created).toMatchObject({ state: 'new', reporter: 'alice', source: 'slack' });
      const ts = findTs(card);
      const ack = card.args.blocks.flatMap((b: any) => b.elements ?? []).find((e: any) => e.action_id === 'incident.ack');
      expect(ack.value).toBe(`INC-${created!.id}`);

      const pressed = press(card, 'incident.ack', { id: 'U0BOB', name: 'bob' });
      const ackRes = await send(pressed.body, 'form');
      expect(ackRes.status).toBe(200);
      expect(ackRes.ms).toBeLessThan(3000);
      const update = await fake.waitFor(() => fake.ok('chat.update').find((c) => c.args.ts === ts), 5000, 'chat.update on the card');
      expect(update.args.channel).toBe('C0OPS');
      expect(update.args.text).toContain('acknowledged');
      const [after] = await tread.app.db.select().from(schema.incidents).where(eq(schema.incidents.id, created!.id));
      expect(after!.state).toBe('acknowledged');
      expect(after!.acknowledgedAt).not.toBeNull();
      // The presser is the actor.
      const audit = await tread.app.db.select().from(schema.auditLog).where(eq(schema.auditLog.subject, `INC-${created!.id}`));
      expect(audit.map((a) => a.actor)).toContain('bob');
      // Every update of this card targets the same ts; the notice goes to the presser only.
      await tread.dispatcher.flush();
      expect(fake.ok('chat.update').filter((c) => c.args.channel === 'C0OPS').every((c) => c.args.ts === ts)).toBe(true);
      await fake.waitFor(() => fake.responses.find((r) => r.id === pressed.trigger && r.body.response_type === 'ephemeral'), 5000, 'the ephemeral notice');
    });

    it('answers /tread help and a command it does not know as ephemeral messages to the person who typed them', async () => {
      const help = command('help', { command: '/tread' });
      expect((await send(help.body, 'form')).status).toBe(200);
      const h = await fake.waitFor(() => fake.responses.find((r) => r.id === help.trigger), 5000, 'help');
      expect(h.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
      expect(JSON.stringify(h.body.blocks)).toContain('/incident');
      const unknown = command('list', { command: '/frobnicate' });
      await send(unknown.body, 'form');
      const p = await fake.waitFor(() => fake.responses.find((r) => r.id === unknown.trigger), 5000, 'an unknown command');
      expect(p.body).toMatchObject({ response_type: 'ephemeral' });
      expect(p.body.text).toBe('I don\'t know the command "frobnicate". Type /tread help for the list.');
      const bad = command('priority INC-1 P9');
      await send(bad.body, 'form');
      const b = await fake.waitFor(() => fake.responses.find((r) => r.id === bad.trigger), 5000, 'bad input');
      expect(b.body.text).toMatch(/P1…P5/);
    });

    it('refuses a bad signature, a stale timestamp and a missing signature with 401, storing nothing', async () => {
      const before = await counts();
      const { body } = command('Forged incident');
      expect((await send(body, 'form', { secret: 'wrong-secret' })).status).toBe(401);
      expect((await send(body, 'form', { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 })).status).toBe(401);
      const unsigned = await fetch(`http://127.0.0.1:${tread.port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      expect(unsigned.status).toBe(401);
      const tampered = await fetch(`http://127.0.0.1:${tread.port}/slack/events`, { method: 'POST', headers: signedHeaders(SECRET, body, 'form'), body: body.replace('Forged', 'Tampered') });
      expect(tampered.status).toBe(401);
      await slack.idle();
      expect(await counts()).toEqual(before);
      expect(fake.ok('chat.postMessage').some((c) => /Forged|Tampered/.test(String(c.args.text)))).toBe(false);
    });

    it('refuses malformed payloads with 400 naming what is wrong, storing nothing', async () => {
      const before = await counts();
      const noUser = commandBody({ command: '/incident', text: 'x', channel_id: 'C0OPS', trigger_id: 't', team_id: 'T' });
      const r1 = await send(noUser, 'form');
      expect(r1.status).toBe(400);
      expect(r1.json.error).toMatchObject({ code: 'slack.bad_payload', issues: [expect.objectContaining({ path: 'user_id' })] });
      const r2 = await send('payload=%7Bnot%20json', 'form');
      expect(r2.status).toBe(400);
      const r3 = await send(interactionBody({ type: 'block_actions', user: { id: 'U0BOB' }, trigger_id: 't', actions: [] }), 'form');
      expect(r3.status).toBe(400);
      expect(r3.json.error.message).toMatch(/at least one action/);
      const r4 = await send(JSON.stringify({ type: 'mystery' }), 'json');
      expect(r4.status).toBe(400);
      expect(r4.json.error.issues[0]).toEqual({ path: 'type', message: 'unsupported payload type "mystery"' });
      const r5 = await send(interactionBody({ type: 'view_submission', user: { id: 'U0BOB' }, view: { id: 'V1', callback_id: 'incident.create.submit' } }), 'form');
      expect(r5.status).toBe(400);
      expect(await counts()).toEqual(before);
    });

    it('signed bodies that are not a Slack payload object get 400 and the process keeps serving (payload=null once killed tread)', async () => {
      const before = await counts();
      const bodies: [string, 'form' | 'json'][] = [
        ['payload=null', 'form'], ['payload=%5B%5D', 'form'], ['payload=%22x%22', 'form'], ['payload=1', 'form'], ['', 'form'],
        ['null', 'json'], ['[]', 'json'], ['"x"', 'json'], ['', 'json'],
      ];
      for (const [body, kind] of bodies) {
        const res = await send(body, kind);
        expect(res.status, `${kind} ${JSON.stringify(body)}`).toBe(400);
        expect(res.json?.error?.code, `${kind} ${JSON.stringify(body)}: ${res.text}`).toBe('slack.bad_payload');
        expect(res.json.error.message).toMatch(/Slack payload/);
      }
      expect(await counts()).toEqual(before);
      // The same tread still takes a good command.
      const good = command('Still alive after bad payloads');
      expect((await send(good.body, 'form')).status).toBe(200);
      await fake.waitFor(() => postedCard('Still alive after bad payloads'), 5000, 'the card after the bad payloads');
    });

    it('answers url_verification and acknowledges payloads tread does not use (view_closed) with 200', async () => {
      const v = await send(JSON.stringify({ type: 'url_verification', challenge: 'abc123', token: 'x' }), 'json');
      expect(v.status).toBe(200);
      expect(v.json).toEqual({ challenge: 'abc123' });
      const closed = await send(interactionBody({ type: 'view_closed', user: { id: 'U0BOB' }, view: { id: 'V1' } }), 'form');
      expect(closed.status).toBe(200);
      expect(closed.ms).toBeLessThan(1000);
    });

    it('modal flow: /incident opens the form, a missing title is an inline error, a valid submission creates the incident', async () => {
      const open = command('');
      expect((await send(open.body, 'form')).status).toBe(200);
      const views = await fake.waitFor(() => fake.ok('views.open').find((c) => c.args.trigger_id === open.trigger), 5000, 'views.open');
      const view = views.args.view;
      expect(view).toMatchObject({ type: 'modal', callback_id: 'incident.create.submit' });
      expect(JSON.parse(view.private_metadata)).toEqual({ c: 'C0OPS' });
      expect(view.blocks.find((b: any) => b.block_id === 'title')).toMatchObject({ type: 'input', optional: false });

      const submission = (values: Record<string, unknown>, trigger = nextTrigger()) => interactionBody({
        type: 'view_submission', team: { id: 'T0FAKE' }, user: { id: 'U0RITA', username: 'rita', name: 'rita' }, api_app_id: 'A0TREAD', trigger_id: trigger,
        view: { id: 'V0FAKE', team_id: 'T0FAKE', type: 'modal', callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, hash: '1.abc', state: { values } },
      });
      const before = (await incidents()).length;
      const bad = await send(submission({ title: { title: { type: 'plain_text_input', value: null } }, impact: { impact: { type: 'static_select', selected_option: { value: 'high' } } } }), 'form');
      expect(bad.status).toBe(200);
      expect(bad.json).toEqual({ response_action: 'errors', errors: { title: expect.stringMatching(/title/i) } });
      expect((await incidents()).length).toBe(before);

      const good = await send(submission({
        title: { title: { type: 'plain_text_input', value: 'Checkout 502 from the modal' } },
        service: { service: { type: 'static_select', selected_option: { value: 'payments' } } },
        impact: { impact: { type: 'static_select', selected_option: { value: 'medium' } } },
        urgency: { urgency: { type: 'static_select', selected_option: { value: 'low' } } },
        description: { description: { type: 'plain_text_input', value: 'since 10:02' } },
      }), 'form');
      expect(good.status).toBe(200);
      expect(good.text).toBe('');
      const created = (await incidents()).find((i) => i.title === 'Checkout 502 from the modal');
      expect(created).toMatchObject({ service: 'payments', impact: 'medium', urgency: 'low', description: 'since 10:02', reporter: 'rita' });
      // The card goes to the channel the form was opened from and to the service channel; the submitter hears back.
      await fake.waitFor(() => fake.ok('chat.postMessage').filter((c) => String(c.args.text).includes('Checkout 502 from the modal') && !c.args.thread_ts).length === 2, 5000, 'cards in both channels');
      const channels = fake.ok('chat.postMessage').filter((c) => String(c.args.text).includes('Checkout 502 from the modal') && !c.args.thread_ts).map((c) => c.args.channel).sort();
      expect(channels).toEqual(['C0OPS', 'C0PAYMENTS']);
      const eph = await fake.waitFor(() => fake.ok('chat.postEphemeral').find((c) => String(c.args.text).includes(`INC-${created!.id} opened`)), 5000, 'ephemeral confirmation');
      expect(eph.args).toMatchObject({ channel: 'C0OPS', user: 'U0RITA' });
    });

    it('a retried delivery creates nothing twice: same trigger_id, x-slack-retry-num, repeated button press, repeated event', async () => {
      const first = command('Retried incident');
      await send(first.body, 'form');
      await send(first.body, 'form', { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } });
      await fake.waitFor(() => postedCard('Retried incident'), 5000, 'card');
      await slack.idle(); // both deliveries were acknowledged: wait until the work after both acks is done
      expect((await incidents()).filter((i) => i.title === 'Retried incident')).toHaveLength(1);

      const card = postedCard('Retried incident')!;
      const pressed = press(card, 'incident.ack', { id: 'U0ALICE', name: 'alice' });
      await Promise.all([send(pressed.body, 'form'), send(pressed.body, 'form', { headers: { 'x-slack-retry-num': '1' } })]);
      const id = (await incidents()).find((i) => i.title === 'Retried incident')!.id;
      await fake.waitFor(async () => (await tread.app.db.select().from(schema.incidents).where(eq(schema.incidents.id, id)))[0]!.state === 'acknowledged', 5000, 'acknowledged');
      await slack.idle();
      await tread.dispatcher.flush();
      const acks = (await tread.app.db.select().from(schema.auditLog).where(eq(schema.auditLog.subject, `INC-${id}`))).filter((a) => a.action.includes('ack'));
      expect(acks).toHaveLength(1);
      expect(fake.responses.filter((r) => r.id === pressed.trigger)).toHaveLength(1);

      const event = JSON.stringify({
        token: 'x', team_id: 'T0FAKE', api_app_id: 'A0TREAD', type: 'event_callback', event_id: 'Ev0RETRY1', event_time: 1700000000,
        event: { type: 'app_mention', user: 'U0ALICE', text: '<@U0TREADBOT> incident Disk full on db-1', ts: '1700000000.100', channel: 'C0OPS', event_ts: '1700000000.100' },
      });
      expect((await send(event, 'json')).status).toBe(200);
      expect((await send(event, 'json', { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })).status).toBe(200);
      await fake.waitFor(() => postedCard('Disk full on db-1'), 5000, 'mention card');
      await slack.idle();
      expect((await incidents()).filter((i) => i.title === 'Disk full on db-1')).toHaveLength(1);
    });

    it('a 429 from Slack delays the card, which is then delivered exactly once', async () => {
      fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
      const { body } = command('Rate limited card');
      await send(body, 'form');
      await fake.waitFor(() => fake.calls.find((c) => c.method === 'chat.postMessage' && c.status === 429), 5000, 'the 429');
      const id = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'Rate limited card')?.id, 5000, 'incident');
      const pending = await fake.waitFor(async () => {
        const rows = (await tread.app.db.select().from(schema.outbox)).filter((r) => r.orderKey === `INC-${id}` && r.kind === 'post');
        return rows[0]?.status === 'pending' && rows[0]?.lastError ? rows[0] : undefined;
      }, 5000, 'rescheduled outbox row');
      expect(pending.attempts).toBe(0);
      expect(pending.lastError).toMatch(/rate limited, retry after 1000 ms/);
      expect(postedCard('Rate limited card')).toBeUndefined();
      // Sent again once the Retry-After second has passed (this tread has no tick: each look is a flush).
      await fake.waitFor(async () => { await tread.dispatcher.flush(); return postedCard('Rate limited card'); }, 5000, 'the card after Retry-After');
      expect(fake.ok('chat.postMessage').filter((c) => String(c.args.text).includes('Rate limited card') && !c.args.thread_ts)).toHaveLength(1);
      const [row] = (await tread.app.db.select().from(schema.outbox)).filter((r) => r.id === pending.id);
      expect(row!.status).toBe('sent');
    });

    it('a channel Slack does not know is a visible dead letter at once, not endless retries', async () => {
      await send(command('Ghost service broken service:ghost').body, 'form');
      const id = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'Ghost service broken')?.id, 5000, 'incident');
      const dead = await fake.waitFor(async () => (await tread.app.db.select().from(schema.outbox)).find((r) => r.orderKey === `INC-${id}` && r.status === 'dead'), 5000, 'dead letter');
      expect(dead.lastError).toMatch(/channel_not_found/);
      expect(dead.attempts).toBe(1);
      // The card still reached the channel the command came from.
      expect(postedCard('Ghost service broken')!.args.channel).toBe('C0OPS');
    });

    it('a major incident gets its own channel with the owners invited and the card pinned', async () => {
      await send(command('Everything is down impact:high urgency:high service:payments').body, 'form');
      const id = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'Everything is down')?.id, 5000, 'incident');
      const create = await fake.waitFor(() => fake.ok('conversations.create').find((c) => String(c.args.name).startsWith(`inc-${id}-`)), 5000, 'conversations.create');
      expect(create.args.name).toBe(`inc-${id}-everything-is-down`);
      const channelId = fake.channelsByName.get(create.args.name)!;
      const pinned = await fake.waitFor(() => fake.pins.find((p) => p.channel === channelId), 5000, 'pin');
      const invite = fake.ok('conversations.invite').find((c) => c.args.channel === channelId)!;
      expect(String(invite.args.users).split(',').sort()).toEqual(['U0ALICE']);
      const cardInChannel = fake.ok('chat.postMessage').find((c) => c.args.channel === channelId)!;
      expect(findTs(cardInChannel)).toBe(pinned.timestamp);
    });

    it('assigning by Slack mention resolves the person by id and sends them a DM', async () => {
      await send(command('Payroll export stuck').body, 'form');
      const id = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'Payroll export stuck')?.id, 5000, 'incident');
      const assign = command(`assign INC-${id} <@U0BOB|bob>`);
      await send(assign.body, 'form');
      await fake.waitFor(async () => (await tread.app.db.select().from(schema.incidents).where(eq(schema.incidents.id, id)))[0]!.assignee === 'bob', 5000, 'assigned');
      // Posted at Bob's user id, which Slack delivers in his DM with the app.
      const dm = await fake.waitFor(() => fake.ok('chat.postMessage').find((c) => ['U0BOB', 'D0BOB'].includes(c.args.channel) && String(c.args.text).includes(`INC-${id}`)), 5000, 'DM');
      expect(dm.args.text).toMatch(/assigned/);
      expect(dm.result?.channel).toBe('D0BOB');
    });

    it('an unknown Slack user is recorded as a requester under their Slack name', async () => {
      await send(command('Printer on fire', { user_id: 'U0STRANGER', user_name: 'stranger.danger' }).body, 'form');
      const created = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'Printer on fire'), 5000, 'incident');
      const [person] = await tread.app.db.select().from(schema.people).where(eq(schema.people.slackId, 'U0STRANGER'));
      expect(person).toMatchObject({ id: 'slack.u0stranger', name: 'stranger.danger', fromConfig: false });
      expect(created.reporter).toBe('slack.u0stranger');
      // A requester may not acknowledge: the refusal is ephemeral, the card is unchanged.
      const card = await fake.waitFor(() => postedCard('Printer on fire'), 5000, 'card');
      const pressed = press(card, 'incident.ack', { id: 'U0STRANGER', name: 'stranger.danger' });
      await send(pressed.body, 'form');
      const refusal = await fake.waitFor(() => fake.responses.find((r) => r.id === pressed.trigger), 5000, 'refusal');
      expect(refusal.body.text).toMatch(/may not/);
      expect((await tread.app.db.select().from(schema.incidents).where(eq(schema.incidents.id, created.id)))[0]!.state).toBe('new');
    });

    it('Socket Mode: connects through apps.connections.open, acks a slash command envelope, ignores its redelivery', async () => {
      const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_APP_TOKEN: 'xapp-test', SLACK_API_URL: fake.apiUrl });
      let socket: SlackAdapter | undefined;
      const socketTread = await startTread({
        database, config, tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
        platforms: async (app, router) => [socket = await createSlackAdapter({ env, app, router, port: { budgets: SLACK_TEST_BUDGETS }, bot: slack.bot })],
      });
      try {
        // No public URL needed: the socket tread serves no /slack/events.
        expect((await fetch(`http://127.0.0.1:${socketTread.port}/slack/events`, { method: 'POST', body: '' })).status).toBe(404);
        const open = fake.ok('apps.connections.open').at(-1)!;
        expect(open.token).toBe('xapp-test');
        await fake.waitFor(() => fake.socketCount > 0, 5000, 'socket connection');
        const trigger = nextTrigger();
        const envelope = {
          envelope_id: 'env-0001', type: 'slash_commands', accepts_response_payload: true,
          payload: { token: 'x', team_id: 'T0FAKE', channel_id: 'C0OPS', channel_name: 'ops', user_id: 'U0ALICE', user_name: 'alice', command: '/incident', text: 'Socket mode incident', trigger_id: trigger, response_url: fake.responseUrl(trigger), api_app_id: 'A0TREAD' },
        };
        const sent = Date.now();
        fake.sendEnvelope(envelope);
        const ack = await fake.waitFor(() => fake.socketMessages.find((m) => m.envelope_id === 'env-0001'), 3000, 'the envelope ack');
        expect(ack).toEqual({ envelope_id: 'env-0001', payload: {} });
        expect(Date.now() - sent).toBeLessThan(3000);
        await fake.waitFor(() => postedCard('Socket mode incident'), 5000, 'card');
        // Slack redelivers the envelope: acked again, nothing created twice.
        fake.sendEnvelope({ ...envelope, retry_attempt: 1, retry_reason: 'timeout' });
        await fake.waitFor(() => fake.socketMessages.filter((m) => m.envelope_id === 'env-0001').length === 2, 3000, 'second ack');
        await socket!.idle();
        expect((await incidents()).filter((i) => i.title === 'Socket mode incident')).toHaveLength(1);

        // A view submission with errors is answered in the envelope ack.
        fake.sendEnvelope({
          envelope_id: 'env-0002', type: 'interactive', accepts_response_payload: true,
          payload: {
            type: 'view_submission', team: { id: 'T0FAKE' }, user: { id: 'U0ALICE', name: 'alice' }, trigger_id: nextTrigger(),
            view: { id: 'V0SOCK', callback_id: 'incident.create.submit', private_metadata: JSON.stringify({ c: 'C0OPS' }), blocks: [{ type: 'input', block_id: 'title' }], state: { values: { title: { title: { type: 'plain_text_input', value: 'x' } } } } },
          },
        });
        const errors = await fake.waitFor(() => fake.socketMessages.find((m) => m.envelope_id === 'env-0002'), 3000, 'view ack');
        expect(errors.payload).toEqual({ response_action: 'errors', errors: { title: expect.stringMatching(/at least 3 characters/) } });

        // A malformed envelope is acknowledged (so Slack stops redelivering) and dropped.
        fake.sendEnvelope({ envelope_id: 'env-0003', type: 'slash_commands', accepts_response_payload: true, payload: { command: '/incident', text: 'no user' } });
        await fake.waitFor(() => fake.socketMessages.find((m) => m.envelope_id === 'env-0003'), 3000, 'malformed ack');
        // So is an envelope whose payload is null or not an object (over HTTP such a body once ended the process).
        for (const [id, payload] of [['env-0004', null], ['env-0005', []], ['env-0006', 'x']] as const) {
          fake.sendEnvelope({ envelope_id: id, type: 'interactive', accepts_response_payload: true, payload });
          await fake.waitFor(() => fake.socketMessages.find((m) => m.envelope_id === id), 3000, `ack of ${id}`);
        }
      } finally {
        await socketTread.stop({ closeDatabase: false });
      }
      await fake.waitFor(() => fake.socketCount === 0, 5000, 'socket closed on stop');
    });

    it('a mention from someone the config does not know: their Slack name is looked up once and they are recorded as a requester', async () => {
      fake.users.set('U0CAROL', { name: 'Carol Jones' });
      const mention = (id: string, text: string) => JSON.stringify({
        type: 'event_callback', team_id: 'T0FAKE', event_id: id, event: { type: 'app_mention', user: 'U0CAROL', text: `<@U0TREADBOT> ${text}`, ts: `1700000001.${id.slice(-3)}`, channel: 'C0OPS' },
      });
      expect((await send(mention('Ev0CAROL001', 'incident VPN drops every hour'), 'json')).status).toBe(200);
      const created = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'VPN drops every hour'), 5000, 'incident');
      expect(created.reporter).toBe('slack.u0carol');
      const [person] = await tread.app.db.select().from(schema.people).where(eq(schema.people.id, 'slack.u0carol'));
      expect(person!.name).toBe('Carol Jones');
      // Help in a channel is ephemeral (chat.postEphemeral: events have no response_url).
      await send(mention('Ev0CAROL002', 'tread help'), 'json');
      await fake.waitFor(() => fake.ok('chat.postEphemeral').find((c) => c.args.user === 'U0CAROL' && JSON.stringify(c.args.blocks).includes('tread commands')), 5000, 'help');
      expect(fake.ok('users.info').filter((c) => c.args.user === 'U0CAROL')).toHaveLength(1);
      // A body larger than tread accepts is refused.
      const big = await send(commandBody({ command: '/incident', text: 'x'.repeat(600 * 1024) }), 'form');
      expect(big.status).toBe(413);
    });

    it('matches a Slack user without a configured id by their Slack email, because the config turns email matching on', async () => {
      fake.users.set('U0DAVE', { name: 'Dave D', email: 'Dave@Example.com' });
      await send(command('Badge readers offline', { user_id: 'U0DAVE', user_name: 'dave.d' }).body, 'form');
      const created = await fake.waitFor(async () => (await incidents()).find((i) => i.title === 'Badge readers offline'), 5000, 'incident');
      expect(created.reporter).toBe('dave');
    });

    it('called auth.test once at start-up, not per request', () => {
      expect(slack.bot).toEqual({ botId: 'B0TREADBOT', botUserId: 'U0TREADBOT', teamId: 'T0FAKE' });
      expect(fake.calls.filter((c) => c.method === 'auth.test')).toHaveLength(1);
    });
  });
}
