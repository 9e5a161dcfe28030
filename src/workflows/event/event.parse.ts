/** Webhook bodies → normalised events: Alertmanager, PagerDuty Events v2, Grafana, generic. Pure (validation with zod). */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { formatPath } from '../../core/config/org.js';
import type { ChannelConfig } from '../../core/config/schemas.js';
import { SEVERITIES, type IntegrationConfig, type Severity } from './event.config.js';
import { normaliseSeverity } from './event.machine.js';

/** A link shown on an alert. */
export interface AlertLink {
  href: string;
  text?: string;
  kind?: 'link' | 'image' | 'source' | 'runbook' | 'dashboard' | 'silence';
}

/** One monitoring event, whatever sent it. */
export interface IncomingEvent {
  integration: string;
  dedupKey: string;
  action: 'trigger' | 'acknowledge' | 'resolve';
  summary: string;
  severity: Severity;
  source: string | null;
  service: string | null;
  labels: Record<string, string>;
  details: Record<string, unknown>;
  links: AlertLink[];
  /** When the monitor says it started. */
  startsAt: Date | null;
  /** Alertmanager's group key, kept for correlation. */
  groupKey?: string;
  /** True when the labels (and links) follow from the dedup key (Alertmanager fingerprints): a repeat need not rewrite them. */
  stableLabels?: boolean;
  /** The event as received (unknown fields included), for the alert's history. */
  raw: Record<string, unknown>;
  /** Hash of `raw`, set by ingestion when first needed (see `contentHash`). */
  hash?: string;
  /** Where a new group's card goes instead of where routing sends it (alerts tread raises itself, `event.raise`). */
  channel?: ChannelConfig;
}

/** A validation problem: where and what. */
export interface Issue {
  path: string;
  message: string;
}

/** The result of parsing a body: events, or the issues that reject it (nothing is stored then). */
export type ParseResult = { ok: true; events: IncomingEvent[] } | { ok: false; issues: Issue[] };

const MAX_SUMMARY = 1024;
const MAX_KEY = 255;

function zodIssues(error: z.ZodError): Issue[] {
  return error.issues.slice(0, 20).map((i) => ({ path: formatPath(i.path) || '(body)', message: i.message }));
}

function parseTime(value: unknown): Date | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const d = new Date(value);
  const t = d.getTime();
  if (Number.isNaN(t) || t <= 0) return null; // Alertmanager's "0001-01-01T00:00:00Z" means "not set"
  return d;
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** A stable dedup key from the label set (Alertmanager fingerprints are a hash of the labels too). */
export function labelFingerprint(labels: Record<string, string>): string {
  const text = Object.keys(labels).sort().map((k) => `${k}\u0000${labels[k]}`).join('\u0001');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

const labelRecord = z.record(z.string(), z.string({ error: 'a label value must be a string' }));

// ---------- Alertmanager (webhook version 4) ----------

const amAlertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelRecord,
  annotations: labelRecord.default({}),
  startsAt: z.string().optional(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).max(MAX_KEY).optional(),
});

const amBodySchema = z.looseObject({
  version: z.literal('4', { error: 'expected "4" (Alertmanager webhook version 4)' }).optional(),
  receiver: z.string().optional(),
  status: z.enum(['firing', 'resolved']).optional(),
  groupKey: z.string().optional(),
  externalURL: z.string().optional(),
  alerts: z.array(amAlertSchema).max(10_000, 'at most 10000 alerts per body'),
});

type AmAlert = z.infer<typeof amAlertSchema>;

