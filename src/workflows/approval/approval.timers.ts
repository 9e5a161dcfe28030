/** Timer handlers of approvals: reminders (after remindAfter, then every remindEvery), escalation to the fallback, expiry. */
import { z } from 'zod';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import type { TimerHandler } from '../../core/timers.js';
import { APPROVAL_TIMER, escalate, expireApproval, getApproval, policyOf, remind } from './approval.service.js';

const stagePayload = z.object({ id: z.number().int(), stage: z.number().int() });
const idPayload = z.object({ id: z.number().int() });

const reminder: TimerHandler = async (tx, timer, app, now) => {
  const p = stagePayload.parse(timer.payload);
  const a = await getApproval(tx, p.id, true);
  if (a.state !== 'pending' || a.stage !== p.stage) return;
  const every = policyOf(a).remindEveryMs;
  // while a question is open the approvers wait for the requester: no reminder, but keep the rhythm
  if (!a.pausedAt) await remind(tx, app, a, SCHEDULER_ACTOR, now);
  return { rescheduleAt: new Date(now.getTime() + every) };
};

const escalation: TimerHandler = async (tx, timer, app, now) => {
  const p = stagePayload.parse(timer.payload);
  const a = await getApproval(tx, p.id, true);
  if (a.state !== 'pending' || a.stage !== p.stage || a.escalated) return;
  await escalate(tx, app, a, SCHEDULER_ACTOR, now);
};

const expiry: TimerHandler = async (tx, timer, app, now) => {
  const { id } = idPayload.parse(timer.payload);
  const a = await getApproval(tx, id, true);
  if (a.state !== 'pending' || a.pausedAt) return; // answering the question schedules the expiry again
  if (a.expiresAt > now) return { rescheduleAt: a.expiresAt };
  await expireApproval(tx, app, a, SCHEDULER_ACTOR, now);
};

/** The approval workflow's timers by kind. */
export const approvalTimers: Record<string, TimerHandler> = {
  [APPROVAL_TIMER.remind]: reminder,
  [APPROVAL_TIMER.escalate]: escalation,
  [APPROVAL_TIMER.expire]: expiry,
};
