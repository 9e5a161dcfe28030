/**
 * The pacer: keeps calls to a chat platform inside its limits without sleeping while other work waits.
 *
 * A call goes through one or more lanes (Slack: `chat.update` for the workspace; `chat.postMessage` for the workspace and
 * for its channel; Teams: the conversation and the bot). Each lane has budgets (at most `limit` calls per `perMs`, with
 * bursts of `burst`, as a GCRA: evenly spaced at the budget's rate, `burst` of them back to back), at most `maxInFlight`
 * calls at once, and a Retry-After block set by the platform's 429 that stops every call of the lane until it ends.
 * A call that would wait longer than `maxInlineWaitMs` (a low-priority call: at all) is not made: the pacer throws
 * RateLimitedError with the wait, and the outbox reschedules its row (available_at) and sends other rows meanwhile. A call in flight longer than `stallMs`
 * stops counting against `maxInFlight`, so a hung call holds only its own record.
 */
import { RateLimitedError, SupersededError } from '../errors.js';
import { shareOf } from './delivery.config.js';
import { stillWanted } from './context.js';
import type { CallStats } from './metrics.js';

/**
 * At most `limit` calls per `perMs` milliseconds: evenly spaced with `burst` of them back to back (default 1), or, with
 * `window`, any `limit` calls in any window of `perMs` (how Teams states its limits: 7 a second, 60 in 30 seconds).
 */
export interface Budget {
  limit: number;
  perMs: number;
  burst?: number;
  window?: boolean;
}

/** One lane a call goes through. */
export interface Lane {
  /** Identifies the lane within the pacer (`T0123:chat.update`, `T0123:chat.postMessage:C0456`). */
  key: string;
  budgets: readonly Budget[];
  /** Calls of this lane in flight at once (default unbounded). */
  maxInFlight?: number;
  /** A 429 of a call through this lane blocks the whole lane for its Retry-After (Slack: the method for the workspace). */
  retryAfterScope?: boolean;
}

/** How one call is paced. */
export interface CallSpec {
  /** The method, for metrics (`chat.update`, `updateActivity`). */
  method: string;
  lanes: readonly Lane[];
  /** Higher goes first when calls wait for a lane (the outbox row's priority). */
  priority?: number;
}

/** Options of a pacer. */
export interface PacerOptions {
  /** Waits up to this long are waited out by the call itself; longer ones hand the row back to the outbox (default 1500). */
  maxInlineWaitMs?: number;
  /** A call in flight longer than this no longer holds its lane's in-flight slot (default 1000). */
  stallMs?: number;
  /** Metrics by method. */
  stats?: CallStats;
  /** Milliseconds now (tests). */
  now?: () => number;
}

/** Told of every Retry-After window a platform announced, so other processes can hold back too. */
export type BlockListener = (key: string, until: number) => void;

interface Waiter {
  priority: number;
  seq: number;
  wake: () => void;
}

interface LaneState {
  /** Theoretical arrival time per budget (GCRA). */
  tat: number[];
  /** Times of the last calls per window budget, oldest first. */
  log: number[][];
  blockedUntil: number;
  inFlight: number;
  waiters: Waiter[];
  /**
   * By priority: where the last call sent back to the outbox was told to come back (the next one comes one interval
   * later, so deferred rows do not all wake at once and find the lane taken again).
   */
  horizon: Map<number, number>;
  /** When the lane was last used (idle lanes are forgotten). */
  usedAt: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The pacer of one platform connection (one Slack workspace, one Teams bot). */
export class Pacer {
  readonly maxInlineWaitMs: number;
  readonly stallMs: number;
  private readonly lanes = new Map<string, LaneState>();
  private readonly now: () => number;
  private seq = 0;
  /** Told of each Retry-After window (the dispatcher shares them with other replicas through the database). */
  onBlocked: BlockListener | undefined;
  /** Processes sending through the same platform connection: each keeps this share of every budget. */
  private replicaCount = 1;
  /** Lanes' budgets as shared now (by the lane's budget list; cleared when the replica count changes). */
  private shares = new WeakMap<readonly Budget[], readonly Budget[]>();

