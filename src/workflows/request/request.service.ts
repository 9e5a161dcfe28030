/**
 * Requests: one transaction per action — submit (fields validated once for chat, forms and REST), transitions with their
 * effects (approval through the seam, fulfilment, SLA, auto-close), comments, cancellation — with audit, timeline and the
 * requester's one live card (a DM, edited in place for the request's whole life).
 */
import { and, desc, eq, inArray, lt } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { badInput, DomainError, forbidden, notFound } from '../../core/errors.js';
import { requireFields, type RawValues } from '../../core/forms.js';
import { directoryOf, hasRole, personName, SCHEDULER_ACTOR, type Actor, type Person } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { addTimeline, readTimeline } from '../../core/timeline.js';
import { cancelTimers, schedule } from '../../core/timers.js';
import { WEBHOOK_TIMER } from '../../core/webhooks.js';
import type { RecordEvents } from '../../core/workflow.js';
import type { CatalogItem } from './request.config.js';
import { STATE_WORDS, transition, type RequestEvent, type RequestState } from './request.machine.js';
import { fieldLines, requestCard, requestSubject, type ApprovalLine, type RequestRow, type RequestView } from './request.messages.js';
import { closeKey, REQUEST_TIMER, startSla, stopSla } from './request.sla.js';
import { cancelTasks, createTasks, tasksOf } from './request.tasks.js';
import { sendCancellation, sendFulfilment } from './request.webhook.js';

export type { RequestRow };

/** The catalog items a person may see and request (admins see all). */
export function visibleItems(app: AppContext, person: Person): CatalogItem[] {
  const dir = directoryOf(app.config);
  return app.config.catalog.filter((i) => !i.visibleTo || hasRole(person, 'admin') || i.visibleTo.some((t) => dir.teamMembers(t)?.includes(person.id)));
}

/** A catalog item the person may request, by name; a coded error listing what they may request otherwise. */
export function itemFor(app: AppContext, name: string, person: Person): CatalogItem {
  const wanted = name.trim().toLowerCase();
  const visible = visibleItems(app, person);
  const item = visible.find((i) => i.name === wanted);
  if (item) return item;
  const hidden = app.config.catalog.some((i) => i.name === wanted);
  const list = visible.map((i) => i.name).join(', ') || 'nothing yet';
  if (hidden) throw forbidden('request.item_not_visible', `"${name}" is not in the catalog for you. You can request: ${list}.`);
  throw badInput('request.unknown_item', `There is no catalog item "${name}". You can request: ${list}. Type /request to see the catalog.`, [{ path: 'item', message: `unknown item "${name}"` }]);
}

/** The configured item of a stored request (it may have been removed from the config since). */
export function itemOf(app: AppContext, row: RequestRow): CatalogItem | undefined {
  return app.config.catalog.find((i) => i.name === row.item);
}

/** Resolves a user field's value (`@alice`, a mention token, a platform id, an email) to a configured person id. */
export function personResolver(app: AppContext): (token: string) => string | undefined {
  const dir = directoryOf(app.config);
  return (token) => {
    const bare = token.replace(/^@/, '').replace(/^<@?([^|>]*)(\|[^>]*)?>$/, '$1').trim();
    return (dir.get(bare.toLowerCase()) ?? dir.byPlatformId('slack', bare) ?? dir.byPlatformId('teams', bare) ?? (bare.includes('@') ? dir.byEmailAddress(bare) : undefined))?.id;
  };
}

