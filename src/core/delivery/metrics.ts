/** What delivery counts for /metrics: calls to the platforms by method and outcome, and the outbox's own figures. */
import { Histogram, renderFamily, type MetricFamily } from '../metrics.js';

/** How a platform call ended. */
export type CallOutcome = 'ok' | 'rate_limited' | 'error';

const key = (...parts: string[]) => parts.join('\u0000');
const parts = (k: string) => k.split('\u0000');

function bump(map: Map<string, number>, k: string, by = 1): void {
  map.set(k, (map.get(k) ?? 0) + by);
}

/** Calls to chat platforms, per platform and method (one instance for the process; the pacers report into it). */
export class CallStats {
  private readonly calls = new Map<string, number>();
  private readonly deferrals = new Map<string, number>();
  private readonly stalls = new Map<string, number>();
  private readonly waits = new Map<string, number>();
  private readonly durations = new Histogram('tread_chat_call_duration_seconds', 'Duration of calls to chat platforms, by platform and method', [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

  /** A call that was made, with how it ended. */
  call(platform: string, method: string, outcome: CallOutcome, ms: number): void {
    bump(this.calls, key(platform, method, outcome));
    this.durations.observe({ platform, method }, ms / 1000);
  }

  /** A call not made because its lane was blocked or over budget (its outbox row comes back later). */
  deferred(platform: string, method: string): void {
    bump(this.deferrals, key(platform, method));
  }

  /** A call that waited `ms` for its slot before it was made. */
  waited(platform: string, method: string, ms: number): void {
    bump(this.waits, key(platform, method), ms / 1000);
  }

  /** A call that took so long its lane let the next call go (see Pacer `stallMs`). */
  stalled(platform: string, method: string): void {
    bump(this.stalls, key(platform, method));
  }

  /** Calls made so far of a platform's method, by outcome (tests, benchmarks). */
  count(platform: string, method: string, outcome?: CallOutcome): number {
    let n = 0;
    for (const [k, v] of this.calls) {
      const [p, m, o] = parts(k);
      if (p === platform && m === method && (!outcome || o === outcome)) n += v;
    }
    return n;
  }

  /** The metric text. */
  render(): string {
    const samples = (map: Map<string, number>, names: string[]) => [...map].map(([k, value]) => ({ labels: Object.fromEntries(parts(k).map((v, i) => [names[i]!, v])), value }));
    const families: MetricFamily[] = [
      { name: 'tread_chat_calls_total', type: 'counter', help: 'Calls to chat platforms by platform, method and outcome (ok, rate_limited: answered 429, error)', samples: samples(this.calls, ['platform', 'method', 'outcome']) },
      { name: 'tread_chat_calls_deferred_total', type: 'counter', help: 'Calls not made because the method was inside a Retry-After window or over its budget (the outbox row was rescheduled)', samples: samples(this.deferrals, ['platform', 'method']) },
      { name: 'tread_chat_call_wait_seconds_total', type: 'counter', help: 'Time calls waited for their slot before they were made', samples: samples(this.waits, ['platform', 'method']) },
      { name: 'tread_chat_calls_stalled_total', type: 'counter', help: 'Calls that took so long the next call of their method was let go', samples: samples(this.stalls, ['platform', 'method']) },
    ];
    return [...families.map(renderFamily), this.durations.render()].join('\n\n');
  }
}

/** Why an outbox row was sent back to wait. */
export type RetryReason = 'rate_limited' | 'failed';

/** The outbox dispatcher's counters in this process. */
export class DeliveryStats {
  sent = 0;
  failed = 0;
  dead = 0;
  /** Cards whose message id was already recorded for another card (see CardConflictError). */
  conflicts = 0;
  private readonly retries = new Map<string, number>();
  private readonly latency = new Histogram('tread_outbox_delivery_seconds', 'Time from the commit that wrote an outbox row to its delivery, by kind', [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);

  /** A row sent back to wait, by its kind and why. */
  retried(kind: string, reason: RetryReason): void {
    bump(this.retries, key(kind, reason));
  }

  /** A row delivered `seconds` after the commit that wrote it. */
  delivered(kind: string, seconds: number): void {
    this.sent++;
    this.latency.observe({ kind }, seconds);
  }

  /** Rows of `kind` sent back to wait (tests, benchmarks). */
  retriesOf(kind: string, reason?: RetryReason): number {
    let n = 0;
    for (const [k, v] of this.retries) {
      const [kd, r] = parts(k);
      if (kd === kind && (!reason || r === reason)) n += v;
    }
    return n;
  }

  /** The metric text. */
  render(): string {
    return [
      renderFamily({ name: 'tread_outbox_sent_total', type: 'counter', help: 'Outbox messages sent by this process', samples: [{ value: this.sent }] }),
      renderFamily({ name: 'tread_outbox_failures_total', type: 'counter', help: 'Outbox send failures in this process', samples: [{ value: this.failed }] }),
      renderFamily({ name: 'tread_outbox_dead_total', type: 'counter', help: 'Outbox messages given up (dead letters) by this process', samples: [{ value: this.dead }] }),
      renderFamily({ name: 'tread_outbox_retries_total', type: 'counter', help: 'Outbox rows sent back to wait, by kind and reason (rate_limited: a Retry-After or a budget; failed: an error, with backoff)', samples: [...this.retries].map(([k, value]) => { const [kind, reason] = parts(k); return { labels: { kind: kind!, reason: reason! }, value }; }) }),
      renderFamily({ name: 'tread_chat_card_conflicts_total', type: 'counter', help: 'Posted messages whose id was already recorded for another card (not recorded; the outbox row is dead)', samples: [{ value: this.conflicts }] }),
      this.latency.render(),
    ].join('\n\n');
  }
}
