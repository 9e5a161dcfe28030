/** A token bucket per name (per process): a steady rate a minute, with bursts up to that many. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes one token of `name`'s bucket; false when it is empty. */
  take(name: string, perMinute: number, now = Date.now()): boolean {
    const b = this.buckets.get(name) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) * perMinute) / 60_000);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(name, b);
    return ok;
  }
}
