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

/**
 * A timer whose work calls out (an HTTP request, another server): the call runs with no transaction open, so a slow or
 * hanging target holds neither the database (PGlite has one connection) nor the other due timers; its result is then
 * recorded in a transaction of its own. While the call runs the timer is leased: its due time is pushed `leaseMs` ahead,
 * so no other runner claims it, and if this process dies it comes due again and is retried (calls must be safe to
 * repeat: an idempotency key, a GRANT that is granted already).
 */
export interface TwoPhaseTimerHandler<R = unknown> {
  /** How long the call may take at most, with room to spare: the lease on the timer while it runs. */
  readonly leaseMs: number;
  /** The outside call, with no transaction open. Must not throw: a failure is part of the result. */
  call(timer: TimerRow, app: AppContext, now: Date): Promise<R>;
  /**
   * Records the call's result in the transaction that ends the timer, with the outcome of a plain handler. Not run when
   * the timer was cancelled or replaced while the call ran (the result is then dropped); a throw is a failed attempt.
   */
  settle(tx: Tx, timer: TimerRow, app: AppContext, now: Date, result: R): Promise<TimerOutcome>;
}

/** A timer handler of either shape. */
export type AnyTimerHandler = TimerHandler | TwoPhaseTimerHandler;

/** Outside calls of one run that may be open at once (the rest wait for one to finish). */
export const CALLS_IN_FLIGHT = 8;

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

/** How a claimed timer ended: ran (deleted or rescheduled), failed (backing off), or lost (cancelled or replaced during its call). */
interface Ended {
  status: 'ran' | 'failed' | 'lost';
  /** Whether another due timer may be waiting (read by the statement that ended this one). */
  more: boolean;
  rescheduled: boolean;
}

/** SQL: whether a timer other than `id` (and those skipped) is due at `now`. */
type MoreDue = (id: number) => ReturnType<typeof sql<boolean>>;

/**
 * Runs a handler's work in a savepoint of `tx` (which holds the timer's row locked) and ends the timer as it asks:
 * rescheduled, deleted, or, when the work throws, its writes undone and the failure recorded with a backoff (while the
 * row is still locked, so another runner cannot claim it first nor have its later outcome overwritten).
 */
async function endTimer(tx: Tx, app: AppContext, timer: TimerRow, now: Date, work: (sp: Tx) => Promise<TimerOutcome>, moreDue: MoreDue): Promise<Ended> {
  let outcome: TimerOutcome;
  try {
    outcome = await tx.transaction((sp) => work(sp as Tx));
  } catch (e) {
    app.log.error({ timerId: timer.id, kind: timer.kind, subject: timer.subject, err: (e as Error).message }, 'timer handler failed; will retry');
    await tx.update(schema.timers).set({
      attempts: timer.attempts + 1, lastError: (e as Error).message.slice(0, 2000), dueAt: new Date(now.getTime() + timerBackoffMs(timer.attempts + 1)),
    }).where(eq(schema.timers.id, timer.id));
    return { status: 'failed', more: true, rescheduled: false };
  }
  if (outcome && 'rescheduleAt' in outcome) {
    const [ended] = await tx.update(schema.timers).set({ dueAt: outcome.rescheduleAt, attempts: 0, lastError: null, ...(outcome.payload ? { payload: outcome.payload } : {}) })
      .where(eq(schema.timers.id, timer.id)).returning({ more: moreDue(timer.id) });
    return { status: 'ran', more: ended?.more !== false, rescheduled: true };
  }
  const [ended] = await tx.delete(schema.timers).where(eq(schema.timers.id, timer.id)).returning({ more: moreDue(timer.id) });
  return { status: 'ran', more: ended?.more !== false, rescheduled: false };
}

/** Records a failure outside the claiming transaction (that transaction itself failed); only while `dueAt` is still as given, if given. */
async function recordFailure(app: AppContext, id: number, attempts: number, e: unknown, now: Date, dueAt?: Date): Promise<void> {
  app.log.error({ timerId: id, err: (e as Error).message }, 'timer handler failed; will retry');
  await app.db.update(schema.timers).set({
    attempts: attempts + 1, lastError: (e as Error).message.slice(0, 2000), dueAt: new Date(now.getTime() + timerBackoffMs(attempts + 1)),
  }).where(and(eq(schema.timers.id, id), dueAt ? eq(schema.timers.dueAt, dueAt) : undefined));
}

