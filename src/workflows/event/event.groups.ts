/**
 * Alert groups: correlation (which group a new alert joins), refreshing a group's counts and state from its alerts,
 * its live card, and what a group's change sets off (card post/update, incident, paging, incident resolution).
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { queryRows, schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { channelWheres } from '../../core/channels.js';
import type { ChannelConfig } from '../../core/config/schemas.js';
import { directoryOf, type Actor } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import type { CardTiming } from './event.config.js';
import { deriveGroupState, type GroupState } from './event.machine.js';
import { groupKeyOf, type MatchTarget } from './event.match.js';
import { alertSubject, groupCard, groupSubject, incidentRef, type AlertRow, type GroupRow } from './event.messages.js';
import { decideRoute, type RouteDecision } from './event.routing.js';
import { guarded, openLinkedIncident, resolveLinkedIncident, startPaging, stopPaging } from './event.links.js';

/** One unit of work: a transaction, the time, who acts, and whether outbox rows were written. */
export interface EventCtx {
  app: AppContext;
  tx: Tx;
  now: Date;
  actor: Actor;
  /** Person id or integration recorded as who changed alerts. */
  by: string;
  /** Set when outbox rows were written (the caller sends them right after commit). */
  outbox: boolean;
}

/** Raised when a concurrent writer won a race; the whole batch is retried. */
export class RetryableConflict extends Error {
  override readonly name = 'RetryableConflict';
}

/** Timer kinds of this workflow. */
export const EVENT_TIMERS = {
  card: 'event.card',
  unsuppress: 'event.unsuppress',
  heartbeat: 'event.heartbeat',
} as const;

/** A JSON parameter for `json_to_recordset` (json, not jsonb: parsed once, row by row, much cheaper for big batches). */
export const jsonParam = (value: unknown) => sql`${JSON.stringify(value)}::json`;

/** A time parameter (postgres.js cannot bind a raw Date inside sql``). */
export const tsParam = (d: Date) => sql`${d.toISOString()}::timestamptz`;

/** What correlation needs to know about an alert. */
export interface Candidate {
  target: MatchTarget;
  summary: string;
  /** Alertmanager's group key. */
  amGroupKey?: string;
  /** Where the card of a group it opens goes, instead of where routing sends it. */
  channel?: ChannelConfig;
}

function groupTitle(c: Candidate): string {
  const name = c.target.labels.alertname;
  const t = name && !c.summary.includes(name) ? `${name}: ${c.summary}` : c.summary;
  return t.length > 200 ? `${t.slice(0, 199)}…` : t;
}

/** For each candidate, the accepting group with its key (opened when missing). Groups are locked until commit. */
export async function assignGroups(ctx: EventCtx, candidates: Candidate[]): Promise<{ group: GroupRow; created: boolean }[]> {
  if (candidates.length === 0) return [];
  const { tx, app, now } = ctx;
  const keys = candidates.map((c) => groupKeyOf(app.config.correlation, c.target, c.amGroupKey));
  const distinct = [...new Set(keys.map((k) => k.key))].sort();
  const found = await tx.select().from(schema.alertGroups)
    .where(and(inArray(schema.alertGroups.groupKey, distinct), eq(schema.alertGroups.accepting, true)))
    .orderBy(schema.alertGroups.id).for('update');
  const byKey = new Map<string, GroupRow>();
  const expired: number[] = [];
  for (const g of found) {
    if (g.windowEndsAt && g.windowEndsAt <= now) expired.push(g.id);
    else byKey.set(g.groupKey, g);
  }
  if (expired.length) await tx.update(schema.alertGroups).set({ accepting: false }).where(inArray(schema.alertGroups.id, expired));
  const created = new Set<number>();
  const missing = distinct.filter((k) => !byKey.has(k));
  for (let i = 0; i < missing.length; i += 500) {
    const chunk = missing.slice(i, i + 500);
    const values = chunk.map((key) => {
      const at = keys.findIndex((k) => k.key === key);
      const c = candidates[at]!;
      const gk = keys[at]!;
      const route = decideRoute(app.config, app.platforms, c.target);
      if (c.channel) route.channels = channelWheres(c.channel, app.platforms);
      return {
        groupKey: key, reason: gk.reason, title: groupTitle(c), service: c.target.service ?? null, integration: c.target.integration,
        state: 'firing', severity: c.target.severity, accepting: true, windowEndsAt: gk.windowMs ? new Date(now.getTime() + gk.windowMs) : null,
        alertCount: 0, openCount: 0, route: route as unknown as Record<string, unknown>, firstSeen: now, updatedAt: now,
      };
    });
    const inserted = await tx.insert(schema.alertGroups).values(values)
      .onConflictDoNothing({ target: schema.alertGroups.groupKey, where: sql`accepting` }).returning();
    if (inserted.length < values.length) throw new RetryableConflict('another writer opened a group with the same key');
    for (const g of inserted) {
      byKey.set(g.groupKey, g);
      created.add(g.id);
    }
  }
  return keys.map((k) => {
    const group = byKey.get(k.key)!;
    return { group, created: created.has(group.id) };
  });
}

