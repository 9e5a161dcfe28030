/**
 * Timer handlers of access management: provisioning and removal (connector calls after commit), the expiry warning and
 * the expiry, reconciliation against the targets, review campaigns (due, reminders, deadline), and reminders of open
 * break-glass review tasks. Timers run once
 * across replicas (claimed with SKIP LOCKED) and survive a restart; every handler checks the grant's state first, so a
 * timer that fires late or twice changes nothing.
 */
import { z } from 'zod';
import type { AnyTimerHandler, TimerHandler, TwoPhaseTimerHandler } from '../../core/timers.js';
import { formatDuration } from '../../core/duration.js';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import { schedule } from '../../core/timers.js';
import { ACCESS_TIMER, applyTransition, cancelRunningApproval, getGrant, grantTimerKey, refreshCard } from './access.service.js';
import { grantSubject } from './access.messages.js';
import { callGrant, callRevoke, CONNECTOR_LEASE_MS, remindTask, removeAtTarget, runGrant, runRevoke, type OutsideResult } from './access.provisioning.js';
import { reconcileTimer } from './access.reconcile.js';
import { reviewDeadlineTimer, reviewDueTimer, reviewRemindTimer } from './access.reviews.js';
import { getTask } from './access.tasks.js';

const idPayload = z.object({ id: z.number().int() });

/** The grant's id, or NaN for a payload without one (the call then finds no grant, and settling fails on parsing it). */
const idOf = (payload: unknown) => idPayload.safeParse(payload).data?.id ?? Number.NaN;

/** Provisioning: an outside connector (postgres) grants in the call, with no transaction open; the rest in settle. */
const provision: TwoPhaseTimerHandler<OutsideResult | undefined> = {
  leaseMs: CONNECTOR_LEASE_MS,
  call: (timer, app, now) => callGrant(app, idOf(timer.payload), now),
  settle: (tx, timer, app, now, called) => runGrant(tx, app, idPayload.parse(timer.payload).id, now, called),
};

/** Removal at the target: as provisioning. */
const deprovision: TwoPhaseTimerHandler<OutsideResult | undefined> = {
  leaseMs: CONNECTOR_LEASE_MS,
  call: (timer, app, now) => callRevoke(app, idOf(timer.payload), now),
  settle: (tx, timer, app, now, called) => runRevoke(tx, app, idPayload.parse(timer.payload).id, now, called),
};

/** The expiry warning: the grantee is told (with Extend) `expiryWarning` before the end. */
const warn: TimerHandler = async (tx, timer, app, now) => {
  const g = await getGrant(tx, idPayload.parse(timer.payload).id, true);
  if (g.state !== 'active' || !g.endsAt) return;
  if (g.endsAt.getTime() - app.config.access.expiryWarning > now.getTime()) return { rescheduleAt: new Date(g.endsAt.getTime() - app.config.access.expiryWarning), payload: timer.payload };
  await applyTransition(tx, app, g, 'warn', SCHEDULER_ACTOR, now);
};

/** The end of a grant's time: it expires and its removal starts. */
const expire: TimerHandler = async (tx, timer, app, now) => {
  const { id } = idPayload.parse(timer.payload);
  const peek = await getGrant(tx, id);
  if (!['active', 'expiring', 'provisioning'].includes(peek.state) || !peek.endsAt) return;
  if (peek.endsAt > now) return { rescheduleAt: peek.endsAt, payload: timer.payload };
  const why = peek.kind === 'breakglass' ? `the break-glass limit of ${formatDuration(app.config.access.breakGlassMax)} was reached` : `its ${formatDuration(peek.durationMs)} are up`;
  if (peek.pendingExtensionMs) await cancelRunningApproval(tx, app, grantSubject(id), `${grantSubject(id)} expired before the extension was decided`, SCHEDULER_ACTOR, now);
  const g = await getGrant(tx, id, true);
  if (!['active', 'expiring', 'provisioning'].includes(g.state)) return;
  // this timer runs after commit of anything a person did: the removal starts right here, in the same run (an outside
  // connector's in the deprovision timer, due now: it calls with no transaction open)
  const expired = await applyTransition(tx, app, g, 'expire', SCHEDULER_ACTOR, now, { reason: why, cardLater: true, removeNow: true });
  const retry = expired.removal === 'done' ? undefined : await removeAtTarget(tx, app, expired, now);
  if (expired.removal === 'done') await refreshCard(tx, app, expired, now);
  if (retry) await schedule(tx, { kind: ACCESS_TIMER.deprovision, subject: grantSubject(id), key: grantTimerKey(ACCESS_TIMER.deprovision, id), dueAt: retry.rescheduleAt, payload: { id } });
};

/** The reminder of an open task (a break-glass review): its card again to its people, until someone presses Done. */
const taskRemind: TimerHandler = async (tx, timer, app, now) => {
  const task = await getTask(tx, idPayload.parse(timer.payload).id);
  if (task.state !== 'open') return;
  await remindTask(tx, app, task, now);
  return { rescheduleAt: new Date(now.getTime() + app.config.access.breakGlassRemindEvery), payload: timer.payload };
};

/** The access workflow's timers by kind. */
export const accessTimers: Record<string, AnyTimerHandler> = {
  [ACCESS_TIMER.provision]: provision,
  [ACCESS_TIMER.deprovision]: deprovision,
  [ACCESS_TIMER.warn]: warn,
  [ACCESS_TIMER.expire]: expire,
  [ACCESS_TIMER.reconcile]: reconcileTimer,
  [ACCESS_TIMER.reviewDue]: reviewDueTimer,
  [ACCESS_TIMER.reviewRemind]: reviewRemindTimer,
  [ACCESS_TIMER.reviewDeadline]: reviewDeadlineTimer,
  [ACCESS_TIMER.taskRemind]: taskRemind,
};
