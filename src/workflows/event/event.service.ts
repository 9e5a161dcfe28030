/**
 * People's and the scheduler's decisions about alerts: acknowledge, resolve, silence, open an incident, escalate;
 * lifting silences and maintenance; heartbeats; card redraws. Each runs in one transaction with audit, timeline and outbox rows.
 */
import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { WEBHOOK_ACTOR, type Actor } from '../../core/identity.js';
import { appendAudit } from '../../core/audit.js';
import { parseRecordId } from '../../core/commands.js';
import { formatDuration } from '../../core/duration.js';
import { badInput, conflict, notFound } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { addTimeline } from '../../core/timeline.js';
import { schedule, type TimerHandler } from '../../core/timers.js';
import { HEARTBEAT_INTEGRATION, RAISED_PREFIX, type HeartbeatConfig, type Severity } from './event.config.js';
import type { ChannelConfig } from '../../core/config/schemas.js';
import {
  EVENT_TIMERS, assignGroups, groupCards, tsParam, onGroupChanges, openGroupIncident, pageGroup, refreshGroups, stopGroupPaging,
  type EventCtx, type Joined,
} from './event.groups.js';
import { activeSilences, addHistory, flagsOf, scheduleUnsuppress, setFlags, suppressionFor, targetOf, updateAlerts, withRetry } from './event.alerts.js';
import { applyEvents } from './event.ingest.js';
import { isPaging, pageNextNow } from './event.links.js';
import { applyAlertAction, type AlertAction } from './event.machine.js';
import { formatMatchers, matchesAll, targetLabels, type Matcher } from './event.match.js';
import { alertSubject, groupSubject, silenceSubject, type AlertRow, type GroupRow, type SilenceRow } from './event.messages.js';
import type { RouteDecision } from './event.routing.js';

/** A record named in a command or on a button. */
export type Target = { kind: 'group'; id: number } | { kind: 'alert'; id: number };

/** Parses `GRP-3`, `ALR-7` (a bare number or `#7` is an alert). */
export function parseTarget(text: string | undefined): Target | undefined {
  if (!text) return undefined;
  const t = text.trim();
  if (/^grp-/i.test(t)) {
    const id = parseRecordId('GRP', t);
    return id ? { kind: 'group', id } : undefined;
  }
  const id = parseRecordId('ALR', t);
  return id ? { kind: 'alert', id } : undefined;
}

/** `GRP-3` / `ALR-7`. */
export function targetLabel(t: Target): string {
  return t.kind === 'group' ? groupSubject(t.id) : alertSubject(t.id);
}

function newCtx(app: AppContext, tx: Tx, actor: Actor): EventCtx {
  return { app, tx, now: app.clock.now(), actor, by: actor.person.id, outbox: false };
}

/** Loads a group or throws 404. */
export async function getGroup(db: DbOrTx, id: number): Promise<GroupRow> {
  const [g] = await db.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, id));
  if (!g) throw notFound('event.group_not_found', `There is no alert group ${groupSubject(id)}.`);
  return g;
}

/** Loads an alert or throws 404. */
export async function getAlert(db: DbOrTx, id: number): Promise<AlertRow> {
  const [a] = await db.select().from(schema.alerts).where(eq(schema.alerts.id, id));
  if (!a) throw notFound('event.alert_not_found', `There is no alert ${alertSubject(id)}.`);
  return a;
}

/** What a list of alerts asks for (chat's `/event list` and REST's `GET /api/v1/alerts`); `open` means not resolved. */
export interface AlertFilter {
  states?: readonly string[];
  service?: string;
  integration?: string;
  groupId?: number;
  /** Keyset paging: only ids below this one. */
  beforeId?: number;
  limit: number;
}

/**
 * A service a list may filter alerts by: a configured one, or one alerts arrived with (monitors name services by label).
 * Anything else is a mistake worth saying (`unknown service "chekout"`), not an empty list.
 */