/** A group before and after a refresh (`before` undefined: opened in this unit of work). */
export interface GroupChange {
  before: GroupRow | undefined;
  after: GroupRow;
}

interface GroupAgg {
  group_id: number;
  total: number;
  open: number;
  firing: number;
  acknowledged: number;
  silenced: number;
  open_sev: number | null;
  all_sev: number | null;
}

const SEV_CASE = sql.raw(`case severity when 'critical' then 0 when 'error' then 1 when 'warning' then 2 else 3 end`);
const SEV_NAMES = ['critical', 'error', 'warning', 'info'];

/**
 * Recomputes counts, severity and state of groups from their alerts. `created` names groups opened in this unit of work
 * (their `before` is reported as undefined).
 */
export async function refreshGroups(ctx: EventCtx, ids: Iterable<number>, created: ReadonlySet<number> = new Set()): Promise<GroupChange[]> {
  const list = [...new Set(ids)].sort((a, b) => a - b);
  if (list.length === 0) return [];
  const { tx, now } = ctx;
  const groups = await tx.select().from(schema.alertGroups).where(inArray(schema.alertGroups.id, list)).orderBy(schema.alertGroups.id).for('update');
  const aggs = await queryRows<GroupAgg>(tx, sql`select group_id, count(*)::int as total,
      count(*) filter (where state <> 'resolved')::int as open,
      count(*) filter (where state in ('firing', 'flapping'))::int as firing,
      count(*) filter (where state = 'acknowledged')::int as acknowledged,
      count(*) filter (where state = 'silenced')::int as silenced,
      min(${SEV_CASE}) filter (where state <> 'resolved') as open_sev,
      min(${SEV_CASE}) as all_sev
    from alerts where group_id in ${list} group by group_id`);
  const byId = new Map(aggs.map((a) => [Number(a.group_id), a]));
  const changes: GroupChange[] = [];
  const updates: Record<string, unknown>[] = [];
  for (const g of groups) {
    const a = byId.get(g.id) ?? { group_id: g.id, total: 0, open: 0, firing: 0, acknowledged: 0, silenced: 0, open_sev: null, all_sev: null };
    const state: GroupState = deriveGroupState({ open: Number(a.open), firing: Number(a.firing), acknowledged: Number(a.acknowledged), silenced: Number(a.silenced) });
    const sevIndex = a.open_sev ?? a.all_sev;
    const severity = sevIndex === null || sevIndex === undefined ? g.severity : SEV_NAMES[Number(sevIndex)] ?? g.severity;
    const after: GroupRow = {
      ...g,
      alertCount: Number(a.total),
      openCount: Number(a.open),
      state,
      severity,
      updatedAt: now,
    };
    if (state === 'resolved' && g.state !== 'resolved') {
      after.resolvedAt = now;
      after.resolvedBy = ctx.by;
      after.accepting = false;
    }
    if (state !== 'resolved' && g.state === 'resolved') {
      after.resolvedAt = null;
      after.resolvedBy = null;
    }
    if (state === 'acknowledged' && !g.acknowledgedAt) {
      after.acknowledgedAt = now;
      after.acknowledgedBy = ctx.by;
    }
    const changed = after.alertCount !== g.alertCount || after.openCount !== g.openCount || after.state !== g.state || after.severity !== g.severity;
    if (changed || created.has(g.id)) {
      updates.push({
        id: g.id, alert_count: after.alertCount, open_count: after.openCount, state: after.state, severity: after.severity, accepting: after.accepting,
        acknowledged_at: after.acknowledgedAt, acknowledged_by: after.acknowledgedBy, resolved_at: after.resolvedAt, resolved_by: after.resolvedBy, updated_at: now,
      });
    }
    changes.push({ before: created.has(g.id) ? undefined : g, after });
  }
  if (updates.length) {
    await tx.execute(sql`update alert_groups g set alert_count = x.alert_count, open_count = x.open_count, state = x.state, severity = x.severity,
        accepting = x.accepting, acknowledged_at = x.acknowledged_at, acknowledged_by = x.acknowledged_by, resolved_at = x.resolved_at,
        resolved_by = x.resolved_by, updated_at = x.updated_at
      from json_to_recordset(${jsonParam(updates)}) as x(id int, alert_count int, open_count int, state text, severity text, accepting boolean,
        acknowledged_at timestamptz, acknowledged_by text, resolved_at timestamptz, resolved_by text, updated_at timestamptz)
      where g.id = x.id`);
  }
  return changes;
}

