/**
 * Escalations: page the steps of a policy one after another until someone acknowledges.
 * The policy is copied onto the escalation row when paging starts; each next step is a timer (one per subject),
 * so replicas sharing PostgreSQL page every step exactly once.
 */
import { and, desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { appendAudit } from '../../core/audit.js';
import { channelLabel, channelWheres } from '../../core/channels.js';
import { formatDuration } from '../../core/duration.js';
import { conflict, DomainError, notFound } from '../../core/errors.js';
import { findPerson, SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { addTimeline } from '../../core/timeline.js';
import { cancelTimer, schedule } from '../../core/timers.js';
import type { EscalationTarget } from './oncall.config.js';
import { pageMessage } from './oncall.messages.js';
import { nextPosition, transition, type EscalationState, type Position, type StopReason } from './oncall.machine.js';
import { findSchedule, onCallAt } from './oncall.service.js';

/** Timer kind of escalation steps. */
export const ESCALATION_TIMER = 'oncall.escalate';

/** The timer key of a subject's escalation (one pending step per subject). */
export function escalationKey(subject: string): string {
  return `oncall.escalation:${subject}`;
}

export type EscalationRow = typeof schema.escalations.$inferSelect;

/** The policy as copied onto an escalation. */
export interface StoredPolicy {
  name: string;
  steps: { targets: EscalationTarget[]; waitMs: number }[];
  repeat: number;
}

const storedPolicySchema = z.object({
  name: z.string(),
  steps: z.array(z.object({ targets: z.array(z.record(z.string(), z.unknown())).min(1), waitMs: z.number().positive() })).min(1),
  repeat: z.number().int().min(0),
});

/** What an escalation step timer carries: the step to page, or that the last one's wait ran out. */
export const timerPayloadSchema = z.union([
  z.object({ escalationId: z.number().int(), level: z.number().int().min(0), pass: z.number().int().min(0) }),
  z.object({ escalationId: z.number().int(), final: z.literal(true) }),
]);
type TimerPayload = z.infer<typeof timerPayloadSchema>;

/** What starts an escalation. */
export interface EscalationInput {
  /** The record being escalated: `INC-7`, `ALR-3`. */
  subject: string;
  /** Name of an escalation policy in the config. */
  policy: string;
  service?: string;
  title: string;
  /** The record's card; pages use the newest card of the record in the outbox when there is one. */
  card?: Message;
  /** Page the first step after this long instead of now. */
  delayMs?: number;
  /** Who started it (default: tread, from the scheduler). */
  actor?: Actor;
}

const SYSTEM = SCHEDULER_ACTOR;

/** The policy copied onto an escalation. */
export function readPolicy(row: EscalationRow): StoredPolicy {
  return storedPolicySchema.parse(row.policy) as StoredPolicy;
}

/** `step 2 of 3, round 1 of 2, policy standard`. */
export function stepWords(policy: StoredPolicy, pos: Position): string {
  return `step ${pos.level + 1} of ${policy.steps.length}${policy.repeat > 0 ? `, round ${pos.pass + 1} of ${policy.repeat + 1}` : ''}, policy ${policy.name}`;
}

/** Copies a configured policy (a coded error when it does not exist). */
export function copyPolicy(app: AppContext, name: string): StoredPolicy {
  const found = app.config.escalationPolicies.find((p) => p.name === name);
  if (!found) {
    const known = app.config.escalationPolicies.map((p) => p.name);
    throw notFound('oncall.unknown_policy', `There is no escalation policy "${name}"${known.length ? ` (policies: ${known.join(', ')})` : ''}.`);
  }
  return JSON.parse(JSON.stringify({ name: found.name, steps: found.steps, repeat: found.repeat })) as StoredPolicy;
}

/** The active escalation of a subject, if any. */
export async function activeEscalation(db: DbOrTx, subject: string, lock = false): Promise<EscalationRow | undefined> {
  const q = db.select().from(schema.escalations).where(and(eq(schema.escalations.subject, subject), eq(schema.escalations.state, 'active')));
  const [row] = lock ? await q.for('update') : await q;
  return row;
}

/** Every escalation of a subject, newest first. */
export async function escalationsOf(db: DbOrTx, subject: string): Promise<EscalationRow[]> {
  return db.select().from(schema.escalations).where(eq(schema.escalations.subject, subject)).orderBy(desc(schema.escalations.id));
}

/**
 * Starts paging for a record inside the caller's transaction: copies the policy, pages step 1 now (or after `delayMs`)
 * and schedules the next step. A subject that is already being escalated keeps its running escalation.
 */
export async function startEscalation(tx: Tx, app: AppContext, input: EscalationInput, now: Date): Promise<EscalationRow> {
  const actor = input.actor ?? SYSTEM;
  const policy = copyPolicy(app, input.policy);
  const inserted = await tx.insert(schema.escalations).values({
    subject: input.subject, policyName: policy.name, policy: policy as unknown as Record<string, unknown>, service: input.service ?? null,
    title: input.title, card: (input.card ?? null) as Record<string, unknown> | null, state: 'active', startedAt: now, startedBy: actor.person.id,
  }).onConflictDoNothing().returning();
  const row = inserted[0];
  if (!row) return (await activeEscalation(tx, input.subject))!;
  const rounds = policy.repeat > 0 ? `, repeated ${policy.repeat} more time${policy.repeat === 1 ? '' : 's'}` : '';
  await addTimeline(tx, {
    subject: input.subject, at: now, actor: actor.person.id, source: actor.source, kind: 'escalation',
    text: `Escalation started with policy ${policy.name} (${policy.steps.length} step${policy.steps.length === 1 ? '' : 's'}${rounds})`,
    data: { escalation: row.id, policy: policy.name },
  });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject: input.subject, action: 'oncall.escalation_started', data: { escalation: row.id, policy } });
  if (input.delayMs && input.delayMs > 0) {
    const dueAt = new Date(now.getTime() + input.delayMs);
    await schedule(tx, { kind: ESCALATION_TIMER, subject: input.subject, key: escalationKey(input.subject), dueAt, payload: { escalationId: row.id, level: 0, pass: 0 } });
    const [updated] = await tx.update(schema.escalations).set({ nextAt: dueAt }).where(eq(schema.escalations.id, row.id)).returning();
    return updated!;
  }
  const next = await advance(tx, app, row, policy, { level: 0, pass: 0 }, now);
  await schedule(tx, { kind: ESCALATION_TIMER, subject: input.subject, key: escalationKey(input.subject), dueAt: next.dueAt, payload: next.payload });
  return next.row;
}