export async function knownAlertService(db: DbOrTx, app: AppContext, name: string): Promise<boolean> {
  if (app.config.services.some((s) => s.name === name)) return true;
  const [seen] = await db.select({ id: schema.alerts.id }).from(schema.alerts).where(eq(schema.alerts.service, name)).limit(1);
  return seen !== undefined;
}

/** The issue of an unknown service named in a list filter. */
export function unknownServiceIssue(app: AppContext, name: string): { path: string; message: string } {
  return { path: 'service', message: `unknown service "${name}" (services: ${app.config.services.map((s) => s.name).join(', ') || 'none configured'})` };
}

/** Alerts matching a filter, newest first. */
export async function listAlerts(db: DbOrTx, f: AlertFilter): Promise<AlertRow[]> {
  const t = schema.alerts;
  const plain = (f.states ?? []).filter((s) => s !== 'open');
  const stateCond = !f.states ? undefined
    : f.states.includes('open') ? (plain.length ? sql`(${inArray(t.state, plain)} or ${t.state} <> 'resolved')` : sql`${t.state} <> 'resolved'`)
      : inArray(t.state, plain);
  return db.select().from(t).where(and(
    stateCond,
    f.service !== undefined ? eq(t.service, f.service) : undefined,
    f.integration !== undefined ? eq(t.integration, f.integration) : undefined,
    f.groupId !== undefined ? eq(t.groupId, f.groupId) : undefined,
    f.beforeId !== undefined ? lt(t.id, f.beforeId) : undefined,
  )).orderBy(desc(t.id)).limit(f.limit);
}

/** The open alerts a target covers, locked in the order every writer locks them. */
async function lockOpenAlerts(tx: Tx, t: Target): Promise<AlertRow[]> {
  const where = t.kind === 'group' ? eq(schema.alerts.groupId, t.id) : eq(schema.alerts.id, t.id);
  return tx.select().from(schema.alerts).where(and(where, sql`${schema.alerts.state} <> 'resolved'`))
    .orderBy(schema.alerts.integration, schema.alerts.dedupKey).for('update');
}

/**
 * Applies an action to locked alerts: flags, history, correlation of alerts that come out of a silence without a group,
 * group refresh and what that sets off. Returns the alerts that changed.
 */
export async function changeAlerts(ctx: EventCtx, rows: AlertRow[], action: AlertAction, historyAction: string): Promise<AlertRow[]> {
  const changed: AlertRow[] = [];
  for (const r of rows) {
    const t = applyAlertAction(flagsOf(r), action, ctx.now);
    if ('ignored' in t) continue;
    setFlags(r, t.flags);
    r.updatedAt = ctx.now;
    changed.push(r);
  }
  if (changed.length === 0) return changed;
  const ungrouped = action.type === 'unsuppress' ? changed.filter((r) => !r.groupId && !r.resolvedAt) : [];
  const assigned = await assignGroups(ctx, ungrouped.map((r) => ({ target: targetOf(r), summary: r.summary })));
  const opened = new Set<number>();
  const joined = new Map<number, Joined[]>();
  ungrouped.forEach((r, i) => {
    const a = assigned[i]!;
    r.groupId = a.group.id;
    r.incidentId = a.group.incidentId;
    if (a.created) opened.add(a.group.id);
    if (!r.flapping) joined.set(a.group.id, [...(joined.get(a.group.id) ?? []), { target: targetOf(r), alertId: r.id }]);
  });
  await updateAlerts(ctx.tx, changed);
  await addHistory(ctx.tx, changed.map((r) => ({ alertId: r.id, at: ctx.now, action: historyAction, actor: ctx.by, data: action.type === 'suppress' ? { by: action.by, until: action.until } : {} })));
  const groups = changed.map((r) => r.groupId).filter((g): g is number => g !== null);
  const changes = await refreshGroups(ctx, groups, opened);
  await onGroupChanges(ctx, changes, joined);
  return changed;
}

/** The result of a person's action: a sentence, and the group whose card to show. */
export interface ActionResult {
  text: string;
  groupId?: number;
}

