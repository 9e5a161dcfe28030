/**
 * Fulfilment tasks (`TASK-n`): created when a request is approved, posted to the fulfilment team's channel with
 * Claim / Done / Can't complete; `after` tasks wait for theirs, the rest run in parallel; the tasks roll up into the request.
 */
import { and, asc, eq, inArray } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { channelWheres } from '../../core/channels.js';
import { badInput, conflict, DomainError, forbidden, notFound } from '../../core/errors.js';
import { directoryOf, hasRole, personName, type Actor } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import type { CatalogItem } from './request.config.js';
import { rollUp, taskTransition, tasksToOpen, type TaskEvent, type TaskState } from './request.machine.js';
import { requestSubject, taskCard, taskSubject, type RequestRow, type TaskRow } from './request.messages.js';
import { applyTransition, getRequest, itemOf, refreshCard } from './request.service.js';
import { stopResponseClock } from './request.sla.js';

/** The tasks of a request in their configured order. */
export async function tasksOf(db: DbOrTx, requestId: number): Promise<TaskRow[]> {
  return db.select().from(schema.requestTasks).where(eq(schema.requestTasks.requestId, requestId)).orderBy(asc(schema.requestTasks.position));
}

/** Loads a task or throws a 404-coded error. */
export async function getTask(db: DbOrTx, id: number, lock = false): Promise<TaskRow> {
  const q = db.select().from(schema.requestTasks).where(eq(schema.requestTasks.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('request.task_not_found', `There is no task TASK-${id}.`);
  return row;
}

/** A task's card with names resolved. */
export async function taskCardFor(db: DbOrTx, app: AppContext, task: TaskRow, request: RequestRow, siblings: readonly TaskRow[], now: Date): Promise<Message> {
  const ids = [request.requester, ...(task.holder ? [task.holder] : [])];
  const names = new Map(await Promise.all(ids.map(async (id) => [id, await personName(app, id, db)] as const)));
  return taskCard({
    task, request, item: itemOf(app, request), waitingFor: siblings.filter((s) => task.after.includes(s.id)).map((s) => `${taskSubject(s.id)} ${s.title}`),
    name: (id) => names.get(id) ?? id, timeZone: app.config.timezone, now,
  });
}

/** Posts an opened task's card to the fulfilment channel (or, with no channel configured, to each team member by DM). */
async function postTask(tx: Tx, app: AppContext, task: TaskRow, request: RequestRow, item: CatalogItem | undefined, siblings: readonly TaskRow[], now: Date): Promise<void> {
  const card = await taskCardFor(tx, app, task, request, siblings, now);
  const subject = taskSubject(task.id);
  const channel = item?.fulfilment.channel ?? app.config.request.announce;
  const wheres = channel ? channelWheres(channel, app.platforms) : [];
  if (wheres.length) {
    for (const where of wheres) await enqueue(tx, { kind: 'post', where, message: card, subject });
  } else {
    for (const person of directoryOf(app.config).teamMembers(task.team) ?? []) await enqueue(tx, { kind: 'dm', person, message: card, subject });
  }
}

/** Creates the tasks of an approved request: those without `after` open at once, the others wait. */
export async function createTasks(tx: Tx, app: AppContext, request: RequestRow, item: CatalogItem, now: Date): Promise<TaskRow[]> {
  const specs = item.fulfilment.tasks ?? [];
  const team = item.fulfilment.team!;
  const rows = await tx.insert(schema.requestTasks).values(specs.map((t, i) => ({
    requestId: request.id, position: i, title: t.title, team: t.team ?? team, after: [] as number[],
    state: t.after?.length ? 'waiting' : 'open', createdAt: now, openedAt: t.after?.length ? null : now,
  }))).returning();
  const idOf = new Map(rows.map((r) => [r.title, r.id]));
  const tasks: TaskRow[] = [];
  for (const [i, r] of rows.entries()) {
    const after = (specs[i]!.after ?? []).map((title) => idOf.get(title)!);
    if (after.length) {
      const [u] = await tx.update(schema.requestTasks).set({ after }).where(eq(schema.requestTasks.id, r.id)).returning();
      tasks.push(u!);
    } else tasks.push(r);
  }
  tasks.sort((a, b) => a.position - b.position);
  for (const t of tasks.filter((x) => x.state === 'open')) await postTask(tx, app, t, request, item, tasks, now);
  await addTimeline(tx, { subject: requestSubject(request.id), at: now, actor: 'tread', source: 'scheduler', kind: 'tasks', text: `${tasks.length} task${tasks.length === 1 ? '' : 's'} for team ${team}: ${tasks.map((t) => `${taskSubject(t.id)} ${t.title}`).join(', ')}` });
  return tasks;
}

/** Cancels the tasks still to do (the request was cancelled or completed otherwise). */
export async function cancelTasks(tx: Tx, app: AppContext, request: RequestRow, reason: string, now: Date): Promise<void> {
  const open = await tx.update(schema.requestTasks).set({ state: 'cancelled', reason, finishedAt: now })
    .where(and(eq(schema.requestTasks.requestId, request.id), inArray(schema.requestTasks.state, ['waiting', 'open', 'claimed']))).returning();
  const all = await tasksOf(tx, request.id);
  for (const t of open) if (t.openedAt) await enqueue(tx, { kind: 'update', subject: taskSubject(t.id), message: await taskCardFor(tx, app, t, request, all, now) });
}

/** A press on a task card (or the REST action). */
export type TaskAction = 'claim' | 'done' | 'cannot_complete';

/** Applies a task action inside the caller's transaction; rolls the tasks up into the request. */
export async function taskAction(tx: Tx, app: AppContext, taskId: number, action: TaskAction, reason: string | undefined, actor: Actor, now: Date): Promise<{ task: TaskRow; request: RequestRow; sentence: string }> {
  const task = await getTask(tx, taskId, true);
  let request = await getRequest(tx, task.requestId, true);
  const subject = taskSubject(task.id);
  const me = actor.person;
  const admin = hasRole(me, 'admin');
  if (!admin && !(directoryOf(app.config).teamMembers(task.team) ?? []).includes(me.id)) {
    throw forbidden('request.not_in_team', `${subject} is for team ${task.team}; ${me.name} is not in it.`);
  }
  if (request.state !== 'in_fulfilment') throw conflict('request.not_in_fulfilment', `${requestSubject(request.id)} is ${request.state.replace('_', ' ')}; its tasks cannot change any more.`);
  if (task.state === 'claimed' && task.holder && task.holder !== me.id) {
    const holder = await personName(app, task.holder, tx);
    if (action === 'claim') throw conflict('request.task_claimed', `${subject} is already claimed by ${holder}.`);
    if (!admin) throw forbidden('request.task_not_yours', `${subject} is held by ${holder}; only they (or an admin) can finish it.`);
  }
  const why = reason?.trim();
  if (action === 'cannot_complete' && !why) throw badInput('request.reason_required', "Say why it can't be completed: the requester reads it.", [{ path: 'reason', message: "required for can't complete" }]);
  const next = taskTransition(task.state as TaskState, action as TaskEvent);
  if (next instanceof DomainError) throw next;
  const patch: Partial<TaskRow> = { state: next };
  if (!task.holder || action === 'claim') { patch.holder = me.id; patch.claimedAt = now; }
  if (next === 'done' || next === 'cannot_complete') { patch.finishedAt = now; if (why) patch.reason = why; }
  const [updated] = await tx.update(schema.requestTasks).set(patch).where(eq(schema.requestTasks.id, task.id)).returning();
  const rsubject = requestSubject(request.id);
  if (!request.respondedAt) {
    [request] = (await tx.update(schema.requests).set({ respondedAt: now }).where(eq(schema.requests.id, request.id)).returning()) as [RequestRow];
    await stopResponseClock(tx, rsubject);
  }
  const words = { claim: `claimed by ${me.name}`, done: `done by ${me.name}`, cannot_complete: `can't be completed (${me.name}): ${why}` }[action];
  await addTimeline(tx, { subject: rsubject, at: now, actor: me.id, source: actor.source, kind: `task.${action}`, text: `${subject} ${updated!.title} ${words}` });
  await auditActor(tx, actor, { at: now, subject, action: `request.task_${action}`, data: { request: rsubject, ...(why ? { reason: why } : {}) } });
  let tasks = await tasksOf(tx, request.id);
  await enqueue(tx, { kind: 'update', subject, message: await taskCardFor(tx, app, updated!, request, tasks, now) });
  if (next === 'done') {
    const opening = tasksToOpen(tasks.map((t) => ({ id: t.id, state: t.state as TaskState, after: t.after })));
    if (opening.length) {
      await tx.update(schema.requestTasks).set({ state: 'open', openedAt: now }).where(inArray(schema.requestTasks.id, opening));
      tasks = await tasksOf(tx, request.id);
      const item = itemOf(app, request);
      for (const t of tasks.filter((x) => opening.includes(x.id))) await postTask(tx, app, t, request, item, tasks, now);
    }
  }
  const rolled = rollUp(tasks.map((t) => ({ id: t.id, state: t.state as TaskState, after: t.after })));
  if (rolled === 'fulfilled') {
    request = await applyTransition(tx, app, request, 'fulfil', actor, now, { sentence: `Fulfilled: all ${tasks.length} task${tasks.length === 1 ? '' : 's'} done` });
  } else if (rolled === 'incomplete') {
    request = await applyTransition(tx, app, request, 'fail', actor, now, { reason: `${subject} ${updated!.title}: ${why}` });
    await cancelTasks(tx, app, request, `${subject} could not be completed`, now);
  } else {
    await refreshCard(tx, app, request, now);
  }
  const sentence = action === 'claim' ? `You claimed ${subject} (${updated!.title}).` : action === 'done' ? `${subject} done.` : `${subject} marked as can't complete; the requester is told.`;
  return { task: updated!, request, sentence };
}
