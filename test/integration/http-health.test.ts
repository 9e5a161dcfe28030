import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder, queryRows, schema, type Database } from '../../db/client.js';
import { auditHead } from '../../src/core/audit.js';
import { enqueue } from '../../src/core/outbox.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { API_TOKEN, startIncidentTread, type IncidentTestTread } from '../workflows/incident/incident.fakes.js';

/** Parses Prometheus text format strictly enough to catch malformed lines: name{labels} value. */
function parsePrometheus(text: string): { samples: { name: string; labels: Record<string, string>; value: number }[]; types: Record<string, string> } {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) { types[type[1]!] = type[2]!; continue; }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

for (const driver of drivers) {
  describe(`health, readiness and metrics over HTTP (${driver})`, () => {
    let database: Database;
    let t: IncidentTestTread;
    let noApi: IncidentTestTread;
    let base: string;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startIncidentTread(database, { http: true });
      noApi = await startIncidentTread(database, { http: true, apiToken: null, clock: t.clock });
      base = `http://127.0.0.1:${t.tread.port}`;
    });
    afterAll(async () => {
      await noApi?.tread.stop({ closeDatabase: false });
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    it('/healthz answers ok', async () => {
      const res = await fetch(`${base}/healthz`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    it('/readyz is ready once every migration is applied, and says "migrating" while one is missing', async () => {
      const expected = readdirSync(migrationsFolder()).filter((f) => f.endsWith('.sql')).length;
      const res = await fetch(`${base}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ready', database: driver, migrations: expected });

      const rows = await queryRows<Record<string, unknown>>(t.db, sql`select * from drizzle.__drizzle_migrations order by id desc limit 1`);
      const last = rows[0]!;
      await t.db.execute(sql`delete from drizzle.__drizzle_migrations where id = ${last.id}`);
      try {
        const migrating = await fetch(`${base}/readyz`);
        expect(migrating.status).toBe(503);
        expect(await migrating.json()).toEqual({ status: 'migrating', applied: expected - 1, expected });
      } finally {
        await t.db.execute(sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${last.id}, ${last.hash}, ${last.created_at})`);
      }
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    });

    it('/metrics serves Prometheus text: incidents by state, outbox backlog, timer lag and request durations', async () => {
      t.clock.set('2026-01-05T09:00:00Z');
      await t.command('alice', '/incident Checkout returns 502 for all users');
      await t.command('alice', '/incident Search is slow');
      await t.command('alice', '/incident Mail is late');
      await t.command('bob', '/incident ack INC-2');
      await t.command('bob', '/incident resolve INC-3 queue drained');
      // one message waits for later: backlog 1
      await t.db.transaction((tx) => enqueue(tx, { kind: 'announce', subject: 'INC-1', message: { text: 'later' } }, { availableAt: new Date(Date.now() + 3_600_000) }));
      // the first SLA warning was due at 09:22:30; it is 10:00 and the scheduler has not run: 37m 30s of lag
      t.clock.set('2026-01-05T10:00:00Z');
      await fetch(`${base}/healthz`);
      await fetch(`${base}/nowhere`);

      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      const { samples, types } = parsePrometheus(text);
      const value = (name: string, labels: Record<string, string> = {}) =>
        samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

      expect(types).toMatchObject({ tread_incidents: 'gauge', tread_outbox_backlog: 'gauge', tread_timer_lag_seconds: 'gauge', tread_http_request_duration_seconds: 'histogram' });
      expect(value('tread_incidents', { state: 'new' })).toBe(1);
      expect(value('tread_incidents', { state: 'acknowledged' })).toBe(1);
      expect(value('tread_incidents', { state: 'resolved' })).toBe(1);
      expect(value('tread_outbox_backlog', { status: 'pending' })).toBe(1);
      expect(value('tread_outbox_backlog', { status: 'dead' })).toBe(0);
      // Delivery: what waits, per platform (an announcement goes to every platform of the record: `any`), how old it
      // is, and how long sent rows took from their commit.
      expect(types).toMatchObject({ tread_outbox_depth: 'gauge', tread_outbox_oldest_pending_seconds: 'gauge', tread_outbox_delivery_seconds: 'histogram', tread_outbox_retries_total: 'counter' });
      expect(value('tread_outbox_depth', { platform: 'any' })).toBe(1);
      expect(value('tread_outbox_depth', { platform: 'console' })).toBe(0);
      expect(value('tread_outbox_oldest_pending_seconds', { platform: 'any' })).toBeGreaterThanOrEqual(0);
      expect(value('tread_outbox_delivery_seconds_count', { kind: 'post' })).toBeGreaterThanOrEqual(3);
      expect(value('tread_outbox_sent_total')).toBeGreaterThanOrEqual(3);
      // the oldest due timer is the example organisation's knowledge re-index (every 5m from the start at 09:00): 55m of
      // lag; without it the first SLA warning (09:22:30) would be the oldest
      const [oldest] = await queryRows<{ kind: string }>(t.db, sql`select kind from timers order by due_at limit 1`);
      expect(oldest!.kind).toBe('request.reindex');
      expect(value('tread_timer_lag_seconds')).toBe(55 * 60);
      expect(value('tread_http_request_duration_seconds_count', { route: '/healthz', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(1);
      expect(value('tread_http_request_duration_seconds_count', { route: 'unmatched', method: 'GET', status: '404' })).toBeGreaterThanOrEqual(1);
      expect(value('tread_http_request_duration_seconds_bucket', { route: '/healthz', le: '+Inf' })).toBeGreaterThanOrEqual(1);
      expect(value('tread_http_request_duration_seconds_sum', { route: '/healthz' })).toBeGreaterThan(0);
      // the audit chain's newest sequence number, label-free (a drop means rows were deleted)
      expect(types.tread_audit_head_seq).toBe('gauge');
      expect(value('tread_audit_head_seq')).toBe((await auditHead(t.db)).seq);
      expect(value('tread_audit_head_seq')).toBeGreaterThanOrEqual(5);

      await t.tick();
      const after = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
      expect(after.samples.find((s) => s.name === 'tread_timer_lag_seconds')?.value).toBe(0);
      // the tick ran the due timers (the re-index at least), counted by this process
      expect(after.samples.find((s) => s.name === 'tread_timers_run_total' && s.labels.outcome === 'ran')?.value).toBeGreaterThanOrEqual(1);
      await t.db.delete(schema.outbox);
    });

    it('with no TREAD_API_TOKEN the REST API is off: 404 for every /api/v1 route, with or without a token', async () => {
      const off = `http://127.0.0.1:${noApi.tread.port}`;
      for (const [method, path] of [['GET', '/api/v1/incidents'], ['GET', '/api/v1/incidents/INC-1'], ['POST', '/api/v1/incidents'], ['POST', '/api/v1/incidents/INC-1/actions']] as const) {
        for (const headers of [{}, { authorization: `Bearer ${API_TOKEN}` }] as Record<string, string>[]) {
          const res = await fetch(`${off}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify({ title: 'x', action: 'ack' }) : undefined });
          expect(res.status, `${method} ${path}`).toBe(404);
          expect(await res.json()).toEqual({ error: { code: 'api.disabled', message: 'the REST API is off: set TREAD_API_TOKEN to turn it on' } });
        }
      }
      expect((await fetch(`${off}/healthz`)).status).toBe(200);
      expect((await fetch(`${off}/metrics`)).status).toBe(200);
    });

    it('unknown paths are 404 and wrong methods 405, in the error shape', async () => {
      const missing = await fetch(`${base}/api/v1/nothing`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: { code: 'http.not_found', message: 'nothing at /api/v1/nothing' } });
      const wrong = await fetch(`${base}/healthz`, { method: 'DELETE' });
      expect(wrong.status).toBe(405);
      expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('http.method_not_allowed');
      const get = await fetch(`${base}/api/v1/incidents/INC-1/actions`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(get.status).toBe(405);
    });

    it('a request target that is not a URL gets 400, and the server keeps serving', async () => {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(t.tread.port, '127.0.0.1', () => socket.end('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let data = '';
        socket.on('data', (d) => { data += d.toString(); });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400/);
      expect(answer).toContain('http.bad_url');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    });
  });
}
