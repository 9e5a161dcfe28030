/** The event management sections of the organisation file: integrations, heartbeats, routing, correlation, maintenance. */
import { z } from 'zod';
import { idSchema, timeOfDaySchema, timezoneSchema } from '../../core/config/schemas.js';
import { zonedParts } from '../../core/time-zone.js';
import { durationSchema } from '../../core/duration.js';
import type { OrgConfig } from '../../core/config/org.js';
import type { ConfigSection } from '../../core/workflow.js';

const name = idSchema;
const timeOfDay = timeOfDaySchema;
const timezone = timezoneSchema;
const isoTime = z.string().refine((v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v)), 'write a time as ISO 8601, like 2026-03-01T22:00:00Z').transform((v) => new Date(v));
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.infer<T>[]);

/** Severities, most severe first. */
export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** The monitors tread takes events from. */
export const INTEGRATION_KINDS = ['alertmanager', 'pagerduty', 'grafana', 'generic'] as const;
export type IntegrationKind = (typeof INTEGRATION_KINDS)[number];
/** The integration name heartbeat alerts carry; no configured integration may use it. */
export const HEARTBEAT_INTEGRATION = 'heartbeat';
/** Integrations of alerts tread raises itself through `event.raise` (`tread.access`); no configured integration may use it. */
export const RAISED_PREFIX = 'tread.';

const integrationSchema = z.object({
  name,
  kind: z.enum(INTEGRATION_KINDS),
  /** Bearer token callers send (alertmanager, grafana, generic). */
  token: z.string().min(8, 'a token needs at least 8 characters').optional(),
  /** PagerDuty routing key (integration key) events carry in `routing_key`. */
  routingKey: z.string().min(1).max(255).optional(),
  /** Default service of its alerts (the label `service` overrides). */
  service: name.optional(),
  rateLimitPerMinute: z.number().int().positive().optional(),
}).superRefine((i, ctx) => {
  if (i.kind === 'pagerduty' && !i.routingKey) ctx.addIssue({ code: 'custom', path: ['routingKey'], message: 'a pagerduty integration needs a routingKey (the key events send as routing_key)' });
  if (i.kind !== 'pagerduty' && !i.token) ctx.addIssue({ code: 'custom', path: ['token'], message: `a ${i.kind} integration needs a token (callers send it as Authorization: Bearer <token>)` });
  if (i.name === HEARTBEAT_INTEGRATION) ctx.addIssue({ code: 'custom', path: ['name'], message: `"${HEARTBEAT_INTEGRATION}" is reserved for heartbeat alerts` });
  if (i.name.startsWith(RAISED_PREFIX)) ctx.addIssue({ code: 'custom', path: ['name'], message: `names starting with "${RAISED_PREFIX}" are reserved for alerts tread raises itself` });
});

const heartbeatSchema = z.object({
  name,
  service: name.optional(),
  timeout: durationSchema,
  severity: z.enum(SEVERITIES).default('critical'),
  /** When set, pings must send Authorization: Bearer <token>. */
  token: z.string().min(8, 'a token needs at least 8 characters').optional(),
  summary: z.string().optional(),
});

/** What a routing rule or correlation rule applies to; every given field must match. */
const matchSchema = z.object({
  service: oneOrMany(z.string()).optional(),
  severity: oneOrMany(z.enum(SEVERITIES)).optional(),
  integration: oneOrMany(z.string()).optional(),
  /** Label values, exact (several values: any of them). */
  labels: z.record(z.string(), oneOrMany(z.string())).optional(),
}).strict();

const level = z.enum(['high', 'medium', 'low']);

const routeSchema = z.object({
  name: z.string().optional(),
  match: matchSchema.default({}),
  /** Where the group card goes (else the service's channels). */
  channel: z.object({
    slack: z.string().min(1).optional(),
    teams: z.object({ team: z.string().min(1), channel: z.string().min(1) }).optional(),
    console: z.string().min(1).optional(),
  }).strict().optional(),
  /** Page the on-call of the escalation policy (default: for critical and error alerts when a policy is known). */
  page: z.boolean().optional(),
  escalationPolicy: z.string().optional(),
  /** Open an incident (default: for critical alerts, impact medium, urgency high). */
  incident: z.union([z.boolean(), z.object({ impact: level.default('medium'), urgency: level.default('high') }).strict()]).optional(),
  /** Resolve the incident when every alert of the group is resolved (default: correlation.resolveIncident). */
  resolveIncident: z.boolean().optional(),
  /** Notify at all (false: store and show, but post no card). */
  notify: z.boolean().default(true),
}).strict();