/** Loads a request or throws a 404-coded error. */
export async function getRequest(db: DbOrTx, id: number, lock = false): Promise<RequestRow> {
  const q = db.select().from(schema.requests).where(eq(schema.requests.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('request.not_found', `There is no request REQ-${id}.`);
  return row;
}

/** The requester's card of a request, with the approval read through the seam and names resolved. */
export async function cardFor(tx: Tx, app: AppContext, row: RequestRow, now: Date): Promise<Message> {
  return requestCard(await viewFor(tx, app, row, now));
}

/** Everything the requester's card shows. */
export async function viewFor(tx: Tx, app: AppContext, row: RequestRow, now: Date): Promise<RequestView> {
  const subject = requestSubject(row.id);
  const status = row.approvalId && app.seam.offers('approval.status') ? await app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject }) : undefined;
  const approval: ApprovalLine | undefined = status ? {
    id: status.id, state: status.state, stage: status.stage, stages: status.stages, waitingFor: status.waitingFor, since: status.since, expiresAt: status.expiresAt,
    paused: status.paused, ...(status.openQuestion ? { openQuestion: status.openQuestion } : {}),
  } : undefined;
  const tasks = await tasksOf(tx, row.id);
  const history = (await readTimeline(tx, subject)).map((e) => ({ at: e.at, text: e.text }));
  const item = itemOf(app, row);
  const ids = new Set([row.requester, ...(row.outcomeBy ? [row.outcomeBy] : []), ...(approval?.waitingFor ?? []), ...(approval?.openQuestion ? [approval.openQuestion.asker] : []), ...tasks.flatMap((t) => (t.holder ? [t.holder] : []))]);
  for (const f of item?.fields ?? []) if (f.type === 'user' && typeof row.fields[f.id] === 'string') ids.add(row.fields[f.id] as string);
  const names = new Map(await Promise.all([...ids].map(async (id) => [id, await personName(app, id, tx)] as const)));
  return { row, item, approval, tasks, history, name: (id) => names.get(id) ?? id, timeZone: directoryOf(app.config).timeZoneOf(row.requester), now };
}

/** Edits the requester's card in place. */
export async function refreshCard(tx: Tx, app: AppContext, row: RequestRow, now: Date): Promise<void> {
  await enqueue(tx, { kind: 'update', subject: requestSubject(row.id), message: await cardFor(tx, app, row, now) });
}

/** A new request. */
export interface NewRequest {
  item: string;
  /** Field values as typed, submitted or sent (one validation for all three). */
  values: RawValues;
}

/** Submits a request inside the caller's transaction: validated, stored, sent for approval or straight to fulfilment. */
export async function submitRequest(tx: Tx, app: AppContext, input: NewRequest, actor: Actor, now: Date): Promise<RequestRow> {
  requirePermission(app, actor.person, 'request.create');
  const item = itemFor(app, input.item, actor.person);
  const values = requireFields(item.fields, input.values, personResolver(app), 'request.invalid_fields');
  const [inserted] = await tx.insert(schema.requests).values({
    item: item.name, itemTitle: item.title, category: item.category, service: item.service ?? null, requester: actor.person.id, source: actor.source,
    fields: values, state: 'submitted', fulfilment: item.fulfilment.webhook ? 'webhook' : 'tasks', team: item.fulfilment.team ?? null,
    createdAt: now, updatedAt: now,
  }).returning();
  let row = inserted!;
  const subject = requestSubject(row.id);
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'submitted', text: `Submitted by ${actor.person.name}` });
  await auditActor(tx, actor, { at: now, subject, action: 'request.submitted', data: { item: item.name, fields: values } });
  row = await applyTransition(tx, app, row, item.approvalPolicy ? 'await_approval' : 'approve', actor, now, { quiet: true });
  if (row.state === 'approved') row = await applyTransition(tx, app, row, 'start', actor, now, { quiet: true });
  // the one live card: a DM to the requester, edited in place from now on
  await enqueue(tx, { kind: 'dm', person: row.requester, message: await cardFor(tx, app, row, now), subject });
  return row;
}

/** Options of a transition. */
interface TransitionOptions {
  /** Why (a rejection, a cancellation, an incomplete fulfilment) or how (a fulfilment note). */
  reason?: string | null;
  /** The card is not edited (it is about to be sent). */
  quiet?: boolean;
  /** A timeline sentence instead of the default. */
  sentence?: string;
}

