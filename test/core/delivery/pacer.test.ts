/** The pacer on its own: budgets with bursts, Retry-After blocks of a whole method, in-flight limits, stalls, priorities. */
import { describe, expect, it } from 'vitest';
import { budgetsFor, parseBudget, shareOf } from '../../../src/core/delivery/delivery.config.js';
import { CallStats } from '../../../src/core/delivery/metrics.js';
import { Pacer, type Lane } from '../../../src/core/delivery/pacer.js';
import { RateLimitedError } from '../../../src/core/errors.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('Pacer', () => {
  it('spaces calls at the budget\'s rate after a burst, and waits short waits out itself', async () => {
    const pacer = new Pacer('test', { maxInlineWaitMs: 1000 });
    const lane: Lane = { key: 'C1', budgets: [{ limit: 1, perMs: 100, burst: 2 }] };
    const started = Date.now();
    const at: number[] = [];
    await Promise.all([0, 1, 2, 3].map(() => pacer.run({ method: 'post', lanes: [lane] }, async () => { at.push(Date.now() - started); })));
    at.sort((a, b) => a - b);
    // Two back to back (the burst), then one every 100 ms.
    expect(at[1]!).toBeLessThan(60);
    expect(at[2]!).toBeGreaterThanOrEqual(90);
    expect(at[3]!).toBeGreaterThanOrEqual(190);
  });

  it('a window budget lets any `limit` calls through in any window, then waits for the oldest to leave it (Teams)', async () => {
    const pacer = new Pacer('teams', { maxInlineWaitMs: 1000 });
    const lane: Lane = { key: 'conv', budgets: [{ limit: 3, perMs: 150, window: true }] };
    const started = Date.now();
    const at: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map(() => pacer.run({ method: 'sendActivity', lanes: [lane] }, async () => { at.push(Date.now() - started); })));
    at.sort((a, b) => a - b);
    expect(at[2]!).toBeLessThan(60);
    expect(at[3]!).toBeGreaterThanOrEqual(145);
    expect(at[4]!).toBeGreaterThanOrEqual(145);
    for (let i = 3; i < at.length; i++) expect(at[i]! - at[i - 3]!).toBeGreaterThanOrEqual(145);
  });

  it('gives each of several replicas its share of a budget, and follows the replica count as it changes', async () => {
    expect(shareOf({ limit: 50, perMs: 60_000, window: true }, 2)).toEqual({ limit: 25, perMs: 60_000, window: true });
    expect(shareOf({ limit: 1, perMs: 200, burst: 5 }, 2)).toEqual({ limit: 1, perMs: 400, burst: 5 });
    expect(shareOf({ limit: 3, perMs: 1000, window: true }, 8)).toEqual({ limit: 1, perMs: 1000, window: true });
    expect(budgetsFor({ m: [{ limit: 50, perMs: 60_000 }] }, { c: [{ limit: 1, perMs: 1000, burst: 3 }] })).toEqual({ m: [{ limit: 50, perMs: 60_000 }], c: [{ limit: 1, perMs: 1000, burst: 3 }] });

    let now = 0;
    const pacer = new Pacer('slack', { maxInlineWaitMs: 0, now: () => now });
    const lane: Lane = { key: 'T1:chat.update', budgets: [{ limit: 50, perMs: 60_000 }] };
    const next = () => pacer.run({ method: 'chat.update', lanes: [lane] }, async () => 0).then(() => 0, (e: RateLimitedError) => e.retryAfterMs);
    pacer.setReplicas(2);
    expect(pacer.replicas).toBe(2);
    expect(await next()).toBe(0);
    expect(await next()).toBe(2400); // one call per 2.4 s: half of 50 a minute
    now += 2400;
    expect(await next()).toBe(0);
    pacer.setReplicas(1);
    now += 2400;
    expect(await next()).toBe(0);
    expect(await next()).toBe(1200); // the whole budget again: one per 1.2 s
    now += 1200;
    expect(await next()).toBe(0);
  });

  it('parses budgets from the organisation file', () => {
    expect(parseBudget('50/1m')).toEqual({ limit: 50, perMs: 60_000 });
    expect(parseBudget('1/1s burst 3')).toEqual({ limit: 1, perMs: 1000, burst: 3 });
    expect(parseBudget('60 / 30s window')).toEqual({ limit: 60, perMs: 30_000, window: true });
    expect(parseBudget('600/m')).toEqual({ limit: 600, perMs: 60_000 });
    expect(parseBudget('fast')).toBeUndefined();
    expect(parseBudget('0/1s')).toBeUndefined();
  });

  it('does not make a call that would wait longer than maxInlineWaitMs: it throws RateLimitedError with the wait', async () => {
    const stats = new CallStats();
    const pacer = new Pacer('test', { maxInlineWaitMs: 50, stats });
    const lane: Lane = { key: 'm', budgets: [{ limit: 1, perMs: 1000 }] };
    let calls = 0;
    await pacer.run({ method: 'update', lanes: [lane] }, async () => { calls++; });
    const e = await pacer.run({ method: 'update', lanes: [lane] }, async () => { calls++; }).catch((x) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBeGreaterThan(900);
    expect((e as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(1000);
    expect(e.message).toMatch(/update: over its budget/);
    expect(calls).toBe(1);
    expect(stats.count('test', 'update')).toBe(1);
  });

  it('a 429 blocks the whole method (every channel) for its Retry-After, not just the channel that got it', async () => {
    const pacer = new Pacer('slack', { maxInlineWaitMs: 0 });
    const method: Lane = { key: 'T1:chat.postMessage', budgets: [], retryAfterScope: true };
    const channel = (c: string): Lane => ({ key: `T1:chat.postMessage:${c}`, budgets: [{ limit: 1, perMs: 10, burst: 5 }] });
    const e = await pacer.run({ method: 'chat.postMessage', lanes: [method, channel('C1')] }, async () => { throw new RateLimitedError(300); }).catch((x) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    let made = 0;
    const other = await pacer.run({ method: 'chat.postMessage', lanes: [method, channel('C2')] }, async () => { made++; }).catch((x) => x);
    expect(other).toBeInstanceOf(RateLimitedError);
    expect(other.message).toMatch(/inside a Retry-After window/);
    expect((other as RateLimitedError).retryAfterMs).toBeGreaterThan(250);
    expect(made).toBe(0);
    // Another method is not blocked.
    await pacer.run({ method: 'chat.update', lanes: [{ key: 'T1:chat.update', budgets: [], retryAfterScope: true }] }, async () => { made++; });
    expect(made).toBe(1);
    await sleep(320);
    await pacer.run({ method: 'chat.postMessage', lanes: [method, channel('C2')] }, async () => { made++; });
    expect(made).toBe(2);
  });

  it('a call waiting for its in-flight slot is not made when the call before it came back with a 429', async () => {
    const pacer = new Pacer('slack', { maxInlineWaitMs: 1000, stallMs: 5000 });
    const lane: Lane = { key: 'T1:chat.update', budgets: [], maxInFlight: 1, retryAfterScope: true };
    let release!: () => void;
    const first = pacer.run({ method: 'chat.update', lanes: [lane] }, () => new Promise((_, reject) => { release = () => reject(new RateLimitedError(2000)); }));
    let made = 0;
    const second = pacer.run({ method: 'chat.update', lanes: [lane] }, async () => { made++; });
    await sleep(20);
    release();
    await expect(first).rejects.toBeInstanceOf(RateLimitedError);
    const e = await second.catch((x) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBeGreaterThan(1900);
    expect(made).toBe(0);
  });

  it('a hung call holds its lane only until stallMs; then the next call goes', async () => {
    const stats = new CallStats();
    const pacer = new Pacer('slack', { stallMs: 100, stats });
    const lane: Lane = { key: 'T1:chat.postMessage', budgets: [], maxInFlight: 1 };
    void pacer.run({ method: 'chat.postMessage', lanes: [lane] }, () => new Promise(() => {}));
    const started = Date.now();
    await pacer.run({ method: 'chat.postMessage', lanes: [lane] }, async () => {});
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(1000);
    expect(stats.render()).toMatch(/tread_chat_calls_stalled_total\{platform="slack",method="chat.postMessage"\} 1/);
  });

  it('calls waiting for a lane go by priority, then in order', async () => {
    const pacer = new Pacer('slack', { stallMs: 5000 });
    const lane: Lane = { key: 'L', budgets: [], maxInFlight: 1 };
    let release!: () => void;
    const first = pacer.run({ method: 'm', lanes: [lane] }, () => new Promise<void>((r) => { release = r; }));
    const order: string[] = [];
    const queued = [
      pacer.run({ method: 'm', lanes: [lane], priority: 0 }, async () => { order.push('low'); }),
      pacer.run({ method: 'm', lanes: [lane], priority: 1 }, async () => { order.push('normal a'); }),
      pacer.run({ method: 'm', lanes: [lane], priority: 2 }, async () => { order.push('high'); }),
      pacer.run({ method: 'm', lanes: [lane], priority: 1 }, async () => { order.push('normal b'); }),
    ];
    await sleep(10);
    release();
    await first;
    await Promise.all(queued);
    expect(order).toEqual(['high', 'normal a', 'normal b', 'low']);
  });

  it('rows sent back to one lane are told to come back one interval apart; urgent ones at the first slot', async () => {
    const pacer = new Pacer('slack', { maxInlineWaitMs: 0 });
    const lane: Lane = { key: 'T1:chat.update', budgets: [{ limit: 50, perMs: 60_000 }] };
    await pacer.run({ method: 'chat.update', lanes: [lane] }, async () => {});
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) waits.push(await pacer.run({ method: 'chat.update', lanes: [lane], priority: 1 }, async () => -1).catch((e: RateLimitedError) => e.retryAfterMs));
    expect(waits[0]!).toBeGreaterThan(1100);
    expect(waits[0]!).toBeLessThanOrEqual(1200);
    expect(waits[1]! - waits[0]!).toBeGreaterThanOrEqual(1150);
    expect(waits[2]! - waits[1]!).toBeGreaterThanOrEqual(1150);
    const urgent = await pacer.run({ method: 'chat.update', lanes: [lane], priority: 2 }, async () => -1).catch((e: RateLimitedError) => e.retryAfterMs);
    expect(urgent).toBeLessThanOrEqual(1200);
  });
});
