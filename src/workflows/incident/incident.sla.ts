/** The SLA clocks of an incident: targets per priority, due times in SLA time, and the warning and breach timers. */
import { eq } from 'drizzle-orm';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { addSlaTime, slaBudgetMs, slaTimeBetween } from '../../core/business-hours.js';
import { cancelTimer, cancelTimers, scheduleMany, type KeyedTimer } from '../../core/timers.js';
import type { IncidentEffect } from './incident.machine.js';
import { incidentSubject, type IncidentRow } from './incident.messages.js';

/** Timer kinds this workflow handles. */
export const TIMER = {
  sla: 'incident.sla',
  autoClose: 'incident.auto_close',
  statusUpdate: 'incident.status_update',
} as const;

/** The SLA targets of a priority as budgets of SLA time (business days when the target counts business hours). */
export function slaTarget(app: AppContext, priority: number) {
  const t = app.config.sla[`P${priority}` as 'P1'];
  const bh = t.businessHours ? app.config.businessHours : undefined;
  return { response: slaBudgetMs(t.response, bh), resolution: slaBudgetMs(t.resolution, bh), bh };
}

/**
 * An SLA instant, rounded up to the whole minute: targets are kept and shown to the minute, so a target that lands a few
 * seconds before a minute (an incident opened at 16:59:30 is due five business days later at 16:59:30) reads and breaches
 * at that minute's end (17:00), never a minute early.
 */
export function dueMinute(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / 60_000) * 60_000);
}

/** SLA time added to `from`, as a due minute. */
function dueAfter(app: AppContext, from: Date, ms: number, bh: ReturnType<typeof slaTarget>['bh']): Date {
  return dueMinute(addSlaTime(from, ms, bh, app.config.timezone));
}

/** Due times of a new incident opened at `now`. */
export function initialDueTimes(app: AppContext, priority: number, now: Date): { responseDueAt: Date; resolutionDueAt: Date } {
  const target = slaTarget(app, priority);
  return { responseDueAt: dueAfter(app, now, target.response, target.bh), resolutionDueAt: dueAfter(app, now, target.resolution, target.bh) };
}

function slaKey(subject: string, clock: 'response' | 'resolution', stage: 'warn' | 'breach'): string {
  return `${subject}:sla:${clock}:${stage}`;
}

/** The timer key of an incident's status-update reminder (major incidents). */
export function statusUpdateKey(subject: string): string {
  return `${subject}:status`;
}

/** The timer key of an incident's auto-close. */
export function autoCloseKey(subject: string): string {
  return `${subject}:autoclose`;
}

async function cancelResolutionTimers(tx: Tx, subject: string): Promise<void> {
  await cancelTimer(tx, [slaKey(subject, 'resolution', 'warn'), slaKey(subject, 'resolution', 'breach')]);
}

/** Schedules the warning and the breach of SLA clocks, given SLA time already spent. */
export async function scheduleSlaTimers(tx: Tx, app: AppContext, i: IncidentRow, clocks: ('response' | 'resolution')[], spentMs: number, from?: Date): Promise<void> {
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
    timers.push({ kind: TIMER.sla, subject, key: slaKey(subject, clock, 'breach'), dueAt: dueAfter(app, start, Math.max(0, total - spentMs), t.bh), payload: { id: i.id, clock, stage: 'breach' } });
  }
  await scheduleMany(tx, timers);
}

/** After a priority change: new due times from the new targets, keeping time already spent. */
export async function retargetSla(tx: Tx, app: AppContext, i: IncidentRow, now: Date): Promise<Partial<IncidentRow>> {
  const t = slaTarget(app, i.priority);
  const patch: Partial<IncidentRow> = {};
  if (!i.acknowledgedAt) {
    const spent = slaTimeBetween(i.createdAt, now, t.bh, app.config.timezone);
    patch.responseDueAt = dueAfter(app, now, Math.max(0, t.response - spent), t.bh);
    await scheduleSlaTimers(tx, app, i, ['response'], spent, now);
  }
  if (i.resolutionClockStartedAt) {
    const spent = i.resolutionSpentMs + slaTimeBetween(i.resolutionClockStartedAt, now, t.bh, app.config.timezone);
    patch.resolutionDueAt = dueAfter(app, now, Math.max(0, t.resolution - spent), t.bh);
    await scheduleSlaTimers(tx, app, i, ['resolution'], spent, now);
  }
  return patch;
}

/** Resumes the resolution clock's timers and due time (after hold or reopen). Called after the row is updated. */
export async function resumeResolutionClock(tx: Tx, app: AppContext, i: IncidentRow, now: Date): Promise<IncidentRow> {
  const t = slaTarget(app, i.priority);
  const remaining = Math.max(0, t.resolution - i.resolutionSpentMs);
  const due = dueAfter(app, now, remaining, t.bh);
  await scheduleSlaTimers(tx, app, i, ['resolution'], i.resolutionSpentMs, now);
  const [row] = await tx.update(schema.incidents).set({ resolutionDueAt: due }).where(eq(schema.incidents.id, i.id)).returning();
  return row!;
}

/**
 * Carries out one clock effect of a transition on `patch` (and the timers). Returns true when the resolution clock must
 * resume once the row is written (see `resumeResolutionClock`).
 */
export async function applyClockEffect(tx: Tx, app: AppContext, before: IncidentRow, effect: IncidentEffect, patch: Partial<IncidentRow>, now: Date): Promise<boolean> {
  const subject = incidentSubject(before.id);
  switch (effect) {
    case 'record_acknowledgement':
      patch.acknowledgedAt = now;
      patch.responseDueAt = null;
      await cancelTimer(tx, [slaKey(subject, 'response', 'warn'), slaKey(subject, 'response', 'breach')]);
      return false;
    case 'pause_resolution_clock': {
      const target = slaTarget(app, before.priority);
      const spent = before.resolutionSpentMs + (before.resolutionClockStartedAt ? slaTimeBetween(before.resolutionClockStartedAt, now, target.bh, app.config.timezone) : 0);
      patch.resolutionSpentMs = Math.round(spent);
      patch.resolutionClockStartedAt = null;
      patch.resolutionDueAt = null;
      await cancelResolutionTimers(tx, subject);
      return false;
    }
    case 'resume_resolution_clock':
      patch.resolutionClockStartedAt = now;
      return true;
    case 'stop_resolution_clock':
    case 'stop_all_timers':
      // the response clock stops too once nothing can acknowledge the incident any more
      patch.resolutionDueAt = null;
      patch.responseDueAt = null;
      if (effect === 'stop_all_timers') await cancelTimers(tx, subject, 'incident.'); // this workflow's timers; paging stops through on-call
      else {
        await cancelResolutionTimers(tx, subject);
        await cancelTimers(tx, subject, TIMER.sla);
        await cancelTimer(tx, statusUpdateKey(subject));
      }
      return false;
    case 'restart_resolution_clock':
      patch.resolutionSpentMs = 0;
      patch.resolutionClockStartedAt = now;
      patch.resolutionBreached = false;
      return true;
    default:
      return false;
  }
}