function personWords(actor: Actor): string {
  return actor.person.name;
}

/** Acknowledge or resolve a group (all its open alerts) or one alert, as a person. Stops paging. */
export async function humanChange(app: AppContext, t: Target, kind: 'ack' | 'resolve', actor: Actor, note?: string): Promise<ActionResult> {
  requirePermission(app, actor.person, kind === 'ack' ? 'event.ack' : 'event.resolve');
  return withRetry(app, async (tx) => {
    const ctx = newCtx(app, tx, actor);
    const label = targetLabel(t);
    const rows = await lockOpenAlerts(tx, t);
    if (rows.length === 0) {
      if (t.kind === 'group') await getGroup(tx, t.id); else await getAlert(tx, t.id);
      throw conflict('event.already_resolved', `${label} has no open alerts: it is already resolved.`);
    }
    const action: AlertAction = kind === 'ack' ? { type: 'acknowledge', by: actor.person.id } : { type: 'resolve', by: actor.person.id };
    const changed = await changeAlerts(ctx, rows, action, kind === 'ack' ? 'acknowledge' : 'resolve');
    if (changed.length === 0) throw conflict('event.already_acknowledged', `${label} is already acknowledged. Resolve it when it is fixed.`);
    const groupIds = [...new Set(changed.map((r) => r.groupId).filter((g): g is number => g !== null))];
    const groups = groupIds.length ? await tx.select().from(schema.alertGroups).where(inArray(schema.alertGroups.id, groupIds)) : [];
    for (const g of groups) await stopGroupPaging(ctx, g); // acknowledging anywhere stops every pending page
    const ids = changed.map((r) => alertSubject(r.id));
    const verb = kind === 'ack' ? 'acknowledged' : 'resolved';
    const text = `${label} ${verb} by ${personWords(actor)}${changed.length > 1 || t.kind === 'group' ? ` (${changed.length} alert${changed.length === 1 ? '' : 's'})` : ''}${note ? `: ${note}` : ''}`;
    await appendAudit(tx, { at: ctx.now, actor: actor.person.id, source: actor.source, subject: label, action: `event.${kind}`, data: { alerts: ids, note } });
    const subjects = new Set([label, ...groups.map((g) => groupSubject(g.id))]);
    for (const subject of subjects) await addTimeline(tx, { subject, at: ctx.now, actor: actor.person.id, source: actor.source, kind, text, data: { alerts: ids } });
    for (const g of groups) await enqueue(tx, { kind: 'announce', subject: groupSubject(g.id), message: { text, tone: kind === 'ack' ? 'warning' : 'good' } });
    return { text, groupId: t.kind === 'group' ? t.id : groupIds[0] };
  });
}

