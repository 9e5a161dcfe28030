import { beforeEach, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../../src/core/audit.js';
import type { Reply, Where } from '../../../src/core/inbound.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import {
  HOUR, MINUTE, START, auditOf, cardsOf, incidentRow, lastIncidentId, outboxOf, replyText, startIncidentTread, timelineOf,
  type IncidentTestTread,
} from './incident.fakes.js';

const CHECKOUT_CHANNEL: Where = { platform: 'slack', channel: 'C0CHECKOUT', name: '#checkout' };

for (const driver of drivers) {
  describe(`incident service and /incident commands (${driver})`, () => {
    let t: IncidentTestTread;

    treadPerFile(driver, (database) => startIncidentTread(database, { slack: true }), (started) => { t = started; });
    beforeEach(() => {
      t.clock.set(START);
      t.port.calls.length = 0;
      t.slack.calls.length = 0;
    });

    const text = (r: Reply) => replyText(r);
    const tone = (r: Reply) => (r.kind === 'ephemeral' ? r.message.tone : undefined);
    /** Opens an incident with a command and returns its number. */
    const open = async (actor: string, line: string, where?: Where): Promise<number> => {
      const before = await lastIncidentId(t);
      const reply = await t.command(actor, `/incident ${line}`, where);
      expect(reply, text(reply)).toEqual({ kind: 'none' });
      const id = await lastIncidentId(t);
      expect(id).toBe(before + 1);
      return id;
    };

    describe('opening', () => {
      it('opens an incident from a title: P3 by default, card posted where it was typed, response due in 30m', async () => {
        const id = await open('alice', 'Checkout returns 502 for all users');
        const row = await incidentRow(t, id);
        expect(row).toMatchObject({ title: 'Checkout returns 502 for all users', state: 'new', impact: 'medium', urgency: 'medium', priority: 3, major: false, reporter: 'alice', source: 'console', service: null, assignee: null });
        expect(row.responseDueAt?.toISOString()).toBe('2026-01-05T09:30:00.000Z');
        expect(row.resolutionDueAt?.toISOString()).toBe('2026-01-06T09:00:00.000Z');
        const posts = t.port.of('post');
        expect(posts).toHaveLength(1);
        expect(posts[0]!.where).toMatchObject({ platform: 'console', channel: 'console' });
        const card = posts[0]!.message!;
        expect(card.title).toBe(`INC-${id} · P3 · new · Checkout returns 502 for all users`);
        expect(card.text).toContain('service: — · assignee: —');
        expect(card.text).toContain('response due 10:30 CET (30m)');
        expect(card.buttons?.map((b) => b.label)).toEqual(['Acknowledge', 'Set priority', 'Assign to me', 'Resolve']);
        expect(card.buttons?.every((b) => b.value === `INC-${id}`)).toBe(true);
      });

      it('computes the priority from impact × urgency', async () => {
        const cases: [string, string, number][] = [
          ['high', 'high', 1], ['high', 'medium', 2], ['high', 'low', 3], ['medium', 'low', 4], ['low', 'medium', 4], ['low', 'low', 5], ['low', 'high', 3],
        ];
        for (const [impact, urgency, p] of cases) {
          const id = await open('alice', `Printer queue stuck impact:${impact} urgency:${urgency}`);
          const row = await incidentRow(t, id);
          expect(row, `${impact} × ${urgency}`).toMatchObject({ impact, urgency, priority: p, major: p === 1, title: 'Printer queue stuck' });
        }
      });

      it('takes the service, posts the card to the service channel too, and refuses unknown services and levels', async () => {
        const id = await open('bob', 'Card payments declined service:checkout urgency:high');
        expect(await incidentRow(t, id)).toMatchObject({ service: 'checkout', priority: 2 });
        expect(t.slack.of('post').map((c) => c.where?.channel)).toEqual(['C0CHECKOUT']);
        expect(t.port.of('post')).toHaveLength(1);

        const before = await lastIncidentId(t);
        const r = await t.command('bob', '/incident Something is off service:nosuch');
        expect(tone(r)).toBe('warning');
        expect(text(r)).toBe('There is no service "nosuch". Known services: checkout, payments, db.');
        expect(text(await t.command('bob', '/incident Something is off impact:huge'))).toBe('impact:huge is not a level; write impact:high, impact:medium or impact:low.');
        expect(text(await t.command('bob', '/incident Something is off urgency:now'))).toBe('urgency:now is not a level; write urgency:high, urgency:medium or urgency:low.');
        expect(text(await t.command('bob', '/incident ab'))).toMatch(/^Give the incident a title: the title needs at least 3 characters\.$/);
        expect(await lastIncidentId(t)).toBe(before);
      });

      it('`new` opens titles that start with a reserved word; `new` alone and a bare /incident open the form', async () => {
        const id = await open('alice', 'new list view is broken');
        expect((await incidentRow(t, id)).title).toBe('list view is broken');
        for (const line of ['/incident', '/incident new']) {
          const r = await t.command('alice', line);
          expect(r.kind).toBe('form');
          const form = (r as Extract<Reply, { kind: 'form' }>).form;
          expect(form.inputs?.map((i) => i.id)).toEqual(['title', 'service', 'impact', 'urgency', 'description']);
          expect(form.inputs?.find((i) => i.id === 'service')?.choices?.map((c) => c.value)).toEqual(['checkout', 'payments', 'db']);
          expect(form.submit?.actionId).toBe('incident.create.submit');
        }
      });

      it('the creation form opens the incident, or answers field errors naming each field', async () => {
        const bad = await t.press('dave', 'incident.create.submit', '', { title: 'x', service: 'nosuch', impact: 'huge', urgency: 'low' });
        expect(bad.kind).toBe('form_errors');
        const errors = (bad as Extract<Reply, { kind: 'form_errors' }>).errors;
        expect(Object.keys(errors).sort()).toEqual(['impact', 'service', 'title']);
        expect(errors.service).toBe('Unknown service; pick one of checkout, payments, db.');

        const before = await lastIncidentId(t);
        const ok = await t.press('dave', 'incident.create.submit', '', { title: 'VPN drops every hour', service: 'db', impact: 'low', urgency: 'high', description: 'Since the upgrade' });
        expect(text(ok)).toBe(`INC-${before + 1} opened: VPN drops every hour`);
        expect(await incidentRow(t, before + 1)).toMatchObject({ service: 'db', priority: 3, description: 'Since the upgrade', reporter: 'dave' });
      });
    });

    describe('working an incident', () => {
      it('acknowledges: state, time, assignee, announcement with the time since opening', async () => {
        const id = await open('alice', 'Checkout returns 502 for all users');
        t.clock.advance(41_000);
        const r = await t.command('alice', `/incident ack INC-${id}`);
        expect(tone(r)).toBe('good');
        expect(text(r)).toBe(`INC-${id} acknowledged by Alice Chen (0m 41s after opening)`);
        const row = await incidentRow(t, id);
        expect(row).toMatchObject({ state: 'acknowledged', assignee: 'alice', responseDueAt: null });
        expect(row.acknowledgedAt?.toISOString()).toBe('2026-01-05T09:00:41.000Z');
        expect(t.port.texts()).toContain(`INC-${id} acknowledged by Alice Chen (0m 41s after opening)`);
        expect(t.port.of('update').at(-1)?.message?.title).toBe(`INC-${id} · P3 · acknowledged · Checkout returns 502 for all users`);
        expect(text(await t.command('alice', `/incident acknowledge INC-${id}`))).toBe('An incident that is acknowledged cannot be acknowledged. From acknowledged you can: start, hold, resolve, cancel.');
      });

      it('assigns to a person (who gets a DM), to "me", and refuses unknown people', async () => {
        const id = await open('alice', 'Disk full on db-2 service:db');
        expect(text(await t.command('alice', `/incident assign INC-${id} @bob`))).toBe(`INC-${id} assigned to Bob Okafor by Alice Chen`);
        expect((await incidentRow(t, id)).assignee).toBe('bob');
        expect(t.port.of('dm', (c) => c.user === 'bob').map((c) => c.message?.text)).toEqual([`Alice Chen assigned INC-${id} to you: Disk full on db-2`]);
        expect(text(await t.command('bob', `/incident assign INC-${id} me`))).toBe(`INC-${id} assigned to Bob Okafor by Bob Okafor`);
        expect(text(await t.command('alice', `/incident assign INC-${id} carol`))).toBe(`INC-${id} assigned to Carol Diaz by Alice Chen`);
        const unknown = await t.command('alice', `/incident assign INC-${id} @zed`);
        expect(tone(unknown)).toBe('warning');
        expect(text(unknown)).toMatch(/^I don't know "@zed"\./);
        expect(text(await t.command('alice', `/incident assign INC-${id}`))).toMatch(/^Whom to assign it to\?/);
        expect((await incidentRow(t, id)).assignee).toBe('carol');
      });

      it('start, hold (with reason and note), resume, note, resolve with a code, reopen, close', async () => {
        const id = await open('alice', 'Search is slow');
        const s = `INC-${id}`;
        expect(text(await t.command('bob', `/incident start ${s}`))).toBe(`${s} work started by Bob Okafor (0m 0s after opening)`);
        expect(await incidentRow(t, id)).toMatchObject({ state: 'in_progress', assignee: 'bob' });
        expect((await incidentRow(t, id)).acknowledgedAt).not.toBeNull();

        expect(text(await t.command('bob', `/incident hold ${s} sloth waiting`))).toBe('"sloth" is not a hold reason. Write what it waits for: caller, change, problem or vendor, then why, like: /incident hold INC-7 vendor ISP ticket 4411');
        expect(text(await t.command('bob', `/incident hold ${s} vendor`))).toBe('Say why it is on hold, like: /incident hold INC-7 vendor ISP ticket 4411');
        expect(text(await t.command('bob', `/incident hold ${s} vendor Elastic support case 4411`))).toBe(`${s} put on hold by Bob Okafor: awaiting vendor — Elastic support case 4411`);
        expect(await incidentRow(t, id)).toMatchObject({ state: 'on_hold', holdReason: 'awaiting_vendor', holdNote: 'Elastic support case 4411' });
        expect(t.port.of('update').at(-1)?.message?.fields).toContainEqual({ label: 'On hold', value: 'awaiting vendor: Elastic support case 4411' });

        expect(text(await t.command('bob', `/incident start ${s}`))).toBe(`${s} work resumed by Bob Okafor`);
        expect(await incidentRow(t, id)).toMatchObject({ state: 'in_progress', holdReason: null, holdNote: null });

        expect(text(await t.command('dave', `/incident note ${s} users in Lisbon see it too`))).toBe(`Dave Müller noted on ${s}: users in Lisbon see it too`);
        expect(text(await t.command('dave', `/incident note ${s}`))).toBe('Write the note after the id: /incident note INC-7 <text>.');

        expect(text(await t.command('bob', `/incident resolve ${s}`))).toBe('Say what restored the service, like: /incident resolve INC-7 restarted the ingress pods');
        expect(text(await t.command('bob', `/incident resolve ${s} code:magic reindexed`))).toBe('code:magic is not a resolution code; use one of fixed, workaround, no_fault, duplicate.');
        t.clock.advance(2 * HOUR + 5 * MINUTE);
        expect(text(await t.command('bob', `/incident resolve ${s} code:workaround reindexed the products index`))).toBe(`${s} resolved by Bob Okafor after 2h 5m: reindexed the products index`);
        const resolved = await incidentRow(t, id);
        expect(resolved).toMatchObject({ state: 'resolved', resolutionCode: 'workaround', resolutionNotes: 'reindexed the products index' });
        expect(resolved.resolvedAt?.toISOString()).toBe('2026-01-05T11:05:00.000Z');
        expect(t.port.of('update').at(-1)?.message?.fields).toContainEqual({ label: 'Resolution', value: '[workaround] reindexed the products index' });
        expect(t.port.of('update').at(-1)?.message?.buttons?.map((b) => b.label)).toEqual(['Reopen', 'Close']);

        expect(text(await t.command('alice', `/incident reopen ${s} still slow in EU`))).toBe(`${s} reopened by Alice Chen: still slow in EU`);
        expect(await incidentRow(t, id)).toMatchObject({ state: 'in_progress', resolvedAt: null, resolutionCode: null, resolutionNotes: null });
        expect(text(await t.command('alice', `/incident resolve ${s} code:fixed added a replica`))).toMatch(new RegExp(`^${s} resolved by Alice Chen`));
        expect(text(await t.command('alice', `/incident close ${s}`))).toBe(`${s} closed by Alice Chen`);
        const closed = await incidentRow(t, id);
        expect(closed.state).toBe('closed');
        expect(closed.closedAt?.toISOString()).toBe('2026-01-05T11:05:00.000Z');
        expect(text(await t.command('alice', `/incident reopen ${s}`))).toBe('An incident that is closed cannot be reopened. Closed is final; open a new incident if the problem is back.');
        expect(text(await t.command('alice', `/incident assign ${s} bob`))).toBe(`${s} is closed; reopen it before assigning it.`);
      });

      it('resolving without a code records "fixed"; cancel records a note and is final', async () => {
        const a = await open('alice', 'Broken link on the help page');
        await t.command('alice', `/incident resolve INC-${a} fixed the link`);
        expect(await incidentRow(t, a)).toMatchObject({ state: 'resolved', resolutionCode: 'fixed' });
        const b = await open('alice', 'Duplicate of the 502s');
        expect(text(await t.command('alice', `/incident cancel INC-${b} opened twice`))).toBe(`INC-${b} cancelled by Alice Chen: opened twice`);
        expect((await incidentRow(t, b)).state).toBe('cancelled');
        expect(text(await t.command('alice', `/incident start INC-${b}`))).toBe('An incident that is cancelled cannot be started. Cancelled is final; open a new incident if the problem is back.');
      });

      it('changes the priority by P-level or by impact/urgency, and moves the SLA due times', async () => {
        const id = await open('alice', 'Reports export fails');
        expect(text(await t.command('alice', `/incident priority INC-${id} P5`))).toBe(`INC-${id} priority P3 → P5 (impact low, urgency low) by Alice Chen`);
        expect(await incidentRow(t, id)).toMatchObject({ priority: 5, impact: 'low', urgency: 'low' });
        expect(text(await t.command('alice', `/incident priority INC-${id} impact:high`))).toBe(`INC-${id} priority P5 → P3 (impact high, urgency low) by Alice Chen`);
        expect(text(await t.command('alice', `/incident priority INC-${id} impact:medium urgency:medium`))).toBe(`INC-${id} priority P3 → P3 (impact medium, urgency medium) by Alice Chen`);
        t.clock.advance(10 * MINUTE);
        expect(text(await t.command('alice', `/incident priority INC-${id} P2`))).toBe(`INC-${id} priority P3 → P2 (impact high, urgency medium) by Alice Chen`);
        // P2: response 30m (10m spent), resolution 8h.
        const row = await incidentRow(t, id);
        expect(row.responseDueAt?.toISOString()).toBe('2026-01-05T09:30:00.000Z');
        expect(row.resolutionDueAt?.toISOString()).toBe('2026-01-05T17:00:00.000Z');
        for (const bad of ['P9', 'urgent', 'impact:huge', 'P2 please', '']) {
          const r = await t.command('alice', `/incident priority INC-${id} ${bad}`);
          expect(text(r), bad).toBe('Write the priority as P1…P5 or as impact:high|medium|low urgency:high|medium|low, like: /incident priority INC-7 P2');
        }
        expect((await incidentRow(t, id)).priority).toBe(2);
      });

      it('moves an incident to a service (the new service channel gets the card) and refuses unknown services', async () => {
        const id = await open('alice', 'Refunds are stuck');
        expect(text(await t.command('alice', `/incident service INC-${id} checkout`))).toBe(`INC-${id} moved to service checkout by Alice Chen`);
        expect((await incidentRow(t, id)).service).toBe('checkout');
        expect(t.slack.of('post').map((c) => [c.where?.channel, c.message?.title])).toEqual([['C0CHECKOUT', `INC-${id} · P3 · new · Refunds are stuck`]]);
        expect(text(await t.command('alice', `/incident service INC-${id} Payments`))).toBe(`INC-${id} moved to service payments by Alice Chen`);
        expect(text(await t.command('alice', `/incident service INC-${id} nosuch`))).toBe('There is no service "nosuch". Known services: checkout, payments, db.');
        expect(text(await t.command('alice', `/incident service INC-${id}`))).toBe('Name the service: /incident service INC-7 <name>. Known: checkout, payments, db.');
      });

      it('declares a major incident: channel requested with owners and assignee; refuses twice and on resolved incidents', async () => {
        const id = await open('alice', 'Payments provider timing out service:payments');
        await t.command('alice', `/incident assign INC-${id} carol`);
        expect(text(await t.command('bob', `/incident major INC-${id}`))).toBe(`INC-${id} declared a major incident by Bob Okafor`);
        expect((await incidentRow(t, id)).major).toBe(true);
        const channel = (await outboxOf(t, `INC-${id}`)).find((r) => r.kind === 'channel')!;
        expect(channel.payload.name).toBe(`inc-${id}-payments-provider-timing-out`);
        expect([...channel.payload.members].sort()).toEqual(['bob', 'carol']);
        expect(text(await t.command('bob', `/incident major INC-${id}`))).toBe(`INC-${id} is already a major incident.`);
        const other = await open('alice', 'Minor glitch');
        await t.command('alice', `/incident resolve INC-${other} gone`);
        expect(text(await t.command('alice', `/incident major INC-${other}`))).toBe(`INC-${other} is resolved; only open incidents can become major.`);
      });
    });

    describe('reading', () => {
      it('show gives the card; unknown ids and missing ids get a sentence', async () => {
        const id = await open('alice', 'Mail delivery delayed');
        const r = await t.command('dave', `/incident show INC-${id}`);
        expect(r.kind).toBe('ephemeral');
        expect((r as Extract<Reply, { kind: 'ephemeral' }>).message.title).toBe(`INC-${id} · P3 · new · Mail delivery delayed`);
        expect(text(await t.command('dave', `/incident show #${id}`))).toContain(`INC-${id} · P3`);
        expect(text(await t.command('dave', '/incident show INC-99999'))).toBe('There is no incident INC-99999.');
        expect(text(await t.command('dave', '/incident show'))).toBe('Which incident? Write it like this: /incident show INC-7');
        expect(text(await t.command('dave', '/incident show INC-abc'))).toBe('"INC-abc" is not an incident id. Write it like this: /incident show INC-7');
        expect(text(await t.command('dave', '/incident ack'))).toBe('Which incident? Write it like this: /incident ack INC-7');
      });

      it('lists open, mine and all incidents, filtered by priority and service', async () => {
        const p1 = await open('alice', 'Everything is down impact:high urgency:high service:db');
        const p4 = await open('alice', 'Typo on the invoice impact:low urgency:medium service:payments');
        const done = await open('alice', 'Fixed already service:payments');
        await t.command('alice', `/incident resolve INC-${done} it was fine`);
        await t.command('alice', `/incident assign INC-${p4} bob`);

        const openList = text(await t.command('dave', '/incident list'));
        expect(openList).toContain('Incidents (open)');
        expect(openList).toContain(`*INC-${p1}* · P1 · new · Everything is down · db`);
        expect(openList).toContain(`*INC-${p4}* · P4 · new · Typo on the invoice · payments · Bob Okafor`);
        expect(openList).not.toContain(`INC-${done}*`);
        expect(openList.indexOf(`INC-${p1}*`)).toBeLessThan(openList.indexOf(`INC-${p4}*`));

        const all = text(await t.command('dave', '/incident list all service:payments'));
        expect(all).toContain(`*INC-${done}* · P3 · resolved · Fixed already · payments`);
        expect(all).toContain(`*INC-${p4}*`);
        expect(all).not.toContain(`INC-${p1}*`);

        const p1only = text(await t.command('dave', '/incident list P1'));
        expect(p1only).toContain(`INC-${p1}*`);
        expect(p1only).not.toContain(' · P3 · ');

        const mine = text(await t.command('bob', '/incident list mine'));
        expect(mine).toContain('Incidents (mine)');
        expect(mine).toContain(`*INC-${p4}*`);
        expect(mine).not.toContain(`INC-${p1}*`);

        expect(text(await t.command('dave', '/incident list mine'))).toBe('No open incidents assigned to you match.');
        expect(text(await t.command('dave', '/incident list open P5 service:checkout'))).toBe('No open incidents match.');
        expect(text(await t.command('dave', '/incident list all service:nosuch'))).toBe('service: unknown service "nosuch" (services: checkout, payments, db)');
        expect(text(await t.command('dave', '/incident list urgent'))).toBe('I don\'t understand "urgent". Write: /incident list [open|mine|all] [P1..P5] [service:<name>]');
      });

      it('the timeline lists every change with actor, source and time', async () => {
        const id = await open('alice', 'Search returns nothing');
        t.clock.advance(2 * MINUTE);
        await t.command('bob', `/incident ack INC-${id}`);
        t.clock.advance(3 * MINUTE);
        await t.press('alice', 'incident.start', `INC-${id}`);
        t.clock.advance(MINUTE);
        await t.command('alice', `/incident note INC-${id} works again for me`, CHECKOUT_CHANNEL);
        const entries = await timelineOf(t, `INC-${id}`);
        expect(entries.map((e) => [e.kind, e.actor, e.source, e.at.toISOString()])).toEqual([
          ['created', 'alice', 'console', '2026-01-05T09:00:00.000Z'],
          ['ack', 'bob', 'console', '2026-01-05T09:02:00.000Z'],
          ['start', 'alice', 'console', '2026-01-05T09:05:00.000Z'],
          ['note', 'alice', 'slack', '2026-01-05T09:06:00.000Z'],
        ]);
        const r = text(await t.command('carol', `/incident timeline INC-${id}`));
        expect(r).toContain(`Timeline of INC-${id}`);
        expect(r).toContain('10:00 CET · Opened by Alice Chen: Search returns nothing (P3) _(console)_');
        expect(r).toContain(`10:02 CET · INC-${id} acknowledged by Bob Okafor (2m 0s after opening) _(console)_`);
        expect(r).toContain('_(slack)_');
        // bob reads times in his own zone
        expect(text(await t.command('bob', `/incident timeline INC-${id}`))).toMatch(/04:00 (EST|GMT-5) · Opened by Alice Chen/);
        expect(text(await t.command('carol', '/incident timeline INC-424242'))).toBe('There is no incident INC-424242.');
      });

      it('stats accepts 7d, 30d and 90d and refuses other windows', async () => {
        for (const w of ['7d', '30d', '90d']) {
          expect(text(await t.command('dave', `/incident stats ${w}`))).toMatch(new RegExp(`^Incidents, last ${parseInt(w, 10)} days: \\d+`));
        }
        expect(text(await t.command('dave', '/incident stats'))).toMatch(/^Incidents, last 7 days/);
        expect(text(await t.command('dave', '/incident stats 1y'))).toBe('Write the window as 7d, 30d or 90d, like: /incident stats 30d');
      });

      it('answers /incident help with every subcommand', async () => {
        const help = text(await t.command('dave', '/incident help'));
        for (const sub of ['new', 'list', 'show', 'ack', 'assign', 'start', 'hold', 'note', 'priority', 'service', 'major', 'resolve', 'reopen', 'close', 'cancel', 'timeline', 'stats']) {
          expect(help).toMatch(new RegExp(`/incident ${sub}\\b|/incident reopen\\|close\\|cancel`));
        }
        expect(text(await t.command('dave', '/tread help'))).toContain('`/incident` open and work incidents');
      });
    });

    describe('permissions', () => {
      it('a requester may open, note and read but not work incidents', async () => {
        const id = await open('dave', 'My laptop cannot reach the VPN');
        for (const line of [`ack INC-${id}`, `start INC-${id}`, `assign INC-${id} bob`, `priority INC-${id} P1`, `resolve INC-${id} done`, `cancel INC-${id}`, `major INC-${id}`, `service INC-${id} db`, `hold INC-${id} vendor x`]) {
          const r = await t.command('dave', `/incident ${line}`);
          expect(text(r), line).toMatch(/^Dave Müller may not .+: that needs the responder role\. Ask an admin to add it to your entry in the config\.$/);
        }
        expect(text(await t.command('dave', `/incident ack INC-${id}`))).toBe(`Dave Müller may not acknowledge INC-${id}: that needs the responder role. Ask an admin to add it to your entry in the config.`);
        expect((await incidentRow(t, id)).state).toBe('new');
        expect(text(await t.command('dave', `/incident note INC-${id} it works from home`))).toBe(`Dave Müller noted on INC-${id}: it works from home`);
        const unknownUser = await t.command('nobody-in-config', `/incident ack INC-${id}`);
        expect(text(unknownUser)).toMatch(/may not acknowledge/);
      });
    });

    describe('buttons and forms', () => {
      it('buttons answer with the refreshed card and a notice', async () => {
        const id = await open('alice', 'Images do not load');
        const r = await t.press('bob', 'incident.ack', `INC-${id}`);
        expect(r.kind).toBe('card');
        const card = r as Extract<Reply, { kind: 'card' }>;
        expect(card.message.title).toBe(`INC-${id} · P3 · acknowledged · Images do not load`);
        expect(card.notice?.text).toBe(`INC-${id} acknowledged by Bob Okafor (0m 0s after opening)`);
        await t.press('alice', 'incident.assign_me', `INC-${id}`);
        expect((await incidentRow(t, id)).assignee).toBe('alice');
        expect(text(await t.press('bob', 'incident.ack', 'nonsense'))).toBe('That button does not name an incident.');
        expect(text(await t.press('bob', 'incident.teleport', `INC-${id}`))).toBe('That button (incident.teleport) is not known to this version of tread.');
      });

      it('the resolve, priority and hold buttons open forms; submitting them changes the incident or names the bad fields', async () => {
        const id = await open('alice', 'Checkout button greyed out');
        const s = `INC-${id}`;
        const pf = await t.press('alice', 'incident.priority.form', s);
        expect(pf.kind).toBe('form');
        expect((pf as Extract<Reply, { kind: 'form' }>).form.inputs?.map((i) => [i.id, i.initial])).toEqual([['impact', 'medium'], ['urgency', 'medium']]);
        const badPrio = await t.press('alice', 'incident.priority.submit', s, { impact: 'huge', urgency: '' });
        expect(badPrio).toMatchObject({ kind: 'form_errors', errors: { impact: 'pick one of high, medium, low', urgency: 'pick one of high, medium, low' } });
        expect((await t.press('alice', 'incident.priority.submit', s, { impact: 'high', urgency: 'low' })).kind).toBe('card');
        expect((await incidentRow(t, id)).priority).toBe(3);

        await t.press('alice', 'incident.start', s);
        expect((await t.press('alice', 'incident.hold.form', s)).kind).toBe('form');
        expect(await t.press('alice', 'incident.hold.submit', s, { reason: 'weather', note: '' })).toMatchObject({ kind: 'form_errors', errors: { reason: 'pick what it waits for', note: 'say why it is on hold' } });
        expect((await t.press('alice', 'incident.hold.submit', s, { reason: 'change', note: 'CHG-12 tonight' })).kind).toBe('card');
        expect(await incidentRow(t, id)).toMatchObject({ state: 'on_hold', holdReason: 'awaiting_change', holdNote: 'CHG-12 tonight' });

        const rf = await t.press('alice', 'incident.resolve.form', s);
        expect((rf as Extract<Reply, { kind: 'form' }>).form.submit).toMatchObject({ actionId: 'incident.resolve.submit', value: s });
        expect(await t.press('alice', 'incident.resolve.submit', s, { notes: ' ', code: 'fixed' })).toMatchObject({ kind: 'form_errors', errors: { notes: 'Say what restored the service.' } });
        expect(await t.press('alice', 'incident.resolve.submit', s, { notes: 'ok', code: 'magic' })).toMatchObject({ kind: 'form_errors', errors: { code: 'one of fixed, workaround, no_fault, duplicate' } });
        expect((await t.press('alice', 'incident.resolve.submit', s, { notes: 'rolled back CHG-11', code: 'no_fault' })).kind).toBe('card');
        expect(await incidentRow(t, id)).toMatchObject({ state: 'resolved', resolutionCode: 'no_fault', resolutionNotes: 'rolled back CHG-11' });

        const dave = await t.press('dave', 'incident.resolve.form', s);
        expect(text(dave)).toMatch(/^Dave Müller may not resolve INC-\d+: that needs the responder role/);
        const close = await t.press('bob', 'incident.close', s);
        expect(close.kind).toBe('card');
        expect((await incidentRow(t, id)).state).toBe('closed');
      });
    });

    describe('conversations', () => {
      it('accepts a command without the id inside the incident\'s own thread', async () => {
        const id = await open('alice', 'Checkout returns 502 for all users', CHECKOUT_CHANNEL);
        const card = t.slack.of('post').find((c) => c.message?.title?.startsWith(`INC-${id} `))!;
        const thread: Where = { ...CHECKOUT_CHANNEL, thread: card.messageId };
        expect(text(await t.command('bob', '/incident ack', thread))).toBe(`INC-${id} acknowledged by Bob Okafor (0m 0s after opening)`);
        expect(text(await t.command('bob', '/incident note looking at the ingress logs', thread))).toBe(`Bob Okafor noted on INC-${id}: looking at the ingress logs`);
        expect(text(await t.command('bob', '/incident resolve code:workaround restarted the ingress pods', thread))).toMatch(new RegExp(`^INC-${id} resolved by Bob Okafor`));
        expect(await incidentRow(t, id)).toMatchObject({ state: 'resolved', resolutionCode: 'workaround', resolutionNotes: 'restarted the ingress pods' });
        // outside the thread the id is needed
        expect(text(await t.command('bob', '/incident reopen', CHECKOUT_CHANNEL))).toBe('Which incident? Write it like this: /incident reopen INC-7');
        // announcements go into the card's thread
        const announced = t.slack.of('post', (c) => c.where?.thread === card.messageId).map((c) => c.message?.text);
        expect(announced).toContain(`INC-${id} acknowledged by Bob Okafor (0m 0s after opening)`);
      });

      it('accepts a command without the id inside the major incident\'s channel', async () => {
        const id = await open('alice', 'All stores offline impact:high urgency:high service:checkout', CHECKOUT_CHANNEL);
        const created = t.slack.of('channel');
        expect(created).toHaveLength(1);
        expect(created[0]!.name).toBe(`inc-${id}-all-stores-offline`);
        expect(created[0]!.members).toEqual(['U0000ALICE']);
        const channel: Where = { platform: 'slack', channel: created[0]!.where!.channel };
        expect(t.slack.of('post', (c) => c.where?.channel === channel.channel).map((c) => c.message?.title)).toEqual([`INC-${id} · P1 · MAJOR · new · All stores offline`]);
        expect(t.slack.of('pin')).toHaveLength(1);
        expect(text(await t.command('bob', '/incident ack', channel))).toBe(`INC-${id} acknowledged by Bob Okafor (0m 0s after opening)`);
        expect((await incidentRow(t, id)).state).toBe('acknowledged');
      });

      it('updates the card in place: one post per conversation, then update rows and port updates of the same message', async () => {
        const id = await open('alice', 'Orders not exported service:checkout');
        const s = `INC-${id}`;
        await t.command('bob', `/incident ack ${s}`);
        await t.command('bob', `/incident start ${s}`);
        await t.command('bob', `/incident priority ${s} P2`);
        await t.command('bob', `/incident note ${s} exporter restarted`);
        await t.command('bob', `/incident resolve ${s} exporter restarted`);
        const rows = await outboxOf(t, s);
        const posts = rows.filter((r) => r.kind === 'post');
        expect(posts.map((p) => `${p.payload.where.platform}:${p.payload.where.channel}`).sort()).toEqual(['console:console', 'slack:C0CHECKOUT']);
        expect(rows.filter((r) => r.kind === 'update')).toHaveLength(5);
        expect(rows.filter((r) => r.kind === 'announce')).toHaveLength(5);
        const consoleCard = t.port.of('post', (c) => c.message?.title?.startsWith(`${s} `) ?? false);
        expect(consoleCard).toHaveLength(1);
        const updates = t.port.of('update', (c) => c.messageId === consoleCard[0]!.messageId);
        expect(updates.length).toBeGreaterThanOrEqual(1);
        expect(updates.at(-1)!.message!.title).toBe(`${s} · P2 · resolved · Orders not exported`);
        const slackCard = t.slack.of('post', (c) => c.where?.channel === 'C0CHECKOUT' && !c.where.thread);
        expect(slackCard).toHaveLength(1);
        expect(t.slack.of('update', (c) => c.messageId === slackCard[0]!.messageId).at(-1)!.message!.title).toBe(`${s} · P2 · resolved · Orders not exported`);
        expect(await cardsOf(t, s)).toHaveLength(2);
      });

      it('does not post a second card when the incident moves to the service of the conversation it already lives in', async () => {
        const id = await open('alice', 'Basket totals wrong', CHECKOUT_CHANNEL);
        const s = `INC-${id}`;
        await t.command('alice', `/incident service ${s} checkout`, CHECKOUT_CHANNEL);
        await t.command('alice', `/incident service ${s} payments`, CHECKOUT_CHANNEL);
        await t.command('alice', `/incident service ${s} checkout`, CHECKOUT_CHANNEL);
        const topLevel = t.slack.of('post', (c) => c.where?.channel === 'C0CHECKOUT' && !c.where.thread && (c.message?.title?.startsWith(`${s} `) ?? false));
        expect(topLevel).toHaveLength(1);
        expect((await incidentRow(t, id)).service).toBe('checkout');
      });
    });

    describe('audit', () => {
      it('writes an audit row for every change and the chain verifies', async () => {
        const id = await open('alice', 'Audit me');
        const s = `INC-${id}`;
        await t.command('alice', `/incident assign ${s} bob`);
        await t.command('bob', `/incident ack ${s}`);
        await t.command('bob', `/incident priority ${s} P4`);
        await t.command('bob', `/incident service ${s} db`);
        await t.command('bob', `/incident note ${s} checked`);
        await t.command('bob', `/incident hold ${s} caller waiting for screenshots`);
        await t.command('bob', `/incident start ${s}`);
        await t.command('bob', `/incident major ${s}`);
        await t.command('bob', `/incident resolve ${s} code:duplicate same as before`);
        await t.command('bob', `/incident reopen ${s}`);
        await t.command('bob', `/incident cancel ${s} nothing to do`);
        await t.command('bob', `/incident ack ${s}`); // refused: no audit row
        const rows = await auditOf(t, s);
        expect(rows.map((r) => r.action)).toEqual([
          'incident.created', 'incident.assign', 'incident.ack', 'incident.priority', 'incident.service', 'incident.note', 'incident.hold',
          'incident.start', 'incident.major', 'incident.resolve', 'incident.reopen', 'incident.cancel',
        ]);
        expect(rows.every((r) => r.source === 'console')).toBe(true);
        expect(rows.map((r) => r.actor)).toEqual(['alice', 'alice', ...Array(10).fill('bob')]);
        expect(rows.find((r) => r.action === 'incident.hold')!.data).toMatchObject({ from: 'acknowledged', to: 'on_hold', note: 'waiting for screenshots' });
        expect(rows.find((r) => r.action === 'incident.resolve')!.data).toMatchObject({ from: 'in_progress', to: 'resolved', code: 'duplicate' });
        const verified = await verifyAudit(t.db);
        expect(verified.problems).toEqual([]);
        expect(verified.ok).toBe(true);
      });
    });
  });
}