function sentenceFor(subject: string, event: RequestEvent, who: string, reason: string | null | undefined): string {
  const why = reason ? `: ${reason}` : '';
  switch (event) {
    case 'await_approval': return `Sent for approval`;
    case 'approve': return who === 'tread' ? 'Approved (no approval needed)' : `Approved`;
    case 'reject': return `Rejected${why}`;
    case 'start': return `Fulfilment started`;
    case 'fulfil': return `Fulfilled${why}`;
    case 'fail': return `Could not be completed${why}`;
    case 'close': return `Closed`;
    case 'cancel': return `Cancelled by ${who}${why}`;
    default: return `${subject} changed`;
  }
}

/** Applies a state event with its effects inside the caller's transaction. */
export async function applyTransition(tx: Tx, app: AppContext, before: RequestRow, event: RequestEvent, actor: Actor, now: Date, options: TransitionOptions = {}): Promise<RequestRow> {
  const result = transition(before.state as RequestState, event);
  if (result instanceof DomainError) throw result;
  const subject = requestSubject(before.id);
  const item = itemOf(app, before);
  const reason = options.reason?.trim() || null;
  const patch: Partial<RequestRow> = { state: result.next, updatedAt: now, version: before.version + 1 };
  const op = { tx, app, now, actor };
  // the change first, then what its effects add (the approval's start, the tasks)
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: event, text: options.sentence ?? sentenceFor(subject, event, actor.person.name, reason) });
  for (const effect of result.effects) {
    switch (effect) {
      case 'start_approval': {
        if (!item?.approvalPolicy) throw new DomainError('request.no_policy', `The item ${before.item} has no approval policy any more.`, 409);
        if (!app.seam.offers('approval.start')) throw new DomainError('request.no_approvals', 'Approvals are not available in this tread.', 503);
        const reasonField = before.fields.reason;
        const names = new Map<string, string>();
        for (const f of item.fields) if (f.type === 'user' && typeof before.fields[f.id] === 'string') names.set(before.fields[f.id] as string, await personName(app, before.fields[f.id] as string, tx));
        const started = await app.seam.call('approval.start', op, {
          subject, owner: 'request', policy: item.approvalPolicy, requester: before.requester, title: item.title,
          details: fieldLines(Object.fromEntries(Object.entries(before.fields).filter(([k]) => k !== 'reason')), item, (id) => names.get(id) ?? id),
          reason: typeof reasonField === 'string' ? reasonField : undefined, service: item.service,
        });
        patch.approvalId = started.approvalId;
        break;
      }
      case 'cancel_approval':
        if (app.seam.offers('approval.cancel')) await app.seam.call('approval.cancel', op, { subject, reason: reason ?? undefined });
        break;
      case 'record_approval': patch.approvedAt = now; break;
      case 'start_fulfilment': patch.fulfilmentStartedAt = now; break;
      case 'start_sla': if (item) Object.assign(patch, await startSla(tx, app, item, before.id, subject, now)); break;
      case 'stop_sla':
        await stopSla(tx, subject);
        // completed or cancelled while the fulfilment webhook still retries: no more attempts (a cancellation is sent after)
        if (before.fulfilment === 'webhook') await cancelTimers(tx, subject, WEBHOOK_TIMER);
        break;
      case 'record_outcome': patch.outcome = reason; patch.outcomeBy = actor.person.id; break;
      case 'record_completion': patch.completedAt = now; patch.completion = result.next; patch.outcome = reason; patch.outcomeBy = actor.person.id; break;
      case 'schedule_close':
        await schedule(tx, { kind: REQUEST_TIMER.close, subject, key: closeKey(subject), dueAt: new Date(now.getTime() + app.config.request.closeAfter), payload: { id: before.id } });
        break;
      case 'record_closure': patch.closedAt = now; break;
      case 'withdraw_fulfilment': break; // after the row is written
    }
  }
  const [after] = await tx.update(schema.requests).set(patch).where(eq(schema.requests.id, before.id)).returning();
  let row = after!;
  if (result.effects.includes('withdraw_fulfilment')) row = await withdrawFulfilment(tx, app, row, actor, reason, now);
  await auditActor(tx, actor, { at: now, subject, action: `request.${event}`, data: { from: before.state, to: row.state, ...(reason ? { reason } : {}) } });
  if (result.effects.includes('start_fulfilment')) row = await startFulfilment(tx, app, row, item, actor, now);
  if (!options.quiet) {
    await refreshCard(tx, app, row, now);
    await notifyRequester(tx, app, row, event, actor, reason);
  }
  return row;
}

