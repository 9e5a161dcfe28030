/** 100 bad requests to the webhooks: each gets a 4xx naming the problem, nothing is stored, and the server keeps serving. */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { queryRows } from '../../db/client.js';
import { drivers } from '../helpers/db.js';
import { treadPerFile } from '../helpers/tread.js';
import { API_TOKEN, GENERIC_TOKEN, GRAFANA_TOKEN, PD_KEY, PROM_TOKEN, startEventTread } from '../workflows/event/event.fakes.js';

interface Bad {
  name: string;
  path: string;
  token?: string;
  raw?: string | Buffer;
  body?: unknown;
  status: number;
  /** Expected in the answer text. */
  says?: RegExp;
}

const pd = (extra: Record<string, unknown>) => ({ routing_key: PD_KEY, event_action: 'trigger', dedup_key: 'bad', payload: { summary: 's', source: 'x', severity: 'info' }, ...extra });
const pdPayload = (payload: unknown) => ({ routing_key: PD_KEY, event_action: 'trigger', dedup_key: 'bad', payload });
const amAlert = (over: Record<string, unknown>) => ({ version: '4', alerts: [{ status: 'firing', labels: { alertname: 'Bad' }, fingerprint: 'bad1', ...over }] });
const gen = (over: Record<string, unknown>) => ({ summary: 'bad', severity: 'info', source: 'x', ...over });

/** True for tread's JSON answer to a body over the limit (PagerDuty's own shape on /v2/enqueue). */
function isTooLarge(path: string, text: string): boolean {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown }; status?: unknown; errors?: unknown };
    if (path === '/v2/enqueue') return body.status === 'invalid event' && JSON.stringify(body.errors).includes('larger than 512 KB');
    return body.error?.code === 'http.body_too_large' && /larger than 512 KB/.test(String(body.error.message));
  } catch {
    return false;
  }
}

