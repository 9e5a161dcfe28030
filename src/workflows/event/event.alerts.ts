/** Alert rows: content hashes, flags, silences, and writing rows and history in set-based statements; transactions that retry lost races. */
import * as crypto from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { activeMaintenance } from './event.config.js';
import { EVENT_TIMERS, jsonParam, RetryableConflict, tsParam } from './event.groups.js';
import { deriveState, type AlertFlags } from './event.machine.js';
import { matchesAll, type Matcher, type MatchTarget } from './event.match.js';
import { silenceSubject, type AlertRow, type SilenceRow } from './event.messages.js';
import type { IncomingEvent } from './event.parse.js';

// crypto.hash (Node 20.12+) is the one-shot form: no Hash object per call.
const sha1 = (text: string): string => (typeof crypto.hash === 'function' ? crypto.hash('sha1', text, 'base64url') : crypto.createHash('sha1').update(text).digest('base64url'));

/**
 * The hash of an event as received: equal hashes mean the monitor sent the same thing again. The summary is in it too,
 * as it may come from outside the event's own part of the body (Grafana's title).
 */
export function contentHash(ev: IncomingEvent): string {
  return (ev.hash ??= sha1(`${ev.summary}\n${JSON.stringify(ev.raw)}`));
}

/** The flags of a row. */
export function flagsOf(r: AlertRow): AlertFlags {
  return {
    acknowledgedAt: r.acknowledgedAt, acknowledgedBy: r.acknowledgedBy, resolvedAt: r.resolvedAt, resolvedBy: r.resolvedBy,
    suppressedBy: r.suppressedBy, suppressedUntil: r.suppressedUntil, flapping: r.flapping,
  };
}

/** Writes flags (and the derived state) onto a row. */
export function setFlags(r: AlertRow, f: AlertFlags): void {
  Object.assign(r, f);
  r.state = deriveState(f);
}

/** What matching sees of an alert row. */
export function targetOf(r: Pick<AlertRow, 'labels' | 'service' | 'severity' | 'integration' | 'source'>): MatchTarget {
  return { labels: r.labels, service: r.service, severity: r.severity, integration: r.integration, source: r.source };
}

/** Silences in force at `now`. */
export async function activeSilences(tx: DbOrTx, now: Date): Promise<SilenceRow[]> {
  return tx.select().from(schema.silences).where(sql`${schema.silences.startsAt} <= ${tsParam(now)} and ${schema.silences.endsAt} > ${tsParam(now)}`);
}

/** The silence or maintenance window hiding an alert now (the one lasting longest), if any. */
export function suppressionFor(app: AppContext, silences: SilenceRow[], t: MatchTarget, now: Date): { by: string; until: Date } | undefined {
  let best: { by: string; until: Date } | undefined;
  if (silences.length) {
    const labels = { ...t.labels, ...(t.service ? { service: t.service } : {}), severity: t.severity, integration: t.integration, ...(t.source && t.labels.source === undefined ? { source: t.source } : {}) };
    for (const s of silences) {
      if (matchesAll(s.matchers as Matcher[], labels) && (!best || s.endsAt > best.until)) best = { by: silenceSubject(s.id), until: s.endsAt };
    }
  }
  const m = activeMaintenance(app.config.maintenance, t.service, now, app.config.timezone);
  if (m && (!best || m.endsAt > best.until)) best = { by: `maintenance:${t.service}`, until: m.endsAt };
  return best;
}

/** Schedules the check that lifts suppressions ending at `until`. */
export async function scheduleUnsuppress(tx: Tx, untils: Date[]): Promise<void> {
  const rows = [...new Set(untils.map((u) => u.getTime()))].map((ms) => ({ due: new Date(ms).toISOString(), key: `${EVENT_TIMERS.unsuppress}:${ms}` }));
  if (rows.length === 0) return;
  await tx.execute(sql`insert into timers (due_at, kind, subject, key, payload)
    select x.due, ${EVENT_TIMERS.unsuppress}, 'alerts', x.key, '{}'::jsonb from json_to_recordset(${jsonParam(rows)}) as x(due timestamptz, key text)
    on conflict (key) do nothing`);
}

/** The alert columns as json_to_recordset reads them. */
const ALERT_COLUMNS = sql.raw(`id int, integration text, dedup_key text, state text, severity text, summary text, source text, service text,
  labels jsonb, details jsonb, links jsonb, count int, starts_at timestamptz, first_seen timestamptz, last_seen timestamptz,
  acknowledged_at timestamptz, acknowledged_by text, resolved_at timestamptz, resolved_by text, suppressed_by text,
  suppressed_until timestamptz, flapping boolean, group_id int, incident_id int, updated_at timestamptz, content_hash text`);