/** Creates a silence: matching open alerts become silenced now, new ones arrive silenced, until it ends. */
export async function createSilence(app: AppContext, input: { matchers: Matcher[]; durationMs: number; reason: string }, actor: Actor): Promise<{ silence: SilenceRow; silenced: number }> {
  requirePermission(app, actor.person, 'event.silence');
  if (input.matchers.length === 0) throw badInput('event.silence_needs_matchers', 'Name what to silence with at least one matcher, like service=db alertname=DiskFull.', [{ path: 'matchers', message: 'at least one matcher' }]);
  if (input.matchers.every((m) => (m.op === '=~' && /^\.\*$/.test(m.value)) || (m.op === '!=' && m.value === ''))) {
    throw badInput('event.silence_too_broad', 'That silence would match every alert. Name a service or a label value.', [{ path: 'matchers', message: 'matches everything' }]);
  }
  if (input.durationMs > 30 * 86_400_000) throw badInput('event.silence_too_long', 'A silence can last at most 30 days.', [{ path: 'duration', message: 'at most 30d' }]);
  return withRetry(app, async (tx) => {
    const ctx = newCtx(app, tx, actor);
    const endsAt = new Date(ctx.now.getTime() + input.durationMs);
    const [silence] = await tx.insert(schema.silences).values({
      matchers: input.matchers, startsAt: ctx.now, endsAt, reason: input.reason, createdBy: actor.person.id, source: actor.source, createdAt: ctx.now,
    }).returning();
    const s = silence!;
    const subject = silenceSubject(s.id);
    await scheduleUnsuppress(tx, [endsAt]);
    const candidates = await tx.select({ id: schema.alerts.id, labels: schema.alerts.labels, service: schema.alerts.service, severity: schema.alerts.severity, integration: schema.alerts.integration, source: schema.alerts.source, suppressedUntil: schema.alerts.suppressedUntil })
      .from(schema.alerts).where(sql`${schema.alerts.state} <> 'resolved'`);
    const ids = candidates.filter((c) => matchesAll(input.matchers, targetLabels(targetOf(c))) && (!c.suppressedUntil || c.suppressedUntil < endsAt)).map((c) => c.id);
    let changed: AlertRow[] = [];
    if (ids.length) {
      const rows = await tx.select().from(schema.alerts).where(and(inArray(schema.alerts.id, ids), sql`${schema.alerts.state} <> 'resolved'`))
        .orderBy(schema.alerts.integration, schema.alerts.dedupKey).for('update');
      changed = await changeAlerts(ctx, rows, { type: 'suppress', by: subject, until: endsAt }, 'silence');
    }
    const text = `${subject} by ${actor.person.name}: \`${formatMatchers(input.matchers)}\` for ${formatDuration(input.durationMs)} (${input.reason}); ${changed.length} open alert${changed.length === 1 ? '' : 's'} silenced`;
    await appendAudit(tx, { at: ctx.now, actor: actor.person.id, source: actor.source, subject, action: 'event.silence', data: { matchers: input.matchers, endsAt, reason: input.reason, alerts: changed.map((r) => alertSubject(r.id)) } });
    await addTimeline(tx, { subject, at: ctx.now, actor: actor.person.id, source: actor.source, kind: 'silence', text });
    const groups = new Set(changed.map((r) => r.groupId).filter((g): g is number => g !== null));
    for (const g of groups) await addTimeline(tx, { subject: groupSubject(g), at: ctx.now, actor: actor.person.id, source: actor.source, kind: 'silence', text });
    return { silence: s, silenced: changed.length };
  });
}

/** The matchers that describe a group: the labels all its open alerts share. */
export async function groupMatchers(db: DbOrTx, groupId: number): Promise<Matcher[]> {
  const rows = await db.select().from(schema.alerts).where(and(eq(schema.alerts.groupId, groupId), sql`${schema.alerts.state} <> 'resolved'`)).limit(500);
  const all = rows.length ? rows : await db.select().from(schema.alerts).where(eq(schema.alerts.groupId, groupId)).limit(500);
  if (all.length === 0) return [];
  const sets = all.map((r) => targetLabels(targetOf(r)));
  const common = Object.entries(sets[0]!).filter(([k, v]) => sets.every((s) => s[k] === v));
  const preferred = ['service', 'alertname', 'integration', 'severity'];
  const chosen = common.filter(([k]) => preferred.includes(k));
  const rest = common.filter(([k]) => !preferred.includes(k) && k !== 'source' || all.length === 1 && k === 'source');
  return [...chosen, ...rest].map(([name, value]) => ({ name, op: '=' as const, value }));
}

