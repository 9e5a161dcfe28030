/**
 * Ingestion: a batch of events → deduplicated alerts, their history, groups, cards, incidents and pages, in one transaction
 * with set-based SQL. The EventWriter commits the events of many concurrent requests together (group commit) and answers
 * each request only after its events are durable.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as crypto from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { activeMaintenance } from './event.config.js';
import { EVENT_TIMERS, assignGroups, jsonParam, tsParam, onGroupChanges, rawRows, refreshGroups, RetryableConflict, touchCardsSql, type EventCtx, type Joined } from './event.groups.js';
import { WEBHOOK_ACTOR, type Actor } from './event.links.js';
import { applyAlertAction, deriveState, isFlapping, severityRank, type AlertFlags } from './event.machine.js';
import { matchesAll, type Matcher, type MatchTarget } from './event.match.js';
import { silenceSubject, type AlertRow, type SilenceRow } from './event.messages.js';
import type { IncomingEvent } from './event.parse.js';

/** What happened to one event. */
export interface EventOutcome {
  dedupKey: string;
  alertId: number | null;
  outcome: 'created' | 'deduplicated' | 'acknowledged' | 'resolved' | 'ignored';
}

interface Work {
  row: AlertRow;
  isNew: boolean;
  dirty: boolean;
  stateChanged: boolean;
  severityRaised: boolean;
  amGroupKey?: string;
  lastGroup?: number | null;
  previous?: Work;
}

