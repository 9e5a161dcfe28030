/**
 * The scheduler: runs due timers and hands what they wrote to the outbox dispatcher. Thin by design: a node-cron tick
 * every few seconds, and a wake-up at the next timer's due time, so a page due in 8 seconds goes out in 8 seconds, not
 * at the tick after.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../db/client.js';
import type { AppContext } from '../core/app.js';
import type { Dispatcher } from '../core/delivery/dispatcher.js';
import { CALLS_IN_FLIGHT, runDue, twoPhaseKinds, type AnyTimerHandler, type RunOptions } from '../core/timers.js';

/** How often a change may make the scheduler look for its next due timer again. */
const POKE_MS = 100;

/** Ticks every `everySeconds` seconds, and at the next due timer in between. */
export class Scheduler {
  private task: ScheduledTask | undefined;
  private ticking: Promise<void> | undefined;
  /** Timer runs one after another (a background run and a test's tick never claim side by side). */
  private serial: Promise<unknown> = Promise.resolve();
  /** A background run waiting for its turn: every kick meanwhile is covered by it. */
  private queuedRun: Promise<void> | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private poked: NodeJS.Timeout | undefined;
  private started = false;
  lastTickAt: Date | undefined;
  /** Two-phase timer calls a background run started and did not wait for (stop() waits for them). */
  private readonly detached = new Set<Promise<void>>();
  private callsInFlight = 0;
  /** Timers this process ran (their handler committed) and that failed, since it started (`tread_timers_run_total`). */
  readonly timersRun = { ran: 0, failed: 0 };
  private readonly twoPhaseKinds: string[];

  constructor(
    private readonly app: AppContext,
    private readonly handlers: Record<string, AnyTimerHandler>,
    private readonly dispatcher: Dispatcher | undefined,
    private readonly everySeconds = 5,
  ) {
    this.twoPhaseKinds = twoPhaseKinds(handlers);
  }

  /** Starts ticking, and waking at due times. */
  start(): void {
    this.started = true;
    this.task = cron.schedule(`*/${this.everySeconds} * * * * *`, () => { void this.run(); }, { noOverlap: true });
    void this.arm();
  }

  /**
   * One tick for callers that wait for its outcome (tests, the console after each line): run due timers (and wait for
   * the calls of two-phase ones, a background run's too), then send what they wrote and wait for it. Overlapping calls
   * share the running tick.
   */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        await this.exclusive(() => this.runTimers());
        // calls a background run started (an after-commit run, say) settle too, and what they made due runs
        while (this.detached.size) {
          await Promise.all(this.detached);
          await this.exclusive(() => this.runTimers());
        }
        await this.dispatcher?.flush();
      } catch (e) {
        this.app.log.error({ err: (e as Error).message }, 'scheduler tick failed');
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  /** A change may have scheduled a timer sooner than the next wake-up: look again (at most every 100 ms). */
  poke(): void {
    if (!this.started || this.poked) return;
    this.poked = setTimeout(() => {
      this.poked = undefined;
      void this.arm();
    }, POKE_MS);
    this.poked.unref?.();
  }

  /** Stops ticking and waits for a running tick to finish. */
  async stop(): Promise<void> {
    this.started = false;
    await this.task?.stop();
    this.task = undefined;
    clearTimeout(this.wakeTimer);
    clearTimeout(this.poked);
    await this.serial;
    await this.ticking;
    await Promise.all(this.detached);
  }

  /**
   * A background run (the cron tick, a wake-up, a change that scheduled a timer due now): due timers, each one's messages
   * handed to the dispatcher as soon as it committed, without waiting for their delivery.
   */
  run(): Promise<void> {
    if (this.queuedRun) return this.queuedRun;
    const run = this.exclusive(async () => {
      this.queuedRun = undefined;
      await this.runTimers(true);
    }).catch((e) => this.app.log.error({ err: (e as Error).message }, 'scheduler tick failed')).then(() => this.arm());
    this.queuedRun = run;
    return run;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const p = this.serial.then(work);
    this.serial = p.catch(() => undefined);
    return p;
  }

  /**
   * Runs due timers. A background run (`detach`) does not wait for the outside calls of two-phase timers (a webhook, a
   * connector): they settle on their own, so a target that hangs until its timeout delays no timer that comes due
   * meanwhile (an escalation, a reminder). A waiting tick (tests, the console) waits for them.
   */
  private async runTimers(detach = false): Promise<void> {
    this.lastTickAt = new Date();
    const options: RunOptions = { onRan: () => this.dispatcher?.kick() };
    if (detach) {
      options.callsElsewhere = () => this.callsInFlight;
      options.detach = (settling, calls) => {
        this.callsInFlight += calls;
        const done: Promise<void> = settling.then(({ ran, failed }) => {
          this.timersRun.ran += ran;
          this.timersRun.failed += failed;
        }, (e: unknown) => this.app.log.error({ err: (e as Error).message }, 'settling timer calls failed')).finally(() => {
          this.callsInFlight -= calls;
          this.detached.delete(done);
          this.dispatcher?.kick();
          // what they settled may have made timers due (a retry, a next step), and deferred ones wait
          if (this.started) void this.run();
        });
        this.detached.add(done);
      };
    }
    for (;;) {
      const { ran, failed } = await runDue(this.app, this.handlers, this.app.clock.now(), 200, options);
      this.timersRun.ran += ran;
      this.timersRun.failed += failed;
      if (ran + failed < 200) break;
    }
    this.dispatcher?.kick();
  }

  /** Sets the wake-up to the next timer's due time (the cron tick covers timers other processes write meanwhile). */
  private async arm(): Promise<void> {
    if (!this.started) return;
    let next: number | undefined;
    try {
      // At the limit of calls in flight, due two-phase timers wait for a call to settle (which runs again): waking for
      // them now would only defer them again, in a loop.
      const waiting = this.callsInFlight >= CALLS_IN_FLIGHT ? this.twoPhaseKinds : [];
      const [row] = await queryRows<{ due: Date | string | null }>(this.app.db, sql`select min(due_at) as due from timers${waiting.length ? sql` where kind not in ${waiting}` : sql``}`);
      if (row?.due) next = new Date(row.due).getTime();
    } catch (e) {
      this.app.log.warn({ err: (e as Error).message }, 'scheduler: could not read the next due timer');
      return;
    }
    if (next === undefined || !this.started) return;
    // Capped, so a clock change or a timer another process wrote later is picked up by a fresh look.
    const wait = Math.min(3_600_000, Math.max(0, next - this.app.clock.now().getTime()));
    const at = Date.now() + wait;
    if (this.wakeTimer && at >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Infinity;
      void this.run();
    }, wait);
    this.wakeTimer.unref?.();
  }
}