/** Re-checks suppressed alerts: still inside another silence or window → stays silenced; else it comes out and notifies. */
export async function liftSuppressions(ctx: EventCtx, rows: AlertRow[], excluding?: number): Promise<number> {
  if (rows.length === 0) return 0;
  const silences = (await activeSilences(ctx.tx, ctx.now)).filter((s) => s.id !== excluding);
  const lift: AlertRow[] = [];
  const keep = new Map<string, { until: Date; rows: AlertRow[] }>();
  for (const r of rows) {
    const s = suppressionFor(ctx.app, silences, targetOf(r), ctx.now);
    if (!s) lift.push(r);
    else {
      const k = `${s.by}|${s.until.getTime()}`;
      const e = keep.get(k) ?? { until: s.until, rows: [] };
      e.rows.push(r);
      keep.set(k, e);
    }
  }
  for (const [k, e] of keep) {
    await changeAlerts(ctx, e.rows, { type: 'suppress', by: k.split('|')[0]!, until: e.until }, 'silence');
    await scheduleUnsuppress(ctx.tx, [e.until]);
  }
  const lifted = await changeAlerts(ctx, lift, { type: 'unsuppress' }, 'unsilence');
  return lifted.length;
}

/** Ends a silence now; its alerts that nothing else silences come out. */
export async function endSilence(app: AppContext, id: number, actor: Actor): Promise<{ silence: SilenceRow; lifted: number }> {
  requirePermission(app, actor.person, 'event.silence', undefined, 'end silences');
  return withRetry(app, async (tx) => {
    const ctx = newCtx(app, tx, actor);
    const [s] = await tx.select().from(schema.silences).where(eq(schema.silences.id, id)).for('update');
    if (!s) throw notFound('event.silence_not_found', `There is no silence ${silenceSubject(id)}.`);
    if (s.endsAt <= ctx.now) throw conflict('event.silence_over', `${silenceSubject(id)} has already ended.`);
    const [ended] = await tx.update(schema.silences).set({ endsAt: ctx.now, endedBy: actor.person.id }).where(eq(schema.silences.id, id)).returning();
    const rows = await tx.select().from(schema.alerts).where(and(eq(schema.alerts.suppressedBy, silenceSubject(id)), sql`${schema.alerts.state} <> 'resolved'`))
      .orderBy(schema.alerts.integration, schema.alerts.dedupKey).for('update');
    const lifted = await liftSuppressions(ctx, rows, id);
    const text = `${silenceSubject(id)} ended early by ${actor.person.name}; ${lifted} alert${lifted === 1 ? '' : 's'} no longer silenced`;
    await appendAudit(tx, { at: ctx.now, actor: actor.person.id, source: actor.source, subject: silenceSubject(id), action: 'event.unsilence', data: { lifted } });
    await addTimeline(tx, { subject: silenceSubject(id), at: ctx.now, actor: actor.person.id, source: actor.source, kind: 'unsilence', text });
    return { silence: ended!, lifted };
  });
}

/** Silences in force (and those that start later), soonest ending first. */
export async function listSilences(app: AppContext): Promise<SilenceRow[]> {
  return app.db.select().from(schema.silences).where(sql`${schema.silences.endsAt} > ${tsParam(app.clock.now())}`).orderBy(asc(schema.silences.endsAt)).limit(50);
}

async function lockGroupOf(tx: Tx, t: Target): Promise<GroupRow> {
  let groupId = t.kind === 'group' ? t.id : undefined;
  if (t.kind === 'alert') {
    const a = await getAlert(tx, t.id);
    if (!a.groupId) throw conflict('event.not_grouped', `${alertSubject(t.id)} is not in a group (it is ${a.state}); act on it once it notifies.`);
    groupId = a.groupId;
  }
  await lockOpenAlerts(tx, { kind: 'group', id: groupId! });
  const [g] = await tx.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, groupId!)).for('update');
  if (!g) throw notFound('event.group_not_found', `There is no alert group ${groupSubject(groupId!)}.`);
  return g;
}

async function refreshCard(ctx: EventCtx, groupId: number): Promise<void> {
  const cards = await groupCards(ctx.tx, ctx.app, [groupId], ctx.now);
  const card = cards.get(groupId);
  if (card) await enqueue(ctx.tx, { kind: 'update', subject: groupSubject(groupId), message: card });
}

