/**
 * Incidents announce `incident.opened` and `incident.changed` on every path (chat, REST, alerts, the auto-close timer),
 * heard here by a listener workflow the way problem and access management will hear them.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { IncidentChanged, IncidentOpened } from '../../../src/workflows/incident/index.js';
import { applyEvents } from '../../../src/workflows/event/event.ingest.js';
import { on, type Workflow } from '../../../src/core/workflow.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { API_TOKEN, DAY, startIncidentTread, type IncidentTestTread } from './incident.fakes.js';

const heard: { opened: IncidentOpened[]; changed: IncidentChanged[] } = { opened: [], changed: [] };
const listener: Workflow = {
  name: 'listener',
  subscribes: [
    on('incident.opened', 'inline', 'opened', async (_tx, _app, e) => { heard.opened.push(e); }),
    on('incident.changed', 'inline', 'changed', async (_tx, _app, e) => { heard.changed.push(e); }),
  ],
};

function post(t: IncidentTestTread, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.tread.port, path, method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

for (const driver of drivers) {
  describe(`incident record events (${driver})`, () => {
    let t: IncidentTestTread;
    treadPerFile(driver, (database) => startIncidentTread(database, { http: true, extraWorkflows: [listener] }), (s) => { t = s; });

    it('chat: opening and acknowledging announce the incident with the actor and the old and new state', async () => {
      heard.opened.length = 0;
      heard.changed.length = 0;
      await t.command('alice', '/incident Checkout returns 502 service:checkout impact:high');
      const opened = heard.opened.at(-1)!;
      expect(opened).toMatchObject({ subject: `INC-${opened.id}`, service: 'checkout', priority: 2, fromAlerts: false, labels: {}, actor: { id: 'alice', source: 'console' } });
      await t.command('alice', `/incident ack INC-${opened.id}`);
      await t.command('alice', `/incident priority INC-${opened.id} P1`);
      expect(heard.changed.map((c) => [c.action, c.from.state, c.to.state, c.from.priority, c.to.priority, c.to.major])).toEqual([
        ['ack', 'new', 'acknowledged', 2, 2, false],
        ['priority', 'acknowledged', 'acknowledged', 2, 1, true],
      ]);
    });

    it('REST: creating and acting announce with source api', async () => {
      heard.opened.length = 0;
      heard.changed.length = 0;
      const created = await post(t, '/api/v1/incidents', { title: 'Search is slow', service: 'checkout' });
      expect(created.status).toBe(201);
      expect(heard.opened.at(-1)).toMatchObject({ subject: created.json.id, actor: { id: 'api', source: 'api' } });
      const moved = await post(t, `/api/v1/incidents/${String(created.json.id)}/actions`, { action: 'service', service: 'payments' });
      expect(moved.status).toBe(200);
      expect(heard.changed.at(-1)).toMatchObject({ action: 'service', from: { service: 'checkout' }, to: { service: 'payments' }, actor: { source: 'api' } });
    });

    it('alerts: an incident opened for a critical alert says so, and its resolution by the alerts is announced', async () => {
      heard.opened.length = 0;
      heard.changed.length = 0;
      const alert = (action: 'trigger' | 'resolve') => ({
        integration: 'prometheus', dedupKey: 'events-test-1', action, summary: 'Checkout down everywhere', severity: 'critical' as const, source: 'prom',
        service: 'checkout', labels: { alertname: 'CheckoutDown', service: 'checkout' }, details: {}, links: [], startsAt: null, raw: { n: action },
      });
      await t.tread.app.db.transaction((tx) => applyEvents(tx, t.tread.app, [alert('trigger')], t.clock.now()));
      expect(heard.opened.at(-1)).toMatchObject({ fromAlerts: true, service: 'checkout', actor: { id: 'tread', source: 'webhook' } });
      // the alerts' labels travel with the event (subscribers search the known error database with them)
      expect(heard.opened.at(-1)!.labels).toEqual({ alertname: 'CheckoutDown', service: 'checkout' });
      await t.tread.app.db.transaction((tx) => applyEvents(tx, t.tread.app, [alert('resolve')], t.clock.now()));
      expect(heard.changed.at(-1)).toMatchObject({ subject: heard.opened.at(-1)!.subject, action: 'resolve', from: { state: 'new' }, to: { state: 'resolved' }, actor: { source: 'webhook' } });
    });

    it('the auto-close timer: closing a resolved incident is announced with source scheduler', async () => {
      await t.command('alice', '/incident Disk almost full');
      const id = heard.opened.at(-1)!.id;
      await t.command('alice', `/incident resolve INC-${id} cleaned up`);
      heard.changed.length = 0;
      await t.advance(3 * DAY + 60_000);
      expect(heard.changed.filter((c) => c.id === id)).toMatchObject([{ action: 'close', from: { state: 'resolved' }, to: { state: 'closed' }, actor: { id: 'tread', source: 'scheduler' } }]);
    });
  });
}