const keyOf = (integration: string, dedupKey: string) => `${integration}\u0000${dedupKey}`;

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
export async function activeSilences(tx: Tx | AppContext['db'], now: Date): Promise<SilenceRow[]> {
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

function newWork(ev: IncomingEvent, now: Date): Work {
  return {
    isNew: true, dirty: true, stateChanged: true, severityRaised: false, amGroupKey: ev.groupKey,
    row: {
      id: 0, integration: ev.integration, dedupKey: ev.dedupKey, state: 'firing', severity: ev.severity, summary: ev.summary,
      source: ev.source, service: ev.service, labels: ev.labels, details: ev.details, links: ev.links, count: 1,
      startsAt: ev.startsAt ?? now, firstSeen: now, lastSeen: now, acknowledgedAt: null, acknowledgedBy: null, resolvedAt: null,
      resolvedBy: null, suppressedBy: null, suppressedUntil: null, flapping: false, groupId: null, incidentId: null, updatedAt: now,
      contentHash: ev.action === 'trigger' ? contentHash(ev) : null,
    },
  };
}

/** Counts a repeated trigger onto its alert; true when its content differs from the newest stored trigger's. */
function bump(w: Work, ev: IncomingEvent, now: Date): boolean {
  const r = w.row;
  const hash = contentHash(ev);
  const changed = hash !== r.contentHash;
  r.contentHash = hash;
  if (severityRank(ev.severity) < severityRank(r.severity)) w.severityRaised = true;
  r.count += 1;
  r.lastSeen = now;
  r.updatedAt = now;
  r.summary = ev.summary;
  r.severity = ev.severity;
  r.source = ev.source ?? r.source;
  r.labels = ev.labels;
  r.details = ev.details;
  r.links = ev.links;
  w.dirty = true;
  return changed;
}

interface PriorRow {
  i: string;
  k: string;
  n: number;
  last_group: number | null;
}

/** Flapping, suppression, groups and ids for the alerts a batch opens. Returns the groups opened. */
async function prepareNew(ctx: EventCtx, created: Work[]): Promise<Set<number>> {
  const { tx, app, now } = ctx;
  const flap = app.config.correlation.flapping;
  const keys = [...new Map(created.map((w) => [keyOf(w.row.integration, w.row.dedupKey), { i: w.row.integration, k: w.row.dedupKey }])).values()];
  const prior = await rawRows<PriorRow>(tx, sql`select integration as i, dedup_key as k, count(*)::int as n,
      (array_agg(group_id order by id desc) filter (where group_id is not null))[1] as last_group
    from alerts where (integration, dedup_key) in (select i, k from json_to_recordset(${jsonParam(keys)}) as x(i text, k text))
      and first_seen >= ${tsParam(new Date(now.getTime() - flap.window))}
    group by integration, dedup_key`);
  const priorBy = new Map(prior.map((p) => [keyOf(p.i, p.k), p]));
  const seen = new Map<string, Work>();
  const counts = new Map<string, number>();
  for (const w of created) {
    const k = keyOf(w.row.integration, w.row.dedupKey);
    const earlier = (priorBy.get(k)?.n ?? 0) + (counts.get(k) ?? 0);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    w.previous = seen.get(k);
    w.lastGroup = priorBy.get(k)?.last_group ?? null;
    seen.set(k, w);
    if (isFlapping(earlier, 0, flap.changes)) w.row.flapping = true;
  }
  const live = created.filter((w) => !w.row.resolvedAt);
  if (live.length) {
    const silences = await activeSilences(tx, now);
    for (const w of live) {
      const s = suppressionFor(app, silences, targetOf(w.row), now);
      if (s) {
        w.row.suppressedBy = s.by;
        w.row.suppressedUntil = s.until;
      }
    }
  }
  const flappers = live.filter((w) => !w.row.suppressedBy && w.row.flapping && (w.lastGroup || w.previous));
  const normal = live.filter((w) => !w.row.suppressedBy && !flappers.includes(w));
  const assigned = await assignGroups(ctx, normal.map((w) => ({ target: targetOf(w.row), summary: w.row.summary, amGroupKey: w.amGroupKey })));
  const opened = new Set<number>();
  normal.forEach((w, i) => {
    const a = assigned[i]!;
    w.row.groupId = a.group.id;
    w.row.incidentId = a.group.incidentId;
    if (a.created) opened.add(a.group.id);
  });
  if (flappers.length) {
    for (const w of flappers) w.row.groupId = w.previous?.row.groupId ?? w.lastGroup ?? null;
    const ids = [...new Set(flappers.map((w) => w.row.groupId).filter((x): x is number => x !== null))];
    if (ids.length) {
      const incidents = await rawRows<{ id: number; incident_id: number | null }>(tx, sql`select id, incident_id from alert_groups where id in ${ids}`);
      const byId = new Map(incidents.map((g) => [Number(g.id), g.incident_id]));
      for (const w of flappers) if (w.row.groupId) w.row.incidentId = byId.get(w.row.groupId) ?? null;
    }
  }
  for (const w of created) w.row.state = deriveState(flagsOf(w.row));
  const ids = await rawRows<{ id: number }>(tx, sql`select nextval(pg_get_serial_sequence('alerts', 'id'))::int as id from generate_series(1, ${created.length})`);
  created.forEach((w, i) => { w.row.id = Number(ids[i]!.id); });
  await scheduleUnsuppress(tx, created.filter((w) => w.row.suppressedUntil && !w.row.resolvedAt).map((w) => w.row.suppressedUntil!));
  return opened;
}

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

/** The columns read under lock by ingestion: everything but the bulky content, which a trigger replaces anyway. */
const LOCK_COLUMNS = {
  id: schema.alerts.id, integration: schema.alerts.integration, dedupKey: schema.alerts.dedupKey, state: schema.alerts.state,
  severity: schema.alerts.severity, summary: schema.alerts.summary, source: schema.alerts.source, service: schema.alerts.service,
  count: schema.alerts.count, startsAt: schema.alerts.startsAt, firstSeen: schema.alerts.firstSeen, lastSeen: schema.alerts.lastSeen,
  acknowledgedAt: schema.alerts.acknowledgedAt, acknowledgedBy: schema.alerts.acknowledgedBy, resolvedAt: schema.alerts.resolvedAt,
  resolvedBy: schema.alerts.resolvedBy, suppressedBy: schema.alerts.suppressedBy, suppressedUntil: schema.alerts.suppressedUntil,
  flapping: schema.alerts.flapping, groupId: schema.alerts.groupId, incidentId: schema.alerts.incidentId, updatedAt: schema.alerts.updatedAt,
  contentHash: schema.alerts.contentHash,
};

/**
 * Applies events in the caller's transaction: PagerDuty's dedup/ack/resolve rules per integration and key, raw events into
 * each alert's history, correlation, routing, and the group cards. Returns one outcome per event, in order.
 * Three passes, cheapest first: identical resends (a counter bump), repeats with new content, then everything else.
 */
export async function applyEvents(tx: Tx, app: AppContext, events: IncomingEvent[], now: Date, actor: Actor = WEBHOOK_ACTOR): Promise<{ outcomes: EventOutcome[]; outbox: boolean }> {
  if (events.length === 0) return { outcomes: [], outbox: false };
  const triggers = triggerKeys(events);
  const { handled, open } = await applyIdentical(tx, triggers, now);
  // repeats with new content: only keys with an open alert (new keys go straight to the detailed path)
  for (const k of [...triggers.keys()]) if (handled.has(k) || !open.has(k)) triggers.delete(k);
  const repeated = await applyRepeats(tx, triggers, now);
  for (const [k, id] of repeated) handled.set(k, id);
  if (handled.size === 0) return applyInDetail(tx, app, events, now, actor);
  const rest = events.filter((e) => !handled.has(keyOf(e.integration, e.dedupKey)));
  const detailed = rest.length ? await applyInDetail(tx, app, rest, now, actor) : { outcomes: [], outbox: false };
  let at = 0;
  const outcomes = events.map((e): EventOutcome => {
    const id = handled.get(keyOf(e.integration, e.dedupKey));
    return id !== undefined ? { dedupKey: e.dedupKey, alertId: id, outcome: 'deduplicated' } : detailed.outcomes[at++]!;
  });
  return { outcomes, outbox: detailed.outbox };
}

/** The events of one key in a batch, when all of them are triggers. */
interface KeyTriggers {
  i: string;
  k: string;
  events: IncomingEvent[];
}

/** Keys whose events in this batch are all triggers, sorted (rows are locked in this order), with their events. */
function triggerKeys(events: IncomingEvent[]): Map<string, KeyTriggers> {
  const byKey = new Map<string, KeyTriggers | null>();
  for (const e of events) {
    const k = keyOf(e.integration, e.dedupKey);
    const entry = byKey.get(k);
    if (entry === null) continue;
    if (e.action !== 'trigger') byKey.set(k, null);
    else if (entry) entry.events.push(e);
    else byKey.set(k, { i: e.integration, k: e.dedupKey, events: [e] });
  }
  const keys = [...byKey].filter((x): x is [string, KeyTriggers] => x[1] !== null);
  keys.sort(([, a], [, b]) => (a.i < b.i ? -1 : a.i > b.i ? 1 : a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return new Map(keys);
}

/** Inserts the card redraw timers of the groups in `u` (a CTE returning group_id). */
function touchCardsFrom(at: SQL): SQL {
  return sql`insert into timers (due_at, kind, subject, key, payload)
      select distinct ${at}::timestamptz, ${EVENT_TIMERS.card}, 'GRP-' || u.group_id, ${`${EVENT_TIMERS.card}:`} || 'GRP-' || u.group_id, jsonb_build_object('groupId', u.group_id)
      from u where u.group_id is not null
      on conflict (key) do nothing`;
}

/**
 * The steady state of a monitor that resends (Alertmanager at every group interval): keys whose triggers in this batch
 * all equal the alert's newest stored content. One light statement bumps their count and last seen and marks their group
 * cards for a redraw; nothing else changes, so nothing else is written. Returns the keys it handled with their alert ids,
 * and which of the other keys have an open alert (no row: the key is new).
 */
async function applyIdentical(tx: Tx, triggers: Map<string, KeyTriggers>, now: Date): Promise<{ handled: Map<string, number>; open: Set<string> }> {
  if (triggers.size === 0) return { handled: new Map(), open: new Set() };
  const rows: { i: string; k: string; n: number; h: string | null }[] = [];
  for (const t of triggers.values()) {
    const h = contentHash(t.events[0]!);
    rows.push({ i: t.i, k: t.k, n: t.events.length, h: t.events.every((e) => contentHash(e) === h) ? h : null });
  }
  const at = tsParam(now);
  const found = await rawRows<{ id: number; i: string; k: string; done: boolean }>(tx, sql`with x as materialized (
      select * from json_to_recordset(${jsonParam(rows)}) as x(i text, k text, n int, h text)
    ), u as (
      update alerts a set count = a.count + x.n, last_seen = ${at}, updated_at = ${at}
      from x
      where a.integration = x.i and a.dedup_key = x.k and a.state <> 'resolved' and a.content_hash = x.h
      returning a.id, a.integration, a.dedup_key, a.group_id
    ), t as (${touchCardsFrom(at)})
    select id, integration as i, dedup_key as k, true as done from u
    union all
    select a.id, a.integration, a.dedup_key, false
    from x join alerts a on a.integration = x.i and a.dedup_key = x.k and a.state <> 'resolved' and a.content_hash is distinct from x.h`);
  const handled = new Map<string, number>();
  const open = new Set<string>();
  for (const r of found) {
    const k = keyOf(r.i, r.k);
    if (r.done) handled.set(k, Number(r.id));
    else open.add(k);
  }
  return { handled, open };
}

/**
 * Repeats that bring new content, in one statement: keys whose alert is open and not rising in severity are deduplicated
 * by a set-based UPDATE (count, last seen, newest content), their changed raw events appended to their history and their
 * group cards marked for a redraw. Returns the keys it handled with their alert ids; every other event takes the detailed
 * path.
 */
async function applyRepeats(tx: Tx, triggers: Map<string, KeyTriggers>, now: Date): Promise<Map<string, number>> {
  if (triggers.size === 0) return new Map();
  const rows = [...triggers.values()].map(({ i, k, events }) => {
    const last = events[events.length - 1]!;
    // consecutive identical resends inside the batch are one history entry
    const raws = events.filter((e, j) => j === 0 || contentHash(e) !== contentHash(events[j - 1]!)).map((e) => e.raw);
    return {
      i, k, n: events.length, summary: last.summary, severity: last.severity, sev: severityRank(last.severity), source: last.source,
      ...(last.stableLabels ? {} : { labels: last.labels, links: last.links }), details: last.details, h: contentHash(last),
      h0: contentHash(events[0]!), raws,
    };
  });
  const at = tsParam(now);
  const updated = await rawRows<{ id: number; i: string; k: string }>(tx, sql`with x as materialized (
      select * from json_to_recordset(${jsonParam(rows)}) as x(i text, k text, n int, summary text, severity text, sev int, source text,
        labels jsonb, details jsonb, links jsonb, h text, h0 text, raws json)
    ), pre as (
      -- locked and read first: the newest stored hash (a concurrent writer's, once it committed) decides the history
      select a.id, a.content_hash, x.i, x.k from alerts a join x on a.integration = x.i and a.dedup_key = x.k
      where a.state <> 'resolved' and x.sev >= (case a.severity when 'critical' then 0 when 'error' then 1 when 'warning' then 2 else 3 end)
      for update of a
    ), u as (
      update alerts a set count = a.count + x.n, last_seen = ${at}, updated_at = ${at}, summary = x.summary, severity = x.severity,
        source = coalesce(x.source, a.source), labels = coalesce(x.labels, a.labels), details = x.details, links = coalesce(x.links, a.links),
        content_hash = x.h
      from pre join x on x.i = pre.i and x.k = pre.k
      where a.id = pre.id and a.state <> 'resolved'
      returning a.id, a.integration, a.dedup_key, a.group_id, pre.content_hash as stored
    ), h as (
      insert into alert_events (alert_id, at, action, actor, data)
      select u.id, ${at}, 'trigger', u.integration, r.value::jsonb
      from u join x on x.i = u.integration and x.k = u.dedup_key cross join lateral json_array_elements(x.raws) with ordinality as r(value, ord)
      where not (r.ord = 1 and u.stored is not distinct from x.h0)
      order by u.id, r.ord
    ), t as (${touchCardsFrom(at)})
    select id, integration as i, dedup_key as k from u`);
  return new Map(updated.map((r) => [keyOf(r.i, r.k), Number(r.id)]));
}

/** The detailed path: read the open alerts under lock, apply PagerDuty's rules event by event, correlate what is new. */
async function applyInDetail(tx: Tx, app: AppContext, events: IncomingEvent[], now: Date, actor: Actor): Promise<{ outcomes: EventOutcome[]; outbox: boolean }> {
  const integrations = new Set(events.map((e) => e.integration));
  const ctx: EventCtx = { app, tx, now, actor, by: integrations.size === 1 ? [...integrations][0]! : 'monitors', outbox: false };
  const keys = [...new Map(events.map((e) => [keyOf(e.integration, e.dedupKey), { i: e.integration, k: e.dedupKey }])).values()];
  const existing = await tx.select(LOCK_COLUMNS).from(schema.alerts)
    .innerJoin(sql`json_to_recordset(${jsonParam(keys)}) as x(i text, k text)`, sql`${schema.alerts.integration} = x.i and ${schema.alerts.dedupKey} = x.k`)
    .where(sql`${schema.alerts.state} <> 'resolved'`)
    .orderBy(schema.alerts.integration, schema.alerts.dedupKey).for('update', { of: schema.alerts });
  const open = new Map<string, Work>();
  const works: Work[] = [];
  for (const light of existing) {
    // labels, details and links stay undefined: the update keeps the stored ones unless a trigger brings new ones
    const row = light as AlertRow;
    const w: Work = { row, isNew: false, dirty: false, stateChanged: false, severityRaised: false };
    open.set(keyOf(row.integration, row.dedupKey), w);
    works.push(w);
  }
  const history: { w: Work; action: string; actor: string; data: unknown }[] = [];
  const results: { w?: Work; dedupKey: string; outcome: EventOutcome['outcome'] }[] = [];
  for (const ev of events) {
    const k = keyOf(ev.integration, ev.dedupKey);
    let w = open.get(k);
    if (ev.action === 'trigger') {
      if (w) {
        results.push({ w, dedupKey: ev.dedupKey, outcome: 'deduplicated' });
        // an identical resend is counted on the alert, not written to its history again
        if (!bump(w, ev, now)) continue;
      } else {
        w = newWork(ev, now);
        open.set(k, w);
        works.push(w);
        results.push({ w, dedupKey: ev.dedupKey, outcome: 'created' });
      }
      history.push({ w, action: 'trigger', actor: ev.integration, data: ev.raw });
      continue;
    }
    if (!w) {
      results.push({ dedupKey: ev.dedupKey, outcome: 'ignored' });
      continue;
    }
    const t = applyAlertAction(flagsOf(w.row), { type: ev.action, by: ev.integration }, now);
    w.row.count += 1;
    w.row.lastSeen = now;
    w.row.updatedAt = now;
    w.dirty = true;
    if ('ignored' in t) {
      results.push({ w, dedupKey: ev.dedupKey, outcome: 'ignored' });
    } else {
      setFlags(w.row, t.flags);
      w.stateChanged = true;
      results.push({ w, dedupKey: ev.dedupKey, outcome: t.outcome === 'resolved' ? 'resolved' : 'acknowledged' });
      if (t.outcome === 'resolved') open.delete(k);
    }
    history.push({ w, action: ev.action, actor: ev.integration, data: ev.raw });
  }

  const created = works.filter((w) => w.isNew);
  const openedGroups = created.length ? await prepareNew(ctx, created) : new Set<number>();
  const changed = new Set<number>();
  const touched = new Set<number>();
  const joined = new Map<number, Joined[]>();
  for (const w of works) {
    const g = w.row.groupId;
    if (!g) continue;
    if (w.isNew || w.stateChanged) changed.add(g);
    else if (w.dirty) touched.add(g);
    if ((w.isNew && !w.row.flapping) || w.severityRaised) {
      if (w.row.resolvedAt) continue;
      const list = joined.get(g) ?? [];
      list.push({ target: targetOf(w.row), alertId: w.row.id });
      joined.set(g, list);
      changed.add(g);
    }
  }
  // One statement writes the alerts, their history and the card redraw requests of groups that only counted repeats.
  await writeAlerts(tx, created.map((w) => w.row), works.filter((w) => !w.isNew && w.dirty).map((w) => w.row),
    history.map((h) => ({ alertId: h.w.row.id, at: now, action: h.action, actor: h.actor, data: h.data })),
    touchCardsSql([...touched].filter((g) => !changed.has(g)), now));
  const changes = await refreshGroups(ctx, changed, openedGroups);
  await onGroupChanges(ctx, changes, joined);
  return {
    outcomes: results.map((r) => ({ dedupKey: r.dedupKey, alertId: r.w ? r.w.row.id : null, outcome: r.outcome })),
    outbox: ctx.outbox,
  };
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

interface Pending {
  events: IncomingEvent[];
  resolve: (outcomes: EventOutcome[]) => void;
  reject: (e: unknown) => void;
}

/** Counters for /metrics and benchmarks. */
export interface WriterStats {
  batches: number;
  events: number;
  retries: number;
}

/** One lane: a queue and one transaction at a time (group commit). */
class Lane {
  private queue: Pending[] = [];
  private running = false;

  private readonly yieldRounds: number;

  constructor(private readonly app: AppContext, private readonly kick: () => void, private readonly stats: WriterStats, private readonly maxEvents: number) {
    this.yieldRounds = app.database.driver === 'pglite' ? 16 : 1;
  }

  submit(events: IncomingEvent[]): Promise<EventOutcome[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        // Let pending socket reads run first, so requests that arrived meanwhile join this batch. An embedded database
        // works without yielding to I/O at all, so there it takes several rounds while requests keep arriving.
        for (let i = 0, seen = -1; i < this.yieldRounds && this.queue.length !== seen; i++) {
          seen = this.queue.length;
          for (let j = 0; j < 4; j++) await nextTurn();
        }
        const batch: Pending[] = [];
        let n = 0;
        while (this.queue.length && (n === 0 || n + this.queue[0]!.events.length <= this.maxEvents)) {
          const p = this.queue.shift()!;
          batch.push(p);
          n += p.events.length;
        }
        await this.write(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const events = batch.length === 1 ? batch[0]!.events : batch.flatMap((p) => p.events);
    try {
      const { outcomes, outbox } = await withRetry(this.app, (tx) => applyEvents(tx, this.app, events, this.app.clock.now()));
      this.stats.batches++;
      this.stats.events += events.length;
      let at = 0;
      for (const p of batch) {
        p.resolve(outcomes.slice(at, at + p.events.length));
        at += p.events.length;
      }
      if (outbox) this.kick();
    } catch (e) {
      if (batch.length > 1) {
        this.stats.retries++;
        for (const p of batch) await this.write([p]);
        return;
      }
      batch[0]!.reject(e);
    }
  }
}

/** FNV-1a of an event's Alertmanager group (else its key), to spread requests over lanes. */
function laneOf(e: IncomingEvent, lanes: number): number {
  let h = 0x811c9dc5;
  const text = `${e.integration}\u0000${e.groupKey ?? e.dedupKey}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}

/**
 * Group commit: requests hand their events in and wait; each lane writes everything that queued up meanwhile in one
 * transaction, then answers every request in it. A request goes to one lane as a whole (chosen by its key or its
 * Alertmanager group), so a body's alerts are committed together and concurrent requests for one key or group mostly
 * meet in the same lane. A batch that fails is retried request by request, so one bad request cannot fail the others.
 */
export class EventWriter {
  readonly stats: WriterStats = { batches: 0, events: 0, retries: 0 };
  private readonly lanes: Lane[];

  constructor(app: AppContext, kick: () => void, options: { lanes?: number; maxEvents?: number } = {}) {
    const n = Math.max(1, options.lanes ?? (app.database.driver === 'postgres' ? 2 : 1));
    this.lanes = Array.from({ length: n }, () => new Lane(app, kick, this.stats, options.maxEvents ?? 5000));
  }

  /** Stores events; resolves once they are committed. */
  async submit(events: IncomingEvent[]): Promise<EventOutcome[]> {
    if (events.length === 0) return [];
    return this.lanes[this.lanes.length === 1 ? 0 : laneOf(events[0]!, this.lanes.length)]!.submit(events);
  }
}
