import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { verifyAudit } from '../../src/core/audit.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { API_TOKEN, MINUTE, START, incidentRow, startIncidentTread, type IncidentTestTread } from '../workflows/incident/incident.fakes.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field

for (const driver of drivers) {
  describe(`REST API /api/v1/incidents (${driver})`, () => {
    let database: Database;
    let t: IncidentTestTread;
    let base: string;
    const statuses: number[] = [];

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startIncidentTread(database, { http: true });
      base = `http://127.0.0.1:${t.tread.port}`;
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    const call = async (method: string, path: string, body?: unknown, token: string | null = API_TOKEN, raw?: string): Promise<{ status: number; body: Json; headers: Headers }> => {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
      statuses.push(res.status);
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    };
    const create = (body: unknown) => call('POST', '/api/v1/incidents', body);
    const act = (id: string, body: unknown) => call('POST', `/api/v1/incidents/${id}/actions`, body);

    describe('authentication', () => {
      it('answers 401 with no token or a wrong one', async () => {
        const none = await call('GET', '/api/v1/incidents', undefined, null);
        expect(none.status).toBe(401);
        expect(none.body).toEqual({ error: { code: 'api.unauthorized', message: 'send Authorization: Bearer <TREAD_API_TOKEN>' } });
        const wrong = await call('GET', '/api/v1/incidents', undefined, 'not-the-token');
        expect(wrong.status).toBe(401);
        expect(wrong.body.error).toEqual({ code: 'api.unauthorized', message: 'the bearer token is wrong' });
        expect((await call('GET', '/api/v1/incidents', undefined, `${API_TOKEN}x`)).status).toBe(401);
        expect((await call('POST', '/api/v1/incidents', { title: 'Sneaky' }, 'nope')).status).toBe(401);
        expect((await call('POST', '/api/v1/incidents/INC-1/actions', { action: 'ack' }, null)).status).toBe(401);
        const basic = await fetch(`${base}/api/v1/incidents`, { headers: { authorization: `Basic ${Buffer.from(`x:${API_TOKEN}`).toString('base64')}` } });
        expect(basic.status).toBe(401);
      });
    });

    describe('creating', () => {
      it('POST creates an incident: 201, the incident in camelCase with a Location header', async () => {
        t.clock.set(START);
        const res = await create({ title: 'Checkout returns 502 for all users', impact: 'high', urgency: 'medium', service: 'checkout', description: 'Since the 09:55 deploy' });
        expect(res.status).toBe(201);
        expect(res.headers.get('location')).toBe(`/api/v1/incidents/${res.body.id}`);
        expect(res.body).toMatchObject({
          id: expect.stringMatching(/^INC-\d+$/), title: 'Checkout returns 502 for all users', description: 'Since the 09:55 deploy', state: 'new',
          impact: 'high', urgency: 'medium', priority: 'P2', major: false, service: 'checkout', assignee: null, reporter: 'api', source: 'api',
          createdAt: '2026-01-05T09:00:00.000Z', acknowledgedAt: null, resolvedAt: null, closedAt: null,
          sla: { responseDueAt: '2026-01-05T09:30:00.000Z', resolutionDueAt: '2026-01-05T17:00:00.000Z', responseBreached: false, resolutionBreached: false },
        });
        const defaults = await create({ title: 'Reports slow' });
        expect(defaults.body).toMatchObject({ impact: 'medium', urgency: 'medium', priority: 'P3', service: null, description: null });
        const onBehalf = await create({ title: 'Printer on fire', by: 'dave', impact: 'high', urgency: 'high' });
        expect(onBehalf.status).toBe(201);
        expect(onBehalf.body).toMatchObject({ reporter: 'dave', priority: 'P1', major: true });
      });

      it('invalid bodies are 400 with issues naming each field', async () => {
        const cases: [unknown, string[]][] = [
          [{}, ['title']],
          [{ title: 'ab' }, ['title']],
          [{ title: '   x   ' }, ['title']],
          [{ title: 'x'.repeat(201) }, ['title']],
          [{ title: 42 }, ['title']],
          [{ title: 'Valid title', impact: 'huge', urgency: 'soon' }, ['impact', 'urgency']],
          [{ title: 'Valid title', service: '' }, ['service']],
          [{ title: 'Valid title', description: 'd'.repeat(10_001) }, ['description']],
          [[], ['(body)']],
          ['a string', ['(body)']],
          [null, ['(body)']],
        ];
        for (const [body, fields] of cases) {
          const res = await create(body);
          expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
          expect(res.body.error.code).toBe('api.invalid');
          expect(res.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(fields);
          expect(res.body.error.message).toMatch(/^the request is not valid: /);
        }
        const unknownService = await create({ title: 'Valid title', service: 'nosuch' });
        expect(unknownService.status).toBe(400);
        expect(unknownService.body.error).toEqual({ code: 'incident.unknown_service', message: 'There is no service "nosuch". Known services: checkout, payments, db.', issues: [{ path: 'service', message: 'unknown service "nosuch"' }] });
        const unknownBy = await create({ title: 'Valid title', by: 'zed' });
        expect(unknownBy.status).toBe(400);
        expect(unknownBy.body.error).toEqual({ code: 'api.invalid', message: 'by: unknown person "zed"', issues: [{ path: 'by', message: 'unknown person "zed"' }] });
      });

      it('a body that is not JSON is 400, an empty one too, and one over 512 KB is 413', async () => {
        const bad = await call('POST', '/api/v1/incidents', undefined, API_TOKEN, '{"title": "oops",');
        expect(bad.status).toBe(400);
        expect(bad.body.error.code).toBe('http.bad_json');
        expect(bad.body.error.message).toMatch(/^the request body is not valid JSON: /);
        const empty = await call('POST', '/api/v1/incidents', undefined, API_TOKEN, '');
        expect(empty.status).toBe(400);
        expect(empty.body.error).toEqual({ code: 'http.bad_json', message: 'the request body is empty; send a JSON object' });
        const big = await create({ title: 'Big', description: 'x'.repeat(600 * 1024) });
        expect(big.status).toBe(413);
        expect(big.body.error.code).toBe('http.body_too_large');
        const bigAction = await act('INC-1', { action: 'note', note: 'x'.repeat(600 * 1024) });
        expect(bigAction.status).toBe(413);
        // chunked, without a Content-Length: counted while reading
        const chunked = await new Promise<number>((resolve, reject) => {
          const req = httpRequest(`${base}/api/v1/incidents`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode!); });
          req.on('error', reject);
          const chunk = 'x'.repeat(64 * 1024);
          req.write('{"title":"chunky","description":"');
          for (let i = 0; i < 10; i++) req.write(chunk);
          req.end('"}');
        });
        expect(chunked).toBe(413);
        // the server still answers afterwards
        expect((await call('GET', '/api/v1/incidents?limit=1')).status).toBe(200);
      });
    });

    describe('reading', () => {
      it('GET one returns the incident with its timeline; unknown ids are 404', async () => {
        t.clock.set(START);
        const { body: inc } = await create({ title: 'Search returns nothing', service: 'db' });
        t.clock.advance(2 * MINUTE);
        await act(inc.id, { action: 'ack', by: 'bob' });
        t.clock.advance(MINUTE);
        await t.command('alice', `/incident note ${inc.id} index rebuilt`);
        const res = await call('GET', `/api/v1/incidents/${inc.id}`);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ id: inc.id, state: 'acknowledged', assignee: 'bob', acknowledgedAt: '2026-01-05T09:02:00.000Z' });
        expect(res.body.timeline).toEqual([
          { at: '2026-01-05T09:00:00.000Z', actor: 'api', source: 'api', kind: 'created', text: 'Opened by API: Search returns nothing (P3)' },
          { at: '2026-01-05T09:02:00.000Z', actor: 'bob', source: 'api', kind: 'ack', text: `${inc.id} acknowledged by Bob Okafor (2m 0s after opening)` },
          { at: '2026-01-05T09:03:00.000Z', actor: 'alice', source: 'console', kind: 'note', text: `Alice Chen noted on ${inc.id}: index rebuilt` },
        ]);
        expect((await call('GET', `/api/v1/incidents/${inc.id.toLowerCase()}`)).status).toBe(200);
        for (const id of ['INC-99999', 'INC-0', 'INC-99999999999', 'foo', 'INC-', '42', 'INC-1.5', '%20']) {
          const missing = await call('GET', `/api/v1/incidents/${id}`);
          expect(missing.status, id).toBe(404);
          expect(missing.body.error.code).toBe('incident.not_found');
        }
      });

      it('GET lists with filters state, priority and service, newest first, in the list envelope', async () => {
        const made: string[] = [];
        for (const body of [
          { title: 'List A payments P2', service: 'payments', impact: 'high' },
          { title: 'List B payments P3', service: 'payments' },
          { title: 'List C payments P2 acked', service: 'payments', impact: 'high' },
        ]) made.push((await create(body)).body.id);
        await act(made[2]!, { action: 'ack' });

        const all = await call('GET', '/api/v1/incidents?service=payments');
        expect(all.status).toBe(200);
        expect(Object.keys(all.body).sort()).toEqual(['items', 'nextCursor']);
        expect(all.body.items.map((i: Json) => i.id)).toEqual([...made].reverse());
        expect(all.body.nextCursor).toBeNull();
        const p2 = await call('GET', '/api/v1/incidents?service=payments&priority=P2');
        expect(p2.body.items.map((i: Json) => i.id)).toEqual([made[2], made[0]]);
        const lower = await call('GET', '/api/v1/incidents?service=payments&priority=p2&state=new');
        expect(lower.body.items.map((i: Json) => i.id)).toEqual([made[0]]);
        const acked = await call('GET', '/api/v1/incidents?state=acknowledged&service=payments');
        expect(acked.body.items.map((i: Json) => i.id)).toEqual([made[2]]);
        expect(acked.body.items[0]).not.toHaveProperty('timeline');
        // `open` is every open state, as in chat's `/incident list open`; several states may be given
        const open = await call('GET', '/api/v1/incidents?state=open&service=payments');
        expect(open.body.items.map((i: Json) => i.id)).toEqual([...made].reverse());
        expect((await call('GET', '/api/v1/incidents?state=acknowledged,resolved&service=payments')).body.items.map((i: Json) => i.id)).toEqual([made[2]]);
        // an unknown service is a mistake worth saying, not an empty list (as in chat)
        const unknown = await call('GET', '/api/v1/incidents?service=nosuch');
        expect(unknown.status).toBe(400);
        expect(unknown.body.error.issues).toEqual([{ path: 'service', message: 'unknown service "nosuch" (services: checkout, payments, db)' }]);
      });

      it('pages with limit and cursor until nextCursor is null', async () => {
        const total = (await call('GET', '/api/v1/incidents?limit=500')).body.items.length as number;
        expect(total).toBeGreaterThanOrEqual(6);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res: { status: number; body: Json } = await call('GET', `/api/v1/incidents?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          expect(res.status).toBe(200);
          expect(res.body.items.length).toBeLessThanOrEqual(2);
          seen.push(...res.body.items.map((i: Json) => i.id));
          cursor = res.body.nextCursor;
          pages++;
        } while (cursor && pages < 100);
        expect(seen).toHaveLength(total);
        expect(new Set(seen).size).toBe(total);
        const numbers = seen.map((s) => Number(s.slice(4)));
        expect([...numbers].sort((a, b) => b - a)).toEqual(numbers);
        expect(pages).toBe(Math.ceil(total / 2));
        expect((await call('GET', '/api/v1/incidents')).body.items.length).toBe(Math.min(total, 50));
      });

      it('bad filters and paging parameters are 400 naming the parameter', async () => {
        const cases: [string, string][] = [
          ['state=closing', 'state'], ['state=', 'state'], ['priority=P9', 'priority'], ['priority=high', 'priority'],
          ['limit=0', 'limit'], ['limit=501', 'limit'], ['limit=ten', 'limit'], ['limit=2.5', 'limit'], ['limit=-1', 'limit'],
          ['cursor=bogus', 'cursor'], [`cursor=${Buffer.from('id:abc').toString('base64url')}`, 'cursor'],
        ];
        for (const [query, field] of cases) {
          const res = await call('GET', `/api/v1/incidents?${query}`);
          expect(res.status, query).toBe(400);
          expect(res.body.error.issues.map((i: { path: string }) => i.path), query).toEqual([field]);
        }
      });

      it('a cursor outside the id range is a 400, never a server error', async () => {
        for (const id of ['99999999999', '2147483648', '99999999999999999999999']) {
          const res = await call('GET', `/api/v1/incidents?cursor=${Buffer.from(`id:${id}`).toString('base64url')}`);
          expect(res.status, id).toBe(400);
          expect(res.body.error.issues).toEqual([{ path: 'cursor', message: 'cursor is not one this API gave out' }]);
        }
        const edge = await call('GET', `/api/v1/incidents?cursor=${Buffer.from('id:2147483647').toString('base64url')}&limit=1`);
        expect(edge.status).toBe(200);
        expect(edge.body.items).toHaveLength(1);
        expect((await call('GET', `/api/v1/incidents?cursor=${Buffer.from('id:0').toString('base64url')}`)).body).toEqual({ items: [], nextCursor: null });
      });
    });

    describe('actions', () => {
      it('ack, assign, note, priority, start, hold, resolve, reopen, close: 200 with the incident, timeline source api', async () => {
        t.clock.set(START);
        const { body: inc } = await create({ title: 'Orders stuck in "paid"', service: 'checkout' });
        const id = inc.id as string;
        const ok = async (body: unknown) => {
          const res = await act(id, body);
          expect(res.status, JSON.stringify(body)).toBe(200);
          return res.body;
        };
        expect(await ok({ action: 'ack', by: 'alice' })).toMatchObject({ state: 'acknowledged', assignee: 'alice' });
        expect(await ok({ action: 'assign', assignee: 'bob' })).toMatchObject({ assignee: 'bob' });
        expect(await ok({ action: 'assign', assignee: 'carol' })).toMatchObject({ assignee: 'carol' });
        expect(await ok({ action: 'note', note: 'looking at the payment webhook', by: 'carol' })).toMatchObject({ state: 'acknowledged' });
        expect(await ok({ action: 'priority', priority: 'P2' })).toMatchObject({ priority: 'P2', impact: 'high', urgency: 'medium' });
        expect(await ok({ action: 'priority', impact: 'low', urgency: 'low' })).toMatchObject({ priority: 'P5' });
        expect(await ok({ action: 'start' })).toMatchObject({ state: 'in_progress' });
        expect(await ok({ action: 'hold', reason: 'vendor', note: 'PSP ticket 88' })).toMatchObject({ state: 'on_hold', holdReason: 'awaiting_vendor', holdNote: 'PSP ticket 88' });
        expect(await ok({ action: 'start' })).toMatchObject({ state: 'in_progress', holdReason: null });
        expect(await ok({ action: 'hold', reason: 'awaiting_caller', note: 'asked the shop for the order ids' })).toMatchObject({ holdReason: 'awaiting_caller' });
        expect(await ok({ action: 'resolve', note: 'PSP replayed the webhooks', code: 'workaround' })).toMatchObject({ state: 'resolved', resolutionCode: 'workaround', resolutionNotes: 'PSP replayed the webhooks' });
        expect(await ok({ action: 'reopen', note: 'two orders still stuck' })).toMatchObject({ state: 'in_progress', resolvedAt: null });
        expect(await ok({ action: 'resolve', note: 'replayed the last two' })).toMatchObject({ state: 'resolved', resolutionCode: 'fixed' });
        expect(await ok({ action: 'close' })).toMatchObject({ state: 'closed' });
        const all = (await call('GET', `/api/v1/incidents/${id}`)).body.timeline as Json[];
        // checkout has an escalation policy in the example config: its paging entries sit between the actions.
        expect(all.filter((e) => e.kind === 'page').length).toBeGreaterThan(0);
        const timeline = all.filter((e) => e.kind !== 'escalation' && e.kind !== 'page');
        expect(timeline.map((e) => e.kind)).toEqual(['created', 'ack', 'assign', 'assign', 'note', 'priority', 'priority', 'start', 'hold', 'start', 'hold', 'resolve', 'reopen', 'resolve', 'close']);
        expect(timeline.every((e) => e.source === 'api')).toBe(true);
        expect(timeline.find((e) => e.kind === 'note')).toMatchObject({ actor: 'carol', text: `Carol Diaz noted on ${id}: looking at the payment webhook` });
        expect(timeline.find((e) => e.kind === 'assign')).toMatchObject({ actor: 'api', text: `${id} assigned to Bob Okafor by API` });
      });

      it('cancel, service and major', async () => {
        const { body: a } = await create({ title: 'Duplicate report' });
        expect((await act(a.id, { action: 'cancel', note: 'same as INC-1' })).body).toMatchObject({ state: 'cancelled' });
        const { body: b } = await create({ title: 'Payments latency' });
        expect((await act(b.id, { action: 'service', service: 'payments' })).body).toMatchObject({ service: 'payments' });
        expect((await act(b.id, { action: 'major' })).body).toMatchObject({ major: true });
        const again = await act(b.id, { action: 'major' });
        expect(again.status).toBe(409);
        expect(again.body.error.code).toBe('incident.already_major');
      });

      it('a transition the state does not allow is 409 with a sentence', async () => {
        const { body: inc } = await create({ title: 'Will be closed' });
        const cases: [string, string][] = [['close', 'new'], ['reopen', 'new'], ['hold', 'new']];
        for (const [action, state] of cases) {
          const res = await act(inc.id, { action, reason: 'vendor', ...(action === 'hold' ? { note: 'ISP ticket' } : {}) });
          expect(res.status, action).toBe(409);
          expect(res.body.error.code).toBe('incident.invalid_transition');
          expect(res.body.error.message).toMatch(new RegExp(`^An incident that is ${state} cannot be .+\\. From new you can: ack, start, resolve, cancel\\.$`));
        }
        await act(inc.id, { action: 'resolve', note: 'went away' });
        await act(inc.id, { action: 'close' });
        for (const action of ['ack', 'start', 'resolve', 'reopen', 'close', 'cancel']) {
          const res = await act(inc.id, { action, ...(action === 'resolve' ? { note: 'again' } : {}) });
          expect(res.status, action).toBe(409);
          expect(res.body.error.message).toMatch(/Closed is final/);
        }
        const assign = await act(inc.id, { action: 'assign', assignee: 'bob' });
        expect(assign.status).toBe(409);
        expect(assign.body.error.code).toBe('incident.closed_for_changes');
        expect((await incidentRow(t, Number(inc.id.slice(4)))).state).toBe('closed');
      });

      it('invalid action bodies are 400 naming the field; unknown people are 400; unknown incidents 404', async () => {
        const { body: inc } = await create({ title: 'Target of bad requests' });
        const cases: [unknown, string][] = [
          [{}, 'action'],
          [{ action: 'explode' }, 'action'],
          [{ action: 'assign' }, 'assignee'],
          [{ action: 'note' }, 'note'],
          [{ action: 'note', note: '' }, 'note'],
          [{ action: 'hold', reason: 'weather' }, 'reason'],
          [{ action: 'hold' }, 'reason'],
          [{ action: 'priority' }, 'priority'],
          [{ action: 'priority', priority: 'P0' }, 'priority'],
          [{ action: 'priority', priority: 2 }, 'priority'],
          [{ action: 'priority', impact: 'massive' }, 'impact'],
          [{ action: 'resolve', code: 'magic' }, 'code'],
          [{ action: 'service' }, 'service'],
          [{ action: 'ack', by: '' }, 'by'],
          [{ action: 'ack', note: 7 }, 'note'],
          [[], '(body)'],
        ];
        for (const [body, field] of cases) {
          const res = await act(inc.id, body);
          expect(res.status, JSON.stringify(body)).toBe(400);
          expect(res.body.error.issues.map((i: { path: string }) => i.path), JSON.stringify(body)).toContain(field);
        }
        const by = await act(inc.id, { action: 'ack', by: 'zed' });
        expect(by.status).toBe(400);
        expect(by.body.error).toEqual({ code: 'api.invalid', message: 'by: unknown person "zed"', issues: [{ path: 'by', message: 'unknown person "zed"' }] });
        const who = await act(inc.id, { action: 'assign', assignee: 'zed' });
        expect(who.status).toBe(400);
        expect(who.body.error.issues).toEqual([{ path: 'assignee', message: 'unknown person' }]);
        const service = await act(inc.id, { action: 'service', service: 'nosuch' });
        expect(service.status).toBe(400);
        expect(service.body.error.issues).toEqual([{ path: 'service', message: 'unknown service "nosuch"' }]);
        const json = await call('POST', `/api/v1/incidents/${inc.id}/actions`, undefined, API_TOKEN, 'action=ack');
        expect(json.status).toBe(400);
        expect(json.body.error.code).toBe('http.bad_json');
        for (const id of ['INC-99999', 'bogus']) {
          const missing = await act(id, { action: 'ack' });
          expect(missing.status, id).toBe(404);
          expect(missing.body.error.code).toBe('incident.not_found');
        }
        expect((await incidentRow(t, Number(inc.id.slice(4)))).state).toBe('new');
      });

      it('concurrent requests: one of several racing transitions wins, the rest are 409; parallel creates get distinct ids', async () => {
        const { body: inc } = await create({ title: 'Raced' });
        // six acknowledgements at once: only one can count (an acknowledged incident cannot be acknowledged again). Mixing
        // in start would not do: start after a winning ack is a valid transition, so two could rightly win.
        const raced = await Promise.all(Array.from({ length: 6 }, () => act(inc.id, { action: 'ack' })));
        expect(raced.filter((r) => r.status === 200)).toHaveLength(1);
        expect(raced.filter((r) => r.status === 409)).toHaveLength(5);
        const created = await Promise.all(Array.from({ length: 6 }, (_, i) => create({ title: `Parallel ${i}` })));
        expect(created.map((r) => r.status)).toEqual(Array(6).fill(201));
        expect(new Set(created.map((r) => r.body.id)).size).toBe(6);
        expect((await verifyAudit(t.db)).ok).toBe(true);
      });

      it('changes made over REST update the chat card in place and are audited', async () => {
        await t.command('alice', '/incident Card follows REST');
        const inc = (await call('GET', '/api/v1/incidents?limit=1')).body.items[0];
        expect(inc.title).toBe('Card follows REST');
        const before = t.port.of('update').length;
        await act(inc.id, { action: 'ack', by: 'bob' });
        await t.tread.dispatcher.flush();
        expect(t.port.of('update').length).toBeGreaterThan(before);
        expect(t.port.of('update').at(-1)!.message!.title).toBe(`${inc.id} · P3 · acknowledged · Card follows REST`);
        const verified = await verifyAudit(t.db);
        expect(verified.problems).toEqual([]);
      });
    });

    it('never answered 500', () => {
      expect(statuses.length).toBeGreaterThan(50);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
    });
  });
}
