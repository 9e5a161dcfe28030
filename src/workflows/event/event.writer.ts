/**
 * Group commit: the EventWriter commits the events of many concurrent requests together and answers each request only
 * after its events are durable.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AppContext } from '../../core/app.js';
import { withRetry } from './event.alerts.js';
import { applyEvents, type EventOutcome } from './event.ingest.js';
import type { IncomingEvent } from './event.parse.js';

interface Pending {
  events: IncomingEvent[];
  resolve: (outcomes: EventOutcome[]) => void;
  reject: (e: unknown) => void;
}

/** Counters for /metrics and benchmarks. */
export interface WriterStats {
  batches: number;
  events: number;
  retries: number;
}

/** One lane: a queue and one transaction at a time (group commit). */
class Lane {
  private queue: Pending[] = [];
  private running = false;

  private readonly yieldRounds: number;

  constructor(private readonly app: AppContext, private readonly kick: () => void, private readonly stats: WriterStats, private readonly maxEvents: number) {
    this.yieldRounds = app.database.driver === 'pglite' ? 16 : 1;
  }

  submit(events: IncomingEvent[]): Promise<EventOutcome[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        // Let pending socket reads run first, so requests that arrived meanwhile join this batch. An embedded database
        // works without yielding to I/O at all, so there it takes several rounds while requests keep arriving.
        for (let i = 0, seen = -1; i < this.yieldRounds && this.queue.length !== seen; i++) {
          seen = this.queue.length;
          for (let j = 0; j < 4; j++) await nextTurn();
        }
        const batch: Pending[] = [];
        let n = 0;
        while (this.queue.length && (n === 0 || n + this.queue[0]!.events.length <= this.maxEvents)) {
          const p = this.queue.shift()!;
          batch.push(p);
          n += p.events.length;
        }
        await this.write(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const events = batch.length === 1 ? batch[0]!.events : batch.flatMap((p) => p.events);
    try {
      const { outcomes, outbox } = await withRetry(this.app, (tx) => applyEvents(tx, this.app, events, this.app.clock.now()));
      this.stats.batches++;
      this.stats.events += events.length;
      let at = 0;
      for (const p of batch) {
        p.resolve(outcomes.slice(at, at + p.events.length));
        at += p.events.length;
      }
      if (outbox) this.kick();
    } catch (e) {
      if (batch.length > 1) {
        this.stats.retries++;
        for (const p of batch) await this.write([p]);
        return;
      }
      batch[0]!.reject(e);
    }
  }
}

/** FNV-1a of an event's Alertmanager group (else its key), to spread requests over lanes. */
function laneOf(e: IncomingEvent, lanes: number): number {
  let h = 0x811c9dc5;
  const text = `${e.integration}\u0000${e.groupKey ?? e.dedupKey}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}

/**
 * Group commit: requests hand their events in and wait; each lane writes everything that queued up meanwhile in one
 * transaction, then answers every request in it. A request goes to one lane as a whole (chosen by its key or its
 * Alertmanager group), so a body's alerts are committed together and concurrent requests for one key or group mostly
 * meet in the same lane. A batch that fails is retried request by request, so one bad request cannot fail the others.
 */
export class EventWriter {
  readonly stats: WriterStats = { batches: 0, events: 0, retries: 0 };
  private readonly lanes: Lane[];

  constructor(app: AppContext, kick: () => void, options: { lanes?: number; maxEvents?: number } = {}) {
    const n = Math.max(1, options.lanes ?? (app.database.driver === 'postgres' ? 2 : 1));
    this.lanes = Array.from({ length: n }, () => new Lane(app, kick, this.stats, options.maxEvents ?? 5000));
  }

  /** Stores events; resolves once they are committed. */
  async submit(events: IncomingEvent[]): Promise<EventOutcome[]> {
    if (events.length === 0) return [];
    return this.lanes[this.lanes.length === 1 ? 0 : laneOf(events[0]!, this.lanes.length)]!.submit(events);
  }
}

