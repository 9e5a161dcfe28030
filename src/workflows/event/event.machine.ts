/** The alert lifecycle (PagerDuty's rules): pure, no I/O, no clock. */
import { SEVERITIES, type Severity } from './event.config.js';

/** The states of an alert. */
export const ALERT_STATES = ['firing', 'acknowledged', 'silenced', 'flapping', 'resolved'] as const;
/** firing → acknowledged → resolved, plus silenced (a silence or maintenance hides it) and flapping. */
export type AlertState = (typeof ALERT_STATES)[number];

/** The states of an alert group: firing while one alert fires, resolved when all are. */
export const GROUP_STATES = ['firing', 'acknowledged', 'silenced', 'resolved'] as const;
export type GroupState = (typeof GROUP_STATES)[number];

/** What the state is made of. The state is derived: resolved > silenced > acknowledged > flapping > firing. */
export interface AlertFlags {
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  suppressedBy: string | null;
  suppressedUntil: Date | null;
  flapping: boolean;
}

/** A change to an alert. `by` is a person id, or the integration for monitor events. */
export type AlertAction =
  | { type: 'trigger' }
  | { type: 'acknowledge'; by: string }
  | { type: 'resolve'; by: string }
  | { type: 'suppress'; by: string; until: Date }
  | { type: 'unsuppress' };

/** The outcome: the new flags and what happened, or why nothing did. */
export type AlertTransition =
  | { flags: AlertFlags; outcome: 'deduplicated' | 'acknowledged' | 'resolved' | 'suppressed' | 'unsuppressed' }
  | { ignored: string };

/** The state shown for a set of flags. */
export function deriveState(f: AlertFlags): AlertState {
  if (f.resolvedAt) return 'resolved';
  if (f.suppressedBy) return 'silenced';
  if (f.acknowledgedAt) return 'acknowledged';
  if (f.flapping) return 'flapping';
  return 'firing';
}

/** Flags of a brand-new alert. */
export function newAlertFlags(init: { suppressedBy?: string; suppressedUntil?: Date; flapping?: boolean } = {}): AlertFlags {
  return {
    acknowledgedAt: null, acknowledgedBy: null, resolvedAt: null, resolvedBy: null,
    suppressedBy: init.suppressedBy ?? null, suppressedUntil: init.suppressedUntil ?? null, flapping: init.flapping ?? false,
  };
}

/**
 * Applies an action to an alert that exists. A trigger on an open alert deduplicates (the caller bumps the count);
 * a trigger on a resolved alert is ignored here: the caller opens a new alert for the key.
 */
export function applyAlertAction(f: AlertFlags, action: AlertAction, now: Date): AlertTransition {
  const state = deriveState(f);
  if (state === 'resolved') return { ignored: action.type === 'trigger' ? 'resolved: a trigger opens a new alert' : 'the alert is already resolved' };
  switch (action.type) {
    case 'trigger':
      return { flags: f, outcome: 'deduplicated' };
    case 'acknowledge':
      if (f.acknowledgedAt) return { ignored: 'the alert is already acknowledged' };
      return { flags: { ...f, acknowledgedAt: now, acknowledgedBy: action.by }, outcome: 'acknowledged' };
    case 'resolve':
      return { flags: { ...f, resolvedAt: now, resolvedBy: action.by }, outcome: 'resolved' };
    case 'suppress':
      if (f.suppressedBy === action.by && f.suppressedUntil?.getTime() === action.until.getTime()) return { ignored: 'already silenced by it' };
      return { flags: { ...f, suppressedBy: action.by, suppressedUntil: action.until }, outcome: 'suppressed' };
    case 'unsuppress':
      if (!f.suppressedBy) return { ignored: 'the alert is not silenced' };
      return { flags: { ...f, suppressedBy: null, suppressedUntil: null }, outcome: 'unsuppressed' };
  }
}

/** Counts of a group's alerts by state, as the group's state is derived from them. */
export interface GroupCounts {
  open: number;
  firing: number;
  acknowledged: number;
  silenced: number;
}

/** A group is resolved when no alert is open, firing while one fires (or flaps), else acknowledged, else silenced. */
export function deriveGroupState(c: GroupCounts): GroupState {
  if (c.open === 0) return 'resolved';
  if (c.firing > 0) return 'firing';
  if (c.acknowledged > 0) return 'acknowledged';
  return 'silenced';
}

/** 0 for critical … 3 for info. */
export function severityRank(s: string): number {
  const i = SEVERITIES.indexOf(s as Severity);
  return i < 0 ? SEVERITIES.length : i;
}

/** The more severe of two severities. */
export function maxSeverity(a: string, b: string): Severity {
  return (severityRank(a) <= severityRank(b) ? a : b) as Severity;
}

/** Maps a monitor's severity word to ours (`page`/`high` → critical, `warn` → warning, unknown → warning). */
export function normaliseSeverity(value: string | undefined | null, fallback: Severity = 'warning'): Severity {
  if (!value) return fallback;
  const v = value.toLowerCase().trim();
  if ((SEVERITIES as readonly string[]).includes(v)) return v as Severity;
  if (['page', 'high', 'fatal', 'emergency', 'alert', 'crit', 'disaster', 'p1', 'sev1'].includes(v)) return 'critical';
  if (['err', 'major', 'average', 'p2', 'sev2'].includes(v)) return 'error';
  if (['warn', 'minor', 'medium', 'p3', 'sev3'].includes(v)) return 'warning';
  if (['information', 'informational', 'low', 'notice', 'ok', 'none', 'debug', 'p4', 'p5', 'sev4'].includes(v)) return 'info';
  return fallback;
}

/** Number of firing/resolved changes that make a key flap, given its earlier alerts inside the window. */
export function isFlapping(earlierAlertsInWindow: number, earlierStillOpen: number, changesLimit: number): boolean {
  // Each earlier alert contributed its trigger, and its resolve when resolved; this trigger is one more change.
  const changes = earlierAlertsInWindow * 2 - earlierStillOpen + 1;
  return changes > changesLimit;
}
