import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import {
  INCIDENT_EVENTS, INCIDENT_STATES, allowedEvents, isFinal, isOpen, levelsForPriority, priorityOf, transition,
  type IncidentEvent, type IncidentEventType, type IncidentState, type Level,
} from '../../../src/workflows/incident/incident.machine.js';

/** The transition table of ARCHITECTURE.md, written out again by hand (state -> event -> next). */
const EXPECTED: Record<IncidentState, Partial<Record<IncidentEventType, IncidentState>>> = {
  new: { ack: 'acknowledged', start: 'in_progress', resolve: 'resolved', cancel: 'cancelled' },
  acknowledged: { start: 'in_progress', hold: 'on_hold', resolve: 'resolved', cancel: 'cancelled' },
  in_progress: { hold: 'on_hold', resolve: 'resolved', cancel: 'cancelled' },
  on_hold: { start: 'in_progress', resolve: 'resolved', cancel: 'cancelled' },
  resolved: { reopen: 'in_progress', close: 'closed' },
  closed: {},
  cancelled: {},
};

const event = (type: IncidentEventType): IncidentEvent => (type === 'hold' ? { type, reason: 'awaiting_vendor' } : { type } as IncidentEvent);

describe('incident state machine', () => {
  it('knows exactly the seven ITIL states and seven events', () => {
    expect([...INCIDENT_STATES].sort()).toEqual(['acknowledged', 'cancelled', 'closed', 'in_progress', 'new', 'on_hold', 'resolved']);
    expect([...INCIDENT_EVENTS].sort()).toEqual(['ack', 'cancel', 'close', 'hold', 'reopen', 'resolve', 'start']);
  });

  for (const state of INCIDENT_STATES) {
    for (const type of INCIDENT_EVENTS) {
      const next = EXPECTED[state][type];
      if (next) {
        it(`${state} --${type}--> ${next}`, () => {
          const result = transition(state, event(type));
          expect(result).not.toBeInstanceOf(DomainError);
          expect((result as { next: IncidentState }).next).toBe(next);
        });
      } else {
        it(`${state} refuses ${type} with a sentence saying why and what is possible`, () => {
          const result = transition(state, event(type));
          expect(result).toBeInstanceOf(DomainError);
          const err = result as DomainError;
          expect(err.code).toBe('incident.invalid_transition');
          expect(err.status).toBe(409);
          const allowed = Object.keys(EXPECTED[state]);
          expect(err.message).toMatch(/^An incident that is [a-z ]+ cannot be [a-z ]+\./);
          if (allowed.length) expect(err.message).toContain(`you can: ${allowed.join(', ')}.`);
          else expect(err.message).toMatch(/is final; open a new incident/);
        });
      }
    }
  }

  it('allowedEvents, isFinal and isOpen agree with the table', () => {
    for (const state of INCIDENT_STATES) {
      expect(allowedEvents(state).sort()).toEqual(Object.keys(EXPECTED[state]).sort());
      expect(isFinal(state)).toBe(state === 'closed' || state === 'cancelled');
      expect(isOpen(state)).toBe(['new', 'acknowledged', 'in_progress', 'on_hold'].includes(state));
    }
  });

  it('counts resolving or starting a new incident as its acknowledgement (MTTA), and only from new', () => {
    for (const type of ['ack', 'start', 'resolve'] as const) {
      expect((transition('new', event(type)) as { effects: string[] }).effects).toContain('record_acknowledgement');
    }
    expect((transition('acknowledged', event('start')) as { effects: string[] }).effects).not.toContain('record_acknowledgement');
    expect((transition('acknowledged', event('resolve')) as { effects: string[] }).effects).not.toContain('record_acknowledgement');
  });

  it('pauses the resolution clock on hold and resumes it when work starts again', () => {
    expect((transition('in_progress', event('hold')) as { effects: string[] }).effects).toContain('pause_resolution_clock');
    expect((transition('acknowledged', event('hold')) as { effects: string[] }).effects).toContain('pause_resolution_clock');
    expect((transition('on_hold', event('start')) as { effects: string[] }).effects).toContain('resume_resolution_clock');
    expect((transition('acknowledged', event('start')) as { effects: string[] }).effects).not.toContain('resume_resolution_clock');
  });

  it('schedules the auto-close on resolve, cancels it on reopen, and stops timers when final', () => {
    for (const from of ['new', 'acknowledged', 'in_progress', 'on_hold'] as const) {
      const effects = (transition(from, event('resolve')) as { effects: string[] }).effects;
      expect(effects).toEqual(expect.arrayContaining(['record_resolution', 'schedule_auto_close']));
    }
    expect((transition('resolved', event('reopen')) as { effects: string[] }).effects).toEqual(expect.arrayContaining(['cancel_auto_close', 'restart_resolution_clock']));
    expect((transition('resolved', event('close')) as { effects: string[] }).effects).toEqual(expect.arrayContaining(['record_closure', 'stop_all_timers']));
    expect((transition('in_progress', event('cancel')) as { effects: string[] }).effects).toEqual(expect.arrayContaining(['record_closure', 'stop_all_timers']));
  });

  it('priority = impact + urgency − 1 for all nine combinations', () => {
    const n: Record<Level, number> = { high: 1, medium: 2, low: 3 };
    const table: [Level, Level, number][] = [
      ['high', 'high', 1], ['high', 'medium', 2], ['high', 'low', 3],
      ['medium', 'high', 2], ['medium', 'medium', 3], ['medium', 'low', 4],
      ['low', 'high', 3], ['low', 'medium', 4], ['low', 'low', 5],
    ];
    for (const [impact, urgency, p] of table) {
      expect(priorityOf(impact, urgency)).toBe(p);
      expect(p).toBe(n[impact] + n[urgency] - 1);
    }
    for (let p = 1; p <= 5; p++) {
      const { impact, urgency } = levelsForPriority(p);
      expect(priorityOf(impact, urgency)).toBe(p);
    }
  });
});
