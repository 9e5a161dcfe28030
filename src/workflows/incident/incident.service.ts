/** Incident operations: one transaction per action — load, transition, persist, timeline, audit, timers, outbox. */
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { appendAudit } from '../../core/audit.js';
import { addSlaTime, slaBudgetMs, slaTimeBetween } from '../../core/business-hours.js';
import { formatDuration, formatMinSec } from '../../core/duration.js';
import { badInput, DomainError, notFound } from '../../core/errors.js';
import { findPerson, personName, type Person } from '../../core/identity.js';
import type { Source, Where } from '../../core/inbound.js';
import type { Message } from '../../core/message.js';
import { enqueue, type OutboxPayload } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { addTimeline } from '../../core/timeline.js';
import { cancelTimer, cancelTimers, schedule, scheduleMany, type KeyedTimer } from '../../core/timers.js';
import { HOLD_REASONS, LEVELS, STATE_WORDS, isOpen, levelsForPriority, priorityOf, transition, type HoldReason, type IncidentEvent, type IncidentState, type Level } from './incident.machine.js';
import { incidentCard, incidentSubject, type IncidentRow } from './incident.messages.js';

export type { IncidentRow };

/** Who acts and from where. */
export interface Actor {
  person: Person;
  source: Source;
}

/** Input for a new incident. */
export interface NewIncident {
  title: string;
  description?: string;
  impact?: Level;
  urgency?: Level;
  service?: string;
  /** The conversation it was opened from: the card is posted there. */
  origin?: Where;
  links?: { alerts?: string[] };
}

/** A change to an incident. */
export type IncidentCommand =
  | { action: 'ack' | 'start' | 'reopen' | 'close' | 'cancel'; note?: string }
  | { action: 'hold'; reason: HoldReason; note?: string }
  | { action: 'resolve'; note?: string; code?: ResolutionCode }
  | { action: 'assign'; assignee: string }
  | { action: 'note'; note: string }
  | { action: 'priority'; priority?: number; impact?: Level; urgency?: Level }
  | { action: 'service'; service: string }
  | { action: 'major' };

export const RESOLUTION_CODES = ['fixed', 'workaround', 'no_fault', 'duplicate'] as const;
export type ResolutionCode = (typeof RESOLUTION_CODES)[number];

/** Timer kinds this workflow handles. */
export const TIMER = {
  sla: 'incident.sla',
  autoClose: 'incident.auto_close',
  statusUpdate: 'incident.status_update',
} as const;

const titleSchema = z.string().trim().min(3, 'the title needs at least 3 characters').max(200, 'the title can be at most 200 characters');

/** Checks a service name against the config. */
export function checkService(app: AppContext, name: string): string {
  const service = app.config.services.find((s) => s.name === name.toLowerCase());
  if (!service) {
    const known = app.config.services.map((s) => s.name).join(', ') || 'none configured';
    throw badInput('incident.unknown_service', `There is no service "${name}". Known services: ${known}.`, [{ path: 'service', message: `unknown service "${name}"` }]);
  }
  return service.name;
}

/** The card of an incident, with names resolved. */
export async function cardFor(tx: Tx | AppContext['db'], app: AppContext, row: IncidentRow, now: Date): Promise<Message> {
  const alerts = await linkedAlerts(tx, row.id);
  return incidentCard(row, { assigneeName: row.assignee ? await personName(app, row.assignee, tx) : undefined, now, timeZone: app.config.timezone, alerts });
}

async function linkedAlerts(tx: Tx | AppContext['db'], id: number): Promise<string[]> {
  return pagingHooks.linkedAlerts ? pagingHooks.linkedAlerts(tx, id) : [];
}

/** Where a service's cards go: its Slack and Teams channels. */
export function serviceChannels(app: AppContext, service: string | null | undefined): Where[] {
  const s = service ? app.config.services.find((x) => x.name === service) : undefined;
  const out: Where[] = [];
  if (s?.slack) out.push({ platform: 'slack', channel: s.slack.channel, name: s.slack.channel });
  if (s?.teams) out.push({ platform: 'teams', tenant: s.teams.team, channel: s.teams.channel });
  const announce = app.config.incident.announce;
  if (!s?.slack && announce.slack) out.push({ platform: 'slack', channel: announce.slack });
  if (!s?.teams && announce.teams) out.push({ platform: 'teams', tenant: announce.teams.team, channel: announce.teams.channel });
  return out;
}

