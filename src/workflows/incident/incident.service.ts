/** Incident operations: one transaction per action — load, transition, persist, timeline, audit, timers, outbox, record events. */
import { and, desc, eq, inArray, lt } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { appendAudit } from '../../core/audit.js';
import { formatDuration, formatMinSec } from '../../core/duration.js';
import { badInput, DomainError, notFound } from '../../core/errors.js';
import { actorRef, API_PERSON, findPerson, personName, SCHEDULER_PERSON, type Actor } from '../../core/identity.js';
import type { Where } from '../../core/inbound.js';
import type { Message } from '../../core/message.js';
import { enqueue, type OutboxPayload } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { withCardParts } from '../../core/seam.js';
import { addTimeline } from '../../core/timeline.js';
import { cancelTimer, schedule } from '../../core/timers.js';
import { checkService, validateNewIncident, type IncidentCommand, type IncidentFilter, type NewIncident, type ResolutionCode } from './incident.inputs.js';
import { STATE_WORDS, isOpen, levelsForPriority, priorityOf, transition, type IncidentEvent, type IncidentState, type Level } from './incident.machine.js';
import { incidentCard, incidentSubject, type IncidentRow } from './incident.messages.js';
import { applyClockEffect, autoCloseKey, initialDueTimes, resumeResolutionClock, retargetSla, scheduleSlaTimers, statusUpdateKey, TIMER } from './incident.sla.js';

export type { IncidentRow };

/**
 * The card of an incident, with names resolved and what other workflows add (linked alerts, problems); `opening`: the
 * card of an incident being opened, which has only what its own transaction wrote.
 */
export async function cardFor(db: DbOrTx, app: AppContext, row: IncidentRow, now: Date, options: { opening?: boolean } = {}): Promise<Message> {
  const card = incidentCard(row, { assigneeName: row.assignee ? await personName(app, row.assignee, db) : undefined, now, timeZone: app.config.timezone });
  return withCardParts(card, await app.seam.cardParts(db, app, incidentSubject(row.id), now, options));
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
  requirePermission(app, actor.person, 'incident.create');
  const valid = validateNewIncident(app, input);
  const service = valid.service ?? null;
  const impact = valid.impact ?? 'medium';
  const urgency = valid.urgency ?? 'medium';
  const priority = priorityOf(impact, urgency);
  const [row] = await tx.insert(schema.incidents).values({
    title: valid.title, description: valid.description?.trim() || null, state: 'new', impact, urgency, priority, major: priority === 1,
    service, reporter: actor.person.id, source: actor.source, createdAt: now, updatedAt: now, ...initialDueTimes(app, priority, now),
    resolutionClockStartedAt: now,
    origin: (input.origin ?? null) as Record<string, unknown> | null,
  }).returning();
  const incident = row!;
  const subject = incidentSubject(incident.id);
  await scheduleSlaTimers(tx, app, incident, ['response', 'resolution'], 0);
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'created', text: `Opened by ${actor.person.name}: ${incident.title} (P${priority})`, data: { impact, urgency, service, links: input.links } });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject, action: 'incident.created', data: { title: incident.title, impact, urgency, priority, service } });
  const card = await cardFor(tx, app, incident, now, { opening: true });
  const targets = [...(input.origin ? [input.origin] : []), ...serviceChannels(app, service).filter((w) => !input.origin || !sameConversation(w, input.origin))];
  // Every new incident reaches someone: the console shows what no channel of its own shows; with no channel anywhere,
  // the admins get it as a direct message.
  if (app.platforms.has('console') && !targets.some((w) => w.platform === 'console')) targets.push({ platform: 'console', channel: 'console', name: 'console' });
  for (const where of targets) await enqueue(tx, { kind: 'post', where: { ...where, thread: undefined, messageId: undefined }, message: card, subject });
  if (!targets.some((w) => app.platforms.has(w.platform))) {
    for (const admin of app.config.people.filter((p) => p.roles.includes('admin'))) await enqueue(tx, { kind: 'dm', person: admin.id, message: card, subject }, { orderKey: subject });
  }
  if (incident.major) await startMajor(tx, app, incident, actor, now);
  await app.seam.announce(tx, app, 'incident.opened', {
    id: incident.id, subject, title: incident.title, description: incident.description, service, priority, major: incident.major,
    fromAlerts: Boolean(input.links?.alerts?.length), labels: input.labels ?? {}, actor: actorRef(actor),
  }, now);
  return incident;
}

/** Opens an incident in its own transaction. */
export async function createIncident(app: AppContext, input: NewIncident, actor: Actor): Promise<IncidentRow> {
  const now = app.clock.now();
  return app.db.transaction((tx) => openIncident(tx, app, input, actor, now));
}

