/**
 * Provisioning: what happens after commit when a grant is to be given or taken away. The connector is called from a
 * timer; a grant becomes active only when the connector confirms it (at once for postgres, when its task is done for
 * manual, when the receiver answers 2xx for webhook), and fails when it cannot be confirmed. A removal is retried with
 * backoff until it succeeds, raising an alert in the security channel (deduplicated per grant) that is resolved then.
 * A connector that calls another system (postgres) runs in the timer's call, with no transaction open (`callGrant`,
 * `callRevoke`), and what it did is recorded in the timer's settling transaction (`runGrant`, `runRevoke`).
 */
import { eq } from 'drizzle-orm';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { formatDuration } from '../../core/duration.js';
import { conflict, forbidden } from '../../core/errors.js';
import { hasRole, personName, SCHEDULER_ACTOR, WEBHOOK_ACTOR, type Actor } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import { cancelTimer, schedule, type TimerOutcome } from '../../core/timers.js';
import { formatTime } from '../../core/time-zone.js';
import type { WebhookOutcome } from '../../core/webhooks.js';
import { grantSubject, grantWhat, taskSubject, type AccessTaskRow, type GrantRow } from './access.messages.js';
import { accessAlert, ACCESS_TIMER, applyTransition, getGrant, grantIdOf, grantTimerKey, refreshCard, resourceOf, taskRemindKey, toSecurity } from './access.service.js';
import { getTask, taskCardFor, taskPeople } from './access.tasks.js';
import { connectorFor, ConnectorError, type ConnectorOutcome, type OutsideCall, type OutsideConnector } from './connectors/index.js';

/** What an outside connector's call did: its outcome, or how it failed. */
export type OutsideResult = { ok: true; outcome: ConnectorOutcome } | { ok: false; error: unknown };

/** How long a provisioning timer is leased for an outside connector's call (connecting alone may take 10 s). */
export const CONNECTOR_LEASE_MS = 5 * 60_000;

/**
 * Runs an outside connector's grant or removal of a grant with no transaction open, if the grant still needs it (read
 * without a lock: the settling transaction checks again). Undefined when there is no outside call to make. Never throws.
 */
