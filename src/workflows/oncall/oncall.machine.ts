/** The escalation state machine: where paging stands and what comes next. Pure: no I/O, no clock. */
import { DomainError } from '../../core/errors.js';

export const ESCALATION_STATES = ['active', 'acknowledged', 'resolved', 'cancelled', 'workaround', 'exhausted'] as const;
export type EscalationState = (typeof ESCALATION_STATES)[number];

/**
 * Why paging stops before its policy ran out: someone acknowledged (the default), the record was resolved or cancelled
 * first, or a known workaround was communicated to it (problem management).
 */
export const STOP_REASONS = ['acknowledged', 'resolved', 'cancelled', 'workaround'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** What happens to an escalation: the next step is paged, it is stopped, or every step was paged. */
export type EscalationEvent = { type: 'page' } | { type: 'stop'; reason: StopReason } | { type: 'exhaust' };

/** Only an active escalation changes; every other state is final. */
export function transition(state: EscalationState, event: EscalationEvent): EscalationState | DomainError {
  if (state !== 'active') {
    return new DomainError('oncall.escalation_ended', `This escalation has already ended (${state}).`, 409);
  }
  switch (event.type) {
    case 'page': return 'active';
    case 'stop': return event.reason;
    case 'exhaust': return 'exhausted';
  }
}

/** A position in a policy: the step (0-based; -1 before the first page) and the pass through the steps (0-based). */
export interface Position {
  level: number;
  pass: number;
}

/** The shape of a policy that positions need. */
export interface PolicyShape {
  steps: readonly unknown[];
  repeat: number;
}

/** The step after `pos` (the first step when nothing was paged yet), or undefined when the policy is done. */
export function nextPosition(policy: PolicyShape, pos: Position): Position | undefined {
  if (pos.level < 0) return { level: 0, pass: 0 };
  if (pos.level + 1 < policy.steps.length) return { level: pos.level + 1, pass: pos.pass };
  if (pos.pass < policy.repeat) return { level: 0, pass: pos.pass + 1 };
  return undefined;
}

/** Why paging stopped when an incident moved from one state to another, if it should stop. */
export function stopReasonFor(from: string, to: string): StopReason | undefined {
  if (from === to) return undefined;
  if (from === 'new' && (to === 'acknowledged' || to === 'in_progress' || to === 'resolved')) return 'acknowledged';
  if (to === 'resolved' || to === 'closed') return 'resolved';
  if (to === 'cancelled') return 'cancelled';
  return undefined;
}