/** Loads an incident or throws a 404-coded error. */
export async function getIncident(db: DbOrTx, id: number, lock = false): Promise<IncidentRow> {
  const q = db.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('incident.not_found', `There is no incident INC-${id}.`);
  return row;
}

/** Incidents matching a filter. */
export async function listIncidents(db: DbOrTx, f: IncidentFilter): Promise<IncidentRow[]> {
  const t = schema.incidents;
  const where = and(
    f.states ? inArray(t.state, [...f.states]) : undefined,
    f.priority !== undefined ? eq(t.priority, f.priority) : undefined,
    f.service !== undefined ? eq(t.service, f.service) : undefined,
    f.assignee !== undefined ? eq(t.assignee, f.assignee) : undefined,
    f.beforeId !== undefined ? lt(t.id, f.beforeId) : undefined,
  );
  const q = db.select().from(t).where(where);
  return (f.order === 'priority' ? q.orderBy(t.priority, desc(t.id)) : q.orderBy(desc(t.id))).limit(f.limit);
}

/** The result of a change: the new row and the sentence that announces it. */
export interface ChangeResult {
  incident: IncidentRow;
  announcement: string;
  /** The card as the change left it (what its cards are updated to): a button's answer shows it without reading it again. */
  card: Message;
}

/** What one change writes: the row patch, the sentence announcing it, the audit data. */
interface Change {
  patch: Partial<IncidentRow>;
  announcement: string;
  auditData: Record<string, unknown>;
  /** The resolution clock resumes once the row is written. */
  resumeClock?: boolean;
}

const STATE_EVENTS = ['ack', 'start', 'hold', 'resolve', 'reopen', 'close', 'cancel'] as const;
type StateCommand = Extract<IncidentCommand, { action: (typeof STATE_EVENTS)[number] }>;
type FieldCommand = Exclude<IncidentCommand, StateCommand>;

function isStateCommand(cmd: IncidentCommand): cmd is StateCommand {
  return (STATE_EVENTS as readonly string[]).includes(cmd.action);
}

