/** Ingestion through tread's real HTTP server: the fixtures from real clients, PagerDuty's rules step by step, auth and limits, REST. */
import { readFileSync } from 'node:fs';
import { eq, sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { schema } from '../../db/client.js';
import { drivers } from '../helpers/db.js';
import { withRetry } from '../../src/workflows/event/event.alerts.js';
import { applyEvents } from '../../src/workflows/event/event.ingest.js';
import type { IncomingEvent } from '../../src/workflows/event/event.parse.js';
import { treadPerFile } from '../helpers/tread.js';
import {
  amBody, GENERIC_TOKEN, GRAFANA_TOKEN, PD_KEY, PD_LIMITED_KEY, pdEvent, PROM_TOKEN, START, startEventTread,
} from '../workflows/event/event.fakes.js';

const fixture = (path: string) => JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8'));

for (const driver of drivers) {
  describe(`event ingestion over HTTP (${driver})`, () => {
    let t: Awaited<ReturnType<typeof startEventTread>>;

    treadPerFile(driver, (database) => startEventTread(database), (started) => { t = started; });
    beforeEach(() => {
      t.clock.set(START);
      t.port.calls.length = 0;
    });

    const alertsOf = (integration: string, dedupKey: string) => t.tread.app.db.select().from(schema.alerts)
      .where(sql`${schema.alerts.integration} = ${integration} and ${schema.alerts.dedupKey} = ${dedupKey}`).orderBy(schema.alerts.id);
    const historyOf = (alertId: number) => t.tread.app.db.select().from(schema.alertEvents).where(eq(schema.alertEvents.alertId, alertId)).orderBy(schema.alertEvents.id);

    it('Alertmanager fixture: firing opens two alerts in one group with one card; resolved resolves them and the card', async () => {
      const firing = fixture('alertmanager/firing.json');
      const r1 = await t.hook('/hooks/alertmanager', firing, PROM_TOKEN, { 'user-agent': 'Alertmanager/0.25.0' });
      expect(r1.status).toBe(200);
      expect(r1.body).toEqual({ status: 'accepted', alerts: 2 });
      const [a1] = await alertsOf('prometheus', '02c3d136ca659bfa');
      const [a2] = await alertsOf('prometheus', '913e2783ad4993a5');
      expect(a1).toMatchObject({ state: 'firing', severity: 'critical', service: 'db', source: 'db-1:5432', summary: 'Primary database down', count: 1 });
      expect(a1!.labels).toEqual(firing.alerts[0].labels);
      expect(a1!.links).toEqual([{ href: 'http://prometheus.local/graph', text: 'source', kind: 'source' }, { href: 'https://runbooks.example/db', text: 'runbook', kind: 'runbook' }]);
      expect(a1!.startsAt.toISOString()).toBe('2026-11-26T00:50:40.408Z');
      expect(a1!.groupId).toBe(a2!.groupId);
      const [group] = await t.tread.app.db.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, a1!.groupId!));
      expect(group).toMatchObject({ state: 'firing', alertCount: 2, openCount: 2, service: 'db', reason: expect.stringContaining('Alertmanager sent them as one group') });
      const subject = `GRP-${group!.id}`;
      const posts = t.port.about(subject, 'post');
      expect(posts).toHaveLength(1);
      expect(posts[0]!.where).toMatchObject({ platform: 'console', channel: 'db-alerts' });
      expect(posts[0]!.message!.text).toContain('*2 alerts* (2 firing)');
      expect(posts[0]!.message!.buttons!.map((b) => b.label)).toEqual(['Acknowledge', 'Resolve', 'Silence 1h', 'Escalate now']);
      // critical → incident (P2 by default) and paging the db policy for it
      expect(group!.incidentId).toBeTruthy();
      expect(a1!.incidentId).toBe(group!.incidentId);
      expect(t.port.dms('alice').some((c) => c.message?.subject === `INC-${group!.incidentId}`)).toBe(true);

      // Alertmanager resends the same group: deduplicated, nothing new posted
      t.port.calls.length = 0;
      const again = await t.hook('/hooks/alertmanager', firing, PROM_TOKEN);
      expect(again.status).toBe(200);
      expect((await alertsOf('prometheus', '02c3d136ca659bfa')).map((a) => a.count)).toEqual([2]);
      expect(t.port.calls.filter((c) => c.method === 'post' || c.method === 'dm')).toEqual([]);

      const r2 = await t.hook('/hooks/alertmanager', fixture('alertmanager/resolved.json'), PROM_TOKEN);
      expect(r2.status).toBe(200);
      const [after] = await alertsOf('prometheus', '02c3d136ca659bfa');
      expect(after).toMatchObject({ state: 'resolved', resolvedBy: 'prometheus', count: 3 });
      const [g2] = await t.tread.app.db.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, group!.id));
      expect(g2).toMatchObject({ state: 'resolved', openCount: 0, accepting: false });
      const updates = t.port.about(subject, 'update');
      expect(updates.at(-1)!.message!.title).toContain('resolved');
      expect(updates.at(-1)!.message!.buttons).toEqual([]);
      // every alert resolved → the incident is resolved too
      const [inc] = await t.tread.app.db.select().from(schema.incidents).where(eq(schema.incidents.id, group!.incidentId!));
      expect(inc!.state).toBe('resolved');
      // the identical resend is counted (count 3), not stored again
      expect((await historyOf(after!.id)).map((h) => h.action)).toEqual(['trigger', 'resolve']);
      // raw events are in the alert's history, not in the audit chain
      const audit = await t.tread.app.db.select().from(schema.auditLog).where(sql`${schema.auditLog.subject} like 'ALR-%'`);
      expect(audit).toEqual([]);
    });

    it('PagerDuty fixture (pdjs): 202 in PagerDuty\'s shape with the dedup key, unknown fields kept', async () => {
      const req = fixture('pagerduty/pdjs-trigger-request.json');
      const r = await t.hook('/v2/enqueue', { ...req.body, client: 'pdjs', unknown_field: { kept: true } }, undefined, { 'user-agent': req.headers['user-agent'] });
      expect(r.status).toBe(202);
      expect(r.body).toEqual({ status: 'success', message: 'Event processed', dedup_key: 'inc-1' });
      const [a] = await alertsOf('legacy-monitor', 'inc-1');
      expect(a).toMatchObject({ state: 'firing', severity: 'critical', summary: 'DB primary down', source: 'db-1', service: 'payments', details: { replicas: 2 } });
      expect(a!.labels).toMatchObject({ component: 'postgres', source: 'db-1' });
      expect(a!.links).toEqual([{ href: 'https://runbooks.example/db', text: 'runbook', kind: 'link' }]);
      const [h] = await historyOf(a!.id);
      expect(h!.data).toMatchObject({ client: 'pdjs', unknown_field: { kept: true }, routing_key: PD_KEY });
    });

    it('PagerDuty rules step by step: dedup, acknowledge, re-trigger stays acknowledged, resolve, then a new alert', async () => {
      const key = 'pd-steps';
      const send = (action: 'trigger' | 'acknowledge' | 'resolve') => t.hook('/v2/enqueue', pdEvent(action, key));
      expect((await send('acknowledge')).status).toBe(202); // unknown key: accepted, ignored
      expect(await alertsOf('legacy-monitor', key)).toEqual([]);
      expect((await send('trigger')).body.dedup_key).toBe(key);
      await send('trigger');
      let rows = await alertsOf('legacy-monitor', key);
      expect(rows.map((a) => [a.state, a.count])).toEqual([['firing', 2]]);
      await send('acknowledge');
      rows = await alertsOf('legacy-monitor', key);
      expect(rows.map((a) => [a.state, a.acknowledgedBy])).toEqual([['acknowledged', 'legacy-monitor']]);
      await send('trigger');
      rows = await alertsOf('legacy-monitor', key);
      expect(rows.map((a) => [a.state, a.count])).toEqual([['acknowledged', 4]]);
      await send('resolve');
      await send('resolve'); // a second resolve finds nothing open: ignored
      rows = await alertsOf('legacy-monitor', key);
      expect(rows.map((a) => a.state)).toEqual(['resolved']);
      await send('trigger');
      rows = await alertsOf('legacy-monitor', key);
      expect(rows.map((a) => [a.state, a.count])).toEqual([['resolved', 5], ['firing', 1]]);
      expect(rows[1]!.id).toBeGreaterThan(rows[0]!.id);
      // the acknowledge and both resolves that found the alert are in its history beside the triggers that changed it
      expect((await historyOf(rows[0]!.id)).map((h) => h.action)).toEqual(['trigger', 'acknowledge', 'resolve']);
    });

    it('compact history: identical resends bump count and last seen; a history row only when the content changes', async () => {
      const key = 'pd-compact';
      const send = (details: Record<string, unknown>, severity = 'warning') =>
        t.hook('/v2/enqueue', pdEvent('trigger', key, { payload: { summary: 'Queue backlog', source: 'q-1', severity, custom_details: details } }));
      await send({ depth: 10 });
      t.clock.advance(60_000);
      // three identical resends, two of them in one batch
      await send({ depth: 10 });
      await Promise.all([send({ depth: 10 }), send({ depth: 10 })]);
      let [a] = await alertsOf('legacy-monitor', key);
      expect(a).toMatchObject({ count: 4, details: { depth: 10 } });
      expect(a!.lastSeen.getTime()).toBe(new Date(START).getTime() + 60_000);
      expect((await historyOf(a!.id)).map((h) => (h.data as { payload: { custom_details: unknown } }).payload.custom_details)).toEqual([{ depth: 10 }]);
      // new content: stored, and it becomes the alert's content; then resent identically: counted only
      await send({ depth: 99 });
      await send({ depth: 99 });
      // a rise in severity with the same details is a change too
      await send({ depth: 99 }, 'critical');
      [a] = await alertsOf('legacy-monitor', key);
      expect(a).toMatchObject({ count: 7, details: { depth: 99 }, severity: 'critical' });
      const history = await historyOf(a!.id);
      expect(history.map((h) => (h.data as { payload: { severity: string; custom_details: unknown } }).payload))
        .toEqual([{ depth: 10 }, { depth: 99 }, { depth: 99 }].map((d, i) => expect.objectContaining({ custom_details: d, severity: i === 2 ? 'critical' : 'warning' })));
      // the REST view shows the count and the compact history
      const api = await t.api(`/api/v1/alerts/ALR-${a!.id}`);
      expect(api.body).toMatchObject({ count: 7, history: [{ action: 'trigger' }, { action: 'trigger' }, { action: 'trigger' }] });
      // after a resolve, the same content opens a new alert with its own first history row
      await t.hook('/v2/enqueue', pdEvent('resolve', key));
      await send({ depth: 99 }, 'critical');
      const rows = await alertsOf('legacy-monitor', key);
      expect(rows.map((r) => [r.state, r.count])).toEqual([['resolved', 8], ['firing', 1]]);
      expect(await historyOf(rows[1]!.id)).toHaveLength(1);
    });

    it('compact history inside one batch: a first event equal to the stored content is not written again', async () => {
      const key = `batch-${driver}`;
      const ev = (depth: number): IncomingEvent => ({
        integration: 'legacy-monitor', dedupKey: key, action: 'trigger', summary: 'Batch backlog', severity: 'warning', source: 'q-1', service: 'payments',
        labels: {}, details: { depth }, links: [], startsAt: null, raw: { summary: 'Batch backlog', depth },
      });
      const apply = (batch: IncomingEvent[]) => withRetry(t.tread.app, (tx) => applyEvents(tx, t.tread.app, batch, t.clock.now()));
      const depths = async () => {
        const [a] = await alertsOf('legacy-monitor', key);
        return { count: a!.count, history: (await historyOf(a!.id)).map((h) => (h.data as { depth: number }).depth) };
      };
      await apply([ev(1)]);
      expect(await depths()).toEqual({ count: 1, history: [1] });
      await apply([ev(1), ev(2)]); // the stored content, then a change: only the change is new
      expect(await depths()).toEqual({ count: 3, history: [1, 2] });
      await apply([ev(2), ev(2)]); // identical resends
      expect(await depths()).toEqual({ count: 5, history: [1, 2] });
      await apply([ev(3), ev(3), ev(2)]); // two changes (3, then back to 2); the repeated 3 once
      expect(await depths()).toEqual({ count: 8, history: [1, 2, 3, 2] });
      // the same raw event under another summary (Grafana takes it from the body's title) is a change, not a resend
      await apply([{ ...ev(2), summary: 'Batch backlog growing' }]);
      expect(await depths()).toEqual({ count: 9, history: [1, 2, 3, 2, 2] });
      expect((await alertsOf('legacy-monitor', key))[0]!.summary).toBe('Batch backlog growing');
    });

    it('PagerDuty: a trigger without dedup_key gets a generated one, returned and usable', async () => {
      const r = await t.hook('/v2/enqueue', pdEvent('trigger', undefined));
      expect(r.status).toBe(202);
      expect(r.body.dedup_key).toMatch(/^[0-9a-f]{32}$/);
      const res = await t.hook('/v2/enqueue', pdEvent('resolve', r.body.dedup_key));
      expect(res.status).toBe(202);
      expect((await alertsOf('legacy-monitor', r.body.dedup_key)).map((a) => a.state)).toEqual(['resolved']);
    });

    it('PagerDuty errors in PagerDuty\'s shapes: invalid event, unknown routing key, rate limit', async () => {
      const bad = await t.hook('/v2/enqueue', { routing_key: PD_KEY, event_action: 'trigger', payload: { source: 'x', severity: 'fatal' } });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({
        status: 'invalid event', message: 'Event object is invalid',
        errors: ["'payload.summary' is missing or blank", "'payload.severity' is invalid (must be one of: critical, error, warning, info)"],
      });
      const noKey = await t.hook('/v2/enqueue', pdEvent('resolve', undefined));
      expect(noKey.body.errors).toEqual(["'dedup_key' is missing or blank"]);
      const unknown = await t.hook('/v2/enqueue', pdEvent('trigger', 'x1', {}, 'NOPE0000000000000000000000000000'));
      expect(unknown.status).toBe(400);
      expect(unknown.body.status).toBe('invalid event');
      expect(unknown.body.errors[0]).toMatch(/routing key/i);
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await t.hook('/v2/enqueue', pdEvent('trigger', `lim-${i}`, {}, PD_LIMITED_KEY))).status);
      expect(statuses).toEqual([202, 202, 202, 429, 429]);
      expect(await alertsOf('limited', 'lim-3')).toEqual([]);
      const json = await t.call('POST', '/v2/enqueue', { raw: '{"routing_key": ', headers: { 'content-type': 'application/json' } });
      expect(json.status).toBe(400);
      expect(json.body.status).toBe('invalid event');
    });

    it('generic and Grafana hooks with bearer tokens; 401 for a wrong or missing token; 413 for a huge body', async () => {
      const g = await t.hook('/hooks/generic', { summary: 'Queue backlog', severity: 'warning', source: 'worker-3', labels: { service: 'payments', queue: 'mail' }, extra: 1 }, GENERIC_TOKEN);
      expect(g.status).toBe(202);
      expect(g.body).toMatchObject({ status: 'accepted', dedupKey: expect.stringMatching(/^[0-9a-f]{32}$/), alertId: expect.stringMatching(/^ALR-\d+$/), outcome: 'created' });
      const again = await t.hook('/hooks/generic', { summary: 'Queue backlog', severity: 'warning', source: 'worker-3', labels: { service: 'payments', queue: 'mail' } }, GENERIC_TOKEN);
      expect(again.body).toMatchObject({ dedupKey: g.body.dedupKey, alertId: g.body.alertId, outcome: 'deduplicated' });
      const resolved = await t.hook('/hooks/generic', { summary: 'Queue backlog', severity: 'warning', source: 'worker-3', status: 'resolved' }, GENERIC_TOKEN);
      expect(resolved.body.outcome).toBe('resolved');

      const grafana = {
        receiver: 'tread', status: 'firing', orgId: 1, title: '[FIRING:1] HighLatency', groupKey: '{}/{}:{alertname="HighLatency"}', version: '1',
        alerts: [{ status: 'firing', labels: { alertname: 'HighLatency', service: 'checkout', severity: 'warning' }, annotations: { summary: 'p99 over 2s' },
          startsAt: '2026-01-05T09:58:00Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: 'abc123', dashboardURL: 'http://grafana/d/1', values: { B: 2.4 } }],
      };
      const gr = await t.hook('/hooks/grafana', grafana, GRAFANA_TOKEN);
      expect(gr.status).toBe(200);
      const [ga] = await alertsOf('grafana', 'abc123');
      expect(ga).toMatchObject({ state: 'firing', service: 'checkout', summary: 'p99 over 2s' });
      expect(ga!.links.map((l) => l.kind)).toContain('dashboard');

      expect((await t.hook('/hooks/alertmanager', amBody('firing', [{ labels: { alertname: 'X' }, fingerprint: 'f1' }]))).status).toBe(401);
      expect((await t.hook('/hooks/alertmanager', amBody('firing', [{ labels: { alertname: 'X' }, fingerprint: 'f1' }]), 'wrong-token-123')).status).toBe(401);
      expect((await t.hook('/hooks/alertmanager', amBody('firing', [{ labels: { alertname: 'X' }, fingerprint: 'f1' }]), GENERIC_TOKEN)).status).toBe(401);
      expect(await alertsOf('prometheus', 'f1')).toEqual([]);
      const huge = await t.hook('/hooks/generic', { summary: 'x', severity: 'info', source: 's', details: { blob: 'x'.repeat(600 * 1024) } }, GENERIC_TOKEN);
      expect(huge.status).toBe(413);
      expect(huge.body.error.code).toBe('http.body_too_large');
      const invalid = await t.hook('/hooks/generic', { summary: 'x', severity: 'urgent', source: 's' }, GENERIC_TOKEN);
      expect(invalid.status).toBe(400);
      expect(invalid.body.error.issues).toEqual([{ path: 'severity', message: expect.any(String) }]);
    });

    it('REST: alerts with filters and cursors, one alert with its history, groups', async () => {
      const unauth = await t.call('GET', '/api/v1/alerts');
      expect(unauth.status).toBe(401);
      for (let i = 0; i < 3; i++) await t.hook('/v2/enqueue', pdEvent('trigger', `rest-${i}`));
      const page1 = await t.api('/api/v1/alerts?integration=legacy-monitor&state=firing&limit=2');
      expect(page1.status).toBe(200);
      expect(page1.body.items).toHaveLength(2);
      expect(page1.body.items[0]).toMatchObject({ id: expect.stringMatching(/^ALR-\d+$/), state: 'firing', dedupKey: expect.any(String), count: 1, groupId: expect.stringMatching(/^GRP-\d+$/), integration: 'legacy-monitor', service: 'payments' });
      expect(page1.body.nextCursor).toEqual(expect.any(String));
      const page2 = await t.api(`/api/v1/alerts?integration=legacy-monitor&state=firing&limit=2&cursor=${page1.body.nextCursor}`);
      expect(page2.body.items.map((a: { id: string }) => a.id)).not.toContain(page1.body.items[0].id);
      const one = await t.api(`/api/v1/alerts/${page1.body.items[0].id}`);
      expect(one.body).toMatchObject({ id: page1.body.items[0].id, history: [{ action: 'trigger', actor: 'legacy-monitor', data: expect.any(Object) }] });
      expect((await t.api('/api/v1/alerts/ALR-999999')).status).toBe(404);
      expect((await t.api('/api/v1/alerts?state=bogus')).body.error.issues[0].path).toBe('state');
      expect((await t.api('/api/v1/alerts?limit=0')).status).toBe(400);
      const groups = await t.api('/api/v1/alert-groups?service=payments');
      expect(groups.status).toBe(200);
      expect(groups.body.items[0]).toMatchObject({ id: expect.stringMatching(/^GRP-\d+$/), service: 'payments', reason: expect.any(String), alertCount: expect.any(Number) });
      const g = await t.api(`/api/v1/alert-groups/${groups.body.items[0].id}`);
      expect(g.body.alerts.length).toBeGreaterThan(0);
    });

    it('/metrics: open alerts and groups by state, events ingested', async () => {
      const scrape = async () => {
        const r = await t.call('GET', '/metrics');
        expect(r.status).toBe(200);
        const value = (series: string) => Number(r.text.split('\n').find((line) => line.startsWith(`${series} `))?.slice(series.length + 1) ?? Number.NaN);
        return { firing: value('tread_alerts_open{state="firing"}'), acked: value('tread_alerts_open{state="acknowledged"}'), groups: value('tread_alert_groups_open{state="firing"}'), events: value('tread_events_ingested_total') };
      };
      const before = await scrape();
      await t.hook('/v2/enqueue', pdEvent('trigger', 'metrics-1'));
      await t.hook('/v2/enqueue', pdEvent('trigger', 'metrics-1'));
      await t.hook('/v2/enqueue', pdEvent('trigger', 'metrics-2'));
      await t.hook('/v2/enqueue', pdEvent('acknowledge', 'metrics-2'));
      const after = await scrape();
      expect(after.events - before.events).toBe(4);
      expect(after.firing - before.firing).toBe(1);
      expect(after.acked - before.acked).toBe(1);
      expect(after.groups).toBeGreaterThanOrEqual(1);
    });
  });
}
