/**
 * Outgoing webhooks: a POST of JSON to a target a workflow declared (request fulfilment, access connectors), sent by a
 * timer after the change that asked for it committed, signed, with an idempotency key, retried with backoff.
 *
 * Headers: `X-Tread-Timestamp` (Unix seconds), `X-Tread-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
 * the target's secret, `Idempotency-Key` (the same on every attempt). Network errors, 429 (honouring Retry-After) and 5xx
 * are retried with exponential backoff and jitter; any other 4xx is final. After the last attempt the record's owner is
 * told (its cards and the people named), and `webhook.failed` is announced; a 2xx announces `webhook.delivered`.
 * Targets are resolved by name when sending, so secrets (`${VAR}` in the config) are never stored in a row or logged.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Tx } from '../../db/client.js';
import type { AppContext } from './app.js';
import type { OrgConfig } from './config/org.js';
import { formatDuration } from './duration.js';
import { enqueue } from './outbox.js';
import { schedule, type TwoPhaseTimerHandler } from './timers.js';

/** Where a webhook goes: declared by a workflow from its config (`Workflow.webhookTargets`). */
export interface WebhookTarget {
  /** Unique, like `request:new-laptop` or `access:prod-db`. */
  name: string;
  url: string;
  secret: string;
}

/** What a change asks to send. */
export interface WebhookSend {
  target: string;
  body: unknown;
  /** The same on every attempt, so the receiver can drop repeats (`REQ-7:fulfil`). */
  idempotencyKey: string;
  /** The record it is about (`REQ-7`): record events and failure notices name it. */
  subject: string;
  /** People to tell by direct message when the last attempt failed (the record's cards are told too). */
  notify?: string[];
}

/** `webhook.delivered` / `webhook.failed`: what became of a webhook. */
export interface WebhookOutcome {
  subject: string;
  target: string;
  idempotencyKey: string;
  attempts: number;
  /** HTTP status of the last answer, if there was one. */
  status?: number;
  /** Why it failed (failed only). */
  error?: string;
  /** The receiver's answer (delivered only; JSON when it sent JSON, else text, at most 4 KB). */
  response?: unknown;
}

declare module './workflow.js' {
  interface RecordEvents {
    'webhook.delivered': WebhookOutcome;
    'webhook.failed': WebhookOutcome;
  }
}

/** The timer kind of webhook attempts. */
export const WEBHOOK_TIMER = 'core.webhook';

/** Retry policy: attempts in all, first delay and cap, and how long one call may take. */
export interface WebhookPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

const DEFAULT_POLICY: WebhookPolicy = { maxAttempts: 8, baseDelayMs: 2000, maxDelayMs: 15 * 60_000, timeoutMs: 10_000 };

/** `sha256=<hex>` of `<timestamp>.<body>` with the secret: what `X-Tread-Signature` carries. */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Checks a signed request sent to tread the way tread signs its own (a receiver reporting back): the signature must be
 * `signWebhook(secret, timestamp, body)` and the timestamp within `toleranceSeconds` of `now`. Returns why not, or undefined.
 */
export function checkWebhookSignature(secret: string, timestamp: string | undefined, signature: string | undefined, body: string, now: Date, toleranceSeconds = 300): string | undefined {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return 'X-Tread-Timestamp is missing or not Unix seconds';
  if (!signature) return 'X-Tread-Signature is missing';
  if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > toleranceSeconds) return `X-Tread-Timestamp is more than ${toleranceSeconds} s away from now (replayed or a wrong clock)`;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'X-Tread-Signature does not match the body and timestamp';
}

/** Delay before attempt `attempt + 1`: exponential from the base, capped, with full jitter over its upper half. */
export function webhookDelayMs(attempt: number, policy: WebhookPolicy = DEFAULT_POLICY, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** `Retry-After` in ms (seconds or an HTTP date), if present and sane. */
function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 3_600_000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.min(at - now.getTime(), 3_600_000));
}

interface Payload extends WebhookSend {
  attempt: number;
}

/** What one attempt got: delivered (2xx), or why not, and whether retrying can help. */
interface WebhookAttempt {
  delivered: boolean;
  status?: number;
  response?: unknown;
  error?: string;
  /** Retrying cannot help: a 4xx other than 429, or the target is gone. */
  final?: boolean;
  /** The receiver's Retry-After, in ms. */
  retryAfter?: number;
}

/** The webhook targets of the registered workflows, and the timer that sends. */
export class Webhooks {
  private readonly targets = new Map<string, WebhookTarget>();

  constructor(targets: readonly WebhookTarget[], private readonly policy: WebhookPolicy = DEFAULT_POLICY) {
    for (const t of targets) {
      if (this.targets.has(t.name)) throw new Error(`webhook target ${t.name} is declared twice`);
      this.targets.set(t.name, t);
    }
    this.timer = this.timerHandler();
  }

  /** The targets the workflows declare for a config. */
  static fromWorkflows(workflows: readonly { webhookTargets?(config: OrgConfig): WebhookTarget[] }[], config: OrgConfig, policy?: WebhookPolicy): Webhooks {
    return new Webhooks(workflows.flatMap((w) => w.webhookTargets?.(config) ?? []), policy);
  }

