/** Test doubles for event management: a recording console ChatPort, a config, a tread on a manual clock over real HTTP. */
import { request } from 'node:http';
import type { Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { type OrgConfig } from '../../../src/core/config/org.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import type { Inbound, Reply, Where } from '../../../src/core/inbound.js';
import type { PlatformAdapter } from '../../../src/core/platform.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { RecordingPort } from '../../helpers/recording-port.js';
import { intakeBacklog } from '../../../src/workflows/event/event.intake.js';
import { writerOf } from '../../../src/workflows/event/event.writer.js';

export { RecordingPort, type PortCall } from '../../helpers/recording-port.js';

export const START = '2026-01-05T10:00:00Z';
export const API_TOKEN = 'test-api-token-0123456789';
export const PROM_TOKEN = 'prom-token-0123456789';
export const GRAFANA_TOKEN = 'grafana-token-0123456789';
export const GENERIC_TOKEN = 'generic-token-0123456789';
export const HEARTBEAT_TOKEN = 'beat-token-0123456789';
/** The routing key of the PagerDuty fixture. */
export const PD_KEY = 'R0UTINGKEY0000000000000000000000';
export const PD_LIMITED_KEY = 'L1MITEDKEY0000000000000000000000';

/** The organisation file of the event tests. */
export const EVENT_YAML = `
organisation: test
timezone: UTC
people:
  - { id: alice, name: Alice, roles: [responder] }
  - { id: bob, name: Bob, roles: [responder] }
  - { id: dave, name: Dave }
teams:
  - { id: ops, name: Ops, members: [alice, bob] }
services:
  - { name: db, owners: [alice], escalationPolicy: standard, console: { channel: db-alerts } }
  - { name: checkout, owners: [bob], escalationPolicy: standard, console: { channel: checkout } }
  - { name: payments, owners: [bob] }
schedules:
  - name: primary
    layers:
      - { people: [alice, bob], start: 2026-01-05, handoff: "09:00", length: weekly }
escalationPolicies:
  - name: standard
    steps:
      - { schedule: primary, wait: 15m }
      - { person: bob, wait: 10m }
integrations:
  - { name: prometheus, kind: alertmanager, token: ${PROM_TOKEN}, service: checkout }
  - { name: legacy-monitor, kind: pagerduty, routingKey: ${PD_KEY}, service: payments }
  - { name: limited, kind: pagerduty, routingKey: ${PD_LIMITED_KEY}, service: payments, rateLimitPerMinute: 3 }
  - { name: grafana, kind: grafana, token: ${GRAFANA_TOKEN} }
  - { name: scripts, kind: generic, token: ${GENERIC_TOKEN} }
heartbeats:
  - { name: nightly-backup, service: payments, timeout: 26h }
  - { name: guarded, timeout: 10m, token: ${HEARTBEAT_TOKEN}, severity: warning }
routing:
  - name: payments-quiet
    match: { service: payments, severity: [warning, info] }
    incident: false
correlation:
  window: 5m
  groupBy: [service, alertname]
  flapping: { changes: 4, window: 30m }
  # These tests open many groups at one (manual) time: no storm holding, which event.storm.test.ts covers.
  cards: { stormGroups: 100000 }
maintenance:
  - { service: checkout, start: "2026-01-05T22:00:00Z", end: "2026-01-06T02:00:00Z", reason: failover test }
`;

/** The parsed test config. */
export function eventConfig(yaml = EVENT_YAML): OrgConfig {
  return parseOrganisation(yaml, 'test.yaml', {});
}

/** An HTTP answer. */
export interface HttpAnswer {
  status: number;
  body: any;
  text: string;
}

/** Sends a request to tread's real HTTP server. */
export function http(port: number, method: string, path: string, options: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method, path,
      headers: { ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...options.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try { body = JSON.parse(text); } catch { body = undefined; }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A tread over real HTTP with a recording console port, a manual clock and no cron (tests call `scheduler.tick()`). */
export async function startEventTread(database: Database, options: { clock?: ManualClock; config?: OrgConfig } = {}) {
  const clock = options.clock ?? new ManualClock(new Date(START));
  const port = new RecordingPort();
  const adapter: PlatformAdapter = { platform: 'console', port };
  const tread: Tread = await startTread({
    database, config: options.config ?? eventConfig(), clock, tickSeconds: 0, platforms: () => [adapter], apiToken: API_TOKEN,
    http: { host: '127.0.0.1', port: 0 },
  });
  let seq = 0;
  const send = async (actor: string, inbound: { kind: 'command'; name: string; text: string } | { kind: 'action'; actionId: string; value: string }, where: Partial<Where> = {}): Promise<Reply> => {
    const full = { ...inbound, actor: { platform: 'console' as const, id: actor }, where: { platform: 'console' as const, channel: 'console', ...where }, deliveryId: `e${process.pid}-${++seq}` } as Inbound;
    const reply = await tread.router.handle(full);
    await tread.dispatcher.flush();
    return reply;
  };
  const command = (actor: string, text: string, where: Partial<Where> = {}) => {
    const [name, ...rest] = text.replace(/^\//, '').split(' ');
    return send(actor, { kind: 'command', name: name!, text: rest.join(' ') }, where);
  };
  const press = (actor: string, actionId: string, value: string) => send(actor, { kind: 'action', actionId, value });
  const call = (method: string, path: string, options: Parameters<typeof http>[3] = {}) => http(tread.port, method, path, options);
  /** Waits until every event answered `queued` (by any replica) is applied, then sends the outbox. */
  const settle = async () => {
    const writer = writerOf(tread.app);
    for (let i = 0; ; i++) {
      await writer?.settled();
      if ((await intakeBacklog(tread.app.db)).events === 0) break;
      if (i > 3000) throw new Error('the event intake did not drain');
      writer?.wakeAll();
      await new Promise((r) => setTimeout(r, 10));
    }
    await tread.dispatcher.flush();
  };
  /** Posts to a webhook and waits for its events to be applied and the outbox to be sent. */
  const hook = async (path: string, body: unknown, token?: string, headers: Record<string, string> = {}) => {
    const answer = await call('POST', path, { body, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
    await settle();
    return answer;
  };
  const api = (path: string) => call('GET', path, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  /** One scheduler tick at the clock's time (timers, then the outbox). */
  const tick = () => tread.scheduler.tick();
  return { tread, clock, port, send, command, press, call, hook, api, tick, settle };
}

/** The text of a reply (title, text and fields), for assertions. */
export function replyText(reply: Reply): string {
  const m = reply.kind === 'ephemeral' || reply.kind === 'card' ? reply.message : reply.kind === 'form' || reply.kind === 'form_errors' ? reply.form : undefined;
  if (!m) return '';
  return [m.title, m.text, ...(m.fields ?? []).map((f) => `${f.label}: ${f.value}`), m.context, reply.kind === 'card' ? reply.notice?.text : undefined].filter(Boolean).join('\n');
}

/** A PagerDuty Events v2 body. */
export function pdEvent(action: 'trigger' | 'acknowledge' | 'resolve', dedupKey: string | undefined, extra: Record<string, unknown> = {}, routingKey = PD_KEY): Record<string, unknown> {
  return {
    routing_key: routingKey, event_action: action, ...(dedupKey ? { dedup_key: dedupKey } : {}),
    ...(action === 'trigger' ? { payload: { summary: `Payment API errors (${dedupKey ?? 'x'})`, source: 'pay-1', severity: 'error' } } : {}),
    ...extra,
  };
}

/** An Alertmanager webhook body. */
export function amBody(status: 'firing' | 'resolved', alerts: { labels: Record<string, string>; fingerprint: string; summary?: string }[], groupKey?: string): Record<string, unknown> {
  return {
    receiver: 'chatops', status, version: '4', groupKey: groupKey ?? `{}:{alertname="${alerts[0]?.labels.alertname}"}`, truncatedAlerts: 0,
    groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am.local',
    alerts: alerts.map((a) => ({
      status, labels: a.labels, annotations: { summary: a.summary ?? `${a.labels.alertname} on ${a.labels.instance ?? 'x'}` },
      startsAt: '2026-01-05T09:59:00Z', endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2026-01-05T10:05:00Z', generatorURL: 'http://prom.local/graph', fingerprint: a.fingerprint,
    })),
  };
}