function badPayloads(): Bad[] {
  const out: Bad[] = [];
  const hooks: [string, string | undefined][] = [['/hooks/alertmanager', PROM_TOKEN], ['/hooks/grafana', GRAFANA_TOKEN], ['/hooks/generic', GENERIC_TOKEN], ['/v2/enqueue', undefined]];
  // invalid JSON, on every hook (4 × 6 = 24)
  for (const [path, token] of hooks) {
    for (const raw of ['', '{', '{"a": }', "{'single': 'quotes'}", '[1, 2', 'undefined']) {
      out.push({ name: `invalid JSON ${JSON.stringify(raw)} to ${path}`, path, token, raw, status: 400, says: path === '/v2/enqueue' ? /invalid event/ : /JSON|empty/ });
    }
  }
  // huge and deeply nested bodies (4 × 2 = 8)
  for (const [path, token] of hooks) {
    out.push({ name: `600 KB body to ${path}`, path, token, raw: JSON.stringify({ summary: 'x'.repeat(600 * 1024) }), status: 413 });
    out.push({ name: `deep nesting to ${path}`, path, token, raw: '['.repeat(5000) + ']'.repeat(5000), status: 400, says: /nests|invalid event/ });
  }
  // wrong or missing tokens (8)
  for (const [path] of hooks.slice(0, 3)) {
    out.push({ name: `no token to ${path}`, path, body: gen({}), status: 401 });
    out.push({ name: `wrong token to ${path}`, path, token: 'not-the-token-000', body: gen({}), status: 401 });
  }
  out.push({ name: 'generic token on alertmanager', path: '/hooks/alertmanager', token: GENERIC_TOKEN, body: amAlert({}), status: 401 });
  out.push({ name: 'grafana token on generic', path: '/hooks/generic', token: GRAFANA_TOKEN, body: gen({}), status: 401 });
  // Alertmanager: wrong types and missing fields (20)
  const amCases: [string, unknown, RegExp][] = [
    ['body is an array', [], /\(body\)/],
    ['body is a string', 'alerts', /\(body\)/],
    ['body is null', null, /\(body\)/],
    ['no alerts', { version: '4' }, /alerts/],
    ['alerts is an object', { version: '4', alerts: {} }, /alerts/],
    ['alerts is a string', { version: '4', alerts: 'a' }, /alerts/],
    ['version 3', { version: '3', alerts: [] }, /version/],
    ['version as a number', { version: 4, alerts: [] }, /version/],
    ['status missing', { version: '4', alerts: [{ labels: { a: 'b' } }] }, /alerts\[0\]\.status/],
    ['status unknown', amAlert({ status: 'burning' }), /alerts\[0\]\.status/],
    ['labels missing', { version: '4', alerts: [{ status: 'firing' }] }, /alerts\[0\]\.labels/],
    ['labels an array', amAlert({ labels: ['a'] }), /alerts\[0\]\.labels/],
    ['label value a number', amAlert({ labels: { alertname: 1 } }), /alerts\[0\]\.labels\.alertname/],
    ['label value null', amAlert({ labels: { alertname: null } }), /alerts\[0\]\.labels\.alertname/],
    ['annotations a string', amAlert({ annotations: 'x' }), /alerts\[0\]\.annotations/],
    ['annotation value an object', amAlert({ annotations: { summary: {} } }), /alerts\[0\]\.annotations\.summary/],
    ['fingerprint a number', amAlert({ fingerprint: 12 }), /alerts\[0\]\.fingerprint/],
    ['fingerprint empty', amAlert({ fingerprint: '' }), /alerts\[0\]\.fingerprint/],
    ['startsAt a number', amAlert({ startsAt: 5 }), /alerts\[0\]\.startsAt/],
    ['one good alert and one bad', { version: '4', alerts: [{ status: 'firing', labels: { alertname: 'Good' }, fingerprint: 'good' }, { status: 'firing', labels: 7 }] }, /alerts\[1\]\.labels/],
  ];
  for (const [name, body, says] of amCases) out.push({ name: `alertmanager: ${name}`, path: '/hooks/alertmanager', token: PROM_TOKEN, body, status: 400, says });
  // generic: wrong types and missing fields (14)
  const genCases: [string, unknown, RegExp][] = [
    ['empty object', {}, /summary/],
    ['summary missing', { severity: 'info', source: 'x' }, /summary/],
    ['summary blank', gen({ summary: '   ' }), /summary/],
    ['summary a number', gen({ summary: 5 }), /summary/],
    ['summary too long', gen({ summary: 'x'.repeat(2000) }), /summary/],
    ['severity missing', { summary: 's', source: 'x' }, /severity/],
    ['severity unknown', gen({ severity: 'urgent' }), /severity/],
    ['source missing', { summary: 's', severity: 'info' }, /source/],
    ['status unknown', gen({ status: 'ok' }), /status/],
    ['labels an array', gen({ labels: ['a'] }), /labels/],
    ['label value a bool', gen({ labels: { service: true } }), /labels\.service/],
    ['details a string', gen({ details: 'x' }), /details/],
    ['dedupKey a number', gen({ dedupKey: 5 }), /dedupKey/],
    ['dedupKey too long', gen({ dedupKey: 'k'.repeat(300) }), /dedupKey/],
  ];
  for (const [name, body, says] of genCases) out.push({ name: `generic: ${name}`, path: '/hooks/generic', token: GENERIC_TOKEN, body, status: 400, says });
  // grafana (4)
  out.push({ name: 'grafana: alerts a number', path: '/hooks/grafana', token: GRAFANA_TOKEN, body: { alerts: 3 }, status: 400, says: /alerts/ });
  out.push({ name: 'grafana: legacy state unknown', path: '/hooks/grafana', token: GRAFANA_TOKEN, body: { ruleName: 'x', state: 'exploded' }, status: 400, says: /state/ });
  out.push({ name: 'grafana: legacy ruleName missing', path: '/hooks/grafana', token: GRAFANA_TOKEN, body: { state: 'alerting' }, status: 400, says: /ruleName/ });
  out.push({ name: 'grafana: alert labels a string', path: '/hooks/grafana', token: GRAFANA_TOKEN, body: { alerts: [{ status: 'firing', labels: 'x' }] }, status: 400, says: /alerts\[0\]\.labels/ });
  // PagerDuty: wrong types and missing fields (22)
  const pdCases: [string, unknown, RegExp][] = [
    ['body an array', [], /expected a JSON object/],
    ['body a number', 42, /expected a JSON object/],
    ['body null', null, /expected a JSON object/],
    ['routing_key missing', { event_action: 'trigger', payload: { summary: 's', source: 'x', severity: 'info' } }, /'routing_key' is missing/],
    ['routing_key a number', pd({ routing_key: 123 }), /'routing_key' is missing/],
    ['routing_key unknown', pd({ routing_key: 'X'.repeat(32) }), /routing key/i],
    ['event_action missing', pd({ event_action: undefined }), /'event_action' is missing/],
    ['event_action unknown', pd({ event_action: 'escalate' }), /'event_action' is invalid/],
    ['payload missing on trigger', pd({ payload: undefined }), /'payload' is missing/],
    ['payload a string', pdPayload('s'), /'payload' is missing/],
    ['summary missing', pdPayload({ source: 'x', severity: 'info' }), /'payload\.summary' is missing/],
    ['summary blank', pdPayload({ summary: '', source: 'x', severity: 'info' }), /'payload\.summary' is missing/],
    ['summary a number', pdPayload({ summary: 3, source: 'x', severity: 'info' }), /'payload\.summary'/],
    ['source missing', pdPayload({ summary: 's', severity: 'info' }), /'payload\.source' is missing/],
    ['severity missing', pdPayload({ summary: 's', source: 'x' }), /'payload\.severity' is missing/],
    ['severity unknown', pdPayload({ summary: 's', source: 'x', severity: 'P1' }), /'payload\.severity' is invalid/],
    ['timestamp invalid', pdPayload({ summary: 's', source: 'x', severity: 'info', timestamp: 'noon' }), /'payload\.timestamp' is invalid/],
    ['component a number', pdPayload({ summary: 's', source: 'x', severity: 'info', component: 5 }), /'payload\.component'/],
    ['dedup_key an object', pd({ dedup_key: { a: 1 } }), /'dedup_key' must be a string/],
    ['dedup_key too long', pd({ dedup_key: 'd'.repeat(300) }), /'dedup_key' is too long/],
    ['acknowledge without dedup_key', { routing_key: PD_KEY, event_action: 'acknowledge' }, /'dedup_key' is missing/],
    ['links not an array', pd({ links: 'http://x' }), /'links' must be an array/],
  ];
  for (const [name, body, says] of pdCases) out.push({ name: `pagerduty: ${name}`, path: '/v2/enqueue', body, status: 400, says });
  return out;
}