async function callOutside(app: AppContext, id: number, now: Date, action: 'grant' | 'revoke'): Promise<OutsideResult | undefined> {
  let call: OutsideCall;
  let connector: OutsideConnector;
  try {
    const g = await getGrant(app.db, id);
    if (action === 'grant' ? g.state !== 'provisioning' : g.removal === 'done' || !g.removal) return undefined;
    const resource = resourceOf(app, g);
    const c = resource && connectorFor(resource.connector.kind);
    if (!resource || c?.runs !== 'outside') return undefined;
    call = { app, now, grant: g, resource };
    connector = c;
  } catch {
    return undefined; // the settling transaction reads it again and reports what is wrong
  }
  try {
    return { ok: true, outcome: await connector[action](call) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The provision timer's call: an outside connector's grant (see `callOutside`). */
export const callGrant = (app: AppContext, id: number, now: Date) => callOutside(app, id, now, 'grant');

/** The deprovision timer's call: an outside connector's removal (see `callOutside`). */
export const callRevoke = (app: AppContext, id: number, now: Date) => callOutside(app, id, now, 'revoke');

/** What the connector did: an inside connector is called here, in `tx`; an outside one's call already ran (`called`). */
async function connect(tx: Tx, app: AppContext, g: GrantRow, resource: NonNullable<ReturnType<typeof resourceOf>>, now: Date, action: 'grant' | 'revoke', called: OutsideResult | undefined): Promise<ConnectorOutcome | undefined> {
  const connector = connectorFor(resource.connector.kind);
  if (connector.runs === 'inside') return connector[action]({ tx, app, now, grant: g, resource });
  if (!called) return undefined; // the grant changed between the call and now: the timer runs again
  if (!called.ok) throw called.error;
  return called.outcome;
}

/** Provisioning attempts before a grant whose target does not answer fails. */
const GRANT_ATTEMPTS = 3;

/** Delay before the next removal attempt: 30 s doubling, at most an hour. */
export function removalDelayMs(attempts: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, attempts - 1));
}

/** The key of the alert of a grant whose removal fails. */
export const removalAlertKey = (grantId: number) => `${grantSubject(grantId)}:removal`;

/** The connector confirmed the grant: it is active from now. */
export async function activate(tx: Tx, app: AppContext, g: GrantRow, actor: Actor, now: Date, note: string): Promise<GrantRow> {
  await addTimeline(tx, { subject: grantSubject(g.id), at: now, actor: actor.person.id, source: actor.source, kind: 'provisioned', text: note });
  return applyTransition(tx, app, g, 'activate', actor, now);
}

/** The connector could not grant or confirm it. */
async function fail(tx: Tx, app: AppContext, g: GrantRow, actor: Actor, now: Date, reason: string): Promise<GrantRow> {
  return applyTransition(tx, app, g, 'fail', actor, now, { reason });
}

/**
 * The provision timer's settling: asks an inside connector for the grant, or records what an outside one did
 * (`called`, by `callGrant`).
 */
export async function runGrant(tx: Tx, app: AppContext, id: number, now: Date, called?: OutsideResult): Promise<TimerOutcome> {
  const g = await getGrant(tx, id, true);
  if (g.state !== 'provisioning') {
    if (called?.ok && called.outcome.status === 'done') await removeAgain(tx, app, g, now, called.outcome.note);
    return;
  }
  const resource = resourceOf(app, g);
  if (!resource) {
    await fail(tx, app, g, SCHEDULER_ACTOR, now, `the resource ${g.resource} is no longer in the config`);
    return;
  }
  try {
    const out = await connect(tx, app, g, resource, now, 'grant', called);
    if (!out) return { rescheduleAt: now, payload: { id } };
    if (out.status === 'done') {
      await activate(tx, app, g, SCHEDULER_ACTOR, now, out.note);
      return;
    }
    await addTimeline(tx, { subject: grantSubject(g.id), at: now, actor: 'tread', source: 'scheduler', kind: 'provisioning', text: out.note });
    await refreshCard(tx, app, g, now);
  } catch (e) {
    const message = (e as Error).message;
    const attempts = g.grantAttempts + 1;
    if (e instanceof ConnectorError && !e.final && attempts < GRANT_ATTEMPTS) {
      app.log.warn({ grant: grantSubject(g.id), resource: g.resource, attempt: attempts, err: message }, 'access grant failed; will retry');
      await tx.update(schema.accessGrants).set({ grantAttempts: attempts }).where(eq(schema.accessGrants.id, g.id));
      return { rescheduleAt: new Date(now.getTime() + removalDelayMs(attempts)), payload: { id } };
    }
    if (!(e instanceof ConnectorError)) app.log.error({ grant: grantSubject(g.id), resource: g.resource, err: message }, 'access connector error');
    await tx.update(schema.accessGrants).set({ grantAttempts: attempts }).where(eq(schema.accessGrants.id, g.id));
    await fail(tx, app, { ...g, grantAttempts: attempts }, SCHEDULER_ACTOR, now, message);
  }
}

/**
 * An outside connector granted access after the grant had ended (revoked or expired while its call ran, and perhaps
 * removed already): the removal is done again, so nothing granted outlives the grant.
 */
async function removeAgain(tx: Tx, app: AppContext, g: GrantRow, now: Date, note: string): Promise<void> {
  if (!g.removal) return; // never held (failed): a grant the target gave is not ours to keep; see the log
  const subject = grantSubject(g.id);
  app.log.warn({ grant: subject, resource: g.resource, state: g.state }, 'access granted at the target after the grant ended; removing it again');
  await tx.update(schema.accessGrants).set({ removal: 'pending', removedAt: null, updatedAt: now }).where(eq(schema.accessGrants.id, g.id));
  await addTimeline(tx, { subject, at: now, actor: 'tread', source: 'scheduler', kind: 'removal', text: `The target granted it after the grant ended (${note}); removing it again` });
  await schedule(tx, { kind: ACCESS_TIMER.deprovision, subject, key: grantTimerKey(ACCESS_TIMER.deprovision, g.id), dueAt: now, payload: { id: g.id } });
}

/** The removal at the target succeeded: recorded, the alert (if one was raised) resolved. */
export async function removalDone(tx: Tx, app: AppContext, g: GrantRow, actor: Actor, now: Date, note: string): Promise<GrantRow> {
  const subject = grantSubject(g.id);
  const [row] = await tx.update(schema.accessGrants).set({ removal: 'done', removedAt: now, removalError: null, updatedAt: now }).where(eq(schema.accessGrants.id, g.id)).returning();
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'removed', text: `Access removed at the target: ${note}` });
  if (g.removal === 'retrying') {
    await accessAlert(tx, app, { key: removalAlertKey(g.id), action: 'resolve', summary: `${subject}: ${grantWhat(g)} removed from ${g.login} after ${g.removalAttempts + 1} attempts`, severity: 'error' }, now);
    await toSecurity(tx, app, { text: `✓ ${subject}: ${g.role} on ${g.resource} is now removed from ${g.login} (after ${g.removalAttempts + 1} attempts).`, tone: 'good', subject });
  }
  await refreshCard(tx, app, row!, now);
  await auditActor(tx, actor, { at: now, subject, action: 'access.removed', data: { resource: g.resource, role: g.role, person: g.person, attempts: g.removalAttempts + 1, note } });
  return row!;
}

