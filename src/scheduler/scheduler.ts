/** The scheduler: a node-cron tick that runs due timers and flushes the outbox. Thin by design. */
import cron, { type ScheduledTask } from 'node-cron';
import type { AppContext } from '../core/app.js';
import type { Dispatcher } from '../core/dispatcher.js';
import { runDue, type TimerHandler } from '../core/timers.js';

/** Ticks every `everySeconds` seconds. */
export class Scheduler {
  private task: ScheduledTask | undefined;
  private ticking: Promise<void> | undefined;
  lastTickAt: Date | undefined;

  constructor(
    private readonly app: AppContext,
    private readonly handlers: Record<string, TimerHandler>,
    private readonly dispatcher: Dispatcher | undefined,
    private readonly everySeconds = 5,
  ) {}

  /** Starts ticking. */
  start(): void {
    this.task = cron.schedule(`*/${this.everySeconds} * * * * *`, () => { void this.tick(); }, { noOverlap: true });
  }

  /** One tick: run due timers, then send what they wrote. Overlapping calls share the running tick. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        this.lastTickAt = new Date();
        await runDue(this.app, this.handlers, this.app.clock.now());
        await this.dispatcher?.flush();
      } catch (e) {
        this.app.log.error({ err: (e as Error).message }, 'scheduler tick failed');
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  /** Stops ticking and waits for a running tick to finish. */
  async stop(): Promise<void> {
    await this.task?.stop();
    this.task = undefined;
    await this.ticking;
  }
}
