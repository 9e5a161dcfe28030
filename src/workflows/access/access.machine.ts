/**
 * Access grants, pure: states, transitions with their effects, and the rules a security team reads (duration limits,
 * separation of duties, when a second step is needed, extensions, drift, review outcomes). No I/O, no clock.
 */
import { formatDuration } from '../../core/duration.js';
import { DomainError } from '../../core/errors.js';

/** Where a grant stands. */
export const GRANT_STATES = ['requested', 'approved', 'provisioning', 'active', 'expiring', 'revoked', 'expired', 'denied', 'cancelled', 'failed'] as const;
/** One of GRANT_STATES. */
export type GrantState = (typeof GRANT_STATES)[number];

/** What can happen to a grant. */
export const GRANT_EVENTS = ['approve', 'deny', 'cancel', 'provision', 'activate', 'fail', 'warn', 'extend', 'expire', 'revoke'] as const;
/** One of GRANT_EVENTS. */
export type GrantEvent = (typeof GRANT_EVENTS)[number];

/** Side effects the service carries out after a transition. */
export type GrantEffect =
  /** Stop the approval that still runs (a cancelled request, an extension that no longer matters). */
  | 'cancel_approval'
  | 'record_approval'
  /** Ask the connector for the grant, after commit (a timer). */
  | 'connector_grant'
  /** Stop a grant still being provisioned (its manual task). */
  | 'cancel_provisioning'
  | 'record_activation'
  /** The expiry warning and the expiry, as timers. */
  | 'schedule_expiry'
  | 'cancel_expiry'
  /** Ask the connector to remove the access, after commit; retried until it succeeds. */
  | 'connector_revoke'
  | 'record_end'
  | 'record_outcome'
  | 'record_extension'
  | 'notify_expiring'
  | 'notify_failure';

/**
 * requested → approved → provisioning → active → expiring → revoked | expired; denied, cancelled, failed.
 * A break-glass grant starts at approved. An extension takes active or expiring back to active with a later end.
 * Revoking or expiring while still provisioning stops the provisioning and removes whatever was granted.
 */
export const TRANSITIONS: Record<GrantState, Partial<Record<GrantEvent, GrantState>>> = {
  requested: { approve: 'approved', deny: 'denied', cancel: 'cancelled' },
  approved: { provision: 'provisioning', cancel: 'cancelled' },
  provisioning: { activate: 'active', fail: 'failed', revoke: 'revoked', expire: 'expired' },
  active: { warn: 'expiring', extend: 'active', expire: 'expired', revoke: 'revoked' },
  expiring: { extend: 'active', expire: 'expired', revoke: 'revoked' },
  revoked: {},
  expired: {},
  denied: {},
  cancelled: {},
  failed: {},
};

/** Words for states on cards and in sentences. */
export const STATE_WORDS: Record<GrantState, string> = {
  requested: 'pending approval', approved: 'approved', provisioning: 'being provisioned', active: 'active', expiring: 'expiring soon',
  revoked: 'revoked', expired: 'expired', denied: 'denied', cancelled: 'cancelled', failed: 'failed',
};

const EVENT_WORDS: Record<GrantEvent, string> = {
  approve: 'approved', deny: 'denied', cancel: 'cancelled', provision: 'provisioned', activate: 'activated', fail: 'marked failed',
  warn: 'warned about', extend: 'extended', expire: 'expired', revoke: 'revoked',
};

/** States in which the person holds, or is about to hold, the access (separation of duties counts them). */
export const HOLDING_STATES: readonly GrantState[] = ['approved', 'provisioning', 'active', 'expiring'];
/** States in which access is in force at the target. */
export const ACTIVE_STATES: readonly GrantState[] = ['active', 'expiring'];
/** States from which nothing follows. */
export const FINAL_STATES: readonly GrantState[] = ['revoked', 'expired', 'denied', 'cancelled', 'failed'];

/** The result of a transition. */
export interface TransitionResult {
  next: GrantState;
  effects: GrantEffect[];
}

/** Applies an event to a state: the next state and its effects, or a 409 DomainError saying why not and what is possible. */
export function transition(state: GrantState, event: GrantEvent): TransitionResult | DomainError {
  const next = TRANSITIONS[state][event];
  if (!next) {
    const allowed = Object.keys(TRANSITIONS[state]) as GrantEvent[];
    const hint = allowed.length ? `From ${STATE_WORDS[state]} it can be ${allowed.map((e) => EVENT_WORDS[e]).join(', ')}.` : `${STATE_WORDS[state][0]!.toUpperCase()}${STATE_WORDS[state].slice(1)} is final.`;
    return new DomainError('access.invalid_transition', `A grant that is ${STATE_WORDS[state]} cannot be ${EVENT_WORDS[event]}. ${hint}`, 409);
  }
  const effects: GrantEffect[] = [];
  switch (event) {
    case 'approve': effects.push('record_approval'); break;
    case 'deny': effects.push('record_outcome'); break;
    case 'cancel':
      if (state === 'requested') effects.push('cancel_approval');
      effects.push('record_outcome');
      break;
    case 'provision': effects.push('connector_grant'); break;
    case 'activate': effects.push('record_activation', 'schedule_expiry'); break;
    case 'fail': effects.push('record_outcome', 'notify_failure'); break;
    case 'warn': effects.push('notify_expiring'); break;
    case 'extend': effects.push('record_extension', 'schedule_expiry'); break;
    case 'expire': case 'revoke':
      if (state === 'provisioning') effects.push('cancel_provisioning');
      else effects.push('cancel_expiry', 'cancel_approval');
      effects.push('record_end', 'connector_revoke');
      break;
  }
  return { next, effects };
}

