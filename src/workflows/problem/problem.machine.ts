/** The problem state machine (ServiceNow's model, ITIL). Pure: no I/O, no clock. */
import { DomainError } from '../../core/errors.js';

/** Where a problem stands. */
export const PROBLEM_STATES = ['new', 'assessing', 'root_cause_analysis', 'fix_in_progress', 'resolved', 'closed'] as const;
/** One of PROBLEM_STATES. */
export type ProblemState = (typeof PROBLEM_STATES)[number];

/** How a problem was resolved. */
export const RESOLUTIONS = ['fix_applied', 'risk_accepted', 'duplicate'] as const;
/** One of RESOLUTIONS. */
export type Resolution = (typeof RESOLUTIONS)[number];

/** The codes `/problem resolve` takes (a duplicate is resolved by `/problem duplicate`). */
export const RESOLVE_CODES = ['fix_applied', 'risk_accepted'] as const;
/** One of RESOLVE_CODES. */
export type ResolveCode = (typeof RESOLVE_CODES)[number];

/** What can happen to a problem: state events, then field events (which keep the state). */
export const PROBLEM_EVENTS = ['assess', 'rca', 'workaround', 'fix', 'resolve', 'duplicate', 'close', 'assign', 'note', 'link', 'unlink', 'priority'] as const;
/** One of PROBLEM_EVENTS. */
export type ProblemEventType = (typeof PROBLEM_EVENTS)[number];

/** An event with its data. */
export type ProblemEvent = { type: Exclude<ProblemEventType, 'resolve'> } | { type: 'resolve'; code: ResolveCode };

/** Side effects the service carries out after a transition. */
export type ProblemEffect =
  | 'record_confirmation' // confirmed as a problem: who and when
  | 'record_root_cause'
  | 'record_workaround'
  | 'communicate_workaround' // to every open linked incident: card, thread, their escalations stop
  | 'record_fix'
  | 'record_resolution'
  | 'resolve_waiting_incidents' // linked incidents on hold awaiting this problem are resolved
  | 'move_links_to_original' // a duplicate's incidents go to the problem it duplicates
  | 'record_closure';

/** Open states: the problem still needs work. */
export const OPEN_STATES: readonly ProblemState[] = ['new', 'assessing', 'root_cause_analysis', 'fix_in_progress'];

/** Words for states in sentences and on cards. */
export const STATE_WORDS: Record<ProblemState, string> = {
  new: 'new', assessing: 'assessing', root_cause_analysis: 'root cause analysis', fix_in_progress: 'fix in progress', resolved: 'resolved', closed: 'closed',
};

/** Where each state event leads from each state (the same state: a field of it is updated). `resolve` goes by its code. */
const STATE_TRANSITIONS: Record<ProblemState, Partial<Record<Exclude<ProblemEventType, 'resolve'> | `resolve:${ResolveCode}`, ProblemState>>> = {
  new: { assess: 'assessing', rca: 'root_cause_analysis', workaround: 'new', duplicate: 'resolved' },
  assessing: { rca: 'root_cause_analysis', workaround: 'assessing', duplicate: 'resolved' },
  root_cause_analysis: { rca: 'root_cause_analysis', workaround: 'root_cause_analysis', fix: 'fix_in_progress', 'resolve:risk_accepted': 'resolved' },
  fix_in_progress: { rca: 'fix_in_progress', workaround: 'fix_in_progress', fix: 'fix_in_progress', 'resolve:fix_applied': 'resolved', 'resolve:risk_accepted': 'resolved' },
  resolved: { close: 'closed' },
  closed: {},
};

/** Field events change no state and are allowed until the problem is closed. */
const FIELD_EVENTS: readonly ProblemEventType[] = ['assign', 'note', 'link', 'unlink', 'priority'];