/** The removal failed: retried with backoff; an alert in the security channel until it succeeds. */
export async function removalFailed(tx: Tx, app: AppContext, g: GrantRow, error: string, now: Date): Promise<Date> {
  const subject = grantSubject(g.id);
  const attempts = g.removalAttempts + 1;
  const next = new Date(now.getTime() + removalDelayMs(attempts));
  const [row] = await tx.update(schema.accessGrants).set({ removal: 'retrying', removalAttempts: attempts, removalError: error.slice(0, 1000), updatedAt: now }).where(eq(schema.accessGrants.id, g.id)).returning();
  app.log.warn({ grant: subject, resource: g.resource, attempt: attempts, err: error }, 'access removal failed; will retry');
  await accessAlert(tx, app, {
    key: removalAlertKey(g.id), action: 'trigger', severity: 'error',
    summary: `${subject}: ${g.role} on ${g.resource} could not be removed from ${g.login} (${g.state}); retrying`,
    details: { grant: subject, resource: g.resource, role: g.role, login: g.login, attempts, error: error.slice(0, 500), nextAttempt: next.toISOString() },
  }, now);
  if (attempts === 1) await addTimeline(tx, { subject, at: now, actor: 'tread', source: 'scheduler', kind: 'removal_failed', text: `Removal failed: ${error}; retrying every ${formatDuration(removalDelayMs(1))} and more` });
  await refreshCard(tx, app, row!, now);
  return next;
}

/** The deprovision timer's settling: asks an inside connector to remove the access, or records what an outside one did; retried until it succeeds. */
export async function runRevoke(tx: Tx, app: AppContext, id: number, now: Date, called?: OutsideResult): Promise<TimerOutcome> {
  return removeAtTarget(tx, app, await getGrant(tx, id, true), now, called);
}

/**
 * Removes an ended grant's access at the target (the grant locked by the caller): done, handed on (a task, a webhook),
 * or failed, in which case the outcome says when to try again. An outside connector is not called here: without its
 * call's result (`called`) the outcome asks for the deprovision timer now, which makes the call outside the transaction.
 */
export async function removeAtTarget(tx: Tx, app: AppContext, g: GrantRow, now: Date, called?: OutsideResult): Promise<TimerOutcome> {
  const id = g.id;
  if (g.removal === 'done' || !g.removal) return;
  const resource = resourceOf(app, g);
  if (!resource) return { rescheduleAt: await removalFailed(tx, app, g, `the resource ${g.resource} is no longer in the config: remove ${g.role} from ${g.login} by hand`, now), payload: { id } };
  try {
    const out = await connect(tx, app, g, resource, now, 'revoke', called);
    if (!out) return { rescheduleAt: now, payload: { id } };
    if (out.status === 'done') {
      await removalDone(tx, app, g, SCHEDULER_ACTOR, now, out.note);
      return;
    }
    await addTimeline(tx, { subject: grantSubject(g.id), at: now, actor: 'tread', source: 'scheduler', kind: 'removal', text: out.note });
    await refreshCard(tx, app, g, now);
  } catch (e) {
    if (!(e instanceof ConnectorError)) app.log.error({ grant: grantSubject(g.id), resource: g.resource, err: (e as Error).message }, 'access connector error');
    return { rescheduleAt: await removalFailed(tx, app, g, (e as Error).message, now), payload: { id } };
  }
}