interface StatsRow {
  group_id: number;
  events: number;
  last_seen: Date | string;
  firing: number;
  flapping: number;
  acknowledged: number;
  silenced: number;
  resolved: number;
}

/** The current cards of groups, drawn from the database (inside the caller's transaction, so it sees its writes). */
export async function groupCards(db: DbOrTx, app: AppContext, ids: number[], now: Date, override: Map<number, GroupRow> = new Map()): Promise<Map<number, Message>> {
  const out = new Map<number, Message>();
  if (ids.length === 0) return out;
  const fromDb = await db.select().from(schema.alertGroups).where(inArray(schema.alertGroups.id, ids));
  const stats = await queryRows<StatsRow>(db, sql`select group_id, coalesce(sum(count), 0)::int as events, max(last_seen) as last_seen,
      count(*) filter (where state in ('firing', 'flapping'))::int as firing, count(*) filter (where state = 'flapping')::int as flapping,
      count(*) filter (where state = 'acknowledged')::int as acknowledged, count(*) filter (where state = 'silenced')::int as silenced,
      count(*) filter (where state = 'resolved')::int as resolved
    from alerts where group_id in ${ids} group by group_id`);
  const members = await db.select().from(schema.alerts).where(inArray(schema.alerts.id, sql`(select id from (select id, row_number() over
      (partition by group_id order by (state = 'resolved'), id) as rn from alerts where group_id in ${ids}) ranked where rn <= 10)`))
    .orderBy(schema.alerts.id);
  const dir = directoryOf(app.config);
  for (const g0 of fromDb) {
    const g = override.get(g0.id) ?? g0;
    const s = stats.find((r) => Number(r.group_id) === g.id);
    const mine = members.filter((m) => m.groupId === g.id).sort((a, b) => Number(a.state === 'resolved') - Number(b.state === 'resolved') || a.id - b.id);
    const names: Record<string, string> = {};
    for (const id of [g.acknowledgedBy, g.resolvedBy]) if (id) names[id] = dir.get(id)?.name ?? id;
    out.set(g.id, groupCard({
      group: g,
      stats: {
        events: Number(s?.events ?? 0), lastSeen: s?.last_seen ? new Date(s.last_seen) : g.firstSeen,
        firing: Number(s?.firing ?? 0), flapping: Number(s?.flapping ?? 0), acknowledged: Number(s?.acknowledged ?? 0),
        silenced: Number(s?.silenced ?? 0), resolved: Number(s?.resolved ?? 0),
      },
      members: mine,
      now,
      timeZone: app.config.timezone,
      names,
    }));
  }
  return out;
}

/**
 * What a redraw request does to a group's card timer that is already there: a card still settling (its first post
 * waits for the group to calm down, see `correlation.cards`) waits `settle` more, never past its `until`; any other
 * keeps its time, so counters are redrawn at most every `refresh`.
 */
export function touchConflictSql(cards: CardTiming, now: Date): SQL {
  if (cards.settle === false) return sql`on conflict (key) do nothing`;
  return sql`on conflict (key) do update set due_at = least(${tsParam(new Date(now.getTime() + cards.settle))}, (timers.payload->>'until')::timestamptz)
    where timers.payload ? 'until'`;
}