function sameConversation(a: Where, b: Where): boolean {
  return a.platform === b.platform && a.channel === b.channel;
}

/** Conversations that already show a card of the record, or have one queued: a change never posts a second card there. */
async function conversationsWithCard(tx: Tx, subject: string): Promise<Where[]> {
  const posted = await tx.select({ platform: schema.chatMessages.platform, channel: schema.chatMessages.channel }).from(schema.chatMessages)
    .where(and(eq(schema.chatMessages.subject, subject), eq(schema.chatMessages.purpose, 'card')));
  const queued = await tx.select({ payload: schema.outbox.payload }).from(schema.outbox)
    .where(and(eq(schema.outbox.orderKey, subject), eq(schema.outbox.kind, 'post')));
  return [...posted.map((p) => ({ platform: p.platform as Where['platform'], channel: p.channel })), ...queued.map((q) => (q.payload as { where: Where }).where)];
}

/** Opens an incident inside the caller's transaction. */
export async function openIncident(tx: Tx, app: AppContext, input: NewIncident, actor: Actor, now: Date): Promise<IncidentRow> {
  requirePermission(actor.person, 'incident.create', 'open incidents');
  const parsedTitle = titleSchema.safeParse(input.title ?? '');
  if (!parsedTitle.success) throw badInput('incident.bad_title', `Give the incident a title: ${parsedTitle.error.issues[0]!.message}.`, [{ path: 'title', message: parsedTitle.error.issues[0]!.message }]);
  const service = input.service ? checkService(app, input.service) : null;
  const impact = input.impact ?? 'medium';
  const urgency = input.urgency ?? 'medium';
  const priority = priorityOf(impact, urgency);
  const target = slaTarget(app, priority);
  const bh = target.bh;
  const [row] = await tx.insert(schema.incidents).values({
    title: parsedTitle.data, description: input.description?.trim() || null, state: 'new', impact, urgency, priority, major: priority === 1,
    service, reporter: actor.person.id, source: actor.source, createdAt: now, updatedAt: now,
    responseDueAt: addSlaTime(now, target.response, bh, app.config.timezone),
    resolutionDueAt: addSlaTime(now, target.resolution, bh, app.config.timezone),
    resolutionClockStartedAt: now,
    origin: (input.origin ?? null) as Record<string, unknown> | null,
  }).returning();
  const incident = row!;
  const subject = incidentSubject(incident.id);
  await scheduleSlaTimers(tx, app, incident, ['response', 'resolution'], 0);
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'created', text: `Opened by ${actor.person.name}: ${incident.title} (P${priority})`, data: { impact, urgency, service, links: input.links } });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject, action: 'incident.created', data: { title: incident.title, impact, urgency, priority, service } });
  const card = await cardFor(tx, app, incident, now);
  const targets = [...(input.origin ? [input.origin] : []), ...serviceChannels(app, service).filter((w) => !input.origin || !sameConversation(w, input.origin))];
  for (const where of targets) await enqueue(tx, { kind: 'post', where: { ...where, thread: undefined, messageId: undefined }, message: card, subject });
  if (incident.major) await startMajor(tx, app, incident, actor, now);
  const policy = service ? app.config.services.find((s) => s.name === service)?.escalationPolicy : undefined;
  if (policy && pagingHooks.start && !input.links?.alerts?.length) {
    await pagingHooks.start(tx, app, { subject, policy, service: service ?? undefined, title: incident.title }, now);
  }
  return incident;
}

/** Opens an incident in its own transaction. */
export async function createIncident(app: AppContext, input: NewIncident, actor: Actor): Promise<IncidentRow> {
  const now = app.clock.now();
  return app.db.transaction((tx) => openIncident(tx, app, input, actor, now));
}

/** Loads an incident or throws a 404-coded error. */
export async function getIncident(db: Tx | AppContext['db'], id: number, lock = false): Promise<IncidentRow> {
  const q = db.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('incident.not_found', `There is no incident INC-${id}.`);
  return row;
}

/** The result of a change: the new row and the sentence that announces it. */
export interface ChangeResult {
  incident: IncidentRow;
  announcement: string;
}

