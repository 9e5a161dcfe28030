/**
 * Group commit with an intake: every request is answered only after its events are durable.
 * - Webhooks whose answer says nothing about single alerts (Alertmanager and Grafana bodies, kept as received;
 *   PagerDuty events) always go to the intake (event.intake.ts): written with the requests that arrive meanwhile (up to
 *   two writes per lane at once on PostgreSQL), answered after that commit, and
 *   applied by their lane in the order they were stored, before anything newer.
 * - A request whose answer tells what happened (the generic hook, alerts tread raises itself) is applied at once when
 *   its lane is idle (with the requests that arrive meanwhile, in one transaction), else stored in the intake too.
 * - While requests keep arriving, a lane stores them first and applies them together after the burst, at the latest
 *   MAX_APPLY_DELAY_MS after the oldest: a storm is answered at the rate tread can store events, not the rate it can
 *   correlate them (both rates are on /metrics and in bench:ingest), and nothing answered is lost.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { AppContext } from '../../core/app.js';
import { databaseUnavailable } from '../../core/errors.js';
import { withRetry } from './event.alerts.js';
import { applyEvents, type EventOutcome } from './event.ingest.js';
import { armDue, claimIntake, decodeIntake, failIntake, intakeBody, storeIntake, type ReceivedBody } from './event.intake.js';
import type { IncomingEvent } from './event.parse.js';

interface Pending {
  events: IncomingEvent[];
  /** The request's body as received, stored instead of the parsed events when it goes to the intake. */
  received?: ReceivedBody;
  resolve: (outcomes: EventOutcome[]) => void;
  reject: (e: unknown) => void;
}

/**
 * How a request's events are stored. `intake`: always through the intake, answered once stored (callers whose answer
 * says nothing about single alerts: the first requests of a burst applied at once would slow the writes of all the
 * others). `received`: the body as received, stored instead of the parsed events (batch bodies; implies `intake`).
 */
export interface SubmitOptions {
  intake?: boolean;
  received?: ReceivedBody;
}

/** Counters for /metrics and benchmarks. */
export interface WriterStats {
  /** Transactions that applied events. */
  batches: number;
  /** Events applied (deduplicated, correlated) by this process. */
  events: number;
  /** Events this process stored in the intake because their lane was busy. */
  queued: number;
  retries: number;
  /** Intake rows that failed on their own and were set aside. */
  failed: number;
}

/**
 * While requests keep arriving, storing them comes first: a lane applies its intake once no request has arrived or been
 * answered for BURST_LULL_MS, and at the latest MAX_APPLY_DELAY_MS after the oldest request it stored (Alertmanager flushes many
 * groups at once: their bodies are answered at the rate they can be stored, and applied together right after).
 */
export const BURST_LULL_MS = 15;
export const MAX_APPLY_DELAY_MS = 1000;

const queuedOutcomes = (events: IncomingEvent[]): EventOutcome[] => events.map((e) => ({ dedupKey: e.dedupKey, alertId: null, outcome: 'queued' }));

/**
 * One lane: one transaction at a time applies its intake rows, then the requests waiting for it. A request that arrives
 * while a transaction applies events, or while the intake holds rows of the lane, goes to the intake; otherwise it waits
 * for the next transaction (which starts at once).
 */
class Lane {
  private queue: Pending[] = [];
  private intake: Pending[] = [];
  private running = false;
  /** A transaction is applying events (requests that arrive now go to the intake). */
  private busy = false;
  /** Intake writes in flight: several at once, so the database flushes their commits together. */
  private stores = 0;
  /** The intake may hold rows of this lane (at start: a stopped process may have left some). */
  private due = true;
  /** When the last request went to the intake or was answered from it, and when the oldest one not applied yet was stored (performance.now()). */
  private lastArrival = -Infinity;
  private oldestStored: number | null = null;
  /** When this lane last armed its safety-net timer (app clock, ms). */
  private armedAt = -Infinity;

  private readonly yieldRounds: number;
  private readonly maxStores: number;

  constructor(private readonly app: AppContext, private readonly index: number, private readonly kick: () => void, private readonly stats: WriterStats, private readonly maxEvents: number, private readonly timing: { lullMs: number; maxDelayMs: number }) {
    this.yieldRounds = app.database.driver === 'pglite' ? 16 : 1;
    // An embedded database runs one statement at a time anyway. On PostgreSQL two writes per lane: requests that arrive
    // while one commits go into the next. With 32 concurrent single events (bench:ingest) two made about 1.4 commits per
    // 10 events; four made 1.8-2.5, with more server CPU per event and no higher rate; one was no faster.
    this.maxStores = app.database.driver === 'pglite' ? 1 : 2;
  }

