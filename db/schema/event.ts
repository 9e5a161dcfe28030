/** Event management tables: alerts (`ALR-n`), their raw history, alert groups (`GRP-n`), silences (`SIL-n`), heartbeats. */
import { sql } from 'drizzle-orm';
import { bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * One alert: a deduplicated monitoring signal. `state` is derived from the flags
 * (resolved > silenced > acknowledged > flapping > firing) and stored for filtering.
 */
export const alerts = pgTable('alerts', {
  id: serial('id').primaryKey(),
  integration: text('integration').notNull(),
  dedupKey: text('dedup_key').notNull(),
  /** firing | acknowledged | silenced | flapping | resolved */
  state: text('state').notNull(),
  /** critical | error | warning | info */
  severity: text('severity').notNull(),
  summary: text('summary').notNull(),
  source: text('source'),
  service: text('service'),
  labels: jsonb('labels').notNull().$type<Record<string, string>>().default(sql`'{}'::jsonb`),
  details: jsonb('details').notNull().$type<Record<string, unknown>>().default(sql`'{}'::jsonb`),
  links: jsonb('links').notNull().$type<{ href: string; text?: string; kind?: string }[]>().default(sql`'[]'::jsonb`),
  /** Events seen for this alert (the trigger and its repeats, acks and resolves). */
  count: integer('count').notNull().default(1),
  /**
   * Hash of the newest trigger as received. A resend with the same hash only bumps `count` and `lastSeen`; its history
   * gets a row only when what the monitor sends changes (Alertmanager resends every firing alert at each group interval).
   */
  contentHash: text('content_hash'),
  /** When the monitor says it started (payload time), else when tread first saw it. */
  startsAt: ts('starts_at').notNull(),
  firstSeen: ts('first_seen').notNull(),
  lastSeen: ts('last_seen').notNull(),
  acknowledgedAt: ts('acknowledged_at'),
  acknowledgedBy: text('acknowledged_by'),
  resolvedAt: ts('resolved_at'),
  resolvedBy: text('resolved_by'),
  /** `SIL-3` or `maintenance:<service>` while a silence or maintenance window hides it. */
  suppressedBy: text('suppressed_by'),
  suppressedUntil: ts('suppressed_until'),
  flapping: boolean('flapping').notNull().default(false),
  groupId: integer('group_id'),
  incidentId: integer('incident_id'),
  updatedAt: ts('updated_at').notNull(),
}, (t) => [
  // Deduplication: one open alert per integration and key; after a resolve the key opens a new alert.
  uniqueIndex('alerts_open_key').on(t.integration, t.dedupKey).where(sql`state <> 'resolved'`),
  index('alerts_key_seen').on(t.integration, t.dedupKey, t.firstSeen),
  index('alerts_state').on(t.state, t.id),
  index('alerts_group').on(t.groupId),
  index('alerts_incident').on(t.incidentId),
  index('alerts_suppressed').on(t.suppressedUntil).where(sql`suppressed_by is not null and state <> 'resolved'`),
]);

/**
 * The raw events of an alert, oldest first: every acknowledge and resolve, and each trigger whose content differs from the
 * one before (identical resends are counted on the alert instead). Kept out of the audit chain so ingestion never serialises on it.
 * The key (alert, id) is the only index, so an event costs one index entry.
 */
export const alertEvents = pgTable('alert_events', {
  id: bigserial('id', { mode: 'number' }).notNull(),
  alertId: integer('alert_id').notNull(),
  at: ts('at').notNull(),
  /** trigger | acknowledge | resolve | silence | unsilence (and the people's actions) */
  action: text('action').notNull(),
  actor: text('actor'),
  data: jsonb('data').notNull().$type<Record<string, unknown>>(),
}, (t) => [primaryKey({ name: 'alert_events_pkey', columns: [t.alertId, t.id] })]);

/** Alerts correlated by rule into one live card (`GRP-n`). */
export const alertGroups = pgTable('alert_groups', {
  id: serial('id').primaryKey(),
  groupKey: text('group_key').notNull(),
  /** Why its alerts are together, for people. */
  reason: text('reason').notNull(),
  title: text('title').notNull(),
  service: text('service'),
  integration: text('integration').notNull(),
  /** firing | acknowledged | silenced | resolved */
  state: text('state').notNull(),
  severity: text('severity').notNull(),
  /** True while new alerts with this key join it (inside the window and not resolved). */
  accepting: boolean('accepting').notNull().default(true),
  windowEndsAt: ts('window_ends_at'),
  alertCount: integer('alert_count').notNull().default(0),
  openCount: integer('open_count').notNull().default(0),
  /** The routing decision taken when the group opened. */
  route: jsonb('route').notNull().$type<Record<string, unknown>>(),
  incidentId: integer('incident_id'),
  /** The subject paged for this group (`GRP-n` or its incident `INC-n`), once paging started. */
  escalationSubject: text('escalation_subject'),
  firstSeen: ts('first_seen').notNull(),
  acknowledgedAt: ts('acknowledged_at'),
  acknowledgedBy: text('acknowledged_by'),
  resolvedAt: ts('resolved_at'),
  resolvedBy: text('resolved_by'),
  updatedAt: ts('updated_at').notNull(),
}, (t) => [
  uniqueIndex('alert_groups_accepting_key').on(t.groupKey).where(sql`accepting`),
  index('alert_groups_state').on(t.state, t.id),
  index('alert_groups_first_seen').on(t.firstSeen),
  index('alert_groups_incident').on(t.incidentId),
]);

/** Silences (`SIL-n`): label matchers and a time range; matching alerts are stored as silenced. */
export const silences = pgTable('silences', {
  id: serial('id').primaryKey(),
  matchers: jsonb('matchers').notNull().$type<{ name: string; op: string; value: string }[]>(),
  startsAt: ts('starts_at').notNull(),
  endsAt: ts('ends_at').notNull(),
  reason: text('reason').notNull(),
  createdBy: text('created_by').notNull(),
  source: text('source').notNull(),
  createdAt: ts('created_at').notNull(),
  /** Set when someone ended it early. */
  endedBy: text('ended_by'),
}, (t) => [index('silences_ends').on(t.endsAt)]);

/** Heartbeats: the last ping of each configured heartbeat. */
export const heartbeats = pgTable('heartbeats', {
  name: text('name').primaryKey(),
  lastPingAt: ts('last_ping_at').notNull(),
  pings: integer('pings').notNull().default(0),
});

/**
 * Events accepted while their lane was busy: stored durably (one row per request) before the answer, then applied by the
 * lane in order and deleted. A row that fails on its own is kept with its error (`failed`) and skipped.
 */
export const eventIntake = pgTable('event_intake', {
  id: bigserial('id', { mode: 'number' }).notNull(),
  lane: integer('lane').notNull(),
  receivedAt: ts('received_at').notNull().defaultNow(),
  /** How many events `body` holds. */
  events: integer('events').notNull(),
  /** The parsed events as JSON, or with `source` set the request body as received (see `event.intake.ts`). */
  body: text('body').notNull(),
  /** The parser of a body stored as received (`alertmanager`, `grafana`); null when `body` holds parsed events. */
  source: text('source'),
  /** The integration a body stored as received came through (its parser's settings). */
  integration: text('integration'),
  failed: text('failed'),
}, (t) => [primaryKey({ name: 'event_intake_pkey', columns: [t.lane, t.id] })]);