/** Applies a change inside the caller's transaction. */
export async function changeIncident(tx: Tx, app: AppContext, id: number, cmd: IncidentCommand, actor: Actor, now: Date): Promise<ChangeResult> {
  const before = await getIncident(tx, id, true);
  const subject = incidentSubject(id);
  const permission = cmd.action === 'major' ? 'incident.major' : `incident.${cmd.action}`;
  requirePermission(actor.person, permission, actionWords(cmd.action, subject));
  let patch: Partial<IncidentRow> = {};
  let announcement: string;
  let auditData: Record<string, unknown> = {};
  let resumeClock = false;
  const who = actor.person.name;

  const stateEvents = ['ack', 'start', 'hold', 'resolve', 'reopen', 'close', 'cancel'] as const;
  if ((stateEvents as readonly string[]).includes(cmd.action)) {
    const event = (cmd.action === 'hold' ? { type: 'hold', reason: (cmd as { reason: HoldReason }).reason } : { type: cmd.action }) as IncidentEvent;
    const result = transition(before.state as IncidentState, event);
    if (result instanceof DomainError) throw result;
    patch.state = result.next;
    const note = 'note' in cmd ? cmd.note?.trim() : undefined;
    for (const effect of result.effects) {
      switch (effect) {
        case 'record_acknowledgement':
          patch.acknowledgedAt = now;
          patch.responseDueAt = null;
          if (!before.assignee && actor.person.known && actor.source !== 'scheduler' && actor.person.id !== 'api') patch.assignee = actor.person.id;
          await cancelTimer(tx, [slaKey(subject, 'response', 'warn'), slaKey(subject, 'response', 'breach')]);
          await stopPaging(tx, app, subject, actor, now);
          break;
        case 'pause_resolution_clock': {
          const target = slaTarget(app, before.priority);
          const spent = before.resolutionSpentMs + (before.resolutionClockStartedAt ? slaTimeBetween(before.resolutionClockStartedAt, now, target.bh, app.config.timezone) : 0);
          patch.resolutionSpentMs = Math.round(spent);
          patch.resolutionClockStartedAt = null;
          patch.resolutionDueAt = null;
          await cancelResolutionTimers(tx, subject);
          break;
        }
        case 'resume_resolution_clock':
          patch.resolutionClockStartedAt = now;
          resumeClock = true;
          break;
        case 'stop_resolution_clock':
        case 'stop_all_timers':
          patch.resolutionDueAt = null;
          patch.responseDueAt = before.acknowledgedAt || patch.acknowledgedAt ? null : before.responseDueAt;
          if (effect === 'stop_all_timers') {
            await cancelTimers(tx, subject, 'incident.'); // this workflow's timers; escalation stops through its own module
            await stopPaging(tx, app, subject, actor, now, result.next === 'cancelled' ? 'cancelled' : 'resolved');
          } else await cancelResolutionTimers(tx, subject);
          if (effect === 'stop_all_timers' || result.next === 'resolved') {
            await cancelTimers(tx, subject, TIMER.sla);
            await cancelTimer(tx, `${subject}:status`);
            patch.responseDueAt = null;
          }
          break;
        case 'restart_resolution_clock':
          patch.resolutionSpentMs = 0;
          patch.resolutionClockStartedAt = now;
          patch.resolutionBreached = false;
          patch.resolvedAt = null;
          patch.resolutionCode = null;
          patch.resolutionNotes = null;
          resumeClock = true;
          break;
        case 'record_resolution':
          patch.resolvedAt = now;
          patch.resolutionCode = (cmd as { code?: ResolutionCode }).code ?? 'fixed';
          patch.resolutionNotes = note || null;
          await stopPaging(tx, app, subject, actor, now, 'resolved');
          break;
        case 'schedule_auto_close':
          await schedule(tx, { kind: TIMER.autoClose, subject, key: `${subject}:autoclose`, dueAt: new Date(now.getTime() + app.config.incident.autoCloseAfter), payload: { id } });
          break;
        case 'cancel_auto_close':
          await cancelTimer(tx, `${subject}:autoclose`);
          break;
        case 'record_closure':
          patch.closedAt = now;
          break;
      }
    }
    if (cmd.action === 'hold') {
      patch.holdReason = cmd.reason;
      patch.holdNote = note || null;
    } else if (before.state === 'on_hold') {
      patch.holdReason = null;
      patch.holdNote = null;
    }
    announcement = stateSentence(subject, cmd, before, who, now, note);
    auditData = { from: before.state, to: result.next, ...(note ? { note } : {}), ...('code' in cmd && cmd.code ? { code: cmd.code } : {}) };
  } else {
    switch (cmd.action) {
      case 'assign': {
        const assignee = await findPerson(app, cmd.assignee, tx);
        if (!assignee) throw badInput('person.unknown', `I don't know "${cmd.assignee}".`, [{ path: 'assignee', message: 'unknown person' }]);
        if (!isOpen(before.state as IncidentState)) throw new DomainError('incident.closed_for_changes', `${subject} is ${STATE_WORDS[before.state as IncidentState]}; reopen it before assigning it.`, 409);
        patch.assignee = assignee.id;
        announcement = `${subject} assigned to ${assignee.name} by ${who}`;
        auditData = { from: before.assignee, to: assignee.id };
        if (assignee.id !== actor.person.id) {
          await enqueue(tx, { kind: 'dm', person: assignee.id, message: { text: `${who} assigned ${subject} to you: ${before.title}`, subject }, subject: undefined }, { orderKey: subject });
        }
        break;
      }
      case 'note': {
        const text = cmd.note.trim();
        if (!text) throw badInput('incident.empty_note', 'Write the note after the id: /incident note INC-7 <text>.', [{ path: 'note', message: 'empty' }]);
        announcement = `${who} noted on ${subject}: ${text}`;
        auditData = { note: text };
        break;
      }
      case 'priority': {
        let impact = cmd.impact ?? (before.impact as Level);
        let urgency = cmd.urgency ?? (before.urgency as Level);
        if (cmd.priority !== undefined) {
          if (!Number.isInteger(cmd.priority) || cmd.priority < 1 || cmd.priority > 5) throw badInput('incident.bad_priority', 'A priority is P1 to P5.', [{ path: 'priority', message: 'expected P1 to P5' }]);
          ({ impact, urgency } = levelsForPriority(cmd.priority));
        }
        const priority = priorityOf(impact, urgency);
        patch = { impact, urgency, priority };
        if (priority === 1 && !before.major && isOpen(before.state as IncidentState)) patch.major = true; // like `major`: only open incidents
        announcement = `${subject} priority P${before.priority} → P${priority} (impact ${impact}, urgency ${urgency}) by ${who}`;
        auditData = { from: before.priority, to: priority, impact, urgency };
        if (priority !== before.priority && isOpen(before.state as IncidentState)) {
          Object.assign(patch, await retargetSla(tx, app, { ...before, ...patch } as IncidentRow, now));
        }
        break;
      }
      case 'service': {
        const service = checkService(app, cmd.service);
        patch.service = service;
        announcement = `${subject} moved to service ${service} by ${who}`;
        auditData = { from: before.service, to: service };
        break;
      }
      case 'major': {
        if (before.major) throw new DomainError('incident.already_major', `${subject} is already a major incident.`, 409);
        if (!isOpen(before.state as IncidentState)) throw new DomainError('incident.closed_for_changes', `${subject} is ${STATE_WORDS[before.state as IncidentState]}; only open incidents can become major.`, 409);
        patch.major = true;
        announcement = `${subject} declared a major incident by ${who}`;
        break;
      }
    }
  }

  const [after] = await tx.update(schema.incidents).set({ ...patch, updatedAt: now, version: before.version + 1 }).where(eq(schema.incidents.id, id)).returning();
  const incident = resumeClock ? await resumeResolutionClock(tx, app, after!, now) : after!;
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: cmd.action, text: announcement!, data: auditData });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject, action: `incident.${cmd.action}`, data: auditData });
  const card = await cardFor(tx, app, incident, now);
  const out: OutboxPayload[] = [{ kind: 'update', subject, message: card }, { kind: 'announce', subject, message: { text: announcement!, subject } }];
  if (incident.major && !before.major) await startMajor(tx, app, incident, actor, now);
  if (cmd.action === 'reopen' && incident.major) {
    // reminders run until resolved: a reopened major incident needs them again
    await schedule(tx, { kind: TIMER.statusUpdate, subject, key: `${subject}:status`, dueAt: new Date(now.getTime() + app.config.incident.statusUpdateEvery), payload: { id } });
  }
  if (cmd.action === 'service' && incident.service !== before.service) {
    const showing = await conversationsWithCard(tx, subject);
    for (const where of serviceChannels(app, incident.service)) {
      if (!showing.some((w) => sameConversation(w, where))) out.push({ kind: 'post', where, message: card, subject });
    }
  }
  for (const p of out) await enqueue(tx, p);
  return { incident, announcement: announcement! };
}

