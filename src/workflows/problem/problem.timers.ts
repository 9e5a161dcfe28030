/** Problem management's timers: the daily recurring-incident check. */
import { eq } from 'drizzle-orm';
import { schema } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { schedule, type TimerHandler } from '../../core/timers.js';
import { RECURRENCE_TIMER, recurrenceTimer } from './problem.recurrence.js';

/** Timer handlers by kind. */
export const problemTimers: Record<string, TimerHandler> = {
  [RECURRENCE_TIMER]: recurrenceTimer,
};

/** Arms the recurring-incident check once (replicas and restarts keep the one that is due). */
export async function armRecurrence(app: AppContext): Promise<void> {
  const now = app.clock.now();
  await app.db.transaction(async (tx) => {
    const [armed] = await tx.select({ id: schema.timers.id }).from(schema.timers).where(eq(schema.timers.key, RECURRENCE_TIMER)).limit(1);
    if (!armed) await schedule(tx, { kind: RECURRENCE_TIMER, subject: 'problem', key: RECURRENCE_TIMER, dueAt: new Date(now.getTime() + app.config.problem.recurrence.every) });
  });
}
