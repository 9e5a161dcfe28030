/**
 * Ingestion: a batch of events → deduplicated alerts, their history, groups, cards, incidents and pages, in one transaction
 * with set-based SQL (event.writer.ts commits the events of many requests together).
 */
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { WEBHOOK_ACTOR, type Actor } from '../../core/identity.js';
import { activeSilences, contentHash, flagsOf, scheduleUnsuppress, setFlags, suppressionFor, targetOf, writeAlerts } from './event.alerts.js';
import type { CardTiming } from './event.config.js';
import { EVENT_TIMERS, assignGroups, jsonParam, redrawAt, tsParam, onGroupChanges, refreshGroups, touchCardsSql, touchConflictSql, type EventCtx, type Joined } from './event.groups.js';
import { applyAlertAction, deriveState, isFlapping, severityRank } from './event.machine.js';
import type { AlertRow } from './event.messages.js';
import type { IncomingEvent } from './event.parse.js';

/** What happened to one event. */
export interface EventOutcome {
  dedupKey: string;
  alertId: number | null;
  /** `queued`: stored in the intake (its lane was busy); applied moments later, in order. */
  outcome: 'created' | 'deduplicated' | 'acknowledged' | 'resolved' | 'ignored' | 'queued';
}

interface Work {
  row: AlertRow;
  isNew: boolean;
  dirty: boolean;
  stateChanged: boolean;
  severityRaised: boolean;
  amGroupKey?: string;
  channel?: IncomingEvent['channel'];
  lastGroup?: number | null;
  previous?: Work;
}

const keyOf = (integration: string, dedupKey: string) => `${integration}\u0000${dedupKey}`;

function newWork(ev: IncomingEvent, now: Date): Work {
  return {
    isNew: true, dirty: true, stateChanged: true, severityRaised: false, amGroupKey: ev.groupKey, channel: ev.channel,
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
  const prior = await queryRows<PriorRow>(tx, sql`select integration as i, dedup_key as k, count(*)::int as n,
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
  const assigned = await assignGroups(ctx, normal.map((w) => ({ target: targetOf(w.row), summary: w.row.summary, amGroupKey: w.amGroupKey, channel: w.channel })));
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
      const incidents = await queryRows<{ id: number; incident_id: number | null }>(tx, sql`select id, incident_id from alert_groups where id in ${ids}`);
      const byId = new Map(incidents.map((g) => [Number(g.id), g.incident_id]));
      for (const w of flappers) if (w.row.groupId) w.row.incidentId = byId.get(w.row.groupId) ?? null;
    }
  }
  for (const w of created) w.row.state = deriveState(flagsOf(w.row));
  const ids = await queryRows<{ id: number }>(tx, sql`select nextval(pg_get_serial_sequence('alerts', 'id'))::int as id from generate_series(1, ${created.length})`);
  created.forEach((w, i) => { w.row.id = Number(ids[i]!.id); });
  await scheduleUnsuppress(tx, created.filter((w) => w.row.suppressedUntil && !w.row.resolvedAt).map((w) => w.row.suppressedUntil!));
  return opened;
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
  const { handled, open } = await applyIdentical(tx, triggers, now, app.config.correlation.cards);
  // repeats with new content: only keys with an open alert (new keys go straight to the detailed path)
  for (const k of [...triggers.keys()]) if (handled.has(k) || !open.has(k)) triggers.delete(k);
  const repeated = await applyRepeats(tx, triggers, now, app.config.correlation.cards);
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
function touchCardsFrom(now: Date, cards: CardTiming): SQL {
  return sql`insert into timers (due_at, kind, subject, key, payload)
      select distinct ${tsParam(redrawAt(cards, now))}, ${EVENT_TIMERS.card}, 'GRP-' || u.group_id, ${`${EVENT_TIMERS.card}:`} || 'GRP-' || u.group_id, jsonb_build_object('groupId', u.group_id)
      from u where u.group_id is not null
      ${touchConflictSql(cards, now)}`;
}

/**
 * The steady state of a monitor that resends (Alertmanager at every group interval): keys whose triggers in this batch
 * all equal the alert's newest stored content. One light statement bumps their count and last seen and marks their group
 * cards for a redraw; nothing else changes, so nothing else is written. Returns the keys it handled with their alert ids,
 * and which of the other keys have an open alert (no row: the key is new).
 */
async function applyIdentical(tx: Tx, triggers: Map<string, KeyTriggers>, now: Date, cards: CardTiming): Promise<{ handled: Map<string, number>; open: Set<string> }> {
  if (triggers.size === 0) return { handled: new Map(), open: new Set() };
  const rows: { i: string; k: string; n: number; h: string | null }[] = [];
  for (const t of triggers.values()) {
    const h = contentHash(t.events[0]!);
    rows.push({ i: t.i, k: t.k, n: t.events.length, h: t.events.every((e) => contentHash(e) === h) ? h : null });
  }
  const at = tsParam(now);
  const found = await queryRows<{ id: number; i: string; k: string; done: boolean }>(tx, sql`with x as materialized (
      select * from json_to_recordset(${jsonParam(rows)}) as x(i text, k text, n int, h text)
    ), u as (
      update alerts a set count = a.count + x.n, last_seen = ${at}, updated_at = ${at}
      from x
      where a.integration = x.i and a.dedup_key = x.k and a.state <> 'resolved' and a.content_hash = x.h
      returning a.id, a.integration, a.dedup_key, a.group_id
    ), t as (${touchCardsFrom(now, cards)})
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
async function applyRepeats(tx: Tx, triggers: Map<string, KeyTriggers>, now: Date, cards: CardTiming): Promise<Map<string, number>> {
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
  const updated = await queryRows<{ id: number; i: string; k: string }>(tx, sql`with x as materialized (
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
    ), t as (${touchCardsFrom(now, cards)})
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
    touchCardsSql([...touched].filter((g) => !changed.has(g)), now, app.config.correlation.cards));
  const changes = await refreshGroups(ctx, changed, openedGroups);
  await onGroupChanges(ctx, changes, joined);
  return {
    outcomes: results.map((r) => ({ dedupKey: r.dedupKey, alertId: r.w ? r.w.row.id : null, outcome: r.outcome })),
    outbox: ctx.outbox,
  };
}