const correlationRuleSchema = z.object({
  name: z.string().optional(),
  match: matchSchema.default({}),
  groupBy: z.array(z.string().min(1)).min(1),
  window: durationSchema.optional(),
}).strict();

const DEFAULT_CARDS = { settle: 5000 as number | false, settleMax: 25_000, refresh: 10_000, stormGroups: 10 };

/**
 * When group cards are drawn, so an alert storm fits the platforms' budgets (Slack: 50 edits a minute per workspace):
 * counters on a busy card are redrawn at most every `refresh`; and while more than `stormGroups` groups opened in the
 * last minute, a new group's card (one that neither pages nor opens an incident) waits until no alert joined it for
 * `settle`, at most `settleMax` after its first alert, and is posted with its counts then instead of posted and edited.
 */
const cardsSchema = z.object({
  settle: z.union([z.literal(false), durationSchema]).default(DEFAULT_CARDS.settle),
  settleMax: durationSchema.default(DEFAULT_CARDS.settleMax),
  refresh: durationSchema.default(DEFAULT_CARDS.refresh),
  stormGroups: z.number().int().min(0).default(DEFAULT_CARDS.stormGroups),
}).strict().default(DEFAULT_CARDS);

const DEFAULT_CORRELATION = {
  window: 5 * 60_000,
  groupBy: ['service', 'alertname'],
  rules: [] as z.infer<typeof correlationRuleSchema>[],
  alertmanagerGroups: true,
  resolveIncident: true,
  flapping: { changes: 6, window: 30 * 60_000 },
  cards: DEFAULT_CARDS,
};

const correlationSchema = z.object({
  /** New alerts join a group with the same key for this long after it opened. */
  window: durationSchema.default(DEFAULT_CORRELATION.window),
  /** Labels that make the group key (`service`, `severity`, `integration` and `source` are labels too). */
  groupBy: z.array(z.string().min(1)).min(1).default(DEFAULT_CORRELATION.groupBy),
  rules: z.array(correlationRuleSchema).default([]),
  /** Alerts that Alertmanager sends in one group (same groupKey) stay in one group. */
  alertmanagerGroups: z.boolean().default(true),
  /** Resolving every alert of a group resolves the incident opened for it. */
  resolveIncident: z.boolean().default(true),
  /** More than `changes` state changes (firing/resolved) of one key within `window` marks it flapping. */
  flapping: z.object({ changes: z.number().int().min(1).default(6), window: durationSchema.default(30 * 60_000) }).default(DEFAULT_CORRELATION.flapping),
  cards: cardsSchema,
}).strict().default(DEFAULT_CORRELATION);

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const maintenanceSchema = z.object({
  service: name,
  reason: z.string().default('maintenance'),
  /** A one-off window. */
  start: isoTime.optional(),
  end: isoTime.optional(),
  /** A weekly window, in `timezone`: days and HH:MM start/end (end before start runs past midnight). */
  weekly: z.object({ days: z.array(z.enum(WEEKDAYS)).min(1), start: timeOfDay, end: timeOfDay, timezone: timezone.optional() }).strict().optional(),
}).strict().superRefine((m, ctx) => {
  if (!m.weekly && !(m.start && m.end)) ctx.addIssue({ code: 'custom', path: ['start'], message: 'give a window as start and end (ISO times) or weekly: {days, start, end}' });
  if (m.start && m.end && m.start >= m.end) ctx.addIssue({ code: 'custom', path: ['end'], message: 'end must be after start' });
});

/** The fields event management adds to the organisation file. */
const shape = {
  integrations: z.array(integrationSchema).default([]),
  heartbeats: z.array(heartbeatSchema).default([]),
  routing: z.array(routeSchema).default([]),
  correlation: correlationSchema,
  maintenance: z.array(maintenanceSchema).default([]),
};

/** The parsed event sections. */
export type EventConfig = z.infer<z.ZodObject<typeof shape>>;