/** A transition of the state machine with its effects on clocks, timers and fields. */
async function stateChange(tx: Tx, app: AppContext, before: IncidentRow, cmd: StateCommand, actor: Actor, now: Date): Promise<Change> {
  const event = (cmd.action === 'hold' ? { type: 'hold', reason: cmd.reason } : { type: cmd.action }) as IncidentEvent;
  const result = transition(before.state as IncidentState, event);
  if (result instanceof DomainError) throw result;
  const subject = incidentSubject(before.id);
  const patch: Partial<IncidentRow> = { state: result.next };
  const note = cmd.note?.trim();
  if (cmd.action === 'resolve' && !note) throw badInput('incident.resolution_required', 'Say what restored the service, like: /incident resolve INC-7 restarted the ingress pods', [{ path: 'note', message: 'say what restored the service' }]);
  if (cmd.action === 'hold' && !note) throw badInput('incident.hold_note_required', 'Say why it is on hold, like: /incident hold INC-7 vendor ISP ticket 4411', [{ path: 'note', message: 'say why it is on hold' }]);
  let resumeClock = false;
  for (const effect of result.effects) {
    if (await applyClockEffect(tx, app, before, effect, patch, now)) resumeClock = true;
    switch (effect) {
      case 'record_acknowledgement':
        if (!before.assignee && isPersonActing(actor)) patch.assignee = actor.person.id;
        break;
      case 'restart_resolution_clock':
        patch.resolvedAt = null;
        patch.resolutionCode = null;
        patch.resolutionNotes = null;
        break;
      case 'record_resolution':
        patch.resolvedAt = now;
        patch.resolutionCode = (cmd as { code?: ResolutionCode }).code ?? 'fixed';
        patch.resolutionNotes = note || null;
        break;
      case 'schedule_auto_close':
        await schedule(tx, { kind: TIMER.autoClose, subject, key: autoCloseKey(subject), dueAt: new Date(now.getTime() + app.config.incident.autoCloseAfter), payload: { id: before.id } });
        break;
      case 'cancel_auto_close':
        await cancelTimer(tx, autoCloseKey(subject));
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
  return {
    patch, resumeClock,
    announcement: stateSentence(subject, cmd, before, actor, now, note),
    auditData: { from: before.state, to: result.next, ...(note ? { note } : {}), ...('code' in cmd && cmd.code ? { code: cmd.code } : {}) },
  };
}

/** A change of a field: assignee, a note, priority, service, the major flag. */
async function fieldChange(tx: Tx, app: AppContext, before: IncidentRow, cmd: FieldCommand, actor: Actor, now: Date): Promise<Change> {
  const subject = incidentSubject(before.id);
  const who = actor.person.name;
  const open = isOpen(before.state as IncidentState);
  switch (cmd.action) {
    case 'assign': {
      const assignee = await findPerson(app, cmd.assignee, tx);
      if (!assignee) throw badInput('person.unknown', `I don't know "${cmd.assignee}".`, [{ path: 'assignee', message: 'unknown person' }]);
      if (!open) throw new DomainError('incident.closed_for_changes', `${subject} is ${STATE_WORDS[before.state as IncidentState]}; reopen it before assigning it.`, 409);
      if (assignee.id !== actor.person.id) {
        await enqueue(tx, { kind: 'dm', person: assignee.id, message: { text: `${who} assigned ${subject} to you: ${before.title}`, subject }, subject: undefined }, { orderKey: subject });
      }
      return { patch: { assignee: assignee.id }, announcement: `${subject} assigned to ${assignee.name} by ${who}`, auditData: { from: before.assignee, to: assignee.id } };
    }
    case 'note': {
      const text = cmd.note.trim();
      if (!text) throw badInput('incident.empty_note', 'Write the note after the id: /incident note INC-7 <text>.', [{ path: 'note', message: 'empty' }]);
      return { patch: {}, announcement: `${who} noted on ${subject}: ${text}`, auditData: { note: text } };
    }
    case 'priority': {
      let impact = cmd.impact ?? (before.impact as Level);
      let urgency = cmd.urgency ?? (before.urgency as Level);
      if (cmd.priority !== undefined) {
        if (!Number.isInteger(cmd.priority) || cmd.priority < 1 || cmd.priority > 5) throw badInput('incident.bad_priority', 'A priority is P1 to P5.', [{ path: 'priority', message: 'expected P1 to P5' }]);
        ({ impact, urgency } = levelsForPriority(cmd.priority));
      }
      const priority = priorityOf(impact, urgency);
      const patch: Partial<IncidentRow> = { impact, urgency, priority };
      if (priority === 1 && !before.major && open) patch.major = true; // like `major`: only open incidents
      // a P1 lowered is no longer major, unless someone declared it major themselves
      if (before.major && before.priority === 1 && priority !== 1 && !(await declaredMajor(tx, subject))) {
        patch.major = false;
        await cancelTimer(tx, statusUpdateKey(subject));
      }
      if (priority !== before.priority && open) Object.assign(patch, await retargetSla(tx, app, { ...before, ...patch } as IncidentRow, now));
      return { patch, announcement: `${subject} priority P${before.priority} → P${priority} (impact ${impact}, urgency ${urgency}) by ${who}`, auditData: { from: before.priority, to: priority, impact, urgency } };
    }
    case 'service': {
      const service = checkService(app, cmd.service);
      return { patch: { service }, announcement: `${subject} moved to service ${service} by ${who}`, auditData: { from: before.service, to: service } };
    }
    case 'major': {
      if (cmd.off) {
        if (!before.major) throw new DomainError('incident.not_major', `${subject} is not a major incident.`, 409);
        await cancelTimer(tx, statusUpdateKey(subject));
        return { patch: { major: false }, announcement: `${subject} is no longer a major incident (${who})`, auditData: { major: false } };
      }
      if (before.major) throw new DomainError('incident.already_major', `${subject} is already a major incident.`, 409);
      if (!open) throw new DomainError('incident.closed_for_changes', `${subject} is ${STATE_WORDS[before.state as IncidentState]}; only open incidents can become major.`, 409);
      return { patch: { major: true }, announcement: `${subject} declared a major incident by ${who}`, auditData: {} };
    }
    case 'edit': {
      if (cmd.title === undefined && cmd.description === undefined) throw badInput('incident.nothing_to_edit', 'Say what to change: title:"…" and/or description:"…".', [{ path: 'title', message: 'give a title or a description' }]);
      const valid = validateNewIncident(app, { title: cmd.title ?? before.title, description: cmd.description });
      const patch: Partial<IncidentRow> = {};
      const changes: string[] = [];
      if (cmd.title !== undefined && valid.title !== before.title) { patch.title = valid.title; changes.push(`title "${valid.title}"`); }
      if (cmd.description !== undefined) { patch.description = cmd.description.trim() || null; changes.push(cmd.description.trim() ? 'description' : 'description removed'); }
      return { patch, announcement: `${subject} edited by ${who}: ${changes.join(', ') || 'no change'}`, auditData: { from: { title: before.title, description: before.description }, to: { title: patch.title ?? before.title, description: patch.description === undefined ? before.description : patch.description } } };
    }
  }
}

/** Applies a change inside the caller's transaction; announces `incident.changed`. */
export async function changeIncident(tx: Tx, app: AppContext, id: number, cmd: IncidentCommand, actor: Actor, now: Date): Promise<ChangeResult> {
  const before = await getIncident(tx, id, true);
  const subject = incidentSubject(id);
  // the reporter may always fix the title and description of their own incident
  if (!(cmd.action === 'edit' && actor.person.id === before.reporter)) requirePermission(app, actor.person, `incident.${cmd.action}`, subject);
  const change = isStateCommand(cmd) ? await stateChange(tx, app, before, cmd, actor, now) : await fieldChange(tx, app, before, cmd, actor, now);
  const [after] = await tx.update(schema.incidents).set({ ...change.patch, updatedAt: now, version: before.version + 1 }).where(eq(schema.incidents.id, id)).returning();
  const incident = change.resumeClock ? await resumeResolutionClock(tx, app, after!, now) : after!;
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: cmd.action, text: change.announcement, data: change.auditData });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject, action: `incident.${cmd.action}`, data: change.auditData });
  const card = await cardFor(tx, app, incident, now);
  const out: OutboxPayload[] = [{ kind: 'update', subject, message: card }, { kind: 'announce', subject, message: { text: change.announcement, subject } }];
  if (incident.major && !before.major && !(cmd.action === 'major' && cmd.off)) await startMajor(tx, app, incident, actor, now);
  if (cmd.action === 'reopen' && incident.major) {
    // reminders run until resolved: a reopened major incident needs them again
    await schedule(tx, { kind: TIMER.statusUpdate, subject, key: statusUpdateKey(subject), dueAt: new Date(now.getTime() + app.config.incident.statusUpdateEvery), payload: { id } });
  }
  if (cmd.action === 'service' && incident.service !== before.service) {
    const showing = await conversationsWithCard(tx, subject);
    for (const where of serviceChannels(app, incident.service)) {
      if (!showing.some((w) => sameConversation(w, where))) out.push({ kind: 'post', where, message: card, subject });
    }
  }
  for (const p of out) await enqueue(tx, p);
  await app.seam.announce(tx, app, 'incident.changed', {
    id, subject, action: cmd.action,
    from: { state: before.state as IncidentState, priority: before.priority, service: before.service, major: before.major },
    to: { state: incident.state as IncidentState, priority: incident.priority, service: incident.service, major: incident.major },
    actor: actorRef(actor),
  }, now);
  return { incident, announcement: change.announcement, card };
}

