/**
 * HTTP: webhooks (Alertmanager, PagerDuty Events v2, Grafana, generic, heartbeats) and the REST API for alerts and groups.
 * Every accepted event is durable before the answer: applied, or stored in the intake when its lane is busy (event.writer.ts).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import { schema } from '../../../db/client.js';
import { parseRecordId } from '../../core/commands.js';
import type { AppContext } from '../../core/app.js';
import type { Request, Route, RouteTools } from '../../core/route.js';
import {
  BadJsonError, BodyTooLargeError, credential, iso, listQuery, MAX_BODY_BYTES, parseJson, pathId, answering, RateLimiter, readBody, sameSecret,
  sendError, sendIssues, sendJson, sendList,
} from '../../http/rest.js';
import type { IntegrationConfig, IntegrationKind } from './event.config.js';
import type { EventOutcome } from './event.ingest.js';
import { ALERT_STATES, GROUP_STATES } from './event.machine.js';
import { alertSubject, groupSubject, incidentRef, type AlertRow, type GroupRow } from './event.messages.js';
import { parseAlertmanager, parseGeneric, parseGrafana, parsePagerDuty, type IncomingEvent, type Issue, type ParseResult } from './event.parse.js';
import { getAlert, getGroup, knownAlertService, listAlerts, recordPing, unknownServiceIssue } from './event.service.js';
import type { ReceivedBody } from './event.intake.js';
import { EventWriter, type SubmitOptions } from './event.writer.js';

/** The REST shape of an alert. */
export function alertJson(a: AlertRow) {
  return {
    id: alertSubject(a.id), state: a.state, severity: a.severity, summary: a.summary, source: a.source, service: a.service,
    integration: a.integration, dedupKey: a.dedupKey, count: a.count, labels: a.labels, details: a.details, links: a.links,
    groupId: a.groupId ? groupSubject(a.groupId) : null, incidentId: a.incidentId ? incidentRef(a.incidentId) : null,
    silencedBy: a.suppressedBy, silencedUntil: iso(a.suppressedUntil), flapping: a.flapping,
    startsAt: iso(a.startsAt), firstSeen: iso(a.firstSeen), lastSeen: iso(a.lastSeen),
    acknowledgedAt: iso(a.acknowledgedAt), acknowledgedBy: a.acknowledgedBy, resolvedAt: iso(a.resolvedAt), resolvedBy: a.resolvedBy,
  };
}

/**
 * The REST shape of an alert group. `acceptingUntil` is when its correlation window closes, null once closed (the stored
 * flag is cleared lazily, by the next alert with its key).
 */
export function groupJson(g: GroupRow, now: Date) {
  const route = g.route as { rule?: string; page?: boolean; policy?: string };
  return {
    id: groupSubject(g.id), state: g.state, title: g.title, severity: g.severity, service: g.service, integration: g.integration,
    reason: g.reason, groupKey: g.groupKey, alertCount: g.alertCount, openCount: g.openCount,
    incidentId: g.incidentId ? incidentRef(g.incidentId) : null, paging: g.escalationSubject, route: { rule: route.rule ?? null, policy: route.policy ?? null },
    acceptingUntil: g.accepting && (!g.windowEndsAt || g.windowEndsAt > now) ? iso(g.windowEndsAt) : null, firstSeen: iso(g.firstSeen), updatedAt: iso(g.updatedAt),
    acknowledgedAt: iso(g.acknowledgedAt), acknowledgedBy: g.acknowledgedBy, resolvedAt: iso(g.resolvedAt), resolvedBy: g.resolvedBy,
  };
}

type Fail = (status: 400 | 413, code: string, message: string) => void;

/** Reads a body with the 512 KB limit; answers 413/400 itself through `fail` and returns undefined then. */
async function readEventBody(req: IncomingMessage, fail: Fail): Promise<Buffer | undefined> {
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY_BYTES);
  } catch (e) {
    if (e instanceof BodyTooLargeError) { fail(413, 'http.body_too_large', e.message); return undefined; }
    throw e;
  }
  if (body.length === 0) { fail(400, 'http.bad_json', 'the request body is empty; send a JSON object'); return undefined; }
  return body;
}

/** Parses a JSON body (see `parseJson`); answers 400 itself through `fail` and returns undefined then. */
function parseEventJson(body: Buffer, fail: Fail): { value: unknown } | undefined {
  try {
    return { value: parseJson(body) };
  } catch (e) {
    if (e instanceof BadJsonError) { fail(400, e.code, e.message); return undefined; }
    throw e;
  }
}