/** Opens an incident for a group (the Open incident button). */
export async function openIncidentFor(app: AppContext, t: Target, actor: Actor): Promise<ActionResult> {
  requirePermission(app, actor.person, 'event.incident');
  return withRetry(app, async (tx) => {
    const ctx = newCtx(app, tx, actor);
    const g = await lockGroupOf(tx, t);
    if (g.incidentId) throw conflict('event.has_incident', `${groupSubject(g.id)} already has incident INC-${g.incidentId}.`);
    const r = g.route as unknown as RouteDecision;
    const opened = await openGroupIncident(ctx, g, r.incident ?? { impact: 'medium', urgency: 'high' }, `opened by ${actor.person.name}`);
    if (typeof opened === 'string') throw badInput('event.incident_failed', `Could not open an incident for ${groupSubject(g.id)}: ${opened}`);
    await appendAudit(tx, { at: ctx.now, actor: actor.person.id, source: actor.source, subject: groupSubject(g.id), action: 'event.incident', data: { incident: opened } });
    await refreshCard(ctx, g.id);
    return { text: `INC-${opened} opened for ${groupSubject(g.id)} by ${actor.person.name}`, groupId: g.id };
  });
}

/** Pages the next escalation step now, or starts paging when nobody is paged (the Escalate now button). */
export async function escalateGroup(app: AppContext, t: Target, actor: Actor): Promise<ActionResult> {
  requirePermission(app, actor.person, 'event.escalate');
  return withRetry(app, async (tx) => {
    const ctx = newCtx(app, tx, actor);
    const g = await lockGroupOf(tx, t);
    const subject = groupSubject(g.id);
    if (g.state === 'resolved') throw conflict('event.already_resolved', `${subject} is resolved; there is nobody to page for it.`);
    let text: string;
    if (g.escalationSubject && await isPaging(tx, app, g.escalationSubject, actor, ctx.now)) {
      await pageNextNow(tx, app, g.escalationSubject, actor, ctx.now);
      text = `${actor.person.name} escalated ${subject} now: the next step is paged`;
    } else {
      const r = g.route as unknown as RouteDecision;
      const service = g.service ? app.config.services.find((s) => s.name === g.service) : undefined;
      const policy = r.policy ?? service?.escalationPolicy;
      if (!policy) throw badInput('event.no_policy', `Nobody can be paged for ${subject}: service ${g.service ?? '(none)'} has no escalation policy. Set escalationPolicy on the service or on a routing rule.`);
      const cards = await groupCards(tx, app, [g.id], ctx.now);
      const failed = await pageGroup(ctx, g, policy, cards.get(g.id));
      if (failed) throw conflict('event.page_failed', `Could not page for ${subject}: ${failed}`);
      text = `${actor.person.name} started paging for ${subject} (policy ${policy})`;
    }
    await addTimeline(tx, { subject, at: ctx.now, actor: actor.person.id, source: actor.source, kind: 'escalate', text });
    await appendAudit(tx, { at: ctx.now, actor: actor.person.id, source: actor.source, subject, action: 'event.escalate', data: { escalationSubject: g.escalationSubject } });
    await refreshCard(ctx, g.id);
    return { text, groupId: g.id };
  });
}

/** The current card of a group. */
export async function currentGroupCard(app: AppContext, groupId: number): Promise<Message | undefined> {
  return (await groupCards(app.db, app, [groupId], app.clock.now())).get(groupId);
}

/** The timer key of a heartbeat's deadline. */
export const heartbeatKey = (name: string) => `${EVENT_TIMERS.heartbeat}:${name}`;

/** The event a heartbeat raises when it is missed (trigger) or pinged again (resolve). */
export function heartbeatEvent(hb: HeartbeatConfig, action: 'trigger' | 'resolve', summary: string): import('./event.parse.js').IncomingEvent {
  return {
    integration: HEARTBEAT_INTEGRATION, dedupKey: hb.name, action, summary, severity: hb.severity, source: `heartbeat ${hb.name}`,
    service: hb.service ?? null, labels: { alertname: 'HeartbeatMissed', heartbeat: hb.name }, details: { timeout: formatDuration(hb.timeout) },
    links: [], startsAt: null, raw: { heartbeat: hb.name, action },
  };
}

