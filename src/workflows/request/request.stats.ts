/** Request reporting: counts by item and state, approval and fulfilment times (median, p90), SLA compliance in a window. */
import { gte } from 'drizzle-orm';
import { schema, type DbOrTx } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import type { Message } from '../../core/message.js';
import { REQUEST_STATES } from './request.machine.js';

/** Median and p90 of durations, in seconds. */
export interface Spread {
  count: number;
  medianSeconds: number | null;
  p90Seconds: number | null;
}

/** Figures for one window. */
export interface RequestStats {
  windowDays: number;
  from: string;
  to: string;
  total: number;
  byItem: Record<string, number>;
  byState: Record<string, number>;
  /** Submission to approval. */
  approvalTime: Spread;
  /** Start of fulfilment to fulfilled. */
  fulfilmentTime: Spread;
  sla: { responseMet: number; responseBreached: number; resolutionMet: number; resolutionBreached: number; responseCompliance: number | null; resolutionCompliance: number | null };
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, medianSeconds: quantile(sorted, 0.5), p90Seconds: quantile(sorted, 0.9) };
}

/** The stats of requests submitted in the last `days` days. */
export async function requestStats(db: DbOrTx, now: Date, days: number): Promise<RequestStats> {
  const from = new Date(now.getTime() - days * 86_400_000);
  const rows = await db.select().from(schema.requests).where(gte(schema.requests.createdAt, from));
  const byItem: Record<string, number> = {};
  const byState: Record<string, number> = Object.fromEntries(REQUEST_STATES.map((s) => [s, 0]));
  const approval: number[] = [];
  const fulfilment: number[] = [];
  const sla = { responseMet: 0, responseBreached: 0, resolutionMet: 0, resolutionBreached: 0 };
  const secs = (a: Date, b: Date) => Math.round((b.getTime() - a.getTime()) / 1000);
  for (const r of rows) {
    byItem[r.item] = (byItem[r.item] ?? 0) + 1;
    byState[r.state] = (byState[r.state] ?? 0) + 1;
    if (r.approvalId && r.approvedAt) approval.push(secs(r.createdAt, r.approvedAt));
    if (r.fulfilmentStartedAt && r.completedAt && r.completion === 'fulfilled') fulfilment.push(secs(r.fulfilmentStartedAt, r.completedAt));
    if (!r.responseDueAt) continue; // no SLA on this item
    if (r.responseBreached) sla.responseBreached++; else if (r.respondedAt) sla.responseMet++;
    if (r.resolutionBreached) sla.resolutionBreached++; else if (r.completedAt) sla.resolutionMet++;
  }
  const pct = (met: number, breached: number) => (met + breached ? Math.round((1000 * met) / (met + breached)) / 10 : null);
  return {
    // items by name, whatever order the rows came in (a query without order by has none)
    windowDays: days, from: from.toISOString(), to: now.toISOString(), total: rows.length, byItem: Object.fromEntries(Object.entries(byItem).sort(([a], [b]) => a.localeCompare(b))), byState,
    approvalTime: spread(approval), fulfilmentTime: spread(fulfilment),
    sla: { ...sla, responseCompliance: pct(sla.responseMet, sla.responseBreached), resolutionCompliance: pct(sla.resolutionMet, sla.resolutionBreached) },
  };
}

const d = (s: number | null) => (s === null ? '—' : formatDuration(s * 1000));

/** The stats as a message. */
export function statsMessage(s: RequestStats): Message {
  const counts = (o: Record<string, number>) => Object.entries(o).filter(([, n]) => n > 0).map(([k, n]) => `${k.replace('_', ' ')} ${n}`).join(' · ') || 'none';
  const spreadText = (x: Spread, what: string) => `median ${d(x.medianSeconds)} · p90 ${d(x.p90Seconds)} (${x.count} ${what})`;
  return {
    title: `Requests, last ${s.windowDays} days: ${s.total}`,
    fields: [
      { label: 'By item', value: counts(s.byItem) },
      { label: 'By state', value: counts(s.byState) },
      { label: 'Approval time', value: spreadText(s.approvalTime, 'approved') },
      { label: 'Fulfilment time', value: spreadText(s.fulfilmentTime, 'fulfilled') },
      { label: 'SLA response', value: s.sla.responseCompliance === null ? '—' : `${s.sla.responseCompliance}% met (${s.sla.responseMet} met, ${s.sla.responseBreached} breached)` },
      { label: 'SLA resolution', value: s.sla.resolutionCompliance === null ? '—' : `${s.sla.resolutionCompliance}% met (${s.sla.resolutionMet} met, ${s.sla.resolutionBreached} breached)` },
    ],
    context: `${s.from.slice(0, 16).replace('T', ' ')} – ${s.to.slice(0, 16).replace('T', ' ')} UTC`,
  };
}