declare module '../../core/config/org.js' {
  interface OrgSections extends EventConfig {}
}
/** One entry of each event section. */
export type IntegrationConfig = EventConfig['integrations'][number];
export type HeartbeatConfig = EventConfig['heartbeats'][number];
export type RouteConfig = EventConfig['routing'][number];
export type MatchConfig = RouteConfig['match'];
export type CorrelationConfig = EventConfig['correlation'];
export type CardTiming = CorrelationConfig['cards'];
export type MaintenanceConfig = EventConfig['maintenance'][number];

/** Cross-checks for the event sections: known services and policies, duplicate names and keys. */
function checkEventConfig(org: OrgConfig, addIssue: (path: (string | number)[], message: string) => void): void {
  const services = new Set(org.services.map((s) => s.name));
  // escalationPolicies belong to on-call: when that workflow is not running or its section did not parse, do not check against it
  const policies = org.escalationPolicies ? new Set(org.escalationPolicies.map((p) => p.name)) : undefined;
  const checkService = (service: string | undefined, path: (string | number)[]) => {
    if (service && !services.has(service)) addIssue(path, `unknown service "${service}" (not in services)`);
  };
  org.routing.forEach((r, n) => {
    if (r.escalationPolicy && policies && !policies.has(r.escalationPolicy)) addIssue(['routing', n, 'escalationPolicy'], `unknown escalation policy "${r.escalationPolicy}" (not in escalationPolicies)`);
  });
  org.integrations.forEach((i, n) => checkService(i.service, ['integrations', n, 'service']));
  org.heartbeats.forEach((h, n) => checkService(h.service, ['heartbeats', n, 'service']));
  org.maintenance.forEach((m, n) => checkService(m.service, ['maintenance', n, 'service']));
  const names = new Set<string>();
  const keys = new Set<string>();
  org.integrations.forEach((i, n) => {
    if (names.has(i.name)) addIssue(['integrations', n, 'name'], `duplicate integration "${i.name}"`);
    names.add(i.name);
    if (i.routingKey) {
      if (keys.has(i.routingKey)) addIssue(['integrations', n, 'routingKey'], 'two integrations share this routingKey');
      keys.add(i.routingKey);
    }
  });
  const beats = new Set<string>();
  org.heartbeats.forEach((h, n) => {
    if (beats.has(h.name)) addIssue(['heartbeats', n, 'name'], `duplicate heartbeat "${h.name}"`);
    beats.add(h.name);
  });
}

/** The event workflow's sections of the organisation file. */
export const eventConfig: ConfigSection = { shape, check: checkEventConfig };

function localParts(at: Date, timeZone: string): { day: number; minutes: number } {
  const p = zonedParts(at, timeZone); // cached formatter per zone
  return { day: p.weekday, minutes: p.hour * 60 + p.minute };
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The maintenance window a service is in at `now`, with when it ends; undefined when none. */
export function activeMaintenance(windows: readonly MaintenanceConfig[], service: string | null | undefined, now: Date, defaultTimezone = 'UTC'): { endsAt: Date; reason: string } | undefined {
  if (!service) return undefined;
  let best: { endsAt: Date; reason: string } | undefined;
  for (const w of windows) {
    if (w.service !== service) continue;
    let endsAt: Date | undefined;
    if (w.start && w.end && w.start <= now && now < w.end) endsAt = w.end;
    if (w.weekly) {
      const tz = w.weekly.timezone ?? defaultTimezone;
      const { day, minutes } = localParts(now, tz);
      const start = toMinutes(w.weekly.start);
      const end = toMinutes(w.weekly.end);
      const days = new Set(w.weekly.days.map((d) => WEEKDAYS.indexOf(d)));
      let left: number | undefined;
      if (start < end) {
        if (days.has(day) && minutes >= start && minutes < end) left = end - minutes;
      } else if (days.has(day) && minutes >= start) {
        left = 24 * 60 - minutes + end; // runs past midnight
      } else if (days.has((day + 6) % 7) && minutes < end) {
        left = end - minutes;
      }
      if (left !== undefined) endsAt = new Date(Math.floor(now.getTime() / 60_000) * 60_000 + left * 60_000);
    }
    if (endsAt && (!best || endsAt > best.endsAt)) best = { endsAt, reason: w.reason };
  }
  return best;
}
