/**
 * Approvals: one transaction per action — start (policy copied, targets resolved), decide (eligibility, self-approval,
 * rules, stages), questions that pause the expiry, cancel — with audit, timeline, approver cards and record events.
 * The owning workflow hears the outcome only as `approval.decided`.
 */
import { and, asc, desc, eq, isNull } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { formatDuration } from '../../core/duration.js';
import { badInput, conflict, notFound } from '../../core/errors.js';
import { actorRef, personName, type Actor } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { PolicyRefusal } from '../../core/refusals.js';
import { addTimeline } from '../../core/timeline.js';
import { cancelTimers, schedule } from '../../core/timers.js';
import { formatTime } from '../../core/time-zone.js';
import { checkDecision, eligibleFor, stageOutcome, transition, undecided, type StoredPolicy, type Vote } from './approval.machine.js';
import {
  approvalSubject, questionMessage, stageCard, stageSubject, stageWords, waitingWords, type ApprovalRow, type ApprovalView, type DecisionRow,
} from './approval.messages.js';
import { copyPolicy, policyNamed } from './approval.targets.js';

/** Timer kinds of approvals (their subject is `APR-n`, their key names the approval). */
export const APPROVAL_TIMER = { remind: 'approval.remind', escalate: 'approval.escalate', expire: 'approval.expire' } as const;

/** What an owning workflow asks for when a record needs approval. */
export interface ApprovalInput {
  /** The record (`REQ-7`) and its workflow (`request`): the outcome is announced with them. */
  subject: string;
  owner: string;
  /** An approval policy of the config. */
  policy: string;
  /** The person who asks (never approves their own record unless the policy allows it). */
  requester: string;
  /** What is asked for, and what approvers see. */
  title: string;
  details: { label: string; value: string }[];
  reason?: string;
  /** For `{owners: true}`: the owners of the resource; else the owners of `service`. */
  owners?: string[];
  service?: string;
  /** Approve presses count only once the owner confirms them with `approval.confirm` (a second step it runs itself). */
  secondStep?: boolean;
  /** The code of a self-approval refusal (default `approval.self_approval`). */
  selfApprovalCode?: string;
}

/** An approval as owners read it (`approval.status`). */
export interface ApprovalStatus {
  id: string;
  state: ApprovalRow['state'];
  policy: string;
  /** 1-based current stage, and how many there are. */
  stage: number;
  stages: number;
  stageWords: string;
  /** Person ids who may still decide the current stage. */
  waitingFor: string[];
  since: Date;
  expiresAt: Date;
  paused: boolean;
  openQuestion?: { asker: string; question: string; askedAt: Date };
  decisions: { stage: number; person: string; decision: string; reason: string | null; confirmed: boolean; at: Date }[];
  decidedAt: Date | null;
  decidedBy: string | null;
  reason: string | null;
}

/** The stored policy of an approval. */
export function policyOf(a: ApprovalRow): StoredPolicy {
  return a.policy as unknown as StoredPolicy;
}

function votesOf(decisions: readonly DecisionRow[]): Vote[] {
  return decisions.map((d) => ({ stage: d.stage, person: d.person, decision: d.decision as Vote['decision'], confirmed: d.confirmed }));
}