/** Records a heartbeat ping: the next deadline moves, an open missed-heartbeat alert resolves. */
export async function recordPing(app: AppContext, hb: HeartbeatConfig): Promise<{ nextDueAt: Date; resolved: boolean; outbox: boolean }> {
  return withRetry(app, async (tx) => {
    const now = app.clock.now();
    await tx.insert(schema.heartbeats).values({ name: hb.name, lastPingAt: now, pings: 1 })
      .onConflictDoUpdate({ target: schema.heartbeats.name, set: { lastPingAt: now, pings: sql`${schema.heartbeats.pings} + 1` } });
    const nextDueAt = new Date(now.getTime() + hb.timeout);
    await schedule(tx, { kind: EVENT_TIMERS.heartbeat, subject: `heartbeat:${hb.name}`, key: heartbeatKey(hb.name), dueAt: nextDueAt, payload: { name: hb.name } });
    const { outcomes, outbox } = await applyEvents(tx, app, [heartbeatEvent(hb, 'resolve', `Heartbeat ${hb.name} is back`)], now, WEBHOOK_ACTOR);
    return { nextDueAt, resolved: outcomes[0]?.outcome === 'resolved', outbox };
  });
}

/** An alert another workflow raises or resolves itself (`event.raise`): a failed access removal, access drift. */
export interface RaisedAlert {
  /** `tread.<workflow>`: reserved, no configured integration may use it. */
  integration: string;
  /** Deduplicates: a trigger with the same key counts on the open alert; a resolve ends it. */
  dedupKey: string;
  action: 'trigger' | 'resolve';
  summary: string;
  severity: Severity;
  service?: string | null;
  labels?: Record<string, string>;
  details?: Record<string, unknown>;
  /** Where a new group's card goes instead of where routing sends it (a security channel). */
  channel?: ChannelConfig;
}

/** Raises or resolves a raised alert inside the caller's transaction, like an event from a monitor (dedup, groups, cards). */
export async function raiseAlert(tx: Tx, app: AppContext, a: RaisedAlert, now: Date, actor: Actor): Promise<{ alertId: number | null; outcome: string }> {
  if (!a.integration.startsWith(RAISED_PREFIX)) throw badInput('event.bad_integration', `raised alerts use an integration named ${RAISED_PREFIX}<workflow>, not "${a.integration}"`);
  const { outcomes } = await applyEvents(tx, app, [{
    integration: a.integration, dedupKey: a.dedupKey, action: a.action, summary: a.summary, severity: a.severity, source: a.integration,
    service: a.service ?? null, labels: a.labels ?? {}, details: a.details ?? {}, links: [], startsAt: null, raw: { ...a, channel: undefined },
    ...(a.channel ? { channel: a.channel } : {}),
  }], now, actor);
  return { alertId: outcomes[0]?.alertId ?? null, outcome: outcomes[0]?.outcome ?? 'ignored' };
}

/** At start-up: every configured heartbeat gets a deadline (an existing one is kept). */
export async function armHeartbeats(app: AppContext): Promise<void> {
  const now = app.clock.now();
  for (const hb of app.config.heartbeats) {
    await app.db.insert(schema.timers).values({
      kind: EVENT_TIMERS.heartbeat, subject: `heartbeat:${hb.name}`, key: heartbeatKey(hb.name), dueAt: new Date(now.getTime() + hb.timeout),
      payload: { name: hb.name, since: now.toISOString() },
    }).onConflictDoNothing({ target: schema.timers.key });
  }
}

/** Alerts of an incident (for its card). */
export async function alertsOfIncident(db: DbOrTx, incidentId: number): Promise<string[]> {
  const rows = await db.select({ id: schema.alerts.id }).from(schema.alerts).where(eq(schema.alerts.incidentId, incidentId)).orderBy(desc(schema.alerts.id)).limit(20);
  return rows.map((r) => alertSubject(r.id)).reverse();
}