/** Fulfilment starts: the tasks are created (the first ones posted), or the request goes to the item's webhook. */
async function startFulfilment(tx: Tx, app: AppContext, row: RequestRow, item: CatalogItem | undefined, actor: Actor, now: Date): Promise<RequestRow> {
  if (!item) throw new DomainError('request.item_gone', `The item ${row.item} is no longer in the catalog, so ${requestSubject(row.id)} cannot be fulfilled.`, 409);
  if (item.fulfilment.webhook) return sendFulfilment(tx, app, row, item, actor, now);
  await createTasks(tx, app, row, item, now);
  return row;
}

/** A request cancelled in fulfilment: its open tasks are cancelled, or its fulfilment system is told to stop. */
async function withdrawFulfilment(tx: Tx, app: AppContext, row: RequestRow, actor: Actor, reason: string | null, now: Date): Promise<RequestRow> {
  if (row.fulfilment === 'webhook') return sendCancellation(tx, app, row, actor, reason, now);
  await cancelTasks(tx, app, row, reason ?? 'the request was cancelled', now);
  return row;
}

/** The members of a team (none for no team). */
export function teamMembers(app: AppContext, team: string | null | undefined): string[] {
  return team ? directoryOf(app.config).teamMembers(team) ?? [] : [];
}

/** A short DM besides the card when something the requester must know happened (an edited card does not notify). */
async function notifyRequester(tx: Tx, app: AppContext, row: RequestRow, event: RequestEvent, actor: Actor, reason: string | null): Promise<void> {
  const subject = requestSubject(row.id);
  if (actor.person.id === row.requester) return;
  const texts: Partial<Record<RequestEvent, string>> = {
    reject: `✗ ${subject} (${row.itemTitle}) was rejected${reason ? `: ${reason}` : ''}.`,
    fulfil: `✓ ${subject} (${row.itemTitle}) is fulfilled${reason ? `: ${reason}` : ''}.`,
    fail: `✗ ${subject} (${row.itemTitle}) could not be completed${reason ? `: ${reason}` : ''}.`,
    cancel: `${subject} (${row.itemTitle}) was cancelled by ${actor.person.name}${reason ? `: ${reason}` : ''}.`,
  };
  const text = texts[event];
  if (text) await enqueue(tx, { kind: 'dm', person: row.requester, message: { text, tone: event === 'fulfil' ? 'good' : 'warning' } }, { orderKey: subject });
}

/** Who may see a request: its requester, responders and admins, its fulfilment team, its approvers. */
export async function requireView(tx: Tx, app: AppContext, row: RequestRow, person: Person, now: Date): Promise<void> {
  if (row.requester === person.id || hasRole(person, 'responder') || teamMembers(app, row.team).includes(person.id)) return;
  if (row.approvalId && app.seam.offers('approval.status')) {
    const s = await app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject: requestSubject(row.id) });
    if (s && (s.waitingFor.includes(person.id) || s.decisions.some((d) => d.person === person.id))) return;
  }
  const tasks = await tasksOf(tx, row.id);
  if (tasks.some((t) => t.holder === person.id || teamMembers(app, t.team).includes(person.id))) return;
  throw forbidden('request.not_yours', `${requestSubject(row.id)} is not yours to see: only its requester, its approvers and the people who fulfil it see it.`);
}

