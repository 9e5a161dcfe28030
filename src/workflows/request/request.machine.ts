/** Requests and their fulfilment tasks, pure: states, transitions with effects, task ordering and roll-up. No I/O, no clock. */
import { DomainError } from '../../core/errors.js';

/** Where a request stands. */
export const REQUEST_STATES = ['submitted', 'awaiting_approval', 'approved', 'in_fulfilment', 'fulfilled', 'incomplete', 'closed', 'rejected', 'cancelled'] as const;
/** One of REQUEST_STATES. */
export type RequestState = (typeof REQUEST_STATES)[number];

/** What can happen to a request. */
export const REQUEST_EVENTS = ['await_approval', 'approve', 'reject', 'start', 'fulfil', 'fail', 'close', 'cancel'] as const;
/** One of REQUEST_EVENTS. */
export type RequestEvent = (typeof REQUEST_EVENTS)[number];

/** Side effects the service carries out after a transition. */
export type RequestEffect =
  | 'start_approval'
  | 'cancel_approval'
  | 'record_approval'
  | 'start_fulfilment'
  | 'start_sla'
  | 'stop_sla'
  /** Cancelled in fulfilment: its open tasks are cancelled, or its fulfilment system is told to stop. */
  | 'withdraw_fulfilment'
  | 'record_outcome'
  | 'record_completion'
  | 'schedule_close'
  | 'record_closure';

/**
 * submitted → awaiting_approval → approved → in_fulfilment → fulfilled | incomplete → closed; rejected; cancelled.
 * A request without an approval policy goes from submitted straight to approved.
 */
export const TRANSITIONS: Record<RequestState, Partial<Record<RequestEvent, RequestState>>> = {
  submitted: { await_approval: 'awaiting_approval', approve: 'approved', cancel: 'cancelled' },
  awaiting_approval: { approve: 'approved', reject: 'rejected', cancel: 'cancelled' },
  approved: { start: 'in_fulfilment', cancel: 'cancelled' },
  in_fulfilment: { fulfil: 'fulfilled', fail: 'incomplete', cancel: 'cancelled' },
  fulfilled: { close: 'closed' },
  incomplete: { close: 'closed' },
  closed: {},
  rejected: {},
  cancelled: {},
};

/** Words for states in sentences and on cards. */
export const STATE_WORDS: Record<RequestState, string> = {
  submitted: 'submitted', awaiting_approval: 'awaiting approval', approved: 'approved', in_fulfilment: 'in fulfilment',
  fulfilled: 'fulfilled', incomplete: 'incomplete', closed: 'closed', rejected: 'rejected', cancelled: 'cancelled',
};

const EVENT_WORDS: Record<RequestEvent, string> = {
  await_approval: 'sent for approval', approve: 'approved', reject: 'rejected', start: 'put into fulfilment', fulfil: 'fulfilled',
  fail: 'marked incomplete', close: 'closed', cancel: 'cancelled',
};

/** States in which a request still needs something (lists, stats). */
export const OPEN_STATES: readonly RequestState[] = ['submitted', 'awaiting_approval', 'approved', 'in_fulfilment'];

/** The result of a transition. */
export interface TransitionResult {
  next: RequestState;
  effects: RequestEffect[];
}