  constructor(readonly platform: string, private readonly options: PacerOptions = {}) {
    this.maxInlineWaitMs = options.maxInlineWaitMs ?? 1500;
    this.stallMs = options.stallMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The processes sharing the platform's budgets (the dispatcher counts them); this one keeps `1 / n` of each. */
  get replicas(): number {
    return this.replicaCount;
  }

  setReplicas(n: number): void {
    const count = Math.max(1, Math.floor(n));
    if (count === this.replicaCount) return;
    this.replicaCount = count;
    this.shares = new WeakMap();
  }

  /** A lane's budgets as this process's share of them. */
  private budgetsOf(lane: Lane): readonly Budget[] {
    if (this.replicaCount === 1) return lane.budgets;
    let shared = this.shares.get(lane.budgets);
    if (!shared) this.shares.set(lane.budgets, shared = lane.budgets.map((b) => shareOf(b, this.replicaCount)));
    return shared;
  }

  /**
   * Makes `call` within the lanes' limits: waits out short waits, throws RateLimitedError for long ones (the call is not
   * made). A RateLimitedError the call itself throws (the platform's 429) blocks the lanes with `retryAfterScope`.
   */
  async run<T>(spec: CallSpec, call: () => Promise<T>): Promise<T> {
    const states = spec.lanes.map((l) => this.state(l));
    const priority = spec.priority ?? 1;
    const wait = this.waitFor(spec.lanes, states);
    // Low priority (counters on a busy card) never holds a slot ahead: it comes back when its turn is near, so a more
    // urgent call written meanwhile takes the next slot.
    if (wait > (priority <= 0 ? 0 : this.maxInlineWaitMs)) throw this.defer(spec, states, wait, priority);
    // The slot is ours from here: later calls queue behind it.
    this.reserve(spec.lanes, states, wait);
    if (wait > 0) {
      this.options.stats?.waited(this.platform, spec.method, wait);
      await sleep(wait);
    }
    const queued = await this.enter(spec.lanes, states, priority);
    // A 429 that came back while this call waited for its turn: do not call inside the window.
    const blocked = Math.max(...states.map((s) => s.blockedUntil)) - this.now();
    if (blocked > 0) {
      this.leave(spec.lanes, states);
      throw this.defer(spec, states, blocked, priority);
    }
    // Overtaken while it waited (a newer update of the same card was written): the slot goes to the next call.
    if ((wait > 0 || queued) && !(await stillWanted().catch(() => true))) {
      this.leave(spec.lanes, states);
      throw new SupersededError(`${this.platform} ${spec.method}: a newer version was written while this one waited`);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.leave(spec.lanes, states);
    };
    const stall = setTimeout(() => {
      this.options.stats?.stalled(this.platform, spec.method);
      release();
    }, this.stallMs);
    stall.unref?.();
    const started = this.now();
    try {
      const result = await call();
      this.options.stats?.call(this.platform, spec.method, 'ok', this.now() - started);
      return result;
    } catch (e) {
      if (e instanceof RateLimitedError) {
        const until = this.now() + e.retryAfterMs;
        spec.lanes.forEach((lane, i) => {
          if (!lane.retryAfterScope) return;
          states[i]!.blockedUntil = Math.max(states[i]!.blockedUntil, until);
          this.onBlocked?.(lane.key, until);
        });
        this.options.stats?.call(this.platform, spec.method, 'rate_limited', this.now() - started);
      } else {
        this.options.stats?.call(this.platform, spec.method, 'error', this.now() - started);
      }
      throw e;
    } finally {
      clearTimeout(stall);
      // Blocked (above) before the slot is given to the next call, which then sees the block.
      release();
    }
  }

  /** Milliseconds until a call through `lanes` could start (0: now). */
  waitMs(lanes: readonly Lane[]): number {
    return this.waitFor(lanes, lanes.map((l) => this.state(l)));
  }

  /** Blocks a lane until `until` (epoch ms), as a 429 does. */
  block(key: string, until: number): void {
    const s = this.lanes.get(key);
    if (s) s.blockedUntil = Math.max(s.blockedUntil, until);
    else this.lanes.set(key, { tat: [], log: [], blockedUntil: until, inFlight: 0, waiters: [], horizon: new Map(), usedAt: this.now() });
  }

  /** Epoch ms until which a lane is blocked by a Retry-After (0 when it is not). */
  blockedUntil(key: string): number {
    const until = this.lanes.get(key)?.blockedUntil ?? 0;
    return until > this.now() ? until : 0;
  }

  private state(lane: Lane): LaneState {
    let s = this.lanes.get(lane.key);
    const now = this.now();
    if (!s) {
      if (this.lanes.size > 20_000) this.forgetIdle(now);
      s = { tat: [], log: [], blockedUntil: 0, inFlight: 0, waiters: [], horizon: new Map(), usedAt: now };
      this.lanes.set(lane.key, s);
    }
    s.usedAt = now;
    return s;
  }

  private forgetIdle(now: number): void {
    for (const [key, s] of this.lanes) {
      if (s.inFlight === 0 && s.waiters.length === 0 && s.blockedUntil < now && s.usedAt < now - 3_600_000) this.lanes.delete(key);
    }
  }

  /** The wait before the lanes allow a call: the longest of their Retry-After blocks and budget slots. */
  private waitFor(lanes: readonly Lane[], states: LaneState[]): number {
    return Math.max(0, ...this.laneWaits(lanes, states));
  }

  /** Each lane's wait: its Retry-After block or its next budget slot, whichever is later. */
  private laneWaits(lanes: readonly Lane[], states: LaneState[]): number[] {
    const now = this.now();
    return lanes.map((lane, i) => {
      const s = states[i]!;
      let at = Math.max(now, s.blockedUntil);
      this.budgetsOf(lane).forEach((b, j) => {
        if (b.window) {
          const log = s.log[j] ?? [];
          if (log.length >= b.limit) at = Math.max(at, log[log.length - b.limit]! + b.perMs);
          return;
        }
        const interval = b.perMs / b.limit;
        const tolerance = (Math.max(1, b.burst ?? 1) - 1) * interval;
        at = Math.max(at, (s.tat[j] ?? 0) - tolerance);
      });
      return at - now;
    });
  }

  /** Takes the next slot of every budget (GCRA: the theoretical arrival time moves one interval on; a window logs the call). */
  private reserve(lanes: readonly Lane[], states: LaneState[], wait: number): void {
    const now = this.now();
    lanes.forEach((lane, i) => {
      const s = states[i]!;
      this.budgetsOf(lane).forEach((b, j) => {
        if (b.window) {
          const log = (s.log[j] ??= []);
          log.push(now + wait);
          if (log.length > b.limit) log.splice(0, log.length - b.limit);
          return;
        }
        const interval = b.perMs / b.limit;
        s.tat[j] = Math.max(s.tat[j] ?? 0, now) + interval;
      });
    });
  }

  /**
   * The error that hands a call back to the outbox. Below high priority (2), a row is told to come back one interval
   * after the last row sent back to the same lane at its priority, so rows waiting for one lane come back one by one.
   */
  private defer(spec: CallSpec, states: LaneState[], _wait: number, priority: number): RateLimitedError {
    const now = this.now();
    const waits = this.laneWaits(spec.lanes, states);
    let at = now + Math.max(0, ...waits);
    if (priority < 2) {
      spec.lanes.forEach((lane, i) => {
        if (waits[i]! <= 0) return;
        const interval = Math.max(0, ...this.budgetsOf(lane).map((b) => b.perMs / b.limit));
        const last = states[i]!.horizon.get(priority);
        if (last !== undefined && last > now) at = Math.max(at, last + interval);
      });
      spec.lanes.forEach((_, i) => { if (waits[i]! > 0) states[i]!.horizon.set(priority, at); });
    }
    this.options.stats?.deferred(this.platform, spec.method);
    const blocked = Math.max(...states.map((s) => s.blockedUntil)) > now;
    const ms = Math.ceil(at - now);
    return new RateLimitedError(ms, `${this.platform} ${spec.method}: ${blocked ? 'inside a Retry-After window' : 'over its budget'}, next slot in ${ms} ms`);
  }

  /** Waits for an in-flight slot on every lane (highest priority first, then in arrival order); true when it had to wait. */
  private async enter(lanes: readonly Lane[], states: LaneState[], priority: number): Promise<boolean> {
    const seq = ++this.seq;
    let queued = false;
    for (;;) {
      const full = lanes.findIndex((l, i) => l.maxInFlight !== undefined && states[i]!.inFlight >= l.maxInFlight);
      if (full < 0) break;
      queued = true;
      const s = states[full]!;
      await new Promise<void>((wake) => {
        s.waiters.push({ priority, seq, wake });
        s.waiters.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      });
    }
    for (const s of states) s.inFlight++;
    return queued;
  }

  private leave(lanes: readonly Lane[], states: LaneState[]): void {
    lanes.forEach((_, i) => {
      const s = states[i]!;
      s.inFlight = Math.max(0, s.inFlight - 1);
      s.waiters.shift()?.wake();
    });
  }
}