/** A change a person asks for. */
export type RequestCommand =
  | { action: 'cancel'; reason: string }
  | { action: 'comment'; text: string }
  | { action: 'complete'; status: 'fulfilled' | 'incomplete'; note?: string };

/** Applies a command inside the caller's transaction; returns the request and a sentence for the person. */
export async function changeRequest(tx: Tx, app: AppContext, id: number, cmd: RequestCommand, actor: Actor, now: Date): Promise<{ row: RequestRow; sentence: string }> {
  const subject = requestSubject(id);
  // Locks are taken approval first, then request, as a decision does (approval.decided runs inside it): no deadlock.
  // A comment changes no row of the request: it takes no lock.
  if (cmd.action === 'comment') return comment(tx, app, await getRequest(tx, id), cmd.text, actor, now);
  const peek = await getRequest(tx, id);
  if (cmd.action === 'cancel' && peek.state === 'awaiting_approval' && app.seam.offers('approval.cancel')) {
    await app.seam.call('approval.cancel', { tx, app, now, actor }, { subject, reason: cmd.reason.trim() || undefined });
  }
  const row = await getRequest(tx, id, true);
  switch (cmd.action) {
    case 'cancel': {
      requirePermission(app, actor.person, 'request.cancel', subject);
      if (row.requester !== actor.person.id && !hasRole(actor.person, 'admin')) throw forbidden('request.not_yours', `Only ${await personName(app, row.requester, tx)} (who asked for it) or an admin may cancel ${subject}.`);
      const reason = cmd.reason.trim();
      if (!reason) throw badInput('request.reason_required', `Say why: /request cancel ${subject} <reason>.`, [{ path: 'reason', message: 'required to cancel' }]);
      const after = await applyTransition(tx, app, row, 'cancel', actor, now, { reason });
      return { row: after, sentence: `${subject} cancelled.` };
    }
    case 'complete': {
      requirePermission(app, actor.person, 'request.complete', subject);
      const note = cmd.note?.trim() || null;
      if (cmd.status === 'incomplete' && !note) throw badInput('request.reason_required', `Say why it could not be completed: /request complete ${subject} incomplete <reason>.`, [{ path: 'note', message: 'required for incomplete' }]);
      const after = await applyTransition(tx, app, row, cmd.status === 'fulfilled' ? 'fulfil' : 'fail', actor, now, { reason: note });
      await cancelTasks(tx, app, after, `${subject} was completed by ${actor.person.name}`, now);
      return { row: after, sentence: `${subject} marked ${STATE_WORDS[after.state as RequestState]}.` };
    }
  }
}

/** A comment: it reaches whoever has the request now (approvers, task holders, or the requester) and shows on the card. */
async function comment(tx: Tx, app: AppContext, row: RequestRow, text: string, actor: Actor, now: Date): Promise<{ row: RequestRow; sentence: string }> {
  const subject = requestSubject(row.id);
  requirePermission(app, actor.person, 'request.comment', subject);
  const body = text.trim();
  if (!body) throw badInput('request.comment_required', `Write the comment: /request comment ${subject} <text>.`, [{ path: 'text', message: 'required' }]);
  if (body.length > 3000) throw badInput('request.comment_too_long', 'A comment can be at most 3000 characters.', [{ path: 'text', message: 'at most 3000 characters' }]);
  await requireView(tx, app, row, actor.person, now);
  if (row.state === 'closed') throw new DomainError('request.closed', `${subject} is closed; open a new request instead.`, 409);
  const op = { tx, app, now, actor };
  const recipients = new Set<string>();
  let answered = 0;
  if (actor.person.id === row.requester) {
    if (row.state === 'awaiting_approval' && app.seam.offers('approval.status')) {
      const status = await app.seam.call('approval.status', op, { subject });
      if (status?.openQuestion) answered = await app.seam.call('approval.answer', op, { subject, answer: body });
      else status?.waitingFor.forEach((p) => recipients.add(p));
    }
    for (const t of await tasksOf(tx, row.id)) {
      if (t.state === 'claimed' && t.holder) recipients.add(t.holder);
      if (t.state === 'open') await enqueue(tx, { kind: 'announce', subject: `TASK-${t.id}`, message: { text: `💬 ${actor.person.name} on ${subject}: ${body}`, subject: `TASK-${t.id}` } });
    }
  } else recipients.add(row.requester);
  recipients.delete(actor.person.id);
  for (const p of recipients) await enqueue(tx, { kind: 'dm', person: p, message: { title: `Comment on ${subject} · ${row.itemTitle}`, text: `${actor.person.name}: ${body}`, tone: 'info' } }, { orderKey: subject });
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'comment', text: `💬 ${actor.person.name}: ${body}` });
  await auditActor(tx, actor, { at: now, subject, action: 'request.comment', data: { text: body } });
  await refreshCard(tx, app, row, now);
  const names = await Promise.all([...recipients].map((p) => personName(app, p, tx)));
  return { row, sentence: answered ? `Your answer went to the approver of ${subject}.` : `Comment added to ${subject}${names.length ? ` and sent to ${names.join(', ')}` : ''}.` };
}