  submit(events: IncomingEvent[], via: SubmitOptions = {}): Promise<EventOutcome[]> {
    const { received } = via;
    return new Promise((resolve, reject) => {
      if (via.intake || received || this.busy || this.due || this.stores > 0) {
        this.lastArrival = performance.now();
        this.intake.push({ events, received, resolve, reject });
        if (this.stores < this.maxStores) void this.store();
        return;
      }
      this.queue.push({ events, resolve, reject });
      void this.loop();
    });
  }

  /** Applies the lane's intake rows now (the safety-net timer, and start-up). */
  wake(): void {
    this.due = true;
    if (!this.running) void this.loop();
  }

  /** True while nothing is waiting, being stored or applied. */
  get idle(): boolean {
    return !this.running && this.stores === 0 && this.queue.length === 0 && this.intake.length === 0;
  }

  /**
   * Writes the waiting requests as intake rows, one statement per turn. Up to `maxStores` writes run at once: a request
   * that arrives while one waits for its commit goes into the next, and the database flushes their commits together.
   * Concurrent writes hold requests that were in flight together, so the order they commit in is free; a request sent
   * after another's answer gets a later row.
   */
  private async store(): Promise<void> {
    this.stores++;
    try {
      while (this.intake.length) {
        // requests that arrive meanwhile join this write
        for (let j = 0; j < 2; j++) await nextTurn();
        const batch = this.intake.splice(0, 256);
        if (batch.length === 0) break;
        try {
          const now = this.app.clock.now();
          const arm = armDue(this.armedAt, now);
          await storeIntake(this.app.db, this.index, batch.map((p) => intakeBody(p.events, p.received)), now, arm);
          if (arm) this.armedAt = now.getTime();
        } catch (e) {
          for (const p of batch) p.reject(e);
          continue;
        }
        this.oldestStored ??= performance.now();
        // the callers answered now may send their next request at once: that is still the burst
        this.lastArrival = performance.now();
        for (const p of batch) {
          this.stats.queued += p.events.length;
          p.resolve(queuedOutcomes(p.events));
        }
        this.wake();
      }
    } finally {
      this.stores--;
    }
  }

  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length || this.due) {
        // Let pending socket reads run first, so requests that arrived meanwhile join this batch. An embedded database
        // works without yielding to I/O at all, so there it takes several rounds while requests keep arriving.
        for (let i = 0, seen = -1; i < this.yieldRounds && this.queue.length !== seen; i++) {
          seen = this.queue.length;
          for (let j = 0; j < 4; j++) await nextTurn();
        }
        if (this.queue.length === 0) await this.lull();
        const batch: Pending[] = [];
        let n = 0;
        while (this.queue.length && (n === 0 || n + this.queue[0]!.events.length <= this.maxEvents)) {
          const p = this.queue.shift()!;
          batch.push(p);
          n += p.events.length;
        }
        this.due = false;
        if (await this.write(batch)) this.due = true;
      }
    } finally {
      this.running = false;
    }
    // a request stored while the last batch ran finds the lane stopped: start again
    if (this.queue.length || this.due) void this.loop();
  }

  /** Waits while requests keep arriving (see BURST_LULL_MS), at most until MAX_APPLY_DELAY_MS after the oldest stored one. */
  private async lull(): Promise<void> {
    const { lullMs, maxDelayMs } = this.timing;
    for (;;) {
      const now = performance.now();
      const writing = this.stores > 0 || this.intake.length > 0;
      // nothing of this process waits (rows another replica or an earlier process left): apply at once
      if (this.oldestStored === null && !writing) return;
      if (this.oldestStored !== null && now - this.oldestStored >= maxDelayMs) return;
      const quiet = now - this.lastArrival;
      if (quiet >= lullMs && !writing) return;
      const left = this.oldestStored === null ? lullMs : maxDelayMs - (now - this.oldestStored);
      await sleep(Math.max(1, Math.min(lullMs - quiet, left, lullMs)));
    }
  }

  /** Applies the lane's oldest intake rows and then `batch` in one transaction; true when intake rows are left. */
  private async write(batch: Pending[], withIntake = true): Promise<boolean> {
    const direct = batch.length === 1 ? batch[0]!.events : batch.flatMap((p) => p.events);
    let more = false;
    this.busy = direct.length > 0;
    try {
      const r = await withRetry(this.app, async (tx) => {
        if (withIntake) this.oldestStored = null;
        const claimed = withIntake ? await claimIntake(tx, this.index, Math.max(1, this.maxEvents - direct.length)) : { rows: [], more: false };
        const integrations = this.app.config.integrations;
        const stored = claimed.rows.length === 1 ? decodeIntake(claimed.rows[0]!, integrations) : claimed.rows.flatMap((row) => decodeIntake(row, integrations));
        if (stored.length) this.busy = true;
        const events = stored.length ? (direct.length ? [...stored, ...direct] : stored) : direct;
        const applied = events.length ? await applyEvents(tx, this.app, events, this.app.clock.now()) : { outcomes: [], outbox: false };
        return { ...applied, stored: stored.length, more: claimed.more };
      });
      more = r.more;
      this.busy = false;
      if (r.stored + direct.length) this.stats.batches++;
      this.stats.events += r.stored + direct.length;
      let at = r.stored;
      for (const p of batch) {
        p.resolve(r.outcomes.slice(at, at + p.events.length));
        at += p.events.length;
      }
      if (r.outbox) this.kick();
      return more;
    } catch (e) {
      this.busy = false;
      if (!withIntake && batch.length === 1) {
        batch[0]!.reject(e);
        return false;
      }
      // One bad request or row must not hold back the others: the intake row by row, then the requests one by one.
      this.stats.retries++;
      more = withIntake ? await this.soloIntake() : false;
      for (const p of batch) await this.write([p], false);
      return more;
    }
  }

  /** Applies intake rows one per transaction, setting aside a row that fails on its own; true when rows are left. */
  private async soloIntake(limit = 100): Promise<boolean> {
    for (let i = 0; i < limit; i++) {
      let id: number | undefined;
      try {
        const left = await withRetry(this.app, async (tx) => {
          const claimed = await claimIntake(tx, this.index, 1);
          const row = claimed.rows[0];
          id = row?.id;
          if (!row) return false;
          const events = decodeIntake(row, this.app.config.integrations);
          const r = await applyEvents(tx, this.app, events, this.app.clock.now());
          if (r.outbox) this.kick();
          this.stats.batches++;
          this.stats.events += events.length;
          return claimed.more;
        });
        if (!left) return false;
      } catch (e) {
        // The database itself failed (before the claim, or a dropped connection after it: the claim was rolled back and
        // the row is still there): nothing is set aside, the safety-net timer comes back.
        if (id === undefined || databaseUnavailable(e)) return false;
        this.stats.failed++;
        this.app.log.error({ err: e, lane: this.index, intakeId: id }, 'an intake row could not be applied; it is kept in event_intake with its error');
        await failIntake(this.app.db, this.index, id, (e as Error).message).catch((err) => this.app.log.error({ err }, 'could not set an intake row aside'));
      }
    }
    return true;
  }
}