/** True when the grant can change no more. */
export function isFinal(state: GrantState): boolean {
  return FINAL_STATES.includes(state);
}

/** High sensitivity needs a second step after the approve button; low and medium are approved with the button. */
export function needsSecondStep(sensitivity: 'low' | 'medium' | 'high'): boolean {
  return sensitivity === 'high';
}

/** The limits of a resource a duration is checked against. */
export interface DurationLimits {
  defaultDuration: number;
  maxDuration: number;
}

/** The duration of a request: the default when none is asked, else what was asked, never more than the limit (refused, not clamped). */
export function checkDuration(asked: number | undefined, limits: DurationLimits): { ms: number } | { problem: string } {
  if (asked === undefined) return { ms: limits.defaultDuration };
  if (!Number.isFinite(asked) || asked <= 0) return { problem: 'write the duration like 30m, 4h or 2d' };
  if (asked > limits.maxDuration) return { problem: `${formatDuration(asked)} is longer than the limit of ${formatDuration(limits.maxDuration)} for this resource; ask for ${formatDuration(limits.maxDuration)} or less` };
  return { ms: asked };
}

/** The roles among `held` that conflict with `role` under the resource's conflict pairs (separation of duties). */
export function conflictsWith(role: string, held: readonly string[], conflicts: readonly (readonly [string, string])[]): string[] {
  const out = new Set<string>();
  for (const [a, b] of conflicts) {
    if (a === role && held.includes(b)) out.add(b);
    if (b === role && held.includes(a)) out.add(a);
  }
  return [...out];
}

/** What an extension needs: applied at once (self-extend within the limit) or a new approval; or refused naming the limit. */
export function extensionCheck(currentMs: number, extraMs: number, limits: { maxDuration: number; selfExtend: boolean }): { kind: 'self' | 'approval'; totalMs: number } | { kind: 'refused'; problem: string } {
  if (!Number.isFinite(extraMs) || extraMs <= 0) return { kind: 'refused', problem: 'write how much longer, like 1h or 2d' };
  const total = currentMs + extraMs;
  if (total > limits.maxDuration) {
    const left = Math.max(0, limits.maxDuration - currentMs);
    return { kind: 'refused', problem: `${formatDuration(currentMs)} plus ${formatDuration(extraMs)} is longer than the limit of ${formatDuration(limits.maxDuration)} in total for this resource${left > 0 ? `; at most ${formatDuration(left)} more` : '; it cannot be extended further'}` };
  }
  return { kind: limits.selfExtend ? 'self' : 'approval', totalMs: total };
}

/** A membership at a target: a login holding a role. */
export interface Membership {
  login: string;
  role: string;
}

/** A difference between a target and the grants. */
export interface Drift extends Membership {
  kind: 'unexpected' | 'missing';
  grantId?: number;
}

/**
 * Drift of one resource: memberships of managed roles the target shows without an active grant (unexpected), and active
 * grants the target does not show (missing). `settling` are memberships that may or may not be there right now (a grant
 * being provisioned, an ended grant whose removal is still pending): neither counts.
 */
export function computeDrift(actual: readonly Membership[], active: readonly (Membership & { grantId: number })[], settling: readonly Membership[], managedRoles: readonly string[]): Drift[] {
  const key = (m: Membership) => `${m.login}\u0000${m.role}`;
  const has = new Set(actual.map(key));
  const expected = new Set(active.map(key));
  const unsure = new Set(settling.map(key));
  const out: Drift[] = [];
  for (const m of actual) {
    if (!managedRoles.includes(m.role) || expected.has(key(m)) || unsure.has(key(m))) continue;
    out.push({ kind: 'unexpected', login: m.login, role: m.role });
  }
  const seen = new Set<string>();
  for (const g of active) {
    if (has.has(key(g)) || seen.has(key(g))) continue;
    seen.add(key(g));
    out.push({ kind: 'missing', login: g.login, role: g.role, grantId: g.grantId });
  }
  return out;
}

/** A person's login at a target from the connector's template (`{person}`, `{email}`). */
export function loginFor(template: string, person: { id: string; email?: string }): string | undefined {
  if (template.includes('{email}') && !person.email) return undefined;
  return template.replace(/\{person\}/g, person.id).replace(/\{email\}/g, person.email ?? '');
}

/** What a review item became at the deadline. */
export interface ReviewTally {
  kept: number;
  revoked: number;
  unreviewed: number;
}

/** Counts a campaign's decisions. */
export function tallyReview(items: readonly { decision: string | null }[]): ReviewTally {
  return {
    kept: items.filter((i) => i.decision === 'keep').length,
    revoked: items.filter((i) => i.decision === 'revoke').length,
    unreviewed: items.filter((i) => !i.decision).length,
  };
}