/** Applies an event to a state: the next state and its effects, or a 409 DomainError saying why not and what is possible. */
export function transition(state: RequestState, event: RequestEvent): TransitionResult | DomainError {
  const next = TRANSITIONS[state][event];
  if (!next) {
    const allowed = Object.keys(TRANSITIONS[state]) as RequestEvent[];
    const hint = allowed.length ? `From ${STATE_WORDS[state]} it can be: ${allowed.map((e) => EVENT_WORDS[e]).join(', ')}.` : `${STATE_WORDS[state][0]!.toUpperCase()}${STATE_WORDS[state].slice(1)} is final.`;
    return new DomainError('request.invalid_transition', `A request that is ${STATE_WORDS[state]} cannot be ${EVENT_WORDS[event]}. ${hint}`, 409);
  }
  const effects: RequestEffect[] = [];
  switch (event) {
    case 'await_approval': effects.push('start_approval'); break;
    case 'approve': effects.push('record_approval'); break;
    case 'reject': effects.push('record_outcome'); break;
    case 'start': effects.push('start_fulfilment', 'start_sla'); break;
    case 'fulfil': case 'fail': effects.push('record_completion', 'stop_sla', 'schedule_close'); break;
    case 'close': effects.push('record_closure'); break;
    case 'cancel':
      if (state === 'awaiting_approval') effects.push('cancel_approval');
      if (state === 'in_fulfilment') effects.push('withdraw_fulfilment', 'stop_sla');
      effects.push('record_outcome');
      break;
  }
  return { next, effects };
}

/** True when nothing can happen to the request any more but closing. */
export function isOpen(state: RequestState): boolean {
  return OPEN_STATES.includes(state);
}

/** Where a fulfilment task stands. */
export const TASK_STATES = ['waiting', 'open', 'claimed', 'done', 'cannot_complete', 'cancelled'] as const;
/** One of TASK_STATES. */
export type TaskState = (typeof TASK_STATES)[number];

/** What can happen to a task. */
export const TASK_EVENTS = ['open', 'claim', 'done', 'cannot_complete', 'cancel'] as const;
/** One of TASK_EVENTS. */
export type TaskEvent = (typeof TASK_EVENTS)[number];

/** A task waits for its `after` tasks, opens, is claimed, and ends done or not completable (or cancelled with its request). */
export const TASK_TRANSITIONS: Record<TaskState, Partial<Record<TaskEvent, TaskState>>> = {
  waiting: { open: 'open', cancel: 'cancelled' },
  open: { claim: 'claimed', done: 'done', cannot_complete: 'cannot_complete', cancel: 'cancelled' },
  claimed: { done: 'done', cannot_complete: 'cannot_complete', cancel: 'cancelled' },
  done: {},
  cannot_complete: {},
  cancelled: {},
};

/** Words for task states. */
export const TASK_WORDS: Record<TaskState, string> = {
  waiting: 'waiting', open: 'open', claimed: 'claimed', done: 'done', cannot_complete: "can't be completed", cancelled: 'cancelled',
};

/** The next task state, or a 409 DomainError. */
export function taskTransition(state: TaskState, event: TaskEvent): TaskState | DomainError {
  const next = TASK_TRANSITIONS[state][event];
  if (next) return next;
  const why = state === 'waiting' ? 'it waits for the tasks before it' : `it is ${TASK_WORDS[state]}`;
  return new DomainError('request.task_invalid_transition', `That task cannot be ${event === 'cannot_complete' ? "marked as can't complete" : event === 'done' ? 'marked done' : `${event}ed`}: ${why}.`, 409);
}

/** The part of a task the ordering needs. */
export interface TaskShape {
  id: number;
  state: TaskState;
  after: number[];
}

/** Waiting tasks whose `after` tasks are all done: they open now. */
export function tasksToOpen(tasks: readonly TaskShape[]): number[] {
  const done = new Set(tasks.filter((t) => t.state === 'done').map((t) => t.id));
  return tasks.filter((t) => t.state === 'waiting' && t.after.every((a) => done.has(a))).map((t) => t.id);
}

/** Where the tasks leave the request: every task done → fulfilled; one that cannot be completed → incomplete. */
export function rollUp(tasks: readonly TaskShape[]): 'fulfilled' | 'incomplete' | 'in_fulfilment' {
  if (tasks.some((t) => t.state === 'cannot_complete')) return 'incomplete';
  if (tasks.length > 0 && tasks.every((t) => t.state === 'done')) return 'fulfilled';
  return 'in_fulfilment';
}