/** FNV-1a of an event's Alertmanager group (else its key), to spread requests over lanes. */
function laneOf(e: IncomingEvent, lanes: number): number {
  let h = 0x811c9dc5;
  const text = `${e.integration}\u0000${e.groupKey ?? e.dedupKey}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}

const writers = new WeakMap<AppContext, EventWriter>();

/** The writer of a running tread (created with its routes). */
export function writerOf(app: AppContext): EventWriter | undefined {
  return writers.get(app);
}

/**
 * Lanes: a request goes to one lane as a whole (chosen by its Alertmanager group, else its key), so a body's alerts are
 * applied together, and one key's or group's events always meet in the same lane, in order. A batch that fails is
 * retried request by request, so one bad request cannot fail the others.
 */
export class EventWriter {
  readonly stats: WriterStats = { batches: 0, events: 0, queued: 0, retries: 0, failed: 0 };
  private readonly lanes: Lane[];

  constructor(app: AppContext, kick: () => void, options: { lanes?: number; maxEvents?: number; lullMs?: number; maxDelayMs?: number } = {}) {
    const n = Math.max(1, options.lanes ?? (app.database.driver === 'postgres' ? 2 : 1));
    const timing = { lullMs: options.lullMs ?? BURST_LULL_MS, maxDelayMs: options.maxDelayMs ?? MAX_APPLY_DELAY_MS };
    // An embedded database applies on this process's only thread, where requests wait meanwhile: smaller transactions.
    const maxEvents = options.maxEvents ?? (app.database.driver === 'pglite' ? 1000 : 5000);
    this.lanes = Array.from({ length: n }, (_, i) => new Lane(app, i, kick, this.stats, maxEvents, timing));
    writers.set(app, this);
    for (const lane of this.lanes) lane.wake();
  }

  /** Stores events; resolves once they are durable: applied (with outcomes), or in the intake (`queued`). */
  async submit(events: IncomingEvent[], via: SubmitOptions = {}): Promise<EventOutcome[]> {
    if (events.length === 0) return [];
    return this.lanes[this.lanes.length === 1 ? 0 : laneOf(events[0]!, this.lanes.length)]!.submit(events, via);
  }

  /** Applies a lane's intake rows now (the lane index is shared by every replica). */
  wake(lane: number): void {
    this.lanes[lane]?.wake();
  }

  /** Applies every lane's intake rows now. */
  wakeAll(): void {
    for (const lane of this.lanes) lane.wake();
  }

  /** Resolves once every lane of this process is idle (tests and benchmarks; rows of other replicas may remain). */
  async settled(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lanes.every((l) => l.idle)) {
      if (Date.now() > deadline) throw new Error('event lanes still busy');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