/** When a redraw requested now is due: `refresh` later, so the changes in between become one update. */
export const redrawAt = (cards: CardTiming, now: Date) => new Date(now.getTime() + cards.refresh);

/** The statement that asks the scheduler to redraw groups' cards (undefined when there are none). */
export function touchCardsSql(ids: Iterable<number>, now: Date, cards: CardTiming): SQL | undefined {
  const list = [...new Set(ids)].sort((a, b) => a - b);
  if (list.length === 0) return undefined;
  const rows = list.map((id) => ({ subject: groupSubject(id), key: `${EVENT_TIMERS.card}:${groupSubject(id)}`, id }));
  return sql`insert into timers (due_at, kind, subject, key, payload)
    select ${tsParam(redrawAt(cards, now))}, ${EVENT_TIMERS.card}, x.subject, x.key, jsonb_build_object('groupId', x.id)
    from json_to_recordset(${jsonParam(rows)}) as x(subject text, key text, id int)
    ${touchConflictSql(cards, now)}`;
}

/** Asks the scheduler to redraw groups' cards in `refresh` (many changes in between become one update). */
export async function touchCards(ctx: EventCtx, ids: Iterable<number>): Promise<void> {
  const statement = touchCardsSql(ids, ctx.now, ctx.app.config.correlation.cards);
  if (statement) await ctx.tx.execute(statement);
}

/** Groups opened in the minute before `now` (a storm is when more open than `correlation.cards.stormGroups`). */
async function groupsOpenedLastMinute(tx: Tx, now: Date): Promise<number> {
  const [row] = await queryRows<{ n: number }>(tx, sql`select count(*)::int as n from alert_groups where first_seen > ${tsParam(new Date(now.getTime() - 60_000))}`);
  return Number(row?.n ?? 0);
}

/** What joined a group in this unit of work (new alerts, or alerts whose severity rose): their routing may ask for more. */
export interface Joined {
  target: MatchTarget;
  alertId: number;
}

function route(g: GroupRow): RouteDecision {
  return g.route as unknown as RouteDecision;
}

function incidentTitle(g: GroupRow): string {
  const t = g.title.trim();
  return t.length >= 3 ? t.slice(0, 200) : `Alert: ${t}`.slice(0, 200);
}

/** Opens an incident for a group and links the group and its alerts to it. Returns the incident id or a sentence. */
export async function openGroupIncident(ctx: EventCtx, g: GroupRow, levels: { impact: 'high' | 'medium' | 'low'; urgency: 'high' | 'medium' | 'low' }, why: string): Promise<number | string> {
  const { tx, app, now } = ctx;
  const alerts = await tx.select({ id: schema.alerts.id, labels: schema.alerts.labels }).from(schema.alerts).where(eq(schema.alerts.groupId, g.id)).orderBy(schema.alerts.id).limit(50);
  const alertIds = alerts.map((r) => alertSubject(r.id));
  // the labels of its alerts (the first alert's value wins): subscribers of incident.opened search with them
  const labels: Record<string, string> = {};
  for (const a of alerts) for (const [k, v] of Object.entries(a.labels)) if (!(k in labels) && Object.keys(labels).length < 50) labels[k] = String(v).slice(0, 200);
  const service = g.service && app.config.services.some((s) => s.name === g.service) ? g.service : undefined;
  const result = await guarded(tx, app, 'opening an incident', (sp) => openLinkedIncident(sp, app, {
    title: incidentTitle(g),
    description: `From alert group ${groupSubject(g.id)} (${g.alertCount} alert${g.alertCount === 1 ? '' : 's'}; grouped: ${g.reason}).`,
    impact: levels.impact, urgency: levels.urgency, service, links: { alerts: alertIds }, labels,
  }, ctx.actor, now));
  if (!result.ok) {
    await addTimeline(tx, { subject: groupSubject(g.id), at: now, actor: ctx.actor.person.id, source: ctx.actor.source, kind: 'incident', text: `Could not open an incident: ${result.error}` });
    return result.error;
  }
  const id = result.value;
  await tx.update(schema.alertGroups).set({ incidentId: id }).where(eq(schema.alertGroups.id, g.id));
  await tx.update(schema.alerts).set({ incidentId: id }).where(eq(schema.alerts.groupId, g.id));
  g.incidentId = id;
  ctx.outbox = true;
  await addTimeline(tx, { subject: groupSubject(g.id), at: now, actor: ctx.actor.person.id, source: ctx.actor.source, kind: 'incident', text: `Incident ${incidentRef(id)} opened (${why})`, data: { incident: id } });
  return id;
}