/** Runs a change in its own transaction. */
export async function applyIncidentCommand(app: AppContext, id: number, cmd: IncidentCommand, actor: Actor): Promise<ChangeResult> {
  const now = app.clock.now();
  return app.db.transaction((tx) => changeIncident(tx, app, id, cmd, actor, now));
}

function actionWords(action: IncidentCommand['action'], subject: string): string {
  const words: Record<IncidentCommand['action'], string> = {
    ack: `acknowledge ${subject}`, start: `start work on ${subject}`, hold: `put ${subject} on hold`, resolve: `resolve ${subject}`, reopen: `reopen ${subject}`,
    close: `close ${subject}`, cancel: `cancel ${subject}`, assign: `assign ${subject}`, note: `add notes to ${subject}`, priority: `change the priority of ${subject}`,
    service: `change the service of ${subject}`, major: `declare ${subject} a major incident`,
  };
  return words[action];
}

function stateSentence(subject: string, cmd: IncidentCommand, before: IncidentRow, who: string, now: Date, note?: string): string {
  const since = formatMinSec(now.getTime() - before.createdAt.getTime());
  switch (cmd.action) {
    case 'ack': return `${subject} acknowledged by ${who} (${since} after opening)`;
    case 'start': return before.state === 'on_hold' ? `${subject} work resumed by ${who}` : `${subject} work started by ${who}${before.state === 'new' ? ` (${since} after opening)` : ''}`;
    case 'hold': return `${subject} put on hold by ${who}: ${cmd.reason.replace('_', ' ')}${note ? ` — ${note}` : ''}`;
    case 'resolve': return `${subject} resolved by ${who} after ${formatDuration(now.getTime() - before.createdAt.getTime())}${note ? `: ${note}` : ''}`;
    case 'reopen': return `${subject} reopened by ${who}${note ? `: ${note}` : ''}`;
    case 'close': return `${subject} closed by ${who}`;
    case 'cancel': return `${subject} cancelled by ${who}${note ? `: ${note}` : ''}`;
    default: return `${subject} changed by ${who}`;
  }
}

