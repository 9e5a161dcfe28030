/** The incident state machine (ITIL). Pure: no I/O, no clock. */
import { DomainError } from '../../core/errors.js';

/** Impact, urgency and priority are the core's: problems have them too. */
export { LEVELS, levelsForPriority, priorityOf, type Level } from '../../core/priority.js';

export const INCIDENT_STATES = ['new', 'acknowledged', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

export const HOLD_REASONS = ['awaiting_caller', 'awaiting_change', 'awaiting_problem', 'awaiting_vendor'] as const;
export type HoldReason = (typeof HOLD_REASONS)[number];

export const INCIDENT_EVENTS = ['ack', 'start', 'hold', 'resolve', 'reopen', 'close', 'cancel'] as const;
export type IncidentEventType = (typeof INCIDENT_EVENTS)[number];

/** An event with its data. */
export type IncidentEvent =
  | { type: 'ack' | 'start' | 'reopen' | 'close' | 'cancel' }
  | { type: 'hold'; reason: HoldReason }
  | { type: 'resolve' };

/** Side effects the service carries out after a transition. */
export type IncidentEffect =
  | 'record_acknowledgement' // first response: stops the response clock (MTTA)
  | 'pause_resolution_clock'
  | 'resume_resolution_clock'
  | 'stop_resolution_clock'
  | 'restart_resolution_clock'
  | 'schedule_auto_close'
  | 'cancel_auto_close'
  | 'stop_all_timers'
  | 'record_resolution'
  | 'record_closure';

/** The transition table of ARCHITECTURE.md: from -> event -> to. */
export const TRANSITIONS: Record<IncidentState, Partial<Record<IncidentEventType, IncidentState>>> = {
  new: { ack: 'acknowledged', start: 'in_progress', resolve: 'resolved', cancel: 'cancelled' },
  acknowledged: { start: 'in_progress', hold: 'on_hold', resolve: 'resolved', cancel: 'cancelled' },
  in_progress: { hold: 'on_hold', resolve: 'resolved', cancel: 'cancelled' },
  on_hold: { start: 'in_progress', resolve: 'resolved', cancel: 'cancelled' },
  resolved: { reopen: 'in_progress', close: 'closed' },
  closed: {},
  cancelled: {},
};

/** Words for states in sentences. */
export const STATE_WORDS: Record<IncidentState, string> = {
  new: 'new', acknowledged: 'acknowledged', in_progress: 'in progress', on_hold: 'on hold', resolved: 'resolved', closed: 'closed', cancelled: 'cancelled',
};

/** What the state allows next, as command words (`ack`, `resolve`, …). */
export function allowedEvents(state: IncidentState): IncidentEventType[] {
  return Object.keys(TRANSITIONS[state]) as IncidentEventType[];
}

/** The result of a transition. */
export interface TransitionResult {
  next: IncidentState;
  effects: IncidentEffect[];
}

/** Applies an event to a state. Returns the next state and effects, or a DomainError saying why not and what is possible. */
export function transition(state: IncidentState, event: IncidentEvent): TransitionResult | DomainError {
  const next = TRANSITIONS[state][event.type];
  if (!next) {
    const allowed = allowedEvents(state);
    const hint = allowed.length
      ? `From ${STATE_WORDS[state]} you can: ${allowed.map((e) => e).join(', ')}.`
      : `${STATE_WORDS[state][0]!.toUpperCase()}${STATE_WORDS[state].slice(1)} is final; open a new incident if the problem is back.`;
    return new DomainError('incident.invalid_transition', `An incident that is ${STATE_WORDS[state]} cannot be ${pastTense(event.type)}. ${hint}`, 409);
  }
  const effects: IncidentEffect[] = [];
  const leavingHold = state === 'on_hold';
  if (state === 'new' && (event.type === 'ack' || event.type === 'start' || event.type === 'resolve')) effects.push('record_acknowledgement');
  if (next === 'on_hold') effects.push('pause_resolution_clock');
  if (leavingHold && next === 'in_progress') effects.push('resume_resolution_clock');
  if (next === 'resolved') effects.push('record_resolution', leavingHold ? 'stop_all_timers' : 'stop_resolution_clock', 'schedule_auto_close');
  if (event.type === 'reopen') effects.push('cancel_auto_close', 'restart_resolution_clock');
  if (next === 'closed') effects.push('record_closure', 'stop_all_timers');
  if (next === 'cancelled') effects.push('record_closure', 'stop_all_timers');
  return { next, effects };
}

function pastTense(event: IncidentEventType): string {
  return { ack: 'acknowledged', start: 'started', hold: 'put on hold', resolve: 'resolved', reopen: 'reopened', close: 'closed', cancel: 'cancelled' }[event];
}

/** States in which an incident still needs work (for lists and SLA). */
export const OPEN_STATES: readonly IncidentState[] = ['new', 'acknowledged', 'in_progress', 'on_hold'];

/** True while the incident still needs work (for lists and SLA). */
export function isOpen(state: IncidentState): boolean {
  return OPEN_STATES.includes(state);
}
