/** Timers: work due later, stored in the `timers` table and run by the scheduler. */
import { and, eq, inArray, like, lte, sql } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../db/client.js';
import type { AppContext } from './app.js';

/** A stored timer. */
export type TimerRow = typeof schema.timers.$inferSelect;

/** What a timer handler may ask for: run again at a later time (otherwise the timer is deleted). */
export type TimerOutcome = void | { rescheduleAt: Date; payload?: Record<string, unknown> };

/** Runs one due timer inside the transaction that claimed it. */
export type TimerHandler = (tx: Tx, timer: TimerRow, app: AppContext, now: Date) => Promise<TimerOutcome>;

/** Schedules a timer. With `key`, an existing timer with that key is replaced. */
export async function schedule(tx: DbOrTx, timer: { kind: string; subject: string; dueAt: Date; key?: string; payload?: Record<string, unknown> }): Promise<void> {
  const values = { kind: timer.kind, subject: timer.subject, dueAt: timer.dueAt, key: timer.key ?? null, payload: timer.payload ?? {}, attempts: 0, lastError: null };
  if (timer.key) {
    await tx.insert(schema.timers).values(values).onConflictDoUpdate({ target: schema.timers.key, set: values });
  } else {
    await tx.insert(schema.timers).values(values);
  }
}

/** Cancels a subject's timers, all of them or those whose kind starts with `kindPrefix`. */
export async function cancelTimers(tx: DbOrTx, subject: string, kindPrefix?: string): Promise<void> {
  await tx.delete(schema.timers).where(and(eq(schema.timers.subject, subject), kindPrefix ? like(schema.timers.kind, `${kindPrefix}%`) : undefined));
}

/** Cancels a timer by key, or several by their keys. */
export async function cancelTimer(tx: DbOrTx, key: string | string[]): Promise<void> {
  await tx.delete(schema.timers).where(Array.isArray(key) ? inArray(schema.timers.key, key) : eq(schema.timers.key, key));
}

/** The pending timers of a subject. */
export async function timersOf(db: DbOrTx, subject: string): Promise<TimerRow[]> {
  return db.select().from(schema.timers).where(eq(schema.timers.subject, subject)).orderBy(schema.timers.dueAt);
}

/** Retry delay after a failing timer handler. */
function timerBackoffMs(attempts: number): number {
  return Math.min(600_000, 5000 * 2 ** Math.max(0, attempts - 1));
}

/**
 * Runs timers due at `now`. Each runs in its own transaction, claimed with FOR UPDATE SKIP LOCKED, so replicas never run
 * one twice. A timer runs at most once per call: one its handler rescheduled to a time already passed runs again in the
 * next run, so a handler that keeps its timer due cannot spin one run up to its limit. `onRan` is told after each
 * timer's transaction committed (the scheduler starts sending its messages).
 */