/** Locks the subject's pending step timer first, then its active escalation (the scheduler locks in the same order). */
async function lockActive(tx: Tx, subject: string): Promise<EscalationRow | undefined> {
  await tx.select({ id: schema.timers.id }).from(schema.timers).where(eq(schema.timers.key, escalationKey(subject))).for('update');
  return activeEscalation(tx, subject, true);
}

/**
 * Acknowledgement: stops every pending step of the subject at once (timer cancelled, escalation marked acknowledged).
 * Returns the stopped escalation, or undefined when none was running.
 */
export async function stopEscalation(tx: Tx, subject: string, actor: Actor, now: Date, reason: StopReason = 'acknowledged'): Promise<EscalationRow | undefined> {
  const esc = await lockActive(tx, subject);
  if (!esc) return undefined;
  const state = transition(esc.state as EscalationState, { type: 'stop', reason });
  if (state instanceof DomainError) throw state;
  await cancelTimer(tx, escalationKey(subject));
  const [row] = await tx.update(schema.escalations).set({
    state, endedAt: now, nextAt: null, ...(reason === 'acknowledged' ? { acknowledgedAt: now, acknowledgedBy: actor.person.id } : {}),
  }).where(eq(schema.escalations.id, esc.id)).returning();
  const after = formatDuration(now.getTime() - esc.startedAt.getTime());
  await addTimeline(tx, {
    subject, at: now, actor: actor.person.id, source: actor.source, kind: 'escalation',
    text: `Paging stopped: ${reason} by ${actor.person.name} after ${after} (${esc.pages} page${esc.pages === 1 ? '' : 's'} sent)`,
    data: { escalation: esc.id, reason },
  });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject, action: `oncall.escalation_${reason}`, data: { escalation: esc.id, pages: esc.pages, level: esc.level, pass: esc.pass } });
  return row;
}

/** Pages the next step of the subject's escalation now (responder role) and restarts the wait from there. */
export async function escalateNow(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date): Promise<EscalationRow> {
  requirePermission(app, actor.person, 'oncall.escalate');
  const esc = await lockActive(tx, subject);
  if (!esc) throw conflict('oncall.not_escalating', `Nobody is being paged for ${subject}: it has no running escalation.`);
  const policy = readPolicy(esc);
  const pos = nextPosition(policy, esc);
  if (!pos) throw conflict('oncall.escalation_exhausted', `${subject} has already been escalated through every step of policy ${policy.name}.`);
  await addTimeline(tx, {
    subject, at: now, actor: actor.person.id, source: actor.source, kind: 'escalation',
    text: `${actor.person.name} escalated now: ${stepWords(policy, pos)}`, data: { escalation: esc.id, level: pos.level, pass: pos.pass },
  });
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject, action: 'oncall.escalated_now', data: { escalation: esc.id, level: pos.level, pass: pos.pass } });
  const next = await advance(tx, app, esc, policy, pos, now, actor);
  await schedule(tx, { kind: ESCALATION_TIMER, subject, key: escalationKey(subject), dueAt: next.dueAt, payload: next.payload });
  return next.row;
}