/** The owner's side of `approval.decided`: approved → fulfilment starts; rejected or expired → rejected, the requester told. */
export async function onApprovalDecided(tx: Tx, app: AppContext, e: RecordEvents['approval.decided'], now: Date): Promise<void> {
  if (e.owner !== 'request') return;
  const id = Number(e.subject.replace(/^REQ-/, ''));
  const row = await getRequest(tx, id, true);
  if (row.state !== 'awaiting_approval') return;
  const actor: Actor = { person: { id: e.by.id, name: e.by.name, roles: new Set(), known: true }, source: e.by.source };
  if (e.outcome === 'approved') {
    const approved = await applyTransition(tx, app, row, 'approve', actor, now, { quiet: true, sentence: `Approved by ${e.by.name}` });
    await applyTransition(tx, app, approved, 'start', actor, now);
    return;
  }
  const reason = e.outcome === 'expired' ? `the approval expired (${e.reason ?? 'no decision in time'})` : e.reason ?? 'no reason given';
  await applyTransition(tx, app, row, 'reject', actor, now, { reason, sentence: e.outcome === 'expired' ? `Rejected: ${reason}` : `Rejected by ${e.by.name}: ${reason}` });
}

/** The owner's side of `approval.changed`: the step goes on the request's timeline and card. */
export async function onApprovalChanged(tx: Tx, app: AppContext, e: RecordEvents['approval.changed'], now: Date): Promise<void> {
  if (e.owner !== 'request') return;
  const id = Number(e.subject.replace(/^REQ-/, ''));
  const [row] = await tx.select().from(schema.requests).where(eq(schema.requests.id, id));
  if (!row) return;
  await addTimeline(tx, { subject: e.subject, at: now, actor: e.actor.id, source: e.actor.source, kind: `approval.${e.what}`, text: e.text });
  if (e.what !== 'started') await refreshCard(tx, app, row, now);
}

/** What a list of requests asks for (chat's `/request list` and REST). */
export interface RequestFilter {
  states?: readonly string[];
  item?: string;
  requester?: string;
  beforeId?: number;
  limit: number;
}

/** Requests matching a filter, newest first. */
export async function listRequests(db: DbOrTx, f: RequestFilter): Promise<RequestRow[]> {
  const t = schema.requests;
  return db.select().from(t).where(and(
    f.states ? inArray(t.state, [...f.states]) : undefined,
    f.item !== undefined ? eq(t.item, f.item) : undefined,
    f.requester !== undefined ? eq(t.requester, f.requester) : undefined,
    f.beforeId !== undefined ? lt(t.id, f.beforeId) : undefined,
  )).orderBy(desc(t.id)).limit(f.limit);
}