/** Starts paging for a group (for its incident when it has one). Returns a sentence when it could not. */
export async function pageGroup(ctx: EventCtx, g: GroupRow, policy: string, card: Message | undefined): Promise<string | undefined> {
  const { tx, app, now } = ctx;
  const subject = g.incidentId ? incidentRef(g.incidentId) : groupSubject(g.id);
  const result = await guarded(tx, app, 'paging', (sp) => startPaging(sp, app, {
    subject, policy, service: g.service ?? undefined, title: g.title, card,
  }, ctx.actor, now));
  if (!result.ok) {
    await addTimeline(tx, { subject: groupSubject(g.id), at: now, actor: ctx.actor.person.id, source: ctx.actor.source, kind: 'page', text: `Could not page: ${result.error}` });
    return result.error;
  }
  await tx.update(schema.alertGroups).set({ escalationSubject: subject }).where(eq(schema.alertGroups.id, g.id));
  g.escalationSubject = subject;
  ctx.outbox = true;
  return undefined;
}

/** Stops paging of a group (its subject and its incident's), as acknowledging anywhere does. */
export async function stopGroupPaging(ctx: EventCtx, g: GroupRow): Promise<void> {
  const subjects = new Set<string>();
  if (g.escalationSubject) subjects.add(g.escalationSubject);
  for (const subject of subjects) {
    const r = await guarded(ctx.tx, ctx.app, 'stopping the pages', (sp) => stopPaging(sp, ctx.app, subject, ctx.actor, ctx.now));
    if (r.ok && r.value) ctx.outbox = true;
  }
}

/**
 * Carries out what group changes set off: the first card of a new group (and its incident and pages), escalating what
 * joined alerts ask for, stopping pages on acknowledgement, resolving the incident when every alert is resolved, and
 * card updates (at once for state changes, at the next tick for counts).
 */
