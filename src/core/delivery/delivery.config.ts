/**
 * The `delivery` section of the organisation file: how fast tread may talk to each platform. Every budget has its
 * platform's documented default in the adapter; the file overrides them by name (Slack: a Web API method, or `channel`
 * for chat.postMessage in one channel; Teams: `conversation`, `bot`).
 *
 *   delivery:
 *     concurrency: 16                 # outbox rows sent at once
 *     replicas: 2                     # processes sending through one workspace (default: counted through the database)
 *     slack:
 *       chat.update: [50/1m window, 5/1s burst 5]   # Tier 3: never more than 50 in a minute, 5 a second at most
 *       chat.postMessage: 600/1m window
 *       channel: 1/1s burst 3         # chat.postMessage in one channel
 *     teams:
 *       conversation: [7/1s window, 8/2s window, 60/30s window, 1800/1h window]
 *       bot: 50/1s
 */
import { z } from 'zod';
import { parseDuration } from '../duration.js';
import type { Budget } from './pacer.js';

const BUDGET = /^\s*(\d+)\s*\/\s*(\w+)\s*(?:(?:burst\s+(\d+))|(window))?\s*$/i;

/** Parses `50/1m` (evenly spaced), `1/1s burst 3` (bursts of 3) or `60/30s window` (any 60 in any 30 seconds). */
export function parseBudget(text: string): Budget | undefined {
  const m = BUDGET.exec(text);
  if (!m) return undefined;
  const perMs = parseDuration(/^\d/.test(m[2]!) ? m[2]! : `1${m[2]}`);
  const limit = Number(m[1]);
  if (!perMs || limit < 1) return undefined;
  return { limit, perMs, ...(m[3] ? { burst: Math.max(1, Number(m[3])) } : {}), ...(m[4] ? { window: true } : {}) };
}

const notABudget = (value: unknown) => `"${String(value)}" is not a budget: write calls per time, like 50/1m, 1/1s burst 3 or 60/30s window`;

/** One budget or a list of them that all apply (Teams limits a conversation per second, per 30 seconds and per hour). */
const budgetsSchema = z.unknown().transform((value, ctx): Budget[] => {
  const items = typeof value === 'string' ? [value] : Array.isArray(value) && value.length > 0 ? value : undefined;
  if (!items) {
    ctx.addIssue({ code: 'custom', message: 'write a budget like 50/1m, or a list of them' });
    return z.NEVER;
  }
  const budgets: Budget[] = [];
  items.forEach((item, i) => {
    const budget = typeof item === 'string' ? parseBudget(item) : undefined;
    if (budget) budgets.push(budget);
    else ctx.addIssue({ code: 'custom', path: typeof value === 'string' ? [] : [i], message: notABudget(item) });
  });
  return budgets;
});

const platformBudgets = z.record(z.string().min(1), budgetsSchema).default({});

/** The `delivery` section's schema. */
export const deliverySchema = z.object({
  /** Outbox rows sent at once by one process (each platform also bounds its calls in flight). */
  concurrency: z.number().int().min(1).max(256).default(16),
  /**
   * Replicas sending through one workspace: each keeps this share of every budget (Retry-After windows are shared).
   * Unset: the dispatchers count each other through the database (a heartbeat), so the share follows the replicas running.
   */
  replicas: z.number().int().min(1).max(64).optional(),
  slack: platformBudgets,
  teams: platformBudgets,
}).strict().default({ concurrency: 16, slack: {}, teams: {} });

/** The parsed `delivery` section. */
export type DeliveryConfig = z.infer<typeof deliverySchema>;

/** One replica's share of a budget: a window keeps `limit / replicas` calls, a spaced budget is spaced `replicas` times wider. */
export function shareOf(budget: Budget, replicas: number): Budget {
  if (replicas <= 1) return budget;
  if (budget.window) return { ...budget, limit: Math.max(1, Math.floor(budget.limit / replicas)) };
  return { ...budget, perMs: budget.perMs * replicas };
}

/** The budgets of a platform: its documented defaults with the file's overrides by name (the pacer keeps its replica's share). */
export function budgetsFor(defaults: Record<string, readonly Budget[]>, overrides: Record<string, readonly Budget[]> | undefined): Record<string, readonly Budget[]> {
  return { ...defaults, ...(overrides ?? {}) };
}