/** True when someone declared the incident major themselves (rather than it being a P1). */
async function declaredMajor(tx: Tx, subject: string): Promise<boolean> {
  const [last] = await tx.select({ data: schema.auditLog.data }).from(schema.auditLog)
    .where(and(eq(schema.auditLog.subject, subject), eq(schema.auditLog.action, 'incident.major'))).orderBy(desc(schema.auditLog.seq)).limit(1);
  return last !== undefined && (last.data as { major?: boolean }).major !== false;
}

/** Runs a change in its own transaction. */
export async function applyIncidentCommand(app: AppContext, id: number, cmd: IncidentCommand, actor: Actor): Promise<ChangeResult> {
  const now = app.clock.now();
  return app.db.transaction((tx) => changeIncident(tx, app, id, cmd, actor, now));
}

/** True when a person of the organisation acts, not tread itself (timers, monitors) or the API token. */
function isPersonActing(actor: Actor): boolean {
  return actor.person.known && actor.person.id !== SCHEDULER_PERSON.id && actor.person.id !== API_PERSON.id;
}

function stateSentence(subject: string, cmd: IncidentCommand, before: IncidentRow, actor: Actor, now: Date, note?: string): string {
  const who = actor.person.name;
  const since = formatMinSec(now.getTime() - before.createdAt.getTime());
  // tread resolving for the alerts that opened it says why instead of how long it took (`resolved by tread: all alerts of GRP-4 resolved`)
  if (cmd.action === 'resolve' && actor.person.id === SCHEDULER_PERSON.id) return `${subject} resolved by tread${note ? `: ${note}` : ''}`;
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

/** Major incident: a dedicated channel with owners and assignee, the card pinned there, status-update reminders. */
async function startMajor(tx: Tx, app: AppContext, i: IncidentRow, actor: Actor, now: Date): Promise<void> {
  const subject = incidentSubject(i.id);
  const slug = i.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40).replace(/-$/, '');
  const name = `inc-${i.id}-${slug || 'major'}`;
  const service = i.service ? app.config.services.find((s) => s.name === i.service) : undefined;
  const members = [...new Set([...(service?.owners ?? []), ...(i.assignee ? [i.assignee] : []), ...(isPersonActing(actor) ? [actor.person.id] : [])])];
  const card = await cardFor(tx, app, i, now);
  await enqueue(tx, { kind: 'channel', subject, name, members, message: card });
  await schedule(tx, { kind: TIMER.statusUpdate, subject, key: statusUpdateKey(subject), dueAt: new Date(now.getTime() + app.config.incident.statusUpdateEvery), payload: { id: i.id } });
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'major', text: `Major incident: channel ${name} requested with ${members.length} people` });
}