export async function onGroupChanges(ctx: EventCtx, changes: GroupChange[], joined: Map<number, Joined[]>, quiet: ReadonlySet<number> = new Set()): Promise<void> {
  const { tx, app, now } = ctx;
  const immediate = new Set<number>();
  const later = new Set<number>();
  const posts: GroupRow[] = [];
  const pageAfterPost: { g: GroupRow; policy: string }[] = [];
  for (const { before, after: g } of changes) {
    const r = route(g);
    const subject = groupSubject(g.id);
    const arrivals = quiet.has(g.id) ? [] : joined.get(g.id) ?? [];
    if (!before) {
      await addTimeline(tx, { subject, at: now, actor: ctx.actor.person.id, source: ctx.actor.source, kind: 'opened', text: `Group opened: ${g.title} (grouped: ${g.reason}; route ${r.rule ?? 'default'})`, data: { route: r as unknown as Record<string, unknown> } });
    }
    if (arrivals.length && g.state !== 'resolved') {
      const decisions = arrivals.map((j) => decideRoute(app.config, app.platforms, j.target));
      const wantIncident = decisions.find((d) => d.incident)?.incident;
      if (wantIncident && !g.incidentId && g.state === 'firing') {
        const opened = await openGroupIncident(ctx, g, wantIncident, `routing rule ${decisions.find((d) => d.incident)?.rule ?? 'default'}: ${g.severity} alert`);
        if (typeof opened === 'number') immediate.add(g.id);
      }
      const wantPage = decisions.find((d) => d.page && d.policy);
      if (wantPage && !g.escalationSubject && g.state === 'firing' && r.notify) {
        pageAfterPost.push({ g, policy: wantPage.policy! });
        // The card shows who is paged; the escalation starts right after the card is written.
        g.escalationSubject = g.incidentId ? incidentRef(g.incidentId) : subject;
      }
    }
    if (before && before.state !== g.state) {
      immediate.add(g.id);
      if (g.state === 'resolved') {
        await addTimeline(tx, { subject, at: now, actor: ctx.by, source: ctx.actor.source, kind: 'resolved', text: `All ${g.alertCount} alert${g.alertCount === 1 ? '' : 's'} resolved` });
        await stopGroupPaging(ctx, g);
        if (g.incidentId && r.resolveIncident) {
          const res = await guarded(tx, app, 'resolving the incident', (sp) => resolveLinkedIncident(sp, app, g.incidentId!, `all alerts of ${subject} resolved`, ctx.actor, now));
          if (res.ok) {
            ctx.outbox = true;
            await addTimeline(tx, { subject, at: now, actor: ctx.actor.person.id, source: ctx.actor.source, kind: 'incident', text: `Incident ${incidentRef(g.incidentId)} resolved: every alert is resolved` });
          }
        }
      } else if (g.state === 'acknowledged' || g.state === 'silenced') {
        await stopGroupPaging(ctx, g);
      } else if (before.state === 'resolved') {
        await addTimeline(tx, { subject, at: now, actor: ctx.by, source: ctx.actor.source, kind: 'reopened', text: 'Firing again (flapping: the card is updated, nobody is paged again)' });
      }
    }
    if (!before) posts.push(g);
    else if (!immediate.has(g.id)) later.add(g.id);
  }
  const override = new Map(changes.map((c) => [c.after.id, c.after]));
  // In a storm, a new group that neither pages nor opens an incident is posted once it settles, with its counts then.
  const timing = app.config.correlation.cards;
  const settling = timing.settle !== false && posts.length > 0 && await groupsOpenedLastMinute(tx, now) > timing.stormGroups
    ? posts.filter((g) => route(g).notify && !immediate.has(g.id) && !g.incidentId && !pageAfterPost.some((p) => p.g.id === g.id))
    : [];
  if (settling.length > 0) await settleCards(ctx, settling, timing);
  const drawIds = [...new Set([...posts.filter((g) => !settling.includes(g)).map((g) => g.id), ...immediate])];
  const cards = await groupCards(tx, app, drawIds, now, override);
  for (const g of posts) {
    const r = route(g);
    const card = cards.get(g.id);
    if (!card || !r.notify || settling.includes(g)) continue;
    for (const where of r.channels) {
      await enqueue(tx, { kind: 'post', where, message: card, subject: groupSubject(g.id) });
      ctx.outbox = true;
    }
  }
  for (const id of immediate) {
    if (posts.some((g) => g.id === id)) continue;
    const card = cards.get(id);
    if (card && route(override.get(id)!).notify) {
      await enqueue(tx, { kind: 'update', subject: groupSubject(id), message: card });
      ctx.outbox = true;
    }
  }
  for (const { g, policy } of pageAfterPost) {
    g.escalationSubject = null;
    const failed = await pageGroup(ctx, g, policy, cards.get(g.id));
    if (failed) later.add(g.id);
  }
  await touchCards(ctx, [...later].filter((id) => !drawIds.includes(id) && !settling.some((g) => g.id === id)));
}

/** Holds the first post of new groups' cards until they settle (the card timer posts them; see touchConflictSql). */
async function settleCards(ctx: EventCtx, groups: GroupRow[], timing: CardTiming): Promise<void> {
  const settle = timing.settle;
  if (settle === false) return;
  const rows = groups.map((g) => ({
    subject: groupSubject(g.id), key: `${EVENT_TIMERS.card}:${groupSubject(g.id)}`, id: g.id,
    due: new Date(Math.min(ctx.now.getTime() + settle, g.firstSeen.getTime() + timing.settleMax)).toISOString(),
    until: new Date(g.firstSeen.getTime() + timing.settleMax).toISOString(),
  }));
  await ctx.tx.execute(sql`insert into timers (due_at, kind, subject, key, payload)
    select x.due, ${EVENT_TIMERS.card}, x.subject, x.key, jsonb_build_object('groupId', x.id, 'post', true, 'until', x.until)
    from json_to_recordset(${jsonParam(rows)}) as x(subject text, key text, id int, due timestamptz, until text)
    on conflict (key) do update set due_at = excluded.due_at, payload = excluded.payload`);
  for (const g of groups) {
    await addTimeline(ctx.tx, { subject: groupSubject(g.id), at: ctx.now, actor: ctx.actor.person.id, source: ctx.actor.source, kind: 'card', text: `Alert storm: more than ${timing.stormGroups} groups opened in a minute, so this card is posted once no alert joined for ${Math.round(settle / 1000)}s (at most ${Math.round(timing.settleMax / 1000)}s after the first)` });
  }
}