/**
 * The second and third steps of a two-phase timer, after its lease committed: the call with no transaction open, then,
 * in a transaction that locks the timer again, its result settled, only if the timer is still there with the lease this
 * run took (not cancelled, replaced by `schedule`, or claimed again after the lease ran out). Never throws.
 */
async function callAndSettle(app: AppContext, timer: TimerRow, handler: TwoPhaseTimerHandler, leasedUntil: Date, now: Date, moreDue: MoreDue): Promise<Ended> {
  let result: unknown;
  let callError: unknown;
  try {
    result = await handler.call(timer, app, now);
  } catch (e) {
    callError = e; // a call should capture its failures; one that throws anyway is a failed attempt
  }
  try {
    return await app.db.transaction(async (tx) => {
      const [held] = await tx.select({ id: schema.timers.id }).from(schema.timers)
        .where(and(eq(schema.timers.id, timer.id), eq(schema.timers.dueAt, leasedUntil))).for('update');
      if (!held) {
        app.log.info({ timerId: timer.id, kind: timer.kind, subject: timer.subject }, 'timer cancelled or replaced during its call; its result is dropped');
        return { status: 'lost', more: false, rescheduled: false } satisfies Ended;
      }
      return endTimer(tx, app, timer, now, callError === undefined ? (sp) => handler.settle(sp, timer, app, now, result) : () => Promise.reject(callError), moreDue);
    });
  } catch (e) {
    await recordFailure(app, timer.id, timer.attempts, e, now, leasedUntil).catch((e2: unknown) => {
      app.log.error({ timerId: timer.id, err: (e2 as Error).message }, 'could not record a timer failure; its lease will run out and it is retried');
    });
    return { status: 'failed', more: true, rescheduled: false };
  }
}

/** The kinds whose handlers are two-phase (they call outside tread). */
export function twoPhaseKinds(handlers: Record<string, AnyTimerHandler>): string[] {
  return Object.keys(handlers).filter((k) => typeof handlers[k] !== 'function');
}

/** Options of a run of due timers. */
export interface RunOptions {
  /** Told after each timer's ending transaction committed. */
  onRan?: () => void;
  /**
   * Background runs: the run returns without waiting for the two-phase calls it started, handing over a promise of
   * their outcome and how many they are (a target that hangs then delays no timer that comes due meanwhile). At the
   * limit of calls in flight (this run's and `callsElsewhere`), a due two-phase timer is left for a later run instead
   * of waited for.
   */
  detach?: (settling: Promise<{ ran: number; failed: number }>, calls: number) => void;
  /** Calls still in flight from earlier detached runs (they count against CALLS_IN_FLIGHT). */
  callsElsewhere?: () => number;
}

/**
 * Runs timers due at `now`. Each is claimed in its own transaction with FOR UPDATE SKIP LOCKED, so replicas never run
 * one twice. A plain handler runs in that transaction. A two-phase handler's timer is leased there (its due time pushed
 * past the call) and the transaction committed; its call then runs with no transaction open, side by side with the
 * rest of the run (at most `CALLS_IN_FLIGHT` at once), and its result is settled in a transaction of its own; the run
 * returns once every call it started was settled (or at once, with `detach`). A timer runs at most once per call: one its handler rescheduled to a
 * time already passed runs again in the next run, so a handler that keeps its timer due cannot spin one run up to its
 * limit. `onRan` is told after each timer's ending transaction committed (the scheduler starts sending its messages).
 */