/** Reads a JSON body with the 512 KB limit; answers 413/400 itself through `fail` and returns undefined then. */
async function readEventJson(req: IncomingMessage, fail: Fail): Promise<{ value: unknown } | undefined> {
  const body = await readEventBody(req, fail);
  return body && parseEventJson(body, fail);
}

/**
 * The parsed events of recent batch bodies (Alertmanager, Grafana) by integration and body hash. Alertmanager resends
 * each group's body unchanged at every group interval, so a byte-identical body is not parsed and validated again: its
 * events are what parsing gave last time. Bounded by bodies and by events; the oldest are forgotten first.
 */
export class ResendCache {
  private readonly entries = new Map<string, { integration: IntegrationConfig; events: IncomingEvent[]; bytes: number }>();
  private events = 0;
  private bytes = 0;

  constructor(private readonly maxBodies = 512, private readonly maxEvents = 100_000, private readonly maxBytes = 32 * 1024 * 1024) {}

  key(integration: IntegrationConfig, body: Buffer): string {
    return `${integration.name}\u0000${createHash('sha256').update(body).digest('base64url')}`;
  }

  get(key: string, integration: IntegrationConfig): IncomingEvent[] | undefined {
    const hit = this.entries.get(key);
    // a reloaded config makes new integration objects: parse again under the new settings
    return hit && hit.integration === integration ? hit.events : undefined;
  }

  set(key: string, integration: IntegrationConfig, events: IncomingEvent[], bytes: number): void {
    if (events.length > this.maxEvents / 4 || bytes > this.maxBytes / 4) return;
    this.forget(key);
    this.entries.set(key, { integration, events, bytes });
    this.events += events.length;
    this.bytes += bytes;
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.maxBodies && this.events <= this.maxEvents && this.bytes <= this.maxBytes) break;
      this.forget(k);
    }
  }

  /** Bodies, events and bytes held (for tests). */
  get size(): { bodies: number; events: number; bytes: number } {
    return { bodies: this.entries.size, events: this.events, bytes: this.bytes };
  }

  private forget(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.events -= old.events.length;
    this.bytes -= old.bytes;
  }
}