/** The SLA targets of a priority as budgets of SLA time (business days when the target counts business hours). */
function slaTarget(app: AppContext, priority: number) {
  const t = app.config.sla[`P${priority}` as 'P1'];
  const bh = t.businessHours ? app.config.businessHours : undefined;
  return { response: slaBudgetMs(t.response, bh), resolution: slaBudgetMs(t.resolution, bh), bh };
}

function slaKey(subject: string, clock: 'response' | 'resolution', stage: 'warn' | 'breach'): string {
  return `${subject}:sla:${clock}:${stage}`;
}

async function cancelResolutionTimers(tx: Tx, subject: string): Promise<void> {
  await cancelTimer(tx, [slaKey(subject, 'resolution', 'warn'), slaKey(subject, 'resolution', 'breach')]);
}

/** Schedules the 75% warning and the breach of one SLA clock, given SLA time already spent. */
async function scheduleSlaTimers(tx: Tx, app: AppContext, i: IncidentRow, clocks: ('response' | 'resolution')[], spentMs: number, from?: Date): Promise<void> {
  const subject = incidentSubject(i.id);
  const t = slaTarget(app, i.priority);
  const start = from ?? i.createdAt;
  const timers: KeyedTimer[] = [];
  for (const clock of clocks) {
    const total = clock === 'response' ? t.response : t.resolution;
    const warnAt = total * app.config.incident.slaWarnAt - spentMs;
    if (warnAt > 0) {
      timers.push({ kind: TIMER.sla, subject, key: slaKey(subject, clock, 'warn'), dueAt: addSlaTime(start, warnAt, t.bh, app.config.timezone), payload: { id: i.id, clock, stage: 'warn' } });
    } else {
      await cancelTimer(tx, slaKey(subject, clock, 'warn')); // already past the warning point of this target: a warning of an older target must not fire
    }
    timers.push({ kind: TIMER.sla, subject, key: slaKey(subject, clock, 'breach'), dueAt: addSlaTime(start, Math.max(0, total - spentMs), t.bh, app.config.timezone), payload: { id: i.id, clock, stage: 'breach' } });
  }
  await scheduleMany(tx, timers);
}