export async function runDue(app: AppContext, handlers: Record<string, AnyTimerHandler>, now: Date, limit = 200, options: RunOptions = {}): Promise<{ ran: number; failed: number }> {
  let ran = 0;
  let failed = 0;
  // Timers this run claimed that must not run again in it: rescheduled, failed, and leased (see above).
  const skip: number[] = [];
  // Read by the statement that ends a claimed timer, so it costs no round trip of its own.
  const moreDue: MoreDue = (id) => sql<boolean>`exists (select 1 from timers m where m.due_at <= ${now.toISOString()}::timestamptz and m.id <> ${id}${skip.length ? sql` and m.id not in ${skip}` : sql``})`;
  // Whether another due timer may be there (rows written meanwhile, by handlers too): when not, the loop ends (or waits
  // for open calls, whose settling may write some) without one more claim that would find nothing.
  let more = true;
  const calls = new Set<Promise<void>>();
  const count = (id: number, ended: Ended) => {
    if (ended.status === 'lost') return;
    options.onRan?.();
    if (ended.status === 'failed') {
      failed++;
      skip.push(id);
      return;
    }
    ran++;
    if (ended.rescheduled) skip.push(id);
  };
  const atCallLimit = () => calls.size + (options.callsElsewhere?.() ?? 0) >= CALLS_IN_FLIGHT;
  const twoPhase = twoPhaseKinds(handlers);
  /** Detached: the open calls go on after the run returns; their outcome is counted where they are handed. */
  const handOver = () => {
    if (calls.size === 0) return;
    const before = { ran, failed };
    options.detach!(Promise.all([...calls]).then(() => ({ ran: ran - before.ran, failed: failed - before.failed })), calls.size);
  };
  for (;;) {
    if (!more || ran + failed + calls.size >= limit || (!options.detach && calls.size >= CALLS_IN_FLIGHT)) {
      if (calls.size === 0 || options.detach) break;
      await Promise.race(calls);
      continue;
    }
    let claimed: TimerRow | undefined;
    let lease: { handler: TwoPhaseTimerHandler; until: Date } | undefined;
    try {
      const ended = await app.db.transaction(async (tx): Promise<Ended | 'none' | 'leased' | 'deferred'> => {
        // a background run at the limit of calls claims only plain timers (the others wait for a call to settle)
        const onlyPlain = options.detach && twoPhase.length && atCallLimit();
        const [timer] = await tx.select().from(schema.timers)
          .where(and(lte(schema.timers.dueAt, now), skip.length ? sql`${schema.timers.id} not in ${skip}` : undefined, onlyPlain ? sql`${schema.timers.kind} not in ${twoPhase}` : undefined))
          .orderBy(schema.timers.dueAt, schema.timers.id).limit(1).for('update', { skipLocked: true });
        if (!timer) return 'none';
        claimed = timer;
        const handler = handlers[timer.kind];
        if (!handler) {
          app.log.error({ kind: timer.kind, subject: timer.subject }, 'no handler for timer kind; dropping it');
          await tx.delete(schema.timers).where(eq(schema.timers.id, timer.id));
          return { status: 'ran', more: true, rescheduled: false };
        }
        if (typeof handler !== 'function') {
          // (a guard: the claim above leaves two-phase timers out at the limit) left due for a later run
          if (options.detach && atCallLimit()) return 'deferred';
          // From the later of the run's time and the clock's: a call started late in a long run keeps its full lease.
          const until = new Date(Math.max(now.getTime(), app.clock.now().getTime()) + handler.leaseMs);
          await tx.update(schema.timers).set({ dueAt: until }).where(eq(schema.timers.id, timer.id));
          lease = { handler, until };
          return 'leased';
        }
        return endTimer(tx, app, timer, now, (sp) => handler(sp, timer, app, now), moreDue);
      });
      if (ended === 'none') {
        more = false;
        continue;
      }
      if (ended === 'deferred') {
        skip.push(claimed!.id);
        continue;
      }
      if (ended === 'leased') {
        const timer = claimed!;
        const { handler, until } = lease!;
        skip.push(timer.id);
        const call: Promise<void> = callAndSettle(app, timer, handler, until, now, moreDue).then((settled) => {
          count(timer.id, settled);
          if (settled.more) more = true;
        }).finally(() => calls.delete(call));
        calls.add(call);
        continue;
      }
      count(claimed!.id, ended);
      more = ended.more;
    } catch (e) {
      if (claimed === undefined) {
        if (options.detach) handOver();
        else await Promise.all(calls);
        throw e;
      }
      failed++;
      skip.push(claimed.id);
      await recordFailure(app, claimed.id, claimed.attempts, e, now);
    }
  }
  if (options.detach) handOver();
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