/** Loads an approval by id, optionally locking it; 404 otherwise. */
export async function getApproval(db: DbOrTx, id: number, lock = false): Promise<ApprovalRow> {
  const q = db.select().from(schema.approvals).where(eq(schema.approvals.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('approval.not_found', `There is no approval APR-${id}.`);
  return row;
}

/** The newest approval of a record, if any. */
export async function approvalOfSubject(db: DbOrTx, subject: string, lock = false): Promise<ApprovalRow | undefined> {
  const q = db.select().from(schema.approvals).where(eq(schema.approvals.subject, subject)).orderBy(desc(schema.approvals.id)).limit(1);
  const [row] = lock ? await q.for('update') : await q;
  return row;
}

async function decisionsOf(db: DbOrTx, id: number): Promise<DecisionRow[]> {
  return db.select().from(schema.approvalDecisions).where(eq(schema.approvalDecisions.approvalId, id)).orderBy(asc(schema.approvalDecisions.id));
}

async function questionsOf(db: DbOrTx, id: number) {
  return db.select().from(schema.approvalQuestions).where(eq(schema.approvalQuestions.approvalId, id)).orderBy(asc(schema.approvalQuestions.id));
}

/**
 * Everything a card of the approval needs, names resolved. `known` are its decisions or questions the caller has just
 * read or written in this transaction (they are not read again).
 */
export async function viewOf(db: DbOrTx, app: AppContext, a: ApprovalRow, now: Date, known: { decisions?: DecisionRow[]; questions?: ApprovalView['questions'] } = {}): Promise<ApprovalView> {
  const policy = policyOf(a);
  const decisions = known.decisions ?? await decisionsOf(db, a.id);
  const questions = known.questions ?? await questionsOf(db, a.id);
  const ids = new Set([a.requester, ...(a.decidedBy ? [a.decidedBy] : []), ...decisions.map((d) => d.person), ...questions.map((q) => q.asker), ...policy.stages.flatMap((s) => [...s.approvers, ...s.fallback])]);
  const names = new Map(await Promise.all([...ids].map(async (id) => [id, await personName(app, id, db)] as const)));
  return { approval: a, policy, decisions, questions, name: (id) => names.get(id) ?? id, timeZone: app.config.timezone, now };
}

/** DMs the stage's card to people (it becomes one of the stage's live cards). */
async function sendStageCard(tx: Tx, app: AppContext, view: ApprovalView, stage: number, people: readonly string[], prefix?: string): Promise<void> {
  const card = stageCard(view, stage);
  const message = prefix ? { ...card, text: `${prefix}\n${card.text}` } : card;
  for (const person of new Set(people)) await enqueue(tx, { kind: 'dm', person, message, subject: card.subject });
}

/** Edits every card of a stage to its current content; returns that card. */
async function refreshStage(tx: Tx, view: ApprovalView, stage: number): Promise<Message> {
  const card = stageCard(view, stage);
  await enqueue(tx, { kind: 'update', subject: card.subject!, message: card });
  return card;
}

/** Where an approval stands after a counted decision, and the decided stage's card as its approvers now see it. */
interface Settled {
  row: ApprovalRow;
  card: Message;
}

async function scheduleStageTimers(tx: Tx, a: ApprovalRow, now: Date): Promise<void> {
  const id = approvalSubject(a.id);
  const policy = policyOf(a);
  const stage = policy.stages[a.stage]!;
  await schedule(tx, { kind: APPROVAL_TIMER.remind, subject: id, key: `${APPROVAL_TIMER.remind}:${id}`, dueAt: new Date(now.getTime() + policy.remindAfterMs), payload: { id: a.id, stage: a.stage } });
  if (stage.escalateAfterMs !== undefined && stage.fallback.length && !a.escalated) {
    await schedule(tx, { kind: APPROVAL_TIMER.escalate, subject: id, key: `${APPROVAL_TIMER.escalate}:${id}`, dueAt: new Date(now.getTime() + stage.escalateAfterMs), payload: { id: a.id, stage: a.stage } });
  }
}

async function changed(tx: Tx, app: AppContext, a: ApprovalRow, what: string, text: string, actor: Actor, now: Date): Promise<void> {
  await addTimeline(tx, { subject: approvalSubject(a.id), at: now, actor: actor.person.id, source: actor.source, kind: what, text });
  await app.seam.announce(tx, app, 'approval.changed', { id: approvalSubject(a.id), approvalId: a.id, subject: a.subject, owner: a.owner, what, text, actor: actorRef(actor) }, now);
}

/** Starts an approval of a record inside the caller's transaction: copies the policy, DMs the first stage, sets the clocks. */
export async function startApproval(tx: Tx, app: AppContext, input: ApprovalInput, actor: Actor, now: Date): Promise<ApprovalRow> {
  const config = policyNamed(app, input.policy);
  const policy = await copyPolicy({ tx, app, now, actor }, config, { requester: input.requester, owners: input.owners, service: input.service });
  const first = policy.stages[0]!;
  const [row] = await tx.insert(schema.approvals).values({
    subject: input.subject, owner: input.owner, requester: input.requester, title: input.title, details: input.details, reason: input.reason?.trim() || null,
    policyName: policy.name, policy: policy as unknown as Record<string, unknown>, state: 'pending', stage: 0, stageStartedAt: now,
    escalated: first.approvers.length === 0, expiresAt: new Date(now.getTime() + policy.expireAfterMs), secondStep: input.secondStep ?? false,
    selfApprovalCode: input.selfApprovalCode ?? 'approval.self_approval', createdAt: now,
  }).returning();
  const a = row!;
  const id = approvalSubject(a.id);
  await scheduleStageTimers(tx, a, now);
  await schedule(tx, { kind: APPROVAL_TIMER.expire, subject: id, key: `${APPROVAL_TIMER.expire}:${id}`, dueAt: a.expiresAt, payload: { id: a.id } });
  const view = await viewOf(tx, app, a, now, { decisions: [], questions: [] }); // just created: nothing decided or asked yet
  await sendStageCard(tx, app, view, 0, eligibleFor(first, a.escalated));
  await auditActor(tx, actor, {
    at: now, subject: id, action: 'approval.started',
    data: { record: input.subject, policy: policy.name, stages: policy.stages.map((s) => ({ approvers: s.approvers, fallback: s.fallback, rule: s.rule })) },
  });
  await changed(tx, app, a, 'started', `Approval ${id} started (${policy.name}): ${stageWords(policy, 0)}, waiting for ${waitingWords(first, a.escalated, view.name)}`, actor, now);
  return a;
}

/** A decision to record. */
export interface DecisionInput {
  approvalId: number;
  decision: 'approve' | 'reject';
  reason?: string;
}

/** What a decision did. */
export interface DecisionResult {
  approval: ApprovalRow;
  /** The card of the stage that was decided, as it is now (the presser's card comes back refreshed). */
  card: Message;
  /** A sentence for the person who decided. */
  sentence: string;
}

/**
 * Records a decision by the actor inside the caller's transaction. Refusals: a repeat (409, not counted), self-approval
 * and ineligible approvers (policy refusals, audited by `inTransaction`), a decided approval (409).
 */
export async function decide(tx: Tx, app: AppContext, input: DecisionInput, actor: Actor, now: Date): Promise<DecisionResult> {
  const a = await getApproval(tx, input.approvalId, true);
  const id = approvalSubject(a.id);
  const person = actor.person.id;
  const decisions = await decisionsOf(tx, a.id);
  if (a.state !== 'pending') {
    const when = a.decidedAt ? ` at ${formatTime(a.decidedAt, app.config.timezone, now)}` : '';
    throw conflict('approval.already_decided', `${id} (${a.subject}) is already ${a.state}${a.decidedBy && a.decidedBy !== 'tread' ? ` by ${await personName(app, a.decidedBy, tx)}` : ''}${when}; your decision was not counted.`);
  }
  const policy = policyOf(a);
  const check = checkDecision({ person, requester: a.requester, policy, stage: a.stage, escalated: a.escalated, votes: votesOf(decisions) });
  const attempt = { actor, subject: id, data: { record: a.subject, decision: input.decision, stage: a.stage + 1 } };
  if (check.kind === 'repeat') {
    const d = decisions.find((x) => x.person === person && x.stage === check.earlier.stage)!;
    throw conflict('approval.repeat', `You already ${d.decision === 'approve' ? 'approved' : 'rejected'} stage ${d.stage + 1} of ${id} (${a.subject}) at ${formatTime(d.at, app.config.timezone, now)}; a decision counts once.`);
  }
  if (check.kind === 'self') {
    throw new PolicyRefusal(a.selfApprovalCode, `${actor.person.name} asked for ${a.subject} and may not approve it: self-approval is not allowed by the policy ${policy.name}.`, attempt);
  }
  if (check.kind === 'not_eligible') {
    const names = await Promise.all(check.eligible.map((p) => personName(app, p, tx)));
    throw new PolicyRefusal('approval.not_eligible', `${actor.person.name} is not an approver of ${stageWords(policy, a.stage)} of ${id} (${a.subject}); the approvers are ${names.join(', ') || 'nobody'}.`, attempt);
  }
  const reason = input.reason?.trim();
  if (input.decision === 'reject' && !reason) throw badInput('approval.reason_required', 'Say why it is rejected: the requester reads it.', [{ path: 'reason', message: 'required to reject' }]);
  // The owner may veto (separation of duties) by throwing a policy refusal from an inline subscriber.
  await app.seam.announce(tx, app, 'approval.deciding', { id, approvalId: a.id, subject: a.subject, owner: a.owner, person, decision: input.decision, stage: a.stage + 1, actor: actorRef(actor) }, now);
  const confirmed = !(a.secondStep && input.decision === 'approve');
  const [recorded] = await tx.insert(schema.approvalDecisions).values({ approvalId: a.id, stage: a.stage, person, decision: input.decision, reason: reason || null, confirmed, source: actor.source, at: now }).returning();
  // every decision of the approval, in order, this one last (read above under the approval's lock)
  const all = [...decisions, recorded!];
  await auditActor(tx, actor, { at: now, subject: id, action: `approval.${input.decision}`, data: { record: a.subject, stage: a.stage + 1, ...(reason ? { reason } : {}), ...(confirmed ? {} : { secondStep: 'pending' }) } });
  const verb = input.decision === 'approve' ? 'approved' : 'rejected';
  if (!confirmed) {
    await app.seam.announce(tx, app, 'approval.second_step', { id, approvalId: a.id, subject: a.subject, owner: a.owner, person, stage: a.stage + 1, actor: actorRef(actor) }, now);
    const card = await refreshStage(tx, await viewOf(tx, app, a, now, { decisions: all }), a.stage);
    await changed(tx, app, a, 'decision', `${actor.person.name} approved ${stageWords(policy, a.stage)}; it counts once the second step is done`, actor, now);
    return { approval: a, card, sentence: `Your approval of ${a.subject} needs a second step before it counts.` };
  }
  const after = await settle(tx, app, a, actor, now, `${actor.person.name} ${verb} ${stageWords(policy, a.stage)}${reason ? `: ${reason}` : ''}`, all);
  return { approval: after.row, card: after.card, sentence: `You ${verb} ${a.subject} (${a.title}).` };
}

/** Counts a decision that waited for the owner's second step. */
export async function confirmDecision(tx: Tx, app: AppContext, approvalId: number, person: string, actor: Actor, now: Date): Promise<ApprovalRow> {
  const a = await getApproval(tx, approvalId, true);
  if (a.state !== 'pending') throw conflict('approval.already_decided', `${approvalSubject(a.id)} is already ${a.state}.`);
  const [d] = await tx.update(schema.approvalDecisions).set({ confirmed: true })
    .where(and(eq(schema.approvalDecisions.approvalId, a.id), eq(schema.approvalDecisions.stage, a.stage), eq(schema.approvalDecisions.person, person), eq(schema.approvalDecisions.confirmed, false)))
    .returning();
  if (!d) throw conflict('approval.nothing_to_confirm', `${person} has no approval of ${approvalSubject(a.id)} waiting for a second step.`);
  await auditActor(tx, actor, { at: now, subject: approvalSubject(a.id), action: 'approval.confirmed', data: { record: a.subject, person, stage: a.stage + 1 } });
  return (await settle(tx, app, a, actor, now, `${await personName(app, person, tx)}'s approval confirmed (second step done)`)).row;
}

/** After a counted decision: the stage goes on, moves to the next stage, or the approval ends. `known`: its decisions, when just read. */
async function settle(tx: Tx, app: AppContext, a: ApprovalRow, actor: Actor, now: Date, sentence: string, known?: DecisionRow[]): Promise<Settled> {
  const policy = policyOf(a);
  const decisions = known ?? await decisionsOf(tx, a.id);
  const outcome = stageOutcome(policy.stages[a.stage]!, votesOf(decisions).filter((v) => v.stage === a.stage), a.escalated);
  if (outcome === 'pending') {
    const card = await refreshStage(tx, await viewOf(tx, app, a, now, { decisions }), a.stage);
    await changed(tx, app, a, 'decision', sentence, actor, now);
    return { row: a, card };
  }
  if (outcome === 'rejected') {
    const reason = decisions.filter((d) => d.stage === a.stage && d.decision === 'reject').at(-1)?.reason ?? null;
    return finish(tx, app, a, 'reject', actor, now, reason, decisions);
  }
  if (a.stage + 1 >= policy.stages.length) return finish(tx, app, a, 'approve', actor, now, null, decisions);
  const next = policy.stages[a.stage + 1]!;
  const [moved] = await tx.update(schema.approvals).set({ stage: a.stage + 1, stageStartedAt: now, escalated: next.approvers.length === 0, version: a.version + 1 })
    .where(eq(schema.approvals.id, a.id)).returning();
  const view = await viewOf(tx, app, moved!, now, { decisions });
  const card = await refreshStage(tx, view, a.stage);
  await sendStageCard(tx, app, view, moved!.stage, eligibleFor(next, moved!.escalated));
  await cancelTimers(tx, approvalSubject(a.id), APPROVAL_TIMER.escalate);
  await scheduleStageTimers(tx, moved!, now);
  await auditActor(tx, actor, { at: now, subject: approvalSubject(a.id), action: 'approval.stage_approved', data: { record: a.subject, stage: a.stage + 1, next: moved!.stage + 1 } });
  await changed(tx, app, moved!, 'stage', `${sentence}; now ${stageWords(policy, moved!.stage)}, waiting for ${waitingWords(next, moved!.escalated, view.name)}`, actor, now);
  return { row: moved!, card };
}

/** Ends an approval (approved, rejected, expired): cards edited, clocks stopped, `approval.decided` announced. */
async function finish(tx: Tx, app: AppContext, a: ApprovalRow, event: 'approve' | 'reject' | 'expire', actor: Actor, now: Date, reason: string | null, decisions?: DecisionRow[]): Promise<Settled> {
  const next = transition(a.state as 'pending', event);
  if (typeof next !== 'string') throw next;
  const id = approvalSubject(a.id);
  const [done] = await tx.update(schema.approvals).set({ state: next, decidedAt: now, decidedBy: actor.person.id, outcomeReason: reason, pausedAt: null, version: a.version + 1 })
    .where(eq(schema.approvals.id, a.id)).returning();
  await cancelTimers(tx, id, 'approval.');
  const view = await viewOf(tx, app, done!, now, { decisions });
  const card = await refreshStage(tx, view, done!.stage);
  await auditActor(tx, actor, { at: now, subject: id, action: `approval.${next}`, data: { record: a.subject, stage: a.stage + 1, ...(reason ? { reason } : {}) } });
  const text = next === 'approved' ? `${id} approved by ${actor.person.name}` : next === 'rejected' ? `${id} rejected by ${actor.person.name}${reason ? `: ${reason}` : ''}` : `${id} expired: ${reason}`;
  await addTimeline(tx, { subject: id, at: now, actor: actor.person.id, source: actor.source, kind: next, text });
  await app.seam.announce(tx, app, 'approval.decided', {
    id, approvalId: a.id, subject: a.subject, owner: a.owner, outcome: next as 'approved' | 'rejected' | 'expired', reason, by: actorRef(actor),
    decisions: view.decisions.map((d) => ({ stage: d.stage + 1, person: d.person, decision: d.decision as 'approve' | 'reject', reason: d.reason, at: d.at.toISOString() })),
  }, now);
  return { row: done!, card };
}

/** Expires a pending approval whose time is up (the expiry timer). */
export async function expireApproval(tx: Tx, app: AppContext, a: ApprovalRow, actor: Actor, now: Date): Promise<ApprovalRow> {
  return (await finish(tx, app, a, 'expire', actor, now, `no decision within ${formatDuration(policyOf(a).expireAfterMs)}`)).row;
}

/** Cancels the pending approval of a record (the owner cancelled it): cards edited, clocks stopped; nothing announced. */
export async function cancelApproval(tx: Tx, app: AppContext, subject: string, reason: string | undefined, actor: Actor, now: Date): Promise<boolean> {
  const a = await approvalOfSubject(tx, subject, true);
  if (!a || a.state !== 'pending') return false;
  const id = approvalSubject(a.id);
  const [done] = await tx.update(schema.approvals).set({ state: 'cancelled', decidedAt: now, decidedBy: actor.person.id, outcomeReason: reason?.trim() || null, pausedAt: null, version: a.version + 1 })
    .where(eq(schema.approvals.id, a.id)).returning();
  await cancelTimers(tx, id, 'approval.');
  await refreshStage(tx, await viewOf(tx, app, done!, now), done!.stage);
  await auditActor(tx, actor, { at: now, subject: id, action: 'approval.cancelled', data: { record: subject, ...(reason ? { reason } : {}) } });
  await addTimeline(tx, { subject: id, at: now, actor: actor.person.id, source: actor.source, kind: 'cancelled', text: `${id} cancelled by ${actor.person.name}` });
  return true;
}

/** An approver asks the requester a question: the expiry clock pauses until it is answered. */
export async function askQuestion(tx: Tx, app: AppContext, approvalId: number, question: string, actor: Actor, now: Date): Promise<ApprovalRow> {
  const a = await getApproval(tx, approvalId, true);
  const id = approvalSubject(a.id);
  if (a.state !== 'pending') throw conflict('approval.already_decided', `${id} is already ${a.state}; there is nothing left to ask.`);
  const text = question.trim();
  if (!text) throw badInput('approval.question_required', 'Write the question.', [{ path: 'question', message: 'required' }]);
  const policy = policyOf(a);
  const eligible = eligibleFor(policy.stages[a.stage]!, a.escalated);
  if (!eligible.includes(actor.person.id)) {
    throw new PolicyRefusal('approval.not_eligible', `${actor.person.name} is not an approver of ${stageWords(policy, a.stage)} of ${id}, so cannot ask questions about it.`, { actor, subject: id, data: { record: a.subject, action: 'ask' } });
  }
  await tx.insert(schema.approvalQuestions).values({ approvalId: a.id, asker: actor.person.id, question: text, askedAt: now });
  const [paused] = await tx.update(schema.approvals).set({ pausedAt: a.pausedAt ?? now, version: a.version + 1 }).where(eq(schema.approvals.id, a.id)).returning();
  await cancelTimers(tx, id, APPROVAL_TIMER.expire);
  await enqueue(tx, { kind: 'dm', person: a.requester, message: questionMessage(a, actor.person.name, text) }, { orderKey: id });
  await refreshStage(tx, await viewOf(tx, app, paused!, now), a.stage);
  await auditActor(tx, actor, { at: now, subject: id, action: 'approval.question', data: { record: a.subject, question: text } });
  await changed(tx, app, paused!, 'question', `${actor.person.name} asked: ${text}`, actor, now);
  return paused!;
}

/** The requester answers the open questions: the askers hear it and the expiry clock runs on. Returns how many were answered. */
export async function answerQuestions(tx: Tx, app: AppContext, approvalId: number, answer: string, actor: Actor, now: Date): Promise<number> {
  const a = await getApproval(tx, approvalId, true);
  const id = approvalSubject(a.id);
  if (actor.person.id !== a.requester) throw new PolicyRefusal('approval.not_requester', `Only the requester of ${a.subject} answers questions about it.`, { actor, subject: id, data: { action: 'answer' } });
  const text = answer.trim();
  if (!text) throw badInput('approval.answer_required', 'Write the answer.', [{ path: 'answer', message: 'required' }]);
  const open = await tx.update(schema.approvalQuestions).set({ answer: text, answeredAt: now })
    .where(and(eq(schema.approvalQuestions.approvalId, a.id), isNull(schema.approvalQuestions.answeredAt))).returning();
  if (open.length === 0) return 0;
  let row = a;
  if (a.state === 'pending' && a.pausedAt) {
    const expiresAt = new Date(a.expiresAt.getTime() + (now.getTime() - a.pausedAt.getTime()));
    [row] = (await tx.update(schema.approvals).set({ pausedAt: null, expiresAt, version: a.version + 1 }).where(eq(schema.approvals.id, a.id)).returning()) as [ApprovalRow];
    await schedule(tx, { kind: APPROVAL_TIMER.expire, subject: id, key: `${APPROVAL_TIMER.expire}:${id}`, dueAt: expiresAt, payload: { id: a.id } });
  }
  for (const asker of new Set(open.map((q) => q.asker))) {
    await enqueue(tx, { kind: 'dm', person: asker, message: { title: `Answer about ${a.subject} · ${a.title}`, text: `${actor.person.name} answered: ${text}`, tone: 'info' } }, { orderKey: id });
  }
  if (row.state === 'pending') await refreshStage(tx, await viewOf(tx, app, row, now), row.stage);
  await auditActor(tx, actor, { at: now, subject: id, action: 'approval.answer', data: { record: a.subject, answer: text } });
  await changed(tx, app, row, 'answered', `${actor.person.name} answered: ${text}`, actor, now);
  return open.length;
}

/** The approval of a record as its owner shows it. */
export async function statusOf(db: DbOrTx, subject: string): Promise<ApprovalStatus | undefined> {
  const a = await approvalOfSubject(db, subject);
  if (!a) return undefined;
  const policy = policyOf(a);
  const decisions = await decisionsOf(db, a.id);
  const open = (await questionsOf(db, a.id)).find((q) => !q.answeredAt);
  return {
    id: approvalSubject(a.id), state: a.state, policy: a.policyName, stage: a.stage + 1, stages: policy.stages.length, stageWords: stageWords(policy, a.stage),
    waitingFor: a.state === 'pending' ? undecided(policy.stages[a.stage]!, a.stage, votesOf(decisions), a.escalated) : [],
    since: a.stageStartedAt, expiresAt: a.expiresAt, paused: Boolean(a.pausedAt),
    ...(open ? { openQuestion: { asker: open.asker, question: open.question, askedAt: open.askedAt } } : {}),
    decisions: decisions.map((d) => ({ stage: d.stage + 1, person: d.person, decision: d.decision, reason: d.reason, confirmed: d.confirmed, at: d.at })),
    decidedAt: a.decidedAt, decidedBy: a.decidedBy, reason: a.outcomeReason,
  };
}

/** Reminds the approvers of the current stage who have not decided (the card again, with its buttons). */
export async function remind(tx: Tx, app: AppContext, a: ApprovalRow, actor: Actor, now: Date): Promise<string[]> {
  const policy = policyOf(a);
  const decisions = await decisionsOf(tx, a.id);
  const people = undecided(policy.stages[a.stage]!, a.stage, votesOf(decisions), a.escalated);
  if (people.length === 0) return [];
  const view = await viewOf(tx, app, a, now);
  await sendStageCard(tx, app, view, a.stage, people, `⏰ Reminder: this has waited for your decision since ${formatTime(a.stageStartedAt, app.config.timezone, now)}.`);
  await tx.update(schema.approvals).set({ reminders: a.reminders + 1 }).where(eq(schema.approvals.id, a.id));
  await auditActor(tx, actor, { at: now, subject: approvalSubject(a.id), action: 'approval.reminded', data: { record: a.subject, stage: a.stage + 1, people } });
  await addTimeline(tx, { subject: approvalSubject(a.id), at: now, actor: actor.person.id, source: actor.source, kind: 'reminded', text: `Reminded ${people.map(view.name).join(', ')}` });
  return people;
}

/** Escalates the current stage to its fallback approvers. */
export async function escalate(tx: Tx, app: AppContext, a: ApprovalRow, actor: Actor, now: Date): Promise<void> {
  const policy = policyOf(a);
  const stage = policy.stages[a.stage]!;
  const [row] = await tx.update(schema.approvals).set({ escalated: true, version: a.version + 1 }).where(eq(schema.approvals.id, a.id)).returning();
  const view = await viewOf(tx, app, row!, now);
  const fresh = stage.fallback.filter((p) => !stage.approvers.includes(p));
  await sendStageCard(tx, app, view, a.stage, fresh, `⬆ Escalated to you: nobody decided within ${formatDuration(stage.escalateAfterMs ?? 0)}.`);
  await refreshStage(tx, view, a.stage);
  await auditActor(tx, actor, { at: now, subject: approvalSubject(a.id), action: 'approval.escalated', data: { record: a.subject, stage: a.stage + 1, fallback: stage.fallback } });
  await changed(tx, app, row!, 'escalated', `Escalated ${stageWords(policy, a.stage)} to ${stage.fallback.map(view.name).join(', ')}`, actor, now);
}