/** After a priority change: new due times from the new targets, keeping time already spent. */
async function retargetSla(tx: Tx, app: AppContext, i: IncidentRow, now: Date): Promise<Partial<IncidentRow>> {
  const t = slaTarget(app, i.priority);
  const patch: Partial<IncidentRow> = {};
  if (!i.acknowledgedAt) {
    const spent = slaTimeBetween(i.createdAt, now, t.bh, app.config.timezone);
    patch.responseDueAt = addSlaTime(now, Math.max(0, t.response - spent), t.bh, app.config.timezone);
    await scheduleSlaTimers(tx, app, i, ['response'], spent, now);
  }
  if (i.resolutionClockStartedAt) {
    const spent = i.resolutionSpentMs + slaTimeBetween(i.resolutionClockStartedAt, now, t.bh, app.config.timezone);
    patch.resolutionDueAt = addSlaTime(now, Math.max(0, t.resolution - spent), t.bh, app.config.timezone);
    await scheduleSlaTimers(tx, app, i, ['resolution'], spent, now);
  }
  return patch;
}

/** Resumes the resolution clock's timers and due time (after hold or reopen). Called after the row is updated. */
export async function resumeResolutionClock(tx: Tx, app: AppContext, i: IncidentRow, now: Date): Promise<IncidentRow> {
  const t = slaTarget(app, i.priority);
  const remaining = Math.max(0, t.resolution - i.resolutionSpentMs);
  const due = addSlaTime(now, remaining, t.bh, app.config.timezone);
  await scheduleSlaTimers(tx, app, i, ['resolution'], i.resolutionSpentMs, now);
  const [row] = await tx.update(schema.incidents).set({ resolutionDueAt: due }).where(eq(schema.incidents.id, i.id)).returning();
  return row!;
}

/** Major incident: a dedicated channel with owners and assignee, the card pinned there, status-update reminders. */
async function startMajor(tx: Tx, app: AppContext, i: IncidentRow, actor: Actor, now: Date): Promise<void> {
  const subject = incidentSubject(i.id);
  const slug = i.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40).replace(/-$/, '');
  const name = `inc-${i.id}-${slug || 'major'}`;
  const service = i.service ? app.config.services.find((s) => s.name === i.service) : undefined;
  const members = [...new Set([...(service?.owners ?? []), ...(i.assignee ? [i.assignee] : []), ...(actor.person.known && actor.person.id !== 'api' ? [actor.person.id] : [])])];
  const card = await cardFor(tx, app, i, now);
  await enqueue(tx, { kind: 'channel', subject, name, members, message: card });
  await schedule(tx, { kind: TIMER.statusUpdate, subject, key: `${subject}:status`, dueAt: new Date(now.getTime() + app.config.incident.statusUpdateEvery), payload: { id: i.id } });
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'major', text: `Major incident: channel ${name} requested with ${members.length} people` });
}

/** Stops escalation paging for the subject, when an escalation module is installed. */
async function stopPaging(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date, reason: PagingStopReason = 'acknowledged'): Promise<void> {
  const hook = pagingHooks.stop;
  if (hook) await hook(tx, app, subject, actor, now, reason);
}

/** Why paging stops. */
export type PagingStopReason = 'acknowledged' | 'resolved' | 'cancelled';

/** Escalation hooks, set by the on-call module so this workflow does not depend on it. */
export const pagingHooks: {
  start?: (tx: Tx, app: AppContext, args: { subject: string; policy: string; service?: string; title: string }, now: Date) => Promise<void>;
  stop?: (tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date, reason?: PagingStopReason) => Promise<void>;
  /** Alerts linked to an incident (set by event management), shown on the card. */
  linkedAlerts?: (tx: Tx | AppContext['db'], incidentId: number) => Promise<string[]>;
} = {};

/** Parses a hold reason word (`caller`, `awaiting_vendor`). */
export function parseHoldReason(text: string | undefined): HoldReason | undefined {
  if (!text) return undefined;
  const t = text.toLowerCase();
  return HOLD_REASONS.find((r) => r === t || r === `awaiting_${t}`);
}

/** Parses `high|medium|low`. */
export function parseLevel(text: string | undefined): Level | undefined {
  return LEVELS.find((l) => l === text?.toLowerCase());
}

/** All configured service names. */
export function serviceNames(app: AppContext): string[] {
  return app.config.services.map((s) => s.name);
}
