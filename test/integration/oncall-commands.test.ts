import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { schema, type Database } from '../../db/client.js';
import type { Reply } from '../../src/core/inbound.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { API_TOKEN, START, replyText, startTestTread } from '../workflows/oncall/fakes.js';

const HOUR = 3_600_000;

for (const driver of drivers) {
  describe(`/oncall and GET /api/v1/oncall (${driver})`, () => {
    let database: Database;
    let t: Awaited<ReturnType<typeof startTestTread>>;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startTestTread(database, { http: true });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });
    beforeEach(async () => {
      t.clock.set(START);
      t.port.calls.length = 0;
      await t.tread.app.db.delete(schema.oncallOverrides);
    });

    const text = (r: Reply) => replyText(r);
    const warning = (r: Reply) => (r.kind === 'ephemeral' ? r.message.tone : undefined);
    const api = async (path: string, token: string | null = API_TOKEN) => {
      const res = await fetch(`http://127.0.0.1:${t.tread.port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, body: await res.json() as any };
    };

    describe('who is on call', () => {
      it('lists every schedule with who is on call now, until when, and who is next', async () => {
        const r = await t.command('dave', '/oncall');
        expect(r.kind).toBe('ephemeral');
        const out = text(r);
        expect(out).toContain('On call now');
        expect(out).toContain('Payments primary (primary): *Alice* until Mon 12 Jan 09:00 UTC · next: Bob until Mon 19 Jan 09:00 UTC');
        expect(out).toContain('secondary: *Carol* with no handoff ahead · nobody after that');
        expect(out).toContain('office: *Dave* until Mon 5 Jan 17:00 UTC · next: Dave from Tue 6 Jan 09:00 UTC until Tue 6 Jan 17:00 UTC');
        expect(out).toContain('Times in UTC.');
      });

      it('shows times in the reader\'s own time zone', async () => {
        const out = text(await t.command('carol', '/oncall primary'));
        expect(out).toContain('On call: Payments primary');
        expect(out).toContain('*Alice* until Mon 12 Jan 10:00 CET');
        expect(out).toContain('Times in Europe/Berlin.');
      });

      it('answers for a team and for a service', async () => {
        expect(text(await t.command('dave', '/oncall payments'))).toContain('On call for team Payments');
        const service = text(await t.command('dave', '/oncall checkout'));
        expect(service).toContain('On call for service checkout');
        expect(service).toContain('Payments primary (primary)');
        expect(service).toContain('secondary');
      });

      it('says which names exist when given an unknown one', async () => {
        const r = await t.command('dave', '/oncall nosuch');
        expect(warning(r)).toBe('warning');
        expect(text(r)).toBe('"nosuch" is not a schedule, team or service. Try one of: primary, secondary, office, payments.');
        expect(text(await t.command('dave', '/oncall primary extra'))).toMatch(/Name one schedule, team or service/);
      });

      it('answers help with the usage', async () => {
        const out = text(await t.command('dave', '/oncall help'));
        expect(out).toContain('/oncall override <schedule> <person> <from> <to>');
        expect(out).toContain('/oncall overrides <schedule>');
      });
    });

    describe('overrides', () => {
      it('lets a responder put someone on call, tells them, and /oncall shows it', async () => {
        const r = await t.command('alice', '/oncall override primary @bob now +2h');
        expect(r.kind).toBe('ephemeral');
        expect(text(r)).toMatch(/^Override #\d+: \*Bob\* is on call for \*Payments primary\* from Mon 5 Jan 10:00 UTC to Mon 5 Jan 12:00 UTC\.$/);
        const dm = t.port.dms('bob');
        expect(dm).toHaveLength(1);
        expect(dm[0]!.message!.text).toMatch(/Alice put you on call for \*Payments primary\* from Mon 5 Jan 10:00 UTC to Mon 5 Jan 12:00 UTC/);
        expect(text(await t.command('dave', '/oncall primary'))).toContain('*Bob* (override) until Mon 5 Jan 12:00 UTC · next: Alice until Mon 12 Jan 09:00 UTC');
        const audit = await t.tread.app.db.select().from(schema.auditLog);
        expect(audit.some((a) => a.action === 'oncall.override' && a.subject === 'oncall:primary')).toBe(true);
      });

      it('an override made by command changes who is paged: an incident opened over REST pages the override, and the rotation after it ends', async () => {
        const openIncident = async (title: string) => {
          const res = await fetch(`http://127.0.0.1:${t.tread.port}/api/v1/incidents`, {
            method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ title, service: 'checkout' }),
          });
          expect(res.status).toBe(201);
          const id = (await res.json() as { id: string }).id;
          await t.tread.dispatcher.flush();
          return id;
        };
        const pagedFor = (inc: string) => t.port.dms().filter((c) => c.message?.subject === inc && c.message?.context?.startsWith('Paging')).map((c) => c.user);
        // Without an override, primary (step 1 of checkout's policy) is alice this week.
        const before = await openIncident('Checkout errors before the override');
        expect(pagedFor(before)).toEqual(['alice']);

        expect(text(await t.command('alice', '/oncall override primary @bob now +2h'))).toMatch(/^Override #\d+: \*Bob\* is on call/);
        const during = await openIncident('Checkout errors during the override');
        expect(pagedFor(during)).toEqual(['bob']);
        const [esc] = await t.tread.app.db.select().from(schema.escalations).where(eq(schema.escalations.subject, during));
        expect(esc).toMatchObject({ state: 'active' });

        // When the override has ended, primary pages alice again.
        t.clock.advance(2 * HOUR + 60_000);
        const afterwards = await openIncident('Checkout errors after the override');
        expect(pagedFor(afterwards)).toEqual(['alice']);
      });

      it('reads local times in the actor\'s time zone', async () => {
        const r = await t.command('carol', '/oncall override primary bob 2026-01-06T09:00 2026-01-06T18:00');
        expect(text(r)).toContain('from Tue 6 Jan 09:00 CET to Tue 6 Jan 18:00 CET');
        const [row] = await t.tread.app.db.select().from(schema.oncallOverrides);
        expect(row!.startsAt.toISOString()).toBe('2026-01-06T08:00:00.000Z');
        expect(row!.endsAt.toISOString()).toBe('2026-01-06T17:00:00.000Z');
      });

      it('lists and removes overrides', async () => {
        await t.command('alice', '/oncall override primary bob +1h +3h');
        const list = text(await t.command('dave', '/oncall overrides primary'));
        const id = /#(\d+) \*Bob\* from Mon 5 Jan 11:00 UTC to Mon 5 Jan 14:00 UTC \(by Alice\)/.exec(list)?.[1];
        expect(id).toBeDefined();
        expect(text(await t.command('dave', `/oncall override remove primary ${id}`))).toMatch(/may not remove on-call overrides: that needs the responder role/);
        expect(text(await t.command('alice', `/oncall override remove primary #${id}`))).toBe(`Override #${id} of primary removed.`);
        expect(text(await t.command('dave', '/oncall overrides primary'))).toBe('Schedule *primary* has no current or upcoming overrides.');
        expect(text(await t.command('alice', `/oncall override remove primary ${id}`))).toBe(`Override #${id} was already removed.`);
        expect(text(await t.command('alice', '/oncall override remove primary 999'))).toMatch(/has no override #999/);
      });

      it('refuses people without the responder role', async () => {
        const r = await t.command('dave', '/oncall override primary dave now +1h');
        expect(text(r)).toBe('Dave may not make on-call overrides: that needs the responder role. Ask an admin to add it to your entry in the config.');
        expect(await t.tread.app.db.select().from(schema.oncallOverrides)).toHaveLength(0);
      });

      it.each([
        ['/oncall override primary bob now', /Give the schedule, the person, the start and the end/],
        ['/oncall override', /Give the schedule, the person, the start and the end/],
        ['/oncall override primary bob now +1h and more', /I did not expect "and more" at the end/],
        ['/oncall override nosuch bob now +1h', /There is no schedule "nosuch". Schedules: primary, secondary, office\./],
        ['/oncall override primary @mallory now +1h', /I don't know "@mallory"/],
        ['/oncall override primary bob tomorrow +1h', /^from: "tomorrow" is not a time I understand/],
        ['/oncall override primary bob now soon', /^to: "soon" is not a time I understand/],
        ['/oncall override primary bob 2026-01-05T12:00 2026-01-05T11:00', /must end after it starts/],
        ['/oncall override primary bob 2025-01-01T00:00 2025-01-02T00:00', /would end in the past/],
        ['/oncall override primary bob now +100d', /may last at most 90d/],
        ['/oncall overrides', /Which schedule\?/],
        ['/oncall override remove primary', /Give the schedule and the override number/],
      ])('%s -> a clear message, nothing stored', async (cmd, expected) => {
        const r = await t.command('alice', cmd);
        expect(r.kind).toBe('ephemeral');
        expect(warning(r)).toBe('warning');
        expect(text(r)).toMatch(expected);
        expect(await t.tread.app.db.select().from(schema.oncallOverrides)).toHaveLength(0);
      });
    });

    describe('GET /api/v1/oncall', () => {
      it('needs the bearer token', async () => {
        expect((await api('/api/v1/oncall', null)).status).toBe(401);
        expect((await api('/api/v1/oncall', 'wrong-token-0123456789')).status).toBe(401);
      });

      it('lists who is on call now per schedule', async () => {
        const { status, body } = await api('/api/v1/oncall');
        expect(status).toBe(200);
        expect(body.nextCursor).toBeNull();
        expect(body.items.map((i: any) => ({ schedule: i.schedule, person: i.person, until: i.until }))).toEqual([
          { schedule: 'primary', person: { id: 'alice', name: 'Alice' }, until: '2026-01-12T09:00:00.000Z' },
          { schedule: 'secondary', person: { id: 'carol', name: 'Carol' }, until: null },
          { schedule: 'office', person: { id: 'dave', name: 'Dave' }, until: '2026-01-05T17:00:00.000Z' },
        ]);
        expect(body.items[0].next).toEqual({ person: { id: 'bob', name: 'Bob' }, from: '2026-01-12T09:00:00.000Z', until: '2026-01-19T09:00:00.000Z' });
      });

      it('follows the clock and the overrides', async () => {
        t.clock.advance(10 * HOUR); // 20:00: outside office hours
        await t.command('alice', '/oncall override primary carol now +1h');
        const { body } = await api('/api/v1/oncall');
        expect(body.items[0]).toMatchObject({ schedule: 'primary', person: { id: 'carol' }, until: '2026-01-05T21:00:00.000Z', override: true });
        expect(body.items[2]).toMatchObject({ schedule: 'office', person: null, until: '2026-01-06T09:00:00.000Z' });
      });

      it('answers for another time, one schedule, and pages with a cursor', async () => {
        expect((await api('/api/v1/oncall?at=2026-01-13T00:00:00Z&schedule=primary')).body.items).toEqual([
          expect.objectContaining({ schedule: 'primary', person: { id: 'bob', name: 'Bob' } }),
        ]);
        const first = (await api('/api/v1/oncall?limit=2')).body;
        expect(first.items.map((i: any) => i.schedule)).toEqual(['primary', 'secondary']);
        const second = (await api(`/api/v1/oncall?limit=2&cursor=${first.nextCursor}`)).body;
        expect(second.items.map((i: any) => i.schedule)).toEqual(['office']);
        expect(second.nextCursor).toBeNull();
      });

      it.each([
        ['limit=0', 'limit'], ['limit=501', 'limit'], ['limit=abc', 'limit'], ['cursor=bogus', 'cursor'], ['at=yesterday', 'at'], ['schedule=nosuch', 'schedule'],
      ])('rejects %s with 400 naming the field', async (query, field) => {
        const { status, body } = await api(`/api/v1/oncall?${query}`);
        expect(status).toBe(400);
        expect(body.error.code).toBe('api.invalid');
        expect(body.error.issues[0].path).toBe(field);
      });
    });
  });
}