/** Pages from `start`, moving on at once past steps that reached nobody; returns when the next timer is due. */
export async function advance(tx: Tx, app: AppContext, esc: EscalationRow, policy: StoredPolicy, start: Position, now: Date, actor: Actor = SYSTEM)
  : Promise<{ row: EscalationRow; dueAt: Date; payload: TimerPayload }> {
  let pos = start;
  let pages = 0;
  const total = policy.steps.length * (policy.repeat + 1);
  for (let i = 0; i < total; i++) {
    const sent = await pageStep(tx, app, esc, policy, pos, now, actor);
    pages += sent;
    if (sent > 0) break;
    const after = nextPosition(policy, pos);
    if (!after) break;
    await addTimeline(tx, {
      subject: esc.subject, at: now, actor: SYSTEM.person.id, source: 'scheduler', kind: 'escalation',
      text: `Nobody could be reached at ${stepWords(policy, pos)}; moving on at once`, data: { escalation: esc.id, level: pos.level, pass: pos.pass },
    });
    pos = after;
  }
  const dueAt = new Date(now.getTime() + policy.steps[pos.level]!.waitMs);
  const after = nextPosition(policy, pos);
  const payload: TimerPayload = after ? { escalationId: esc.id, level: after.level, pass: after.pass } : { escalationId: esc.id, final: true };
  const [row] = await tx.update(schema.escalations).set({
    level: pos.level, pass: pos.pass, pages: esc.pages + pages, lastPagedAt: now, nextAt: dueAt,
  }).where(eq(schema.escalations.id, esc.id)).returning();
  return { row: row!, dueAt, payload };
}

/** The newest card of the record the owning workflow wrote, else the card given at start. */
async function currentCard(tx: Tx, esc: EscalationRow): Promise<Message | undefined> {
  const [row] = await tx.select({ payload: schema.outbox.payload }).from(schema.outbox)
    .where(and(eq(schema.outbox.orderKey, esc.subject), inArray(schema.outbox.kind, ['post', 'update', 'channel'])))
    .orderBy(desc(schema.outbox.id)).limit(1);
  const message = row?.payload.message as Message | undefined;
  return message && typeof message === 'object' ? message : (esc.card as Message | null) ?? undefined;
}

/** Pages every target of one step. Returns how many pages went out (people and channels). */
async function pageStep(tx: Tx, app: AppContext, esc: EscalationRow, policy: StoredPolicy, pos: Position, now: Date, actor: Actor): Promise<number> {
  const step = policy.steps[pos.level]!;
  const card = await currentCard(tx, esc);
  const where = stepWords(policy, pos);
  const paged = new Set<string>();
  let sent = 0;
  const note = async (text: string, data: Record<string, unknown>) => {
    await addTimeline(tx, { subject: esc.subject, at: now, actor: actor.person.id, source: actor.source, kind: 'page', text, data: { escalation: esc.id, level: pos.level, pass: pos.pass, ...data } });
  };
  const pagePerson = async (personId: string, why: string) => {
    if (paged.has(personId)) return;
    paged.add(personId);
    const person = await findPerson(app, personId, tx);
    if (!person) {
      await note(`Could not page "${personId}" (${why}): not a known person`, { person: personId, failed: true });
      return;
    }
    const message = pageMessage(card, { subject: esc.subject, title: esc.title, service: esc.service, reason: `${why}; ${where}` });
    await enqueue(tx, { kind: 'dm', person: person.id, message, subject: esc.subject });
    await note(`Paged ${person.name} (${why}; ${where})`, { person: person.id });
    await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject: esc.subject, action: 'oncall.paged', data: { escalation: esc.id, person: person.id, why, level: pos.level, pass: pos.pass, policy: policy.name } });
    sent++;
  };
  for (const target of step.targets) {
    if (target.kind === 'person') {
      await pagePerson(target.person, 'named in the policy');
    } else if (target.kind === 'schedule') {
      const s = findSchedule(app, target.schedule);
      if (!s) {
        await note(`Schedule ${target.schedule} is no longer in the config; nobody paged for it (${where})`, { schedule: target.schedule, failed: true });
        continue;
      }
      const who = (await onCallAt(tx, s, now)).current.person;
      if (!who) {
        await note(`Nobody is on call for ${s.title} right now (${where})`, { schedule: s.name, failed: true });
        continue;
      }
      await pagePerson(who, `on call for ${s.title}`);
    } else {
      const wheres = channelWheres(target.channel, app.platforms);
      const label = channelLabel(target.channel);
      if (wheres.length === 0) {
        await note(`Could not post to ${label}: none of those platforms is on (${where})`, { channel: target.channel, failed: true });
        continue;
      }
      const message = pageMessage(card, { subject: esc.subject, title: esc.title, service: esc.service, reason: `escalated to this channel; ${where}` });
      for (const w of wheres) await enqueue(tx, { kind: 'post', where: w, message, subject: esc.subject });
      await note(`Posted the page to ${label} (${where})`, { channel: target.channel });
      await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject: esc.subject, action: 'oncall.paged_channel', data: { escalation: esc.id, channel: target.channel, level: pos.level, pass: pos.pass, policy: policy.name } });
      sent++;
    }
  }
  return sent;
}
