/** The SLA clocks of a request: response (first claim or webhook accepted) and resolution, in business hours when asked. */
import type { Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { addSlaTime, slaBudgetMs } from '../../core/business-hours.js';
import { cancelTimer, scheduleMany, type KeyedTimer } from '../../core/timers.js';
import type { CatalogItem } from './request.config.js';

/** Timer kinds of requests. */
export const REQUEST_TIMER = {
  sla: 'request.sla',
  close: 'request.close',
  reindex: 'request.reindex',
} as const;

/** The SLA clocks. */
export type SlaClock = 'response' | 'resolution';

function slaKey(subject: string, clock: SlaClock, stage: 'warn' | 'breach'): string {
  return `${subject}:sla:${clock}:${stage}`;
}

/** The key of a request's auto-close. */
export function closeKey(subject: string): string {
  return `${subject}:close`;
}

/** Due times of an item's SLA started at `start`, and the timers for the warning and the breach; undefined without an SLA. */
export function slaPlan(app: AppContext, item: CatalogItem, id: number, subject: string, start: Date): { responseDueAt: Date; resolutionDueAt: Date; timers: KeyedTimer[] } | undefined {
  if (!item.sla) return undefined;
  const bh = item.sla.businessHours ? app.config.businessHours : undefined;
  const tz = app.config.timezone;
  const timers: KeyedTimer[] = [];
  const out = { responseDueAt: start, resolutionDueAt: start };
  for (const clock of ['response', 'resolution'] as const) {
    const total = slaBudgetMs(item.sla[clock], bh);
    const dueAt = addSlaTime(start, total, bh, tz);
    if (clock === 'response') out.responseDueAt = dueAt; else out.resolutionDueAt = dueAt;
    timers.push({ kind: REQUEST_TIMER.sla, subject, key: slaKey(subject, clock, 'warn'), dueAt: addSlaTime(start, total * app.config.request.slaWarnAt, bh, tz), payload: { id, clock, stage: 'warn' } });
    timers.push({ kind: REQUEST_TIMER.sla, subject, key: slaKey(subject, clock, 'breach'), dueAt, payload: { id, clock, stage: 'breach' } });
  }
  return { ...out, timers };
}

/** Starts the clocks: returns the due times to store (nothing without an SLA). */
export async function startSla(tx: Tx, app: AppContext, item: CatalogItem, id: number, subject: string, now: Date): Promise<{ responseDueAt?: Date; resolutionDueAt?: Date }> {
  const plan = slaPlan(app, item, id, subject, now);
  if (!plan) return {};
  await scheduleMany(tx, plan.timers);
  return { responseDueAt: plan.responseDueAt, resolutionDueAt: plan.resolutionDueAt };
}

/** The first response happened: the response clock's timers go. */
export async function stopResponseClock(tx: Tx, subject: string): Promise<void> {
  await cancelTimer(tx, [slaKey(subject, 'response', 'warn'), slaKey(subject, 'response', 'breach')]);
}

/** The request is done: every SLA timer goes. */
export async function stopSla(tx: Tx, subject: string): Promise<void> {
  await cancelTimer(tx, (['response', 'resolution'] as const).flatMap((c) => [slaKey(subject, c, 'warn'), slaKey(subject, c, 'breach')]));
}