function alertRecord(r: AlertRow): Record<string, unknown> {
  return {
    id: r.id, integration: r.integration, dedup_key: r.dedupKey, state: r.state, severity: r.severity, summary: r.summary, source: r.source,
    service: r.service, labels: r.labels, details: r.details, links: r.links, count: r.count, starts_at: r.startsAt, first_seen: r.firstSeen,
    last_seen: r.lastSeen, acknowledged_at: r.acknowledgedAt, acknowledged_by: r.acknowledgedBy, resolved_at: r.resolvedAt,
    resolved_by: r.resolvedBy, suppressed_by: r.suppressedBy, suppressed_until: r.suppressedUntil, flapping: r.flapping,
    group_id: r.groupId, incident_id: r.incidentId, updated_at: r.updatedAt, content_hash: r.contentHash,
  };
}

/** One entry of an alert's own history. */
export interface HistoryEntry {
  alertId: number;
  at: Date;
  action: string;
  actor: string | null;
  data: unknown;
}

/**
 * Writes new alerts (ids already allocated), changed alerts (read under lock) and history entries in one statement.
 * Content columns left undefined on a changed row keep their stored value.
 */
export async function writeAlerts(tx: Tx, inserts: AlertRow[], updates: AlertRow[], history: HistoryEntry[], also?: SQL): Promise<void> {
  const ctes: SQL[] = [];
  if (also) ctes.push(sql`also as (${also})`);
  if (inserts.length) {
    ctes.push(sql`ins as (insert into alerts (id, integration, dedup_key, state, severity, summary, source, service, labels, details, links, count,
        starts_at, first_seen, last_seen, acknowledged_at, acknowledged_by, resolved_at, resolved_by, suppressed_by, suppressed_until, flapping,
        group_id, incident_id, updated_at, content_hash)
      select id, integration, dedup_key, state, severity, summary, source, service, coalesce(labels, '{}'::jsonb), coalesce(details, '{}'::jsonb),
        coalesce(links, '[]'::jsonb), count, starts_at, first_seen, last_seen, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
        suppressed_by, suppressed_until, flapping, group_id, incident_id, updated_at, content_hash
      from json_to_recordset(${jsonParam(inserts.map(alertRecord))}) as x(${ALERT_COLUMNS}))`);
  }
  if (updates.length) {
    ctes.push(sql`upd as (update alerts a set state = x.state, severity = coalesce(x.severity, a.severity), summary = coalesce(x.summary, a.summary),
        source = coalesce(x.source, a.source), labels = coalesce(x.labels, a.labels), details = coalesce(x.details, a.details),
        links = coalesce(x.links, a.links), count = x.count, last_seen = x.last_seen, acknowledged_at = x.acknowledged_at,
        acknowledged_by = x.acknowledged_by, resolved_at = x.resolved_at, resolved_by = x.resolved_by, suppressed_by = x.suppressed_by,
        suppressed_until = x.suppressed_until, flapping = x.flapping, group_id = x.group_id, incident_id = x.incident_id, updated_at = x.updated_at,
        content_hash = coalesce(x.content_hash, a.content_hash)
      from json_to_recordset(${jsonParam(updates.map(alertRecord))}) as x(${ALERT_COLUMNS})
      where a.id = x.id)`);
  }
  const main = history.length
    ? sql`insert into alert_events (alert_id, at, action, actor, data)
        select alert_id, at, action, actor, coalesce(data, '{}'::jsonb)
        from json_to_recordset(${jsonParam(history.map((e) => ({ alert_id: e.alertId, at: e.at, action: e.action, actor: e.actor, data: e.data })))})
          as x(alert_id int, at timestamptz, action text, actor text, data jsonb)`
    : sql`select 1`;
  if (ctes.length === 0 && history.length === 0) return;
  await tx.execute(ctes.length ? sql`with ${sql.join(ctes, sql`, `)} ${main}` : main);
}

/** Writes changed alert rows back (the rows were locked when read). */
export async function updateAlerts(tx: Tx, rows: AlertRow[]): Promise<void> {
  await writeAlerts(tx, [], rows, []);
}

/** Appends entries to alerts' own histories. */
export async function addHistory(tx: Tx, entries: HistoryEntry[]): Promise<void> {
  await writeAlerts(tx, [], [], entries);
}

/** True for errors worth retrying the whole transaction for: deadlocks, serialisation failures, a lost insert race. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof RetryableConflict) return true;
  const codes = new Set<string>();
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') codes.add(code);
    cur = (cur as { cause?: unknown }).cause;
  }
  return ['40P01', '40001', '23505'].some((c) => codes.has(c));
}

/** Runs a transaction, retrying a few times when it lost a race with a concurrent writer. */
export async function withRetry<T>(app: AppContext, work: (tx: Tx) => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await app.db.transaction(async (tx) => work(tx as unknown as Tx));
    } catch (e) {
      if (i >= attempts || !isRetryable(e)) throw e;
      app.log.debug({ attempt: i, err: (e as Error).message }, 'event transaction lost a race; retrying');
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 10 * i));
    }
  }
}