/** Done (or Reviewed) on a task card: a manual grant becomes active, a manual removal done, a break-glass reviewed. */
export async function completeTask(tx: Tx, app: AppContext, taskId: number, actor: Actor, now: Date): Promise<{ sentence: string; taskId: number }> {
  const task = await getTask(tx, taskId, true);
  const g = await getGrant(tx, task.grantId, true);
  const subject = taskSubject(task.id);
  const resource = resourceOf(app, g);
  if (!hasRole(actor.person, 'admin') && !taskPeople(app, task, resource).includes(actor.person.id)) {
    throw forbidden('access.not_in_team', `${subject} is for ${task.team ? `team ${task.team}` : `the owners of ${g.resource}`}; ${actor.person.name} is not one of them.`);
  }
  if (task.state !== 'open') throw conflict('access.task_closed', `${subject} is already ${task.state}${task.doneBy ? ` (by ${await personName(app, task.doneBy, tx)})` : ''}.`);
  const [done] = await tx.update(schema.accessTasks).set({ state: 'done', doneBy: actor.person.id, doneAt: now }).where(eq(schema.accessTasks.id, task.id)).returning();
  await cancelTimer(tx, taskRemindKey(task.id));
  await auditActor(tx, actor, { at: now, subject: grantSubject(g.id), action: `access.task_${task.kind}_done`, data: { task: subject, resource: g.resource, role: g.role, person: g.person } });
  await enqueue(tx, { kind: 'update', subject, message: await taskCardFor(tx, app, done!, g, now) });
  if (task.kind === 'grant') {
    if (g.state !== 'provisioning') return { taskId: task.id, sentence: `${subject} done; ${grantSubject(g.id)} is ${g.state} already.` };
    await activate(tx, app, g, actor, now, `Granted by hand by ${actor.person.name} (${subject})`);
    return { taskId: task.id, sentence: `${subject} done: ${grantSubject(g.id)} is active.` };
  }
  if (task.kind === 'revoke') {
    if (g.removal !== 'done') await removalDone(tx, app, g, actor, now, `removed by hand by ${actor.person.name} (${subject})`);
    return { taskId: task.id, sentence: `${subject} done: the removal of ${grantSubject(g.id)} is recorded.` };
  }
  await addTimeline(tx, { subject: grantSubject(g.id), at: now, actor: actor.person.id, source: actor.source, kind: 'reviewed', text: `Break-glass use reviewed by ${actor.person.name}` });
  await toSecurity(tx, app, { text: `✓ ${grantSubject(g.id)} (break-glass ${grantWhat(g)} by ${await personName(app, g.person, tx)}) was reviewed by ${actor.person.name}.`, tone: 'good' });
  return { taskId: task.id, sentence: `${subject} done: the break-glass use of ${grantSubject(g.id)} is marked reviewed.` };
}

/** Reminds the people of an open task: its card again (Done on any copy edits them all), with how long it has waited. */
export async function remindTask(tx: Tx, app: AppContext, task: AccessTaskRow, now: Date): Promise<string[]> {
  const g = await getGrant(tx, task.grantId);
  const people = [...new Set(taskPeople(app, task, resourceOf(app, g)))];
  const card = await taskCardFor(tx, app, task, g, now);
  const waiting = `⏰ Reminder: this has waited for ${task.kind === 'breakglass_review' ? 'your review' : 'you'} since ${formatTime(task.createdAt, app.config.timezone, now)}.`;
  for (const person of people) await enqueue(tx, { kind: 'dm', person, message: { ...card, text: `${waiting}\n${card.text}` }, subject: taskSubject(task.id) });
  await auditActor(tx, SCHEDULER_ACTOR, { at: now, subject: grantSubject(g.id), action: 'access.task_reminded', data: { task: taskSubject(task.id), kind: task.kind, resource: g.resource, people } });
  return people;
}

/** Whether a webhook outcome is one of ours: the grant and the action. */
function ourWebhook(o: WebhookOutcome): { id: number; action: 'grant' | 'revoke' } | undefined {
  if (!o.target.startsWith('access:')) return undefined;
  const id = grantIdOf(o.subject);
  const action = o.idempotencyKey.endsWith(':grant') ? 'grant' : o.idempotencyKey.endsWith(':revoke') ? 'revoke' : undefined;
  return id !== undefined && action ? { id, action } : undefined;
}

/** `webhook.delivered`: the access system confirmed a grant (active) or a removal (done). */
export async function onWebhookDelivered(tx: Tx, app: AppContext, o: WebhookOutcome, now: Date): Promise<void> {
  const ours = ourWebhook(o);
  if (!ours) return;
  const g = await getGrant(tx, ours.id, true);
  const note = `the access system answered ${o.status ?? 'OK'} (attempt ${o.attempts})`;
  if (ours.action === 'grant' && g.state === 'provisioning') await activate(tx, app, g, WEBHOOK_ACTOR, now, `Granted: ${note}`);
  if (ours.action === 'revoke' && g.removal && g.removal !== 'done') await removalDone(tx, app, g, WEBHOOK_ACTOR, now, note);
}

/** `webhook.failed`: a grant the access system never confirmed fails; a removal goes on being retried, with an alert. */
export async function onWebhookFailed(tx: Tx, app: AppContext, o: WebhookOutcome, now: Date): Promise<void> {
  const ours = ourWebhook(o);
  if (!ours) return;
  const g = await getGrant(tx, ours.id, true);
  const why = `the access system did not take it after ${o.attempts} attempt${o.attempts === 1 ? '' : 's'}: ${o.error ?? 'no answer'}`;
  if (ours.action === 'grant' && g.state === 'provisioning') {
    await fail(tx, app, g, WEBHOOK_ACTOR, now, why);
    return;
  }
  if (ours.action === 'revoke' && g.removal && g.removal !== 'done') {
    const next = await removalFailed(tx, app, g, why, now);
    await schedule(tx, { kind: ACCESS_TIMER.deprovision, subject: grantSubject(g.id), key: grantTimerKey(ACCESS_TIMER.deprovision, g.id), dueAt: next, payload: { id: g.id } });
  }
}
