/**
 * The request and task state machines, exhaustively: every state × every event against the flow the issue names,
 * written out here independently of the machine's own tables; then task ordering and the roll-up.
 */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import {
  rollUp, tasksToOpen, taskTransition, transition, type RequestEvent, type RequestState, type TaskEvent, type TaskState, type TransitionResult,
} from '../../../src/workflows/request/request.machine.js';

const STATES: RequestState[] = ['submitted', 'awaiting_approval', 'approved', 'in_fulfilment', 'fulfilled', 'incomplete', 'closed', 'rejected', 'cancelled'];
const EVENTS: RequestEvent[] = ['await_approval', 'approve', 'reject', 'start', 'fulfil', 'fail', 'close', 'cancel'];

/**
 * submitted → awaiting_approval → approved → in_fulfilment → fulfilled | incomplete → closed (after closeAfter);
 * rejected (a rejection or an expired approval), cancelled (by the requester, before it is done).
 * A request with no approval policy is approved straight from submitted.
 */
const EXPECTED: Record<RequestState, Partial<Record<RequestEvent, RequestState>>> = {
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

const cases = STATES.flatMap((state) => EVENTS.map((event) => ({ state, event, to: EXPECTED[state][event] })));

describe('request transitions: every state × every event', () => {
  it('covers 72 pairs, 13 of them allowed (3 + 3 + 2 + 3 + 1 + 1)', () => {
    expect(cases).toHaveLength(72);
    expect(cases.filter((c) => c.to)).toHaveLength(13);
  });

  it.each(cases)('$state + $event -> $to', ({ state, event, to }) => {
    const result = transition(state, event);
    if (to) {
      expect(result).not.toBeInstanceOf(DomainError);
      expect((result as TransitionResult).next).toBe(to);
      return;
    }
    expect(result).toBeInstanceOf(DomainError);
    const err = result as DomainError;
    expect(err.code).toBe('request.invalid_transition');
    expect(err.status).toBe(409);
    expect(err.message).toMatch(/^A request that is [a-z ]+ cannot be [a-z ]+\. /);
    expect(err.message).toMatch(Object.keys(EXPECTED[state]).length ? /it can be: / : /is final\.$/);
  });
});

describe('request effects', () => {
  const allowed = cases.filter((c) => c.to);
  const effects = (state: RequestState, event: RequestEvent) => (transition(state, event) as TransitionResult).effects;

  it.each(allowed)('$state + $event: approval started only when sent for approval, cancelled only when cancelling one that waits', ({ state, event }) => {
    expect(effects(state, event).includes('start_approval')).toBe(event === 'await_approval');
    expect(effects(state, event).includes('cancel_approval')).toBe(event === 'cancel' && state === 'awaiting_approval');
  });

  it.each(allowed)('$state + $event: fulfilment and SLA start together, on start only', ({ state, event }) => {
    expect(effects(state, event).includes('start_fulfilment')).toBe(event === 'start');
    expect(effects(state, event).includes('start_sla')).toBe(event === 'start');
  });

  it.each(allowed)('$state + $event -> $to: SLA stops and auto-close is scheduled when fulfilment ends', ({ state, event, to }) => {
    const e = effects(state, event);
    expect(e.includes('schedule_close')).toBe(to === 'fulfilled' || to === 'incomplete');
    expect(e.includes('stop_sla')).toBe(to === 'fulfilled' || to === 'incomplete' || (to === 'cancelled' && state === 'in_fulfilment'));
    expect(e.includes('withdraw_fulfilment')).toBe(to === 'cancelled' && state === 'in_fulfilment');
  });

  it.each(allowed)('$state + $event -> $to: the outcome is recorded for rejections and cancellations, the completion for fulfilment', ({ state, event, to }) => {
    const e = effects(state, event);
    expect(e.includes('record_outcome')).toBe(to === 'rejected' || to === 'cancelled');
    expect(e.includes('record_completion')).toBe(to === 'fulfilled' || to === 'incomplete');
    expect(e.includes('record_closure')).toBe(to === 'closed');
  });
});

const TASK_STATES: TaskState[] = ['waiting', 'open', 'claimed', 'done', 'cannot_complete', 'cancelled'];
const TASK_EVENTS: TaskEvent[] = ['open', 'claim', 'done', 'cannot_complete', 'cancel'];
/** Tasks: waiting (for their `after` tasks) → open → claimed → done | cannot_complete; cancelled with their request. */
const TASK_EXPECTED: Record<TaskState, Partial<Record<TaskEvent, TaskState>>> = {
  waiting: { open: 'open', cancel: 'cancelled' },
  open: { claim: 'claimed', done: 'done', cannot_complete: 'cannot_complete', cancel: 'cancelled' },
  claimed: { done: 'done', cannot_complete: 'cannot_complete', cancel: 'cancelled' },
  done: {},
  cannot_complete: {},
  cancelled: {},
};
const taskCases = TASK_STATES.flatMap((state) => TASK_EVENTS.map((event) => ({ state, event, to: TASK_EXPECTED[state][event] })));

describe('task transitions: every state × every event', () => {
  it('covers 30 pairs, 9 of them allowed', () => {
    expect(taskCases).toHaveLength(30);
    expect(taskCases.filter((c) => c.to)).toHaveLength(9);
  });

  it.each(taskCases)('$state + $event -> $to', ({ state, event, to }) => {
    const result = taskTransition(state, event);
    if (to) expect(result).toBe(to);
    else {
      expect(result).toBeInstanceOf(DomainError);
      expect((result as DomainError).code).toBe('request.task_invalid_transition');
      expect((result as DomainError).status).toBe(409);
      expect((result as DomainError).message).toMatch(state === 'waiting' ? /waits for the tasks before it/ : /it is /);
    }
  });
});

describe('task ordering and roll-up', () => {
  const t = (id: number, state: TaskState, after: number[] = []) => ({ id, state, after });

  it('opens a waiting task only when every task it waits for is done', () => {
    const tasks = [t(1, 'done'), t(2, 'claimed'), t(3, 'waiting', [1]), t(4, 'waiting', [1, 2]), t(5, 'open')];
    expect(tasksToOpen(tasks)).toEqual([3]);
    expect(tasksToOpen(tasks.map((x) => (x.id === 2 ? { ...x, state: 'done' as const } : x)))).toEqual([3, 4]);
    // a task that can't be completed never unblocks the ones after it
    expect(tasksToOpen([t(1, 'cannot_complete'), t(2, 'waiting', [1])])).toEqual([]);
  });

  it('rolls up: all done → fulfilled, one cannot be completed → incomplete, else still in fulfilment', () => {
    expect(rollUp([t(1, 'done'), t(2, 'done')])).toBe('fulfilled');
    expect(rollUp([t(1, 'done'), t(2, 'cannot_complete'), t(3, 'open')])).toBe('incomplete');
    expect(rollUp([t(1, 'done'), t(2, 'claimed')])).toBe('in_fulfilment');
    expect(rollUp([t(1, 'done'), t(2, 'waiting', [1])])).toBe('in_fulfilment');
    expect(rollUp([])).toBe('in_fulfilment');
  });
});