function fromPrometheusAlert(a: AmAlert, integration: IntegrationConfig, groupKey: string | undefined, extraLinks: AlertLink[]): IncomingEvent {
  const labels = a.labels;
  const ann = a.annotations;
  const links: AlertLink[] = [];
  if (a.generatorURL) links.push({ href: a.generatorURL, text: 'source', kind: 'source' });
  const runbook = ann.runbook_url ?? ann.runbook;
  if (runbook) links.push({ href: runbook, text: 'runbook', kind: 'runbook' });
  if (ann.dashboard_url) links.push({ href: ann.dashboard_url, text: 'dashboard', kind: 'dashboard' });
  links.push(...extraLinks);
  return {
    integration: integration.name,
    dedupKey: a.fingerprint ?? labelFingerprint(labels),
    stableLabels: true,
    action: a.status === 'firing' ? 'trigger' : 'resolve',
    summary: truncate(ann.summary ?? ann.description ?? ann.message ?? labels.alertname ?? 'alert', MAX_SUMMARY),
    severity: normaliseSeverity(labels.severity, 'warning'),
    source: labels.instance ?? labels.job ?? null,
    service: labels.service ?? integration.service ?? null,
    labels,
    details: { ...ann },
    links,
    startsAt: parseTime(a.startsAt),
    groupKey,
    raw: a as Record<string, unknown>,
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown) => v === undefined || typeof v === 'string';

/** True when `v` is an object of string values that the label schema takes as it is. */
function isLabelRecord(v: unknown): v is Record<string, string> {
  if (!isPlainObject(v)) return false;
  for (const k in v) if (typeof v[k] !== 'string' || k === '__proto__') return false;
  return true;
}

/** The optional string keys of amAlertSchema, in its order (zod's output has its keys first, then the alert's others as they came). */
const AM_ALERT_OPTIONAL = ['startsAt', 'endsAt', 'generatorURL', 'fingerprint'] as const;
const AM_ALERT_KEY_SET = new Set<string>(['status', 'labels', 'annotations', ...AM_ALERT_OPTIONAL]);

/**
 * The alerts of an Alertmanager body exactly as amBodySchema would give them, without zod, when the body is one that it
 * accepts as it comes (the usual case: a storm's bodies are checked at the request and again when applied); undefined
 * otherwise, and zod decides, with its messages. test/workflows/event/event.parse-fast.test.ts compares the two.
 */
export function fastAlertmanager(body: unknown): { alerts: AmAlert[]; groupKey: string | undefined } | undefined {
  if (!isPlainObject(body)) return undefined;
  const { version, receiver, status, groupKey, externalURL, alerts } = body;
  if (version !== undefined && version !== '4') return undefined;
  if (!optionalString(receiver) || !optionalString(groupKey) || !optionalString(externalURL)) return undefined;
  if (status !== undefined && status !== 'firing' && status !== 'resolved') return undefined;
  if (!Array.isArray(alerts) || alerts.length > 10_000 || Object.hasOwn(body, '__proto__')) return undefined;
  const out: AmAlert[] = new Array(alerts.length);
  for (let i = 0; i < alerts.length; i++) {
    const a: unknown = alerts[i];
    if (!isPlainObject(a) || (a.status !== 'firing' && a.status !== 'resolved') || !isLabelRecord(a.labels)) return undefined;
    if (a.annotations !== undefined && !isLabelRecord(a.annotations)) return undefined;
    if (!optionalString(a.startsAt) || !optionalString(a.endsAt) || !optionalString(a.generatorURL)) return undefined;
    const fp = a.fingerprint;
    if (fp !== undefined && (typeof fp !== 'string' || fp.length < 1 || fp.length > MAX_KEY)) return undefined;
    const alert: Record<string, unknown> = { status: a.status, labels: { ...a.labels }, annotations: a.annotations === undefined ? {} : { ...a.annotations } };
    for (const k of AM_ALERT_OPTIONAL) if (a[k] !== undefined) alert[k] = a[k];
    for (const k in a) {
      if (k === '__proto__') return undefined;
      if (!AM_ALERT_KEY_SET.has(k)) alert[k] = a[k];
    }
    out[i] = alert as AmAlert;
  }
  return { alerts: out, groupKey: groupKey as string | undefined };
}

/** Parses an Alertmanager webhook body (version 4). */
export function parseAlertmanager(body: unknown, integration: IntegrationConfig): ParseResult {
  const fast = fastAlertmanager(body);
  if (fast) return { ok: true, events: fast.alerts.map((a) => fromPrometheusAlert(a, integration, fast.groupKey, [])) };
  return parseAlertmanagerWithZod(body, integration);
}

/** parseAlertmanager with zod only (the reference the fast path is tested against). */
export function parseAlertmanagerWithZod(body: unknown, integration: IntegrationConfig): ParseResult {
  const r = amBodySchema.safeParse(body);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  return { ok: true, events: r.data.alerts.map((a) => fromPrometheusAlert(a, integration, r.data.groupKey, [])) };
}

// ---------- Grafana (unified alerting webhook, and the legacy one) ----------

const grafanaAlertSchema = amAlertSchema.extend({
  silenceURL: z.string().optional(),
  dashboardURL: z.string().optional(),
  panelURL: z.string().optional(),
});

const grafanaBodySchema = z.looseObject({
  receiver: z.string().optional(),
  status: z.enum(['firing', 'resolved']).optional(),
  groupKey: z.string().optional(),
  title: z.string().optional(),
  message: z.string().optional(),
  alerts: z.array(grafanaAlertSchema).max(10_000, 'at most 10000 alerts per body'),
});

const grafanaLegacySchema = z.looseObject({
  ruleId: z.union([z.number(), z.string()]).optional(),
  ruleName: z.string().min(1),
  state: z.enum(['alerting', 'ok', 'no_data', 'pending', 'paused']),
  title: z.string().optional(),
  message: z.string().optional(),
  ruleUrl: z.string().optional(),
  imageUrl: z.string().optional(),
  tags: labelRecord.optional(),
  evalMatches: z.array(z.unknown()).optional(),
});

/** Parses a Grafana alerting webhook body (unified alerting; legacy `ruleId/state` bodies too). */
export function parseGrafana(body: unknown, integration: IntegrationConfig): ParseResult {
  if (body && typeof body === 'object' && !Array.isArray(body) && !('alerts' in body) && ('ruleName' in body || 'state' in body)) {
    const r = grafanaLegacySchema.safeParse(body);
    if (!r.success) return { ok: false, issues: zodIssues(r.error) };
    const b = r.data;
    if (b.state === 'paused' || b.state === 'pending') return { ok: true, events: [] };
    const labels: Record<string, string> = { alertname: b.ruleName, ...(b.tags ?? {}) };
    const links: AlertLink[] = [];
    if (b.ruleUrl) links.push({ href: b.ruleUrl, text: 'rule', kind: 'source' });
    if (b.imageUrl) links.push({ href: b.imageUrl, text: 'graph', kind: 'image' });
    return {
      ok: true,
      events: [{
        integration: integration.name,
        dedupKey: `rule-${b.ruleId ?? b.ruleName}`,
        action: b.state === 'ok' ? 'resolve' : 'trigger',
        summary: truncate(b.title ?? b.ruleName, MAX_SUMMARY),
        severity: normaliseSeverity(labels.severity, b.state === 'no_data' ? 'warning' : 'error'),
        source: 'grafana',
        service: labels.service ?? integration.service ?? null,
        labels,
        details: { message: b.message, evalMatches: b.evalMatches },
        links,
        startsAt: null,
        raw: b as Record<string, unknown>,
      }],
    };
  }
  const r = grafanaBodySchema.safeParse(body);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  return {
    ok: true,
    events: r.data.alerts.map((a) => {
      const extra: AlertLink[] = [];
      if (a.dashboardURL) extra.push({ href: a.dashboardURL, text: 'dashboard', kind: 'dashboard' });
      if (a.panelURL) extra.push({ href: a.panelURL, text: 'panel', kind: 'dashboard' });
      if (a.silenceURL) extra.push({ href: a.silenceURL, text: 'silence in Grafana', kind: 'silence' });
      const e = fromPrometheusAlert(a, integration, r.data.groupKey, extra);
      if (e.summary === (a.labels.alertname ?? 'alert') && r.data.title) e.summary = truncate(r.data.title, MAX_SUMMARY);
      return e;
    }),
  };
}

// ---------- generic ----------

const genericSchema = z.looseObject({
  summary: z.string().trim().min(1, 'give a summary').max(MAX_SUMMARY),
  severity: z.enum(SEVERITIES),
  source: z.string().trim().min(1, 'give a source').max(MAX_KEY),
  dedupKey: z.string().trim().min(1).max(MAX_KEY).optional(),
  status: z.enum(['firing', 'resolved']).default('firing'),
  labels: labelRecord.default({}),
  details: z.record(z.string(), z.unknown()).default({}),
});

/** Parses `{summary, severity, source, dedupKey?, status?, labels?, details?}`. Without dedupKey, source + summary make the key. */
export function parseGeneric(body: unknown, integration: IntegrationConfig): ParseResult {
  const r = genericSchema.safeParse(body);
  if (!r.success) return { ok: false, issues: zodIssues(r.error) };
  const b = r.data;
  const dedupKey = b.dedupKey ?? createHash('sha256').update(`${b.source}\n${b.summary}`).digest('hex').slice(0, 32);
  return {
    ok: true,
    events: [{
      integration: integration.name,
      dedupKey,
      action: b.status === 'firing' ? 'trigger' : 'resolve',
      summary: b.summary,
      severity: b.severity,
      source: b.source,
      service: b.labels.service ?? integration.service ?? null,
      labels: b.labels,
      details: b.details,
      links: [],
      startsAt: null,
      raw: b as Record<string, unknown>,
    }],
  };
}

// ---------- PagerDuty Events API v2 ----------

/** A PagerDuty event, validated: its routing key, and the event (or PagerDuty's error strings). */
export type PagerDutyParse =
  | { ok: true; routingKey: string; event: Omit<IncomingEvent, 'integration' | 'service'> & { service: string | null }; generatedKey: boolean }
  | { ok: false; errors: string[] };

const PD_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const blank = (v: unknown) => typeof v !== 'string' || v.trim() === '';

/** Validates a PagerDuty Events v2 body the way PagerDuty does, with its error strings. */
export function parsePagerDuty(body: unknown): PagerDutyParse {
  if (!isObject(body)) return { ok: false, errors: ['Event object is invalid: expected a JSON object'] };
  const errors: string[] = [];
  if (blank(body.routing_key)) errors.push("'routing_key' is missing or blank");
  const action = body.event_action;
  if (blank(action)) errors.push("'event_action' is missing or blank");
  else if (!PD_ACTIONS.includes(action as (typeof PD_ACTIONS)[number])) errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
  let dedupKey: string | undefined;
  if (body.dedup_key !== undefined && body.dedup_key !== null) {
    if (typeof body.dedup_key === 'number' && Number.isFinite(body.dedup_key)) dedupKey = String(body.dedup_key);
    else if (typeof body.dedup_key !== 'string') errors.push("'dedup_key' must be a string");
    else dedupKey = body.dedup_key;
    if (dedupKey !== undefined && dedupKey.length > MAX_KEY) errors.push(`'dedup_key' is too long (maximum is ${MAX_KEY} characters)`);
    if (dedupKey !== undefined && dedupKey.trim() === '') dedupKey = undefined;
  }
  if ((action === 'acknowledge' || action === 'resolve') && dedupKey === undefined) errors.push("'dedup_key' is missing or blank");
  const payload = body.payload;
  let timestamp: Date | null = null;
  if (action === 'trigger' || payload !== undefined) {
    if (!isObject(payload)) {
      if (action === 'trigger') errors.push("'payload' is missing or blank");
      else errors.push("'payload' must be an object");
    } else {
      if (action === 'trigger') {
        if (blank(payload.summary)) errors.push("'payload.summary' is missing or blank");
        if (blank(payload.source)) errors.push("'payload.source' is missing or blank");
        if (blank(payload.severity)) errors.push("'payload.severity' is missing or blank");
      }
      if (!blank(payload.severity) && !(SEVERITIES as readonly string[]).includes(payload.severity as string)) {
        errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
      }
      if (payload.summary !== undefined && typeof payload.summary !== 'string') errors.push("'payload.summary' must be a string");
      if (payload.source !== undefined && typeof payload.source !== 'string') errors.push("'payload.source' must be a string");
      for (const f of ['component', 'group', 'class'] as const) {
        if (payload[f] !== undefined && payload[f] !== null && typeof payload[f] !== 'string') errors.push(`'payload.${f}' must be a string`);
      }
      if (payload.timestamp !== undefined && payload.timestamp !== null) {
        timestamp = typeof payload.timestamp === 'string' && /^\d{4}-\d{2}-\d{2}/.test(payload.timestamp) ? parseTime(payload.timestamp) : null;
        if (!timestamp) errors.push("'payload.timestamp' is invalid (must be an ISO 8601 date-time)");
      }
    }
  }
  const links: AlertLink[] = [];
  if (body.links !== undefined && body.links !== null) {
    if (!Array.isArray(body.links)) errors.push("'links' must be an array");
    else body.links.forEach((l, i) => {
      if (!isObject(l) || blank(l.href)) errors.push(`'links[${i}].href' is missing or blank`);
      else links.push({ href: l.href as string, text: typeof l.text === 'string' ? l.text : undefined, kind: 'link' });
    });
  }
  if (body.images !== undefined && body.images !== null) {
    if (!Array.isArray(body.images)) errors.push("'images' must be an array");
    else body.images.forEach((im, i) => {
      if (!isObject(im) || blank(im.src)) errors.push(`'images[${i}].src' is missing or blank`);
      else links.push({ href: im.src as string, text: typeof im.alt === 'string' ? im.alt : undefined, kind: 'image' });
    });
  }
  if (errors.length) return { ok: false, errors };
  const p = (isObject(payload) ? payload : {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  for (const f of ['component', 'group', 'class'] as const) if (typeof p[f] === 'string' && p[f]) labels[f] = p[f] as string;
  if (typeof p.source === 'string') labels.source = p.source;
  const custom = p.custom_details;
  const details: Record<string, unknown> = isObject(custom) ? { ...custom } : custom === undefined || custom === null ? {} : { details: custom };
  const generatedKey = dedupKey === undefined;
  return {
    ok: true,
    routingKey: body.routing_key as string,
    generatedKey,
    event: {
      dedupKey: dedupKey ?? randomUUID().replace(/-/g, ''),
      action: action as IncomingEvent['action'],
      summary: truncate(typeof p.summary === 'string' && p.summary.trim() ? p.summary : '(no summary)', MAX_SUMMARY),
      severity: typeof p.severity === 'string' ? normaliseSeverity(p.severity, 'warning') : 'warning',
      source: typeof p.source === 'string' ? p.source : null,
      service: null,
      labels,
      details,
      links,
      startsAt: timestamp,
      raw: body,
    },
  };
}