for (const driver of drivers) {
  describe(`bad webhook payloads (${driver})`, () => {
    let t: Awaited<ReturnType<typeof startEventTread>>;

    treadPerFile(driver, (database) => startEventTread(database), (started) => { t = started; });

    const stored = async () => {
      const [row] = await queryRows<{ alerts: number; events: number; groups: number; outbox: number }>(t.tread.app.db, sql`select
        (select count(*)::int from alerts) as alerts, (select count(*)::int from alert_events) as events,
        (select count(*)::int from alert_groups) as groups, (select count(*)::int from outbox) as outbox`);
      return row;
    };

    it('answers 100 bad payloads with 4xx, stores nothing, and keeps serving', async () => {
      const cases = badPayloads();
      expect(cases).toHaveLength(100);
      const before = await stored();
      const failures: string[] = [];
      for (const c of cases) {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(c.token ? { authorization: `Bearer ${c.token}` } : {}) };
        const raw = c.raw ?? JSON.stringify(c.body);
        let status = 0;
        let text = '';
        try {
          const r = await t.call('POST', c.path, { raw, headers });
          status = r.status;
          text = r.text;
        } catch (e) {
          // A connection reset is a failure too, the 600 KB bodies included: the server reads and drops the rest of a
          // body it refused, so the client can finish sending and read the 413.
          failures.push(`${c.name}: request failed: ${(e as Error).message}`);
          continue;
        }
        if (status !== c.status) failures.push(`${c.name}: expected ${c.status}, got ${status}: ${text.slice(0, 200)}`);
        else if (c.says && !c.says.test(text)) failures.push(`${c.name}: answer does not say ${c.says}: ${text.slice(0, 300)}`);
        else if (status >= 400 && status < 500 && !/"(error|status)"/.test(text)) failures.push(`${c.name}: not a JSON error: ${text.slice(0, 100)}`);
        else if (status === 413 && !isTooLarge(c.path, text)) failures.push(`${c.name}: the 413 is not the JSON error http.body_too_large: ${text.slice(0, 200)}`);
      }
      expect(failures).toEqual([]);
      expect(await stored()).toEqual(before);
      expect((await t.call('GET', '/healthz')).status).toBe(200);
      const ok = await t.hook('/hooks/generic', gen({ summary: 'still alive' }), GENERIC_TOKEN);
      expect(ok.status).toBe(202);
    });

    it('answers a heartbeat name with broken percent-encoding and an out-of-range groupId filter with 400 naming them', async () => {
      const beat = await t.call('POST', '/hooks/heartbeat/%E0%A4%A', { raw: '', headers: {} });
      expect(beat.status).toBe(400);
      expect(beat.text).toContain('"path":"name"');
      const list = await t.call('GET', '/api/v1/alerts?groupId=GRP-99999999999', { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(list.status).toBe(400);
      expect(list.text).toContain('groupId');
    });
  });
}
