/**
 * The incident state machine, exhaustively: every state × every event against the table in ARCHITECTURE.md,
 * written out here independently of the machine's own TRANSITIONS.
 */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import {
  priorityOf, transition, type IncidentEvent, type IncidentEventType, type IncidentState, type TransitionResult,
} from '../../../src/workflows/incident/incident.machine.js';

const STATES: IncidentState[] = ['new', 'acknowledged', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'];
const EVENTS: IncidentEventType[] = ['ack', 'start', 'hold', 'resolve', 'reopen', 'close', 'cancel'];

/**
 * ARCHITECTURE.md, "Workflows": from -> to, with the event that leads there.
 *   new          | acknowledged, in_progress, resolved, cancelled
 *   acknowledged | in_progress, on_hold, resolved, cancelled
 *   in_progress  | on_hold, resolved, cancelled
 *   on_hold      | in_progress, resolved, cancelled
 *   resolved     | in_progress (reopen), closed
 *   closed, cancelled | — (final)
 */
const EXPECTED: Record<IncidentState, Partial<Record<IncidentEventType, IncidentState>>> = {
  new: { ack: 'acknowledged', start: 'in_progress', resolve: 'resolved', cancel: 'cancelled' },
  acknowledged: { start: 'in_progress', hold: 'on_hold', resolve: 'resolved', cancel: 'cancelled' },
  in_progress: { hold: 'on_hold', resolve: 'resolved', cancel: 'cancelled' },
  on_hold: { start: 'in_progress', resolve: 'resolved', cancel: 'cancelled' },
  resolved: { reopen: 'in_progress', close: 'closed' },
  closed: {},
  cancelled: {},
};

function eventOf(type: IncidentEventType): IncidentEvent {
  return type === 'hold' ? { type, reason: 'awaiting_vendor' } : { type } as IncidentEvent;
}

const cases = STATES.flatMap((state) => EVENTS.map((event) => ({ state, event, to: EXPECTED[state][event] })));

describe('incident transitions: every state × every event', () => {
  it('covers 49 pairs, 16 of them allowed (4 + 4 + 3 + 3 + 2 + 0 + 0)', () => {
    expect(cases).toHaveLength(49);
    expect(cases.filter((c) => c.to)).toHaveLength(16);
  });

  it.each(cases)('$state + $event -> $to', ({ state, event, to }) => {
    const result = transition(state, eventOf(event));
    if (to) {
      expect(result).not.toBeInstanceOf(DomainError);
      expect((result as TransitionResult).next).toBe(to);
    } else {
      expect(result).toBeInstanceOf(DomainError);
      const err = result as DomainError;
      expect(err.code).toBe('incident.invalid_transition');
      expect(err.status).toBe(409);
      // One sentence that says why and what is possible now.
      expect(err.message).toMatch(/^An incident that is [a-z ]+ cannot be [a-z ]+\. /);
      const allowed = Object.keys(EXPECTED[state]);
      if (allowed.length) {
        expect(err.message).toContain('you can:');
        const listed = /you can: ([a-z_, ]+)\.$/.exec(err.message)?.[1]?.split(', ');
        expect(listed?.sort()).toEqual([...allowed].sort());
      } else {
        expect(err.message).toMatch(/is final/);
      }
    }
  });
});

describe('incident effects', () => {
  const allowed = cases.filter((c) => c.to);
  const effectsOf = (state: IncidentState, event: IncidentEventType) => (transition(state, eventOf(event)) as TransitionResult).effects;

  it.each(allowed)('$state + $event: acknowledgement recorded only when leaving new by ack, start or resolve', ({ state, event }) => {
    const expected = state === 'new' && (event === 'ack' || event === 'start' || event === 'resolve');
    expect(effectsOf(state, event).includes('record_acknowledgement')).toBe(expected);
  });

  it.each(allowed)('$state + $event -> $to: resolution clock paused entering on_hold, resumed leaving it for work', ({ state, event, to }) => {
    const effects = effectsOf(state, event);
    expect(effects.includes('pause_resolution_clock')).toBe(to === 'on_hold');
    expect(effects.includes('resume_resolution_clock')).toBe(state === 'on_hold' && to === 'in_progress');
  });

  it.each(allowed)('$state + $event -> $to: auto-close scheduled on resolve, cancelled on reopen', ({ state, event, to }) => {
    const effects = effectsOf(state, event);
    expect(effects.includes('schedule_auto_close')).toBe(to === 'resolved');
    expect(effects.includes('cancel_auto_close')).toBe(event === 'reopen');
  });

  it('cancel of a new incident is not an acknowledgement', () => {
    expect(effectsOf('new', 'cancel')).not.toContain('record_acknowledgement');
  });

  it('resolving from on_hold stops every timer, closing and cancelling too', () => {
    expect(effectsOf('on_hold', 'resolve')).toEqual(expect.arrayContaining(['record_resolution', 'stop_all_timers', 'schedule_auto_close']));
    expect(effectsOf('resolved', 'close')).toEqual(expect.arrayContaining(['record_closure', 'stop_all_timers']));
    for (const s of ['new', 'acknowledged', 'in_progress', 'on_hold'] as const) {
      expect(effectsOf(s, 'cancel')).toEqual(expect.arrayContaining(['stop_all_timers']));
    }
  });

  it('a reopened incident restarts the resolution clock', () => {
    expect(effectsOf('resolved', 'reopen')).toEqual(expect.arrayContaining(['cancel_auto_close', 'restart_resolution_clock']));
  });
});

describe('priorityOf', () => {
  const table: [string, string, number][] = [
    ['high', 'high', 1], ['high', 'medium', 2], ['high', 'low', 3],
    ['medium', 'high', 2], ['medium', 'medium', 3], ['medium', 'low', 4],
    ['low', 'high', 3], ['low', 'medium', 4], ['low', 'low', 5],
  ];
  it.each(table)('impact %s × urgency %s = P%i', (impact, urgency, p) => {
    expect(priorityOf(impact as 'high', urgency as 'high')).toBe(p);
  });
});
