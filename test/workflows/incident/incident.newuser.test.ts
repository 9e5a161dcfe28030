/**
 * What a new user ran into (issue "Tried as a new user would"), each pinned: REST acting with the person's own roles,
 * one validation for chat and REST, incidents that reach someone, and the small answers.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { queryRows } from '../../../db/client.js';
import { databaseProblem } from '../../../src/start.js';
import { applyEvents } from '../../../src/workflows/event/event.ingest.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { API_TOKEN, incidentRow, lastIncidentId, replyText, startIncidentTread, START, type IncidentTestTread } from './incident.fakes.js';

type Json = Record<string, any>;
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

for (const driver of drivers) {
  describe(`a new user's findings (${driver})`, () => {
    let t: IncidentTestTread;
    treadPerFile(driver, (database) => startIncidentTread(database, { http: true }), (s) => { t = s; });
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const res = await fetch(`http://127.0.0.1:${t.tread.port}${path}`, { method, headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const text = replyText;

    describe('REST acts with the rights of the person it names', () => {
      it('by a requester: an ack is 403 auth.forbidden, nothing changes, and the audit log shows no such ack', async () => {
        const { body: inc } = await call('POST', '/api/v1/incidents', { title: 'Printer queue stuck', service: 'payments' });
        const refused = await call('POST', `/api/v1/incidents/${inc.id}/actions`, { action: 'ack', by: 'dave' });
        expect(refused.status).toBe(403);
        expect(refused.body.error).toMatchObject({ code: 'auth.forbidden', message: `Dave Müller may not acknowledge ${inc.id}: that needs the responder role. Ask an admin to add it to your entry in the config.` });
        const row = await incidentRow(t, Number(String(inc.id).slice(4)));
        expect(row).toMatchObject({ state: 'new', assignee: null });
        expect(await queryRows(t.db, sql`select actor from audit_log where subject = ${inc.id} and action = 'incident.ack'`)).toEqual([]);
        // the same person may do what their role allows, and a responder may ack
        expect((await call('POST', `/api/v1/incidents/${inc.id}/actions`, { action: 'note', note: 'it prints blank pages', by: 'dave' })).status).toBe(200);
        expect((await call('POST', `/api/v1/incidents/${inc.id}/actions`, { action: 'ack', by: 'bob' })).body).toMatchObject({ state: 'acknowledged', assignee: 'bob' });
        // without `by`, the API token acts as `api`
        expect((await call('POST', `/api/v1/incidents/${inc.id}/actions`, { action: 'start' })).status).toBe(200);
      });
    });

    describe('chat and REST validate the same way', () => {
      it('a resolve without notes is refused in both, naming the notes', async () => {
        const { body: inc } = await call('POST', '/api/v1/incidents', { title: 'Resolve me properly' });
        const rest = await call('POST', `/api/v1/incidents/${inc.id}/actions`, { action: 'resolve' });
        expect(rest.status).toBe(400);
        expect(rest.body.error.issues.map((i: Json) => i.path)).toEqual(['note']);
        expect(text(await t.command('alice', `/incident resolve ${inc.id}`))).toBe('Say what restored the service, like: /incident resolve INC-7 restarted the ingress pods');
        expect((await incidentRow(t, Number(String(inc.id).slice(4)))).state).toBe('new');
      });

      it('unknown body fields are 400 naming each; every bad field is reported at once; priority is accepted on create', async () => {
        const unknown = await call('POST', '/api/v1/incidents', { title: 'Valid title', severity: 'critical', priority: 'P2' });
        expect(unknown.status).toBe(400);
        expect(unknown.body.error.issues).toEqual([{ path: 'severity', message: 'unknown field' }]);
        const many = await call('POST', '/api/v1/incidents', { title: 'ab', service: 'nosuch', impact: 'huge', colour: 'red' });
        expect(many.body.error.issues.map((i: Json) => i.path).sort()).toEqual(['colour', 'impact', 'service', 'title']);
        const p1 = await call('POST', '/api/v1/incidents', { title: 'Everything is down', priority: 'P1' });
        expect(p1.body).toMatchObject({ priority: 'P1', impact: 'high', urgency: 'high', major: true });
        const both = await call('POST', '/api/v1/incidents', { title: 'Which one is it', priority: 'P1', impact: 'low' });
        expect(both.body.error.issues).toEqual([{ path: 'priority', message: 'give a priority or impact and urgency, not both' }]);
        // chat takes priority:P2 too, and reports several bad options together
        const before = await lastIncidentId(t);
        expect(text(await t.command('bob', '/incident Two problems here impact:huge service:nosuch'))).toBe('Some fields need a fix: impact: one of high, medium, low; service: unknown service "nosuch".');
        expect(await lastIncidentId(t)).toBe(before);
        await t.command('bob', '/incident Search is slow priority:P2');
        expect(await incidentRow(t, await lastIncidentId(t))).toMatchObject({ priority: 2, impact: 'high', urgency: 'medium' });
      });

      it('an option given twice is refused, not silently the last', async () => {
        const before = await lastIncidentId(t);
        expect(text(await t.command('bob', '/incident Disk full impact:high impact:low'))).toBe('impact is given twice (impact:high and impact:low); give it once.');
        expect(await lastIncidentId(t)).toBe(before);
      });

      it('ids are read the same way: 11 and INC-11 in chat and REST', async () => {
        const { body: inc } = await call('POST', '/api/v1/incidents', { title: 'Id forms' });
        const n = String(inc.id).slice(4);
        expect((await call('GET', `/api/v1/incidents/${n}`)).body.id).toBe(inc.id);
        expect((await call('GET', `/api/v1/incidents/inc-${n}`)).body.id).toBe(inc.id);
        expect(text(await t.command('alice', `/incident show ${n}`))).toContain(`INC-${n}`);
        expect((await call('GET', '/api/v1/incidents/INC-x')).status).toBe(404);
      });

      it('an unknown service in a list is an error in chat and REST, for incidents and alerts', async () => {
        expect(text(await t.command('alice', '/event list nonexistent'))).toMatch(/^There is no service "nonexistent": \(services: checkout, payments, db\)\./);
        expect((await call('GET', '/api/v1/alerts?service=nonexistent')).body.error.issues).toEqual([{ path: 'service', message: 'unknown service "nonexistent" (services: checkout, payments, db)' }]);
        expect((await call('GET', '/api/v1/alert-groups?service=nonexistent')).status).toBe(400);
        expect((await call('GET', '/api/v1/incidents?state=open')).status).toBe(200);
      });
    });

    describe('every new incident reaches someone, and says who resolved it', () => {
      it('an incident created over REST without a service is shown in the console', async () => {
        t.port.calls.length = 0;
        const { body: inc } = await call('POST', '/api/v1/incidents', { title: 'Nobody would hear about me' });
        await t.tread.dispatcher.flush();
        expect(t.port.of('post', (c) => c.message?.subject === inc.id).map((c) => c.where?.channel)).toEqual(['console']);
      });

      it('an incident opened by a critical alert on a service without a channel is shown; resolved by its alerts it says so, unassigned', async () => {
        t.port.calls.length = 0;
        const alert = (action: 'trigger' | 'resolve') => ({
          integration: 'legacy-monitor', dedupKey: 'newuser-payments', action, summary: 'Payments provider unreachable', severity: 'critical' as const, source: 'pd',
          service: 'payments', labels: { service: 'payments' }, details: {}, links: [], startsAt: null, raw: { action },
        });
        await t.tread.app.db.transaction((tx) => applyEvents(tx, t.tread.app, [alert('trigger')], t.clock.now()));
        await t.tread.dispatcher.flush();
        const id = await lastIncidentId(t);
        expect(t.port.of('post', (c) => c.message?.subject === `INC-${id}`).map((c) => c.where?.channel)).toEqual(['console']);
        await t.tread.app.db.transaction((tx) => applyEvents(tx, t.tread.app, [alert('resolve')], t.clock.now()));
        await t.tread.dispatcher.flush();
        const row = await incidentRow(t, id);
        expect(row).toMatchObject({ state: 'resolved', assignee: null });
        expect(row.resolutionNotes).toMatch(/^all alerts of GRP-\d+ resolved$/);
        const [said] = await queryRows<{ text: string }>(t.db, sql`select text from timeline where subject = ${`INC-${id}`} and kind = 'resolve'`);
        expect(said!.text).toMatch(new RegExp(`^INC-${id} resolved by tread: all alerts of GRP-\\d+ resolved$`));
      });
    });

    describe('small answers', () => {
      it('/incident major INC-n off undoes major; a P1 lowered is no longer major unless someone declared it', async () => {
        await t.command('alice', '/incident Checkout down for everyone priority:P1');
        const a = await lastIncidentId(t);
        expect((await incidentRow(t, a)).major).toBe(true);
        await t.command('alice', `/incident priority INC-${a} P5`);
        expect((await incidentRow(t, a)).major).toBe(false);
        await t.command('alice', '/incident Search degraded priority:P3');
        const b = await lastIncidentId(t);
        await t.command('alice', `/incident major INC-${b}`);
        await t.command('alice', `/incident priority INC-${b} P1`);
        await t.command('alice', `/incident priority INC-${b} P4`);
        expect((await incidentRow(t, b)).major).toBe(true); // declared by a person: stays until undone
        expect(text(await t.command('alice', `/incident major INC-${b} off`))).toBe(`INC-${b} is no longer a major incident (Alice Chen)`);
        expect((await incidentRow(t, b)).major).toBe(false);
        expect(text(await t.command('alice', `/incident major INC-${b} off`))).toBe(`INC-${b} is not a major incident.`);
      });

      it('/tread foo says it does not know foo; /tread and /tread help list the commands', async () => {
        expect(text(await t.command('alice', '/tread foo'))).toBe('I don\'t know "/tread foo". Type /tread help for every command.');
        expect(text(await t.command('alice', '/tread'))).toContain('tread commands');
        expect(text(await t.command('alice', '/tread help'))).toContain('`/incident`');
      });

      it('a P5 resolution target reads 17:00, never 16:59', async () => {
        t.clock.set(new Date('2026-01-09T15:59:30Z')); // Friday 16:59:30 in Berlin
        await t.command('alice', '/incident Toner low on floor 3 priority:P5');
        const row = await incidentRow(t, await lastIncidentId(t));
        expect(row.resolutionDueAt!.toISOString()).toBe('2026-01-16T16:00:00.000Z'); // Friday 17:00 a week later
        expect(row.responseDueAt!.toISOString()).toBe('2026-01-12T16:00:00.000Z');
        t.clock.set(new Date(START));
      });

      it('the title and description can be edited: /incident edit and PATCH', async () => {
        await t.command('dave', '/incident Printr brokn');
        const id = await lastIncidentId(t);
        // the reporter may fix their own incident; others need the responder role
        expect(text(await t.command('dave', `/incident edit INC-${id} title:"Printer broken" description:"Floor 3, paper jam"`))).toBe(`INC-${id} edited by Dave Müller: title "Printer broken", description`);
        expect(await incidentRow(t, id)).toMatchObject({ title: 'Printer broken', description: 'Floor 3, paper jam' });
        const patched = await call('PATCH', `/api/v1/incidents/INC-${id}`, { description: 'Floor 3 and 4' });
        expect(patched.body).toMatchObject({ title: 'Printer broken', description: 'Floor 3 and 4' });
        expect((await call('PATCH', `/api/v1/incidents/INC-${id}`, { title: 'x' })).body.error.issues).toEqual([{ path: 'title', message: 'the title needs at least 3 characters' }]);
        expect((await call('PATCH', `/api/v1/incidents/INC-${id}`, {})).status).toBe(400);
        expect(text(await t.command('alice', `/incident edit INC-${id} nothing`))).toMatch(/^I don't understand "nothing"/);
      });
    });
  });
}

describe('start-up errors name what to fix', () => {
  const err = (code: string, message = 'x') => Object.assign(new Error('Failed query: select to_regclass(...)'), { cause: Object.assign(new Error(message), { code }) });
  it('reads the cause of a failed first query', () => {
    expect(databaseProblem(err('3D000'), 'postgres://u@db:5432/tread')).toBe('database "tread" does not exist on db:5432: create it (createdb) or name another in DATABASE_URL');
    expect(databaseProblem(err('ECONNREFUSED'), 'postgres://u@127.0.0.1:5999/tread')).toBe('connection refused at 127.0.0.1:5999: is PostgreSQL running there? (DATABASE_URL)');
    expect(databaseProblem(err('28P01'), 'postgres://bob:secret@db/tread')).toBe('password authentication failed for user "bob" at db:5432: check the password in DATABASE_URL');
    expect(databaseProblem(err('ENOTFOUND'), 'postgres://u@nohost/tread')).toBe('unknown host nohost (DATABASE_URL)');
    expect(databaseProblem(new Error('disk on fire'))).toBe('disk on fire');
  });
  it('an unknown TREAD_CONSOLE_USER stops start-up with one line, like /as zed is refused', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && !['DATABASE_URL', 'TREAD_CONFIG', 'SLACK_BOT_TOKEN', 'MICROSOFT_APP_ID'].includes(k)));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...env, TREAD_CONSOLE_USER: 'zed', PORT: '0', TREAD_DATA_DIR: 'memory://' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n').at(-1)).toMatch(/^tread: bad environment: TREAD_CONSOLE_USER: unknown person "zed" \(people in .*tread\.example\.yaml: alice, bob, carol, dave\)$/);
  });
});