  /** True when a target of that name exists. */
  has(name: string): boolean {
    return this.targets.has(name);
  }

  /** Asks for a webhook inside the caller's transaction: it is sent once the change committed. */
  async send(tx: Tx, app: AppContext, input: WebhookSend): Promise<void> {
    if (!this.targets.has(input.target)) throw new Error(`no webhook target ${input.target}`);
    const payload: Payload = { ...input, attempt: 0 };
    await schedule(tx, { kind: WEBHOOK_TIMER, subject: input.subject, key: `${WEBHOOK_TIMER}:${input.idempotencyKey}`, dueAt: app.clock.now(), payload: payload as unknown as Record<string, unknown> });
    app.seam.noteScheduled();
  }

  /**
   * The scheduler's handler: one attempt; a retry is the same timer rescheduled. Two-phase: the POST runs with no
   * transaction open (a receiver that hangs holds neither the database nor the other timers), leased for the timeout
   * and a minute more; what it got is recorded afterwards.
   */
  readonly timer: TwoPhaseTimerHandler<WebhookAttempt>;

  private timerHandler(): TwoPhaseTimerHandler<WebhookAttempt> {
    return {
      leaseMs: this.policy.timeoutMs + 60_000,
      call: (timer, _app, now) => this.attempt(timer.payload as unknown as Payload, now),
      settle: async (tx, timer, app, now, a) => {
        const p = timer.payload as unknown as Payload;
        const attempt = p.attempt + 1;
        const outcome = (extra: Partial<WebhookOutcome>): WebhookOutcome => ({ subject: p.subject, target: p.target, idempotencyKey: p.idempotencyKey, attempts: attempt, ...extra });
        if (a.delivered) {
          app.log.info({ target: p.target, subject: p.subject, status: a.status, attempt }, 'webhook delivered');
          await app.seam.announce(tx, app, 'webhook.delivered', outcome({ status: a.status, response: a.response }), now);
          return;
        }
        if (a.final || attempt >= this.policy.maxAttempts) return this.fail(tx, app, p, outcome({ status: a.status, error: a.error }), now);
        const delay = a.retryAfter ?? webhookDelayMs(attempt, this.policy);
        app.log.warn({ target: p.target, subject: p.subject, status: a.status, attempt, retryInMs: delay, err: a.error }, 'webhook failed; will retry');
        return { rescheduleAt: new Date(now.getTime() + delay), payload: { ...p, attempt } as unknown as Record<string, unknown> };
      },
    };
  }

  /** One POST of a webhook, with no transaction open; what became of it (never throws). */
  private async attempt(p: Payload, now: Date): Promise<WebhookAttempt> {
    const target = this.targets.get(p.target);
    if (!target) return { delivered: false, final: true, error: `the webhook target ${p.target} is no longer in the config` };
    const body = JSON.stringify(p.body);
    const timestamp = Math.floor(now.getTime() / 1000);
    let status: number | undefined;
    try {
      const res = await fetch(target.url, {
        method: 'POST', signal: AbortSignal.timeout(this.policy.timeoutMs), redirect: 'error',
        headers: { 'content-type': 'application/json', 'user-agent': 'tread-webhooks/1', 'x-tread-timestamp': String(timestamp), 'x-tread-signature': signWebhook(target.secret, timestamp, body), 'idempotency-key': p.idempotencyKey },
        body,
      });
      status = res.status;
      const text = (await res.text()).slice(0, 4096);
      if (res.ok) {
        let response: unknown = text;
        try { response = text ? JSON.parse(text) : null; } catch { /* text */ }
        return { delivered: true, status, response };
      }
      const error = `${target.url} answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
      if (status === 429) return { delivered: false, status, error, retryAfter: retryAfterMs(res.headers.get('retry-after'), now) };
      return { delivered: false, status, error, final: status < 500 }; // other 4xx: retrying cannot help
    } catch (e) {
      return { delivered: false, status, error: `${target.url}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${formatDuration(this.policy.timeoutMs)}` : (e as Error).message}` };
    }
  }

  /** The last attempt failed: tell the record's cards and the people named, and announce it. */
  private async fail(tx: Tx, app: AppContext, p: Payload, outcome: WebhookOutcome, now: Date): Promise<void> {
    app.log.error({ target: p.target, subject: p.subject, attempts: outcome.attempts, err: outcome.error }, 'webhook given up');
    const text = `⚠ ${p.subject}: the webhook to ${p.target} failed after ${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'}: ${outcome.error}`;
    await enqueue(tx, { kind: 'announce', subject: p.subject, message: { text, subject: p.subject, tone: 'danger' } });
    for (const person of new Set(p.notify ?? [])) await enqueue(tx, { kind: 'dm', person, message: { text, tone: 'danger' } }, { orderKey: p.subject });
    await app.seam.announce(tx, app, 'webhook.failed', outcome, now);
  }
}
