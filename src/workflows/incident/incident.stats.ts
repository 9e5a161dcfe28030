/** Incident reporting: counts by priority and state, MTTA, MTTR (median, p90) and SLA compliance in a window. */
import { gte } from 'drizzle-orm';
import { schema, type DbOrTx } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import type { Message } from '../../core/message.js';
import { INCIDENT_STATES } from './incident.machine.js';

/** Figures for one window. */
export interface IncidentStats {
  windowDays: number;
  from: string;
  to: string;
  total: number;
  byPriority: Record<string, number>;
  byState: Record<string, number>;
  mtta: { count: number; meanSeconds: number | null; medianSeconds: number | null; p90Seconds: number | null };
  mttr: { count: number; meanSeconds: number | null; medianSeconds: number | null; p90Seconds: number | null };
  sla: { responseMet: number; responseBreached: number; resolutionMet: number; resolutionBreached: number; responseCompliance: number | null; resolutionCompliance: number | null };
}

/** The q-quantile (0..1) of sorted values, nearest-rank. */
export function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    meanSeconds: sorted.length ? Math.round(sorted.reduce((a, b) => a + b, 0) / sorted.length) : null,
    medianSeconds: quantile(sorted, 0.5),
    p90Seconds: quantile(sorted, 0.9),
  };
}

/** Computes the stats for incidents opened in the last `days` days. */
export async function incidentStats(db: DbOrTx, now: Date, days: number): Promise<IncidentStats> {
  const from = new Date(now.getTime() - days * 86_400_000);
  const rows = await db.select().from(schema.incidents).where(gte(schema.incidents.createdAt, from));
  const byPriority: Record<string, number> = { P1: 0, P2: 0, P3: 0, P4: 0, P5: 0 };
  const byState: Record<string, number> = Object.fromEntries(INCIDENT_STATES.map((s) => [s, 0]));
  const tta: number[] = [];
  const ttr: number[] = [];
  const sla = { responseMet: 0, responseBreached: 0, resolutionMet: 0, resolutionBreached: 0 };
  for (const r of rows) {
    byPriority[`P${r.priority}`] = (byPriority[`P${r.priority}`] ?? 0) + 1;
    byState[r.state] = (byState[r.state] ?? 0) + 1;
    if (r.acknowledgedAt) tta.push(Math.round((r.acknowledgedAt.getTime() - r.createdAt.getTime()) / 1000));
    if (r.resolvedAt) ttr.push(Math.round((r.resolvedAt.getTime() - r.createdAt.getTime()) / 1000));
    if (r.state === 'cancelled') continue;
    if (r.responseBreached) sla.responseBreached++; else if (r.acknowledgedAt) sla.responseMet++;
    if (r.resolutionBreached) sla.resolutionBreached++; else if (r.resolvedAt) sla.resolutionMet++;
  }
  const pct = (met: number, breached: number) => (met + breached ? Math.round((1000 * met) / (met + breached)) / 10 : null);
  return {
    windowDays: days, from: from.toISOString(), to: now.toISOString(), total: rows.length, byPriority, byState,
    mtta: summary(tta), mttr: summary(ttr),
    sla: { ...sla, responseCompliance: pct(sla.responseMet, sla.responseBreached), resolutionCompliance: pct(sla.resolutionMet, sla.resolutionBreached) },
  };
}

const d = (s: number | null) => (s === null ? '—' : formatDuration(s * 1000));

/** The stats as a message. */
export function statsMessage(s: IncidentStats): Message {
  const counts = (o: Record<string, number>) => Object.entries(o).filter(([, n]) => n > 0).map(([k, n]) => `${k.replace('_', ' ')} ${n}`).join(' · ') || 'none';
  return {
    title: `Incidents, last ${s.windowDays} days: ${s.total}`,
    fields: [
      { label: 'By priority', value: counts(s.byPriority) },
      { label: 'By state', value: counts(s.byState) },
      { label: 'MTTA', value: `mean ${d(s.mtta.meanSeconds)} · median ${d(s.mtta.medianSeconds)} · p90 ${d(s.mtta.p90Seconds)} (${s.mtta.count} acknowledged)` },
      { label: 'MTTR', value: `mean ${d(s.mttr.meanSeconds)} · median ${d(s.mttr.medianSeconds)} · p90 ${d(s.mttr.p90Seconds)} (${s.mttr.count} resolved)` },
      { label: 'SLA response', value: s.sla.responseCompliance === null ? '—' : `${s.sla.responseCompliance}% met (${s.sla.responseMet} met, ${s.sla.responseBreached} breached)` },
      { label: 'SLA resolution', value: s.sla.resolutionCompliance === null ? '—' : `${s.sla.resolutionCompliance}% met (${s.sla.resolutionMet} met, ${s.sla.resolutionBreached} breached)` },
    ],
    context: `${s.from.slice(0, 16).replace('T', ' ')} – ${s.to.slice(0, 16).replace('T', ' ')} UTC`,
  };
}