const EVENT_WORDS: Record<string, string> = {
  assess: 'assessed', rca: 'given a root cause', workaround: 'given a workaround', fix: 'given a fix', 'resolve:fix_applied': 'resolved with fix_applied',
  'resolve:risk_accepted': 'resolved with risk_accepted', duplicate: 'marked a duplicate', close: 'closed', assign: 'assigned', note: 'noted on',
  link: 'linked to incidents', unlink: 'unlinked from incidents', priority: 'given another priority',
};

/** What the state allows, in words for a hint (`rca`, `resolve code:risk_accepted`, …). */
export function allowedEvents(state: ProblemState): string[] {
  const states = Object.keys(STATE_TRANSITIONS[state]).map((k) => (k.startsWith('resolve:') ? `resolve code:${k.slice(8)}` : k));
  return state === 'closed' ? [] : [...states, ...FIELD_EVENTS];
}

/** The result of a transition. */
export interface TransitionResult {
  next: ProblemState;
  effects: ProblemEffect[];
}

function keyOf(event: ProblemEvent): string {
  return event.type === 'resolve' ? `resolve:${event.code}` : event.type;
}

/** A sentence saying what to do first, for the common wrong orders. */
function why(state: ProblemState, key: string): string | undefined {
  if (key === 'fix' && (state === 'new' || state === 'assessing')) return 'Record the root cause first: /problem rca PRB-n <root cause>.';
  if (key === 'resolve:fix_applied' && state === 'root_cause_analysis') return 'Start the fix first (/problem fix PRB-n <change reference> <notes>), or resolve it with code:risk_accepted.';
  if (key.startsWith('resolve:') && (state === 'new' || state === 'assessing')) return 'Find the root cause first: /problem rca PRB-n <root cause>.';
  if (key === 'duplicate' && state !== 'closed' && state !== 'resolved') return 'Only a new or assessing problem can be marked a duplicate.';
  return undefined;
}

/** Applies an event to a state: the next state and its effects, or a 409 DomainError saying why not and what is possible. */
export function transition(state: ProblemState, event: ProblemEvent): TransitionResult | DomainError {
  const key = keyOf(event);
  if ((FIELD_EVENTS as readonly string[]).includes(key)) {
    if (state === 'closed') return new DomainError('problem.invalid_transition', `A closed problem cannot be ${EVENT_WORDS[key]}. Closed is final; open a new problem if it is back.`, 409);
    return { next: state, effects: [] };
  }
  const next = STATE_TRANSITIONS[state][key as keyof (typeof STATE_TRANSITIONS)[ProblemState]];
  if (!next) {
    const allowed = allowedEvents(state);
    const hint = why(state, key) ?? (allowed.length ? `From ${STATE_WORDS[state]} you can: ${allowed.join(', ')}.` : 'Closed is final; open a new problem if it is back.');
    return new DomainError('problem.invalid_transition', `A problem in ${STATE_WORDS[state]} cannot be ${EVENT_WORDS[key]}. ${hint}`, 409);
  }
  const effects: ProblemEffect[] = [];
  switch (key) {
    case 'assess': effects.push('record_confirmation'); break;
    case 'rca':
      if (state === 'new') effects.push('record_confirmation');
      effects.push('record_root_cause');
      break;
    case 'workaround': effects.push('record_workaround', 'communicate_workaround'); break;
    case 'fix': effects.push('record_fix'); break;
    case 'resolve:fix_applied': effects.push('record_resolution', 'resolve_waiting_incidents'); break;
    case 'resolve:risk_accepted': effects.push('record_resolution'); break;
    case 'duplicate': effects.push('record_resolution', 'move_links_to_original'); break;
    case 'close': effects.push('record_closure'); break;
  }
  return { next, effects };
}

/** The resolution codes a problem in this state may be resolved with (none: it cannot be resolved now). */
export function resolveCodes(state: ProblemState): ResolveCode[] {
  return RESOLVE_CODES.filter((code) => STATE_TRANSITIONS[state][`resolve:${code}`] !== undefined);
}

/** True while the problem needs work. */
export function isOpen(state: ProblemState): boolean {
  return OPEN_STATES.includes(state);
}