/** The routes event management serves. */
export function eventRoutes(app: AppContext, tools: RouteTools): Route[] {
  const writer = new EventWriter(app, tools.kick);
  const limiter = new RateLimiter();
  const resends = new ResendCache();

  /** Stores events; on failure answers through `onError` with what went wrong (the database away, its disk full, …). */
  const store = async (res: ServerResponse, events: IncomingEvent[], onError: (why: string) => void, via: SubmitOptions = {}): Promise<EventOutcome[] | undefined> => {
    try {
      const outcomes = await writer.submit(events, via);
      app.health.wrote();
      return outcomes;
    } catch (e) {
      const unavailable = app.health.unavailable(e);
      if (unavailable) app.log.warn({ reason: unavailable, err: (e as Error).message }, `could not store events: ${unavailable}`);
      else app.log.error({ err: e }, 'could not store events');
      onError(unavailable ?? 'an unexpected error');
      return undefined;
    }
  };

  const hook = (kind: IntegrationKind, parse: (body: unknown, i: IntegrationConfig) => ParseResult) => async (req: Request, res: ServerResponse) => {
    const candidates = app.config.integrations.filter((i) => i.kind === kind);
    if (candidates.length === 0) return sendError(res, 404, 'event.no_integration', `no ${kind} integration is configured (add one under integrations: in the config)`);
    const given = credential(req);
    const integration = given === undefined ? undefined : candidates.find((i) => i.token !== undefined && sameSecret(given, i.token));
    if (!integration) {
      return sendError(res, 401, 'event.unauthorized', given === undefined ? 'send Authorization: Bearer <token> (the integration\'s token)' : 'the token does not belong to any ' + kind + ' integration');
    }
    const fail: Fail = (status, code, message) => sendError(res, status, code, message);
    const raw = await readEventBody(req, fail);
    if (!raw) return;
    const cacheKey = kind === 'alertmanager' || kind === 'grafana' ? resends.key(integration, raw) : undefined;
    let events = cacheKey === undefined ? undefined : resends.get(cacheKey, integration);
    if (!events) {
      const body = parseEventJson(raw, fail);
      if (!body) return;
      const parsed = parse(body.value, integration);
      if (!parsed.ok) return sendError(res, 400, 'event.invalid', `the body is not a valid ${kind} payload: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, parsed.issues);
      events = parsed.events;
      if (cacheKey !== undefined) resends.set(cacheKey, integration, events, raw.length);
    }
    if (integration.rateLimitPerMinute && !limiter.take(integration.name, integration.rateLimitPerMinute)) {
      return sendError(res, 429, 'event.rate_limited', `integration ${integration.name} sends more than ${integration.rateLimitPerMinute} requests a minute; retry later`);
    }
    // a batch body goes to the intake as received (no re-encoding); a generic event is applied at once when its lane is
    // idle, as its answer tells what happened to it
    const received: ReceivedBody | undefined = kind === 'alertmanager' || kind === 'grafana' ? { source: kind, integration: integration.name, body: raw } : undefined;
    const outcomes = await store(res, events, (why) => sendError(res, 503, 'event.unavailable', `the events could not be stored (${why}); retry`, undefined, { 'retry-after': '5' }), { received });
    if (!outcomes) return;
    if (kind === 'generic') {
      const o = outcomes[0];
      return sendJson(res, 202, { status: 'accepted', dedupKey: o?.dedupKey ?? null, alertId: o?.alertId ? alertSubject(o.alertId) : null, outcome: o?.outcome ?? 'ignored' });
    }
    sendJson(res, 200, { status: 'accepted', alerts: outcomes.length });
  };

  const pdError = (res: ServerResponse, status: number, errors: string[], message = 'Event object is invalid') =>
    sendJson(res, status, { status: 'invalid event', message, errors });

  const pagerduty = async (req: Request, res: ServerResponse) => {
    const body = await readEventJson(req, (status, _code, message) => pdError(res, status, [message], status === 413 ? 'Request body is too large' : 'Event object is invalid'));
    if (!body) return;
    const parsed = parsePagerDuty(body.value);
    if (!parsed.ok) return pdError(res, 400, parsed.errors);
    const integration = app.config.integrations.find((i) => i.kind === 'pagerduty' && i.routingKey !== undefined && sameSecret(parsed.routingKey, i.routingKey));
    if (!integration) return pdError(res, 400, ["Invalid routing key: no integration has this routing_key"]);
    if (integration.rateLimitPerMinute && !limiter.take(integration.name, integration.rateLimitPerMinute)) {
      return sendJson(res, 429, { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' });
    }
    const event: IncomingEvent = { ...parsed.event, integration: integration.name, service: integration.service ?? null };
    // PagerDuty's answer says only that the event was accepted: it goes to the intake, applied moments later
    const outcomes = await store(res, [event], (why) => sendJson(res, 503, { status: 'error', message: `The event could not be stored (${why}); please retry.` }, { 'retry-after': '5' }), { intake: true });
    if (!outcomes) return;
    sendJson(res, 202, { status: 'success', message: 'Event processed', dedup_key: event.dedupKey });
  };

  const heartbeat = async (req: Request, res: ServerResponse) => {
    let name: string;
    try {
      name = decodeURIComponent(req.params.name ?? '');
    } catch {
      return sendError(res, 400, 'event.bad_heartbeat_name', 'name: the heartbeat name in the path is not valid percent-encoding', [{ path: 'name', message: 'bad percent-encoding' }]);
    }
    const hb = app.config.heartbeats.find((h) => h.name === name);
    if (!hb) return sendError(res, 404, 'event.unknown_heartbeat', `there is no heartbeat "${name}" (add it under heartbeats: in the config)`);
    if (hb.token) {
      const given = credential(req);
      if (given === undefined || !sameSecret(given, hb.token)) return sendError(res, 401, 'event.unauthorized', 'send Authorization: Bearer <token> (the heartbeat\'s token)');
    }
    try {
      await readBody(req, MAX_BODY_BYTES);
    } catch (e) {
      if (e instanceof BodyTooLargeError) return sendError(res, 413, 'http.body_too_large', `the body is larger than ${MAX_BODY_BYTES / 1024} KB`);
      throw e;
    }
    let r: Awaited<ReturnType<typeof recordPing>>;
    try {
      r = await recordPing(app, hb);
    } catch (e) {
      app.log.error({ err: e, heartbeat: hb.name }, 'could not record a heartbeat ping');
      return sendError(res, 503, 'event.unavailable', 'the ping could not be stored; retry');
    }
    if (r.outbox) tools.kick();
    sendJson(res, 200, { status: 'ok', heartbeat: hb.name, nextDueAt: r.nextDueAt.toISOString(), resolved: r.resolved });
  };

  const listAlertsRoute = async (req: Request, res: ServerResponse) => {
    if (!tools.authorizeApi(req, res)) return;
    const issues: Issue[] = [];
    const { limit, cursor } = listQuery(req.query, issues);
    const state = req.query.get('state');
    const states = state ? state.split(',').map((s) => s.trim()).filter(Boolean) : [];
    for (const s of states) if (s !== 'open' && !(ALERT_STATES as readonly string[]).includes(s)) issues.push({ path: 'state', message: `"${s}" is not a state: use ${ALERT_STATES.join(', ')} or open` });
    const group = req.query.get('groupId');
    const groupId = group ? parseRecordId('GRP', group) : undefined;
    if (group && groupId === undefined) issues.push({ path: 'groupId', message: 'write it like GRP-3' });
    const service = req.query.get('service') || undefined;
    if (service !== undefined && !(await knownAlertService(app.db, app, service))) issues.push(unknownServiceIssue(app, service));
    if (issues.length) return sendIssues(res, issues);
    const rows = await listAlerts(app.db, {
      states: states.length ? states : undefined, service, integration: req.query.get('integration') || undefined,
      groupId, beforeId: cursor, limit: limit + 1,
    });
    sendList(res, rows, limit, alertJson);
  };

  const getAlertRoute = async (req: Request, res: ServerResponse) => {
    if (!tools.authorizeApi(req, res)) return;
    await answering(res, async () => {
      const a = await getAlert(app.db, pathId(req, 'ALR', 'event.alert_not_found', 'alert'));
      const history = await app.db.select().from(schema.alertEvents).where(eq(schema.alertEvents.alertId, a.id)).orderBy(desc(schema.alertEvents.id)).limit(100);
      sendJson(res, 200, { ...alertJson(a), history: history.reverse().map((h) => ({ at: iso(h.at), action: h.action, actor: h.actor, data: h.data })) });
    });
  };

  const listGroups = async (req: Request, res: ServerResponse) => {
    if (!tools.authorizeApi(req, res)) return;
    const issues: Issue[] = [];
    const { limit, cursor } = listQuery(req.query, issues);
    const state = req.query.get('state');
    if (state && state !== 'open' && !(GROUP_STATES as readonly string[]).includes(state)) issues.push({ path: 'state', message: `"${state}" is not a state: use ${GROUP_STATES.join(', ')} or open` });
    const service = req.query.get('service');
    if (service && !(await knownAlertService(app.db, app, service))) issues.push(unknownServiceIssue(app, service));
    if (issues.length) return sendIssues(res, issues);
    const conds: (SQL | undefined)[] = [];
    if (state === 'open') conds.push(sql`${schema.alertGroups.state} <> 'resolved'`);
    else if (state) conds.push(eq(schema.alertGroups.state, state));
    if (service) conds.push(eq(schema.alertGroups.service, service));
    if (cursor !== undefined) conds.push(lt(schema.alertGroups.id, cursor));
    const rows = await app.db.select().from(schema.alertGroups).where(and(...conds)).orderBy(desc(schema.alertGroups.id)).limit(limit + 1);
    sendList(res, rows, limit, (g) => groupJson(g, app.clock.now()));
  };

  const getGroupRoute = async (req: Request, res: ServerResponse) => {
    if (!tools.authorizeApi(req, res)) return;
    await answering(res, async () => {
      const g = await getGroup(app.db, pathId(req, 'GRP', 'event.group_not_found', 'alert group'));
      const alerts = await app.db.select().from(schema.alerts).where(eq(schema.alerts.groupId, g.id)).orderBy(desc(schema.alerts.id)).limit(500);
      sendJson(res, 200, { ...groupJson(g, app.clock.now()), alerts: alerts.map(alertJson) });
    });
  };

  return [
    { method: 'POST', path: '/hooks/alertmanager', handler: hook('alertmanager', parseAlertmanager) },
    { method: 'POST', path: '/hooks/grafana', handler: hook('grafana', parseGrafana) },
    { method: 'POST', path: '/hooks/generic', handler: hook('generic', parseGeneric) },
    { method: 'POST', path: '/v2/enqueue', handler: pagerduty },
    { method: 'POST', path: /^\/hooks\/heartbeat\/(?<name>[^/]+)$/, handler: heartbeat, name: '/hooks/heartbeat/:name' },
    { method: 'GET', path: '/api/v1/alerts', handler: listAlertsRoute },
    { method: 'GET', path: /^\/api\/v1\/alerts\/(?<id>[^/]+)$/, handler: getAlertRoute, name: '/api/v1/alerts/:id' },
    { method: 'GET', path: '/api/v1/alert-groups', handler: listGroups },
    { method: 'GET', path: /^\/api\/v1\/alert-groups\/(?<id>[^/]+)$/, handler: getGroupRoute, name: '/api/v1/alert-groups/:id' },
  ];
}