export async function runDue(app: AppContext, handlers: Record<string, TimerHandler>, now: Date, limit = 200, options: { onRan?: () => void } = {}): Promise<{ ran: number; failed: number }> {
  let ran = 0;
  let failed = 0;
  const skip: number[] = [];
  while (ran + failed < limit) {
    let claimedId: number | undefined;
    let attempts = 0;
    // Whether another due timer is there once this one is done (rows written meanwhile, by this handler too): when not,
    // the loop ends without one more claim that would find nothing (a transaction of three round trips).
    let more = true;
    // A rescheduled timer runs again in a later run, even when its new due time has passed already (see `skip`).
    let rescheduled = false;
    // Read by the statement that ends the claimed timer, so it costs no round trip of its own.
    const moreDue = (id: number) => sql<boolean>`exists (select 1 from timers m where m.due_at <= ${now.toISOString()}::timestamptz and m.id <> ${id}${skip.length ? sql` and m.id not in ${skip}` : sql``})`;
    try {
      const got = await app.db.transaction(async (tx) => {
        const [timer] = await tx.select().from(schema.timers)
          .where(and(lte(schema.timers.dueAt, now), skip.length ? sql`${schema.timers.id} not in ${skip}` : undefined))
          .orderBy(schema.timers.dueAt, schema.timers.id).limit(1).for('update', { skipLocked: true });
        if (!timer) return false;
        claimedId = timer.id;
        attempts = timer.attempts;
        const handler = handlers[timer.kind];
        if (!handler) {
          app.log.error({ kind: timer.kind, subject: timer.subject }, 'no handler for timer kind; dropping it');
          await tx.delete(schema.timers).where(eq(schema.timers.id, timer.id));
          return true;
        }
        let outcome: TimerOutcome;
        try {
          // In a savepoint: a failing handler's writes are undone while the row stays locked, so its failure and backoff
          // are recorded before another runner can claim it (and cannot overwrite that runner's later outcome).
          outcome = await tx.transaction((sp) => handler(sp as Tx, timer, app, now));
        } catch (e) {
          app.log.error({ timerId: timer.id, kind: timer.kind, subject: timer.subject, err: (e as Error).message }, 'timer handler failed; will retry');
          await tx.update(schema.timers).set({
            attempts: timer.attempts + 1, lastError: (e as Error).message.slice(0, 2000), dueAt: new Date(now.getTime() + timerBackoffMs(timer.attempts + 1)),
          }).where(eq(schema.timers.id, timer.id));
          return 'failed' as const;
        }
        if (outcome && 'rescheduleAt' in outcome) {
          const [ended] = await tx.update(schema.timers).set({ dueAt: outcome.rescheduleAt, attempts: 0, lastError: null, ...(outcome.payload ? { payload: outcome.payload } : {}) })
            .where(eq(schema.timers.id, timer.id)).returning({ more: moreDue(timer.id) });
          more = ended?.more !== false;
          rescheduled = true;
        } else {
          const [ended] = await tx.delete(schema.timers).where(eq(schema.timers.id, timer.id)).returning({ more: moreDue(timer.id) });
          more = ended?.more !== false;
        }
        return true;
      });
      if (!got) break;
      options.onRan?.();
      if (got === 'failed') {
        failed++;
        skip.push(claimedId!);
        continue;
      }
      ran++;
      if (rescheduled) skip.push(claimedId!);
      if (!more) break;
    } catch (e) {
      failed++;
      if (claimedId === undefined) throw e;
      skip.push(claimedId);
      app.log.error({ timerId: claimedId, err: (e as Error).message }, 'timer handler failed; will retry');
      await app.db.update(schema.timers).set({
        attempts: attempts + 1, lastError: (e as Error).message.slice(0, 2000), dueAt: new Date(now.getTime() + timerBackoffMs(attempts + 1)),
      }).where(eq(schema.timers.id, claimedId));
    }
  }
  return { ran, failed };
}

/** Seconds the oldest due timer has waited (for /metrics). */
export async function timerLagSeconds(app: AppContext, now: Date): Promise<number> {
  const [row] = await app.db.select({ due: sql<Date | string | null>`min(${schema.timers.dueAt})` }).from(schema.timers);
  if (!row?.due) return 0;
  return Math.max(0, (now.getTime() - new Date(row.due).getTime()) / 1000);
}

/** A timer to schedule with `scheduleMany`; every one has a key. */
export interface KeyedTimer {
  kind: string;
  subject: string;
  dueAt: Date;
  key: string;
  payload?: Record<string, unknown>;
}

/** Schedules several keyed timers in one statement; an existing timer with the same key is replaced. */
export async function scheduleMany(tx: DbOrTx, timers: KeyedTimer[]): Promise<void> {
  if (timers.length === 0) return;
  await tx.insert(schema.timers)
    .values(timers.map((t) => ({ kind: t.kind, subject: t.subject, dueAt: t.dueAt, key: t.key, payload: t.payload ?? {}, attempts: 0, lastError: null })))
    .onConflictDoUpdate({
      target: schema.timers.key,
      set: { kind: sql`excluded.kind`, subject: sql`excluded.subject`, dueAt: sql`excluded.due_at`, payload: sql`excluded.payload`, attempts: 0, lastError: null },
    });
}
