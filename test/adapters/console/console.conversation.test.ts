import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAdapter, type ConsoleAdapter } from '../../../adapters/console/index.js';
import type { Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { incidentButtons } from '../../../src/workflows/incident/incident.messages.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { START, exampleConfig } from '../../workflows/incident/incident.fakes.js';
import { Terminal } from './terminal.js';

for (const driver of drivers) {
  describe(`console conversations (${driver})`, () => {
    let database: Database;
    let tread: Tread;
    let adapter: ConsoleAdapter;
    const clock = new ManualClock(new Date(START));
    const term = new Terminal();

    const row = async (id: number) => {
      const { schema } = await import('../../../db/client.js');
      const { eq } = await import('drizzle-orm');
      const [r] = await tread.app.db.select().from(schema.incidents).where(eq(schema.incidents.id, id));
      return r!;
    };

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      tread = await startTread({
        database, config: exampleConfig(), clock, tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
        platforms: (app, router) => {
          adapter = createConsoleAdapter({
            app, router, input: term.input, output: term.output,
            afterLine: async () => { await tread.dispatcher.flush(); term.lineDone(); },
          });
          return [adapter];
        },
      });
    });
    afterAll(async () => {
      await tread?.stop({ closeDatabase: false });
      await database?.close();
    });

    it('greets, opens an incident, acknowledges with a button press, switches person and resolves (the README transcript)', async () => {
      expect(term.text).toBe('tread console · you are Alice Chen (alice) · type /tread help, or /as <person> to switch\n');

      const opened = await term.say('/incident Checkout returns 502 for all users');
      expect(opened).toBe([
        'you (alice)> /incident Checkout returns 502 for all users',
        'tread> INC-1 · P3 · new · Checkout returns 502 for all users',
        '       service: — · assignee: —',
        '       response due 10:30 CET (30m)',
        '       resolution due Tue 6 Jan 10:00 CET (1d)',
        '       impact medium · urgency medium · opened 10:00 CET',
        '       [1] Acknowledge  [2] Set priority  [3] Assign to me  [4] Resolve',
        '',
      ].join('\n'));

      clock.advance(41_000);
      const acked = await term.say('1');
      expect(acked).toContain('tread> INC-1 acknowledged by Alice Chen (0m 41s after opening)');
      expect(acked).toContain('tread> ↻ INC-1 · P3 · acknowledged · Checkout returns 502 for all users\n       [1] Start work  [2] Set priority  [3] Assign to me  [4] Resolve');
      expect(await row(1)).toMatchObject({ state: 'acknowledged', assignee: 'alice', source: 'console' });

      expect(await term.say('/as bob')).toBe('you (alice)> /as bob\ntread> You are now Bob Okafor (bob), roles: responder, requester\n');
      const resolved = await term.say('/incident resolve INC-1 restarted the ingress pods');
      expect(resolved).toContain('you (bob)> /incident resolve INC-1 restarted the ingress pods');
      expect(resolved).toContain('tread> INC-1 resolved by Bob Okafor after 41s: restarted the ingress pods');
      // the announcement repeats the reply: printed once
      expect(resolved.split('INC-1 resolved by Bob Okafor').length).toBe(2);
      expect(await row(1)).toMatchObject({ state: 'resolved', resolutionNotes: 'restarted the ingress pods', resolutionCode: 'fixed' });
    });

    it('/incident with no title asks for each field and checks each answer as it is given', async () => {
      const out = await term.say('/incident', '', 'Login page broken', 'nosuch', '2', '1', '', 'since 09:00');
      expect(out).toContain('tread> Open an incident (press Enter to skip optional fields, /cancel to leave)');
      expect(out).toContain('       Title: \n       Title is required.\n       Title: Login page broken');
      // A service that is not a choice is refused at once, and asked again before the next field.
      expect(out).toContain([
        '       Service (optional) [1=checkout 2=payments 3=db]: nosuch',
        '       "nosuch" is not one of the choices; type a number or a value: 1=checkout 2=payments 3=db.',
        '       Service (optional) [1=checkout 2=payments 3=db]: 2',
        '       Impact (optional) [1=high 2=medium 3=low] (medium): 1',
      ].join('\n'));
      expect(out).toContain('       Urgency (optional) [1=high 2=medium 3=low] (medium): ');
      expect(out).toContain('       Description (optional): since 09:00');
      expect(out).toContain('tread> INC-2 opened: Login page broken');
      expect(out).toContain('tread> INC-2 · P2 · new · Login page broken');
      expect(out).toContain('       service: payments · assignee: —');
      expect(out).toContain('       Description: since 09:00');
      expect(out.match(/Title: /g)).toHaveLength(2);
      expect(await row(2)).toMatchObject({ title: 'Login page broken', service: 'payments', impact: 'high', urgency: 'medium', priority: 2, description: 'since 09:00', reporter: 'bob' });
    });

    it('/cancel, or any other line starting with a slash, leaves a form; nothing is submitted and the command runs', async () => {
      const count = async () => (await tread.app.db.select({ id: (await import('../../../db/client.js')).schema.incidents.id }).from((await import('../../../db/client.js')).schema.incidents)).length;
      const before = await count();
      const cancelled = await term.say('/incident', 'Half a title', '/cancel');
      expect(cancelled).toContain('       Title: Half a title\n       Service (optional) [1=checkout 2=payments 3=db]: /cancel\ntread> Form cancelled: nothing was sent.\n');
      expect(await count()).toBe(before);
      // The next line is a command again, not a field answer.
      expect(await term.say('/incident show INC-2')).toContain('tread> INC-2 · P2 · new · Login page broken');

      const switched = await term.say('/incident', '/incident list all');
      expect(switched).toContain('       Title: /incident list all\ntread> Form cancelled: nothing was sent.\n');
      expect(switched).toContain('- INC-2 · P2 · new · Login page broken');
      expect(await count()).toBe(before);
      // A required field answered wrongly at the end is asked again there, not after the form was sent.
      const resolving = await term.say('/incident show INC-2');
      expect(resolving).toContain('[4] Resolve');
      const leave = await term.say('4', '', '/cancel');
      expect(leave).toContain('       Resolution notes: \n       Resolution notes is required.\n       Resolution notes: /cancel\ntread> Form cancelled: nothing was sent.');
      expect((await row(2)).state).toBe('new');
    });

    it('buttons open forms in the terminal: set priority to P1 (the console says where the channel would be), resolve, close with confirmation', async () => {
      await term.say('/incident show INC-2');
      const p1 = await term.say('2', '1', '1');
      expect(p1).toContain('tread> Set the priority of INC-2');
      expect(p1).toContain('       Impact [1=high 2=medium 3=low] (high): 1');
      expect(p1).toContain('       Urgency [1=high 2=medium 3=low] (medium): 1');
      expect(p1).toContain('tread> INC-2 priority P2 → P1 (impact high, urgency high) by Bob Okafor');
      expect(p1).toContain('tread> The console cannot create channels (it would have created #inc-2-login-page-broken). A dedicated channel inc-2-login-page-broken would have been created for INC-2; updates will be posted here instead.');
      expect(await row(2)).toMatchObject({ priority: 1, major: true });

      const res = await term.say('4', 'rolled back the login release', '2');
      expect(res).toContain('tread> Resolve INC-2');
      expect(res).toContain('       Resolution notes: rolled back the login release');
      expect(res).toContain('       Resolution code (optional) [1=fixed 2=workaround 3=no_fault 4=duplicate] (fixed): 2');
      expect(res).toContain('tread> INC-2 resolved by Bob Okafor');
      expect(res).toContain('[1] Reopen  [2] Close');
      expect(await row(2)).toMatchObject({ state: 'resolved', resolutionCode: 'workaround' });

      const no = await term.say('2', 'n');
      expect(no).toContain('tread> Close INC-2? A closed incident cannot be reopened. [y/N] n');
      expect(no).toContain('tread> Not done.');
      expect((await row(2)).state).toBe('resolved');
      const yes = await term.say('2', 'y');
      expect(yes).toContain('tread> INC-2 closed by Bob Okafor');
      expect((await row(2)).state).toBe('closed');
      expect(await term.say('5')).toContain('tread> No card on screen has buttons to press; show one with a command (/incident show INC-1), then press its numbers.');
      await term.say('/incident show INC-1');
      expect(await term.say('9')).toMatch(/tread> There is no button \[9\] on INC-1's card \(1–\d\)\./);
    });

    it('bad input gets a clear sentence', async () => {
      await term.say('/as alice');
      const answers: [string, string][] = [
        ['/incident show INC-99', 'tread> There is no incident INC-99.'],
        ['/incident close INC-1', 'tread> INC-1 closed by Alice Chen'],
        ['/incident reopen INC-1', 'tread> An incident that is closed cannot be reopened. Closed is final; open a new incident if the problem is back.'],
        ['/incident start INC-1', 'tread> An incident that is closed cannot be started. Closed is final; open a new incident if the problem is back.'],
        ['/incident Wifi down in Berlin office service:wifi', 'tread> There is no service "wifi". Known services: checkout, payments, db.'],
        ['/incident new Wifi down in Berlin office', 'tread> INC-3 · P3 · new · Wifi down in Berlin office'],
        ['/incident priority INC-3 P7', 'tread> Write the priority as P1…P5 or as impact:high|medium|low urgency:high|medium|low, like: /incident priority INC-7 P2'],
        ['/incident hold INC-3 vendor waiting', 'tread> An incident that is new cannot be put on hold. From new you can: ack, start, resolve, cancel.'],
        ['/incident ack', 'tread> Which incident? Write it like this: /incident ack INC-7'],
        ['/incident list urgent', 'tread> I don\'t understand "urgent". Write: /incident list [open|mine|all] [P1..P5] [service:<name>]'],
        ['/as zed', 'tread> There is no person "zed" in the config. People: alice, bob, carol, dave'],
        ['hello there', 'tread> I don\'t know "hello". Commands start with a slash: /incident <title>, /tread help. A number presses a button of the card you last pressed, or else of the newest card.'],
        ['/frobnicate now', 'tread> I don\'t know the command "frobnicate". Type /tread help for the list.'],
        ['/access extend GRT-99 2h more time', 'tread> There is no grant GRT-99.'],
        ['/problem new', 'tread> Give the problem a title: the title needs at least 3 characters, like: /problem new Checkout 502s after every deploy service:checkout'],
        ['/as dave', 'tread> You are now Dave Müller (dave), roles: requester'],
        ['/incident ack INC-3', 'tread> Dave Müller may not acknowledge INC-3: that needs the responder role. Ask an admin to add it to your entry in the config.'],
        ['1', 'tread> Dave Müller may not acknowledge INC-3: that needs the responder role. Ask an admin to add it to your entry in the config.'],
        ['/incident note INC-3 it works on the guest network', 'tread> Dave Müller noted on INC-3: it works on the guest network'],
      ];
      for (const [line, answer] of answers) {
        expect(await term.say(line), line).toContain(answer);
      }
      expect((await row(3)).state).toBe('new');
      expect(await term.say('/as')).toContain('tread> You are dave. Switch with /as <person>; people: alice, bob, carol, dave');
      expect(await term.say('')).toBe('you (dave)> \n');
    });

    it('answers /tread help, help without the slash, and /incident help', async () => {
      const all = await term.say('/tread help');
      expect(all).toContain('tread> tread commands');
      expect(all).toContain('       - `/incident` open and work incidents (`/incident help` for details)');
      expect(all).toContain('`/as <person>` switches the acting person in the console.');
      expect(await term.say('help')).toContain('tread> tread commands');
      const inc = await term.say('/incident help');
      expect(inc).toContain('tread> /incident: open and work incidents');
      expect(inc).toContain('       - `/incident hold INC-n <caller|change|problem|vendor> <reason>`');
      expect(inc).toContain('       - `/incident priority INC-n <P1..P5 | impact:… urgency:…>`');
      expect(inc).toContain('       - `/incident stats [7d|30d|90d]`');
    });

    it('prints direct messages and scheduler announcements for the person they are meant for', async () => {
      await term.say('/as alice');
      await term.say('/incident Stock sync stuck');
      const assigned = await term.say('/incident assign INC-4 bob');
      expect(assigned).toContain('tread> (to Bob Okafor) Alice Chen assigned INC-4 to you: Stock sync stuck');
      const before = term.text.length;
      clock.advance(23 * 60_000);
      await tread.scheduler.tick();
      expect(term.text.slice(before)).toContain('tread> (to Bob Okafor) ⚠ INC-4 response (acknowledgement) SLA is 75% used');
    });

    it("after a press, numbers stay with that record's card while another record's card is re-rendered; a command ends that", async () => {
      await term.say('/as bob');
      expect(await term.say('/incident Numbers follow the card you work with')).toContain('tread> INC-5 · P3 · new · Numbers follow the card you work with');
      expect(await term.say('1')).toContain('tread> INC-5 acknowledged by Bob Okafor');
      // another record's card changes meanwhile (a problem's workaround, a linked alert): it is printed last
      const other = await row(4);
      await adapter.update({ where: { platform: 'console', channel: 'console' }, messageId: 'c-elsewhere' }, {
        subject: 'INC-4', title: `INC-4 · P3 · ${other.state} · ${other.title}`, buttons: incidentButtons(other),
      });
      expect(term.text).toMatch(/tread> ↻ INC-4 · P3 · new · Stock sync stuck\n {7}\[1\] Acknowledge {2}\[2\] Set priority {2}\[3\] Assign to me {2}\[4\] Resolve\n$/);
      // [1] is INC-5's "Start work", not INC-4's "Acknowledge"
      expect(await term.say('1')).toContain('tread> INC-5 work started by Bob Okafor');
      expect((await row(5)).state).toBe('in_progress');
      expect((await row(4)).state).toBe('new');
      // a command starts afresh: the newest card is the one it shows
      await term.say('/incident show INC-4');
      expect(await term.say('9')).toContain("tread> There is no button [9] on INC-4's card (1–4).");
    });

    it('runs a piped script to its end, each line answered before the next, then keeps serving HTTP', async () => {
      clock.set(START);
      const { schema } = await import('../../../db/client.js');
      const n = Math.max(0, ...(await tread.app.db.select({ id: schema.incidents.id }).from(schema.incidents)).map((r) => r.id)) + 1;
      const script = [
        '/as bob',
        '/incident Search returns nothing service:checkout impact:high',
        '1',
        `/incident start INC-${n}`,
        `/incident note INC-${n} reindexing`,
        '1',
        'reindexed products',
        '',
        '/incident list all',
      ];
      const from = term.text.length;
      term.input.end(script.map((l) => `${l}\n`).join(''));
      await adapter.done;
      const out = term.text.slice(from);
      expect(out).toContain(`you (bob)> /incident Search returns nothing service:checkout impact:high\ntread> INC-${n} · P2 · new · Search returns nothing`);
      expect(out).toContain('you (bob)> 1\n');
      expect(out).toContain(`tread> INC-${n} acknowledged by Bob Okafor (0m 0s after opening)`);
      expect(out).toContain(`tread> INC-${n} work started by Bob Okafor`);
      expect(out).toContain(`tread> Resolve INC-${n}`);
      expect(out).toContain(`tread> INC-${n} resolved by Bob Okafor`);
      expect(out).toContain(`- INC-${n} · P2 · resolved · Search returns nothing · checkout · Bob Okafor`);
      expect(await row(n)).toMatchObject({ state: 'resolved', resolutionNotes: 'reindexed products', resolutionCode: 'fixed', assignee: 'bob' });
      // the transcript follows the script, line by line
      let at = 0;
      for (const line of script.filter((l) => !['reindexed products', ''].includes(l))) {
        const next = out.indexOf(`> ${line}\n`, at);
        expect(next, line).toBeGreaterThanOrEqual(at);
        at = next + 1;
      }

      // stdin has ended; tread still serves
      const res = await fetch(`http://127.0.0.1:${tread.port}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`http://127.0.0.1:${tread.port}/readyz`);
      expect(ready.status).toBe(200);
    });
  });
}
