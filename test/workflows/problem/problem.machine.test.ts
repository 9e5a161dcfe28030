/**
 * The problem state machine, exhaustively: every state × every event (resolve once per code) against the flow the issue
 * names, written out here independently of the machine's own tables, with the effects of each allowed pair.
 */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import { allowedEvents, isOpen, resolveCodes, transition, type ProblemEvent, type ProblemState, type TransitionResult } from '../../../src/workflows/problem/problem.machine.js';

const STATES: ProblemState[] = ['new', 'assessing', 'root_cause_analysis', 'fix_in_progress', 'resolved', 'closed'];
const EVENTS: { name: string; event: ProblemEvent }[] = [
  { name: 'assess', event: { type: 'assess' } },
  { name: 'rca', event: { type: 'rca' } },
  { name: 'workaround', event: { type: 'workaround' } },
  { name: 'fix', event: { type: 'fix' } },
  { name: 'resolve fix_applied', event: { type: 'resolve', code: 'fix_applied' } },
  { name: 'resolve risk_accepted', event: { type: 'resolve', code: 'risk_accepted' } },
  { name: 'duplicate', event: { type: 'duplicate' } },
  { name: 'close', event: { type: 'close' } },
  { name: 'assign', event: { type: 'assign' } },
  { name: 'note', event: { type: 'note' } },
  { name: 'link', event: { type: 'link' } },
  { name: 'unlink', event: { type: 'unlink' } },
  { name: 'priority', event: { type: 'priority' } },
];

/**
 * new → assessing → root_cause_analysis → fix_in_progress → resolved → closed. resolved also straight from
 * root_cause_analysis with risk_accepted (and from fix_in_progress with either code), and from new or assessing as a
 * duplicate. A root cause may be recorded from new (which confirms the problem) and corrected later; a workaround may be
 * given while the problem is open; a fix may be updated while in progress. Field changes (assign, note, link, unlink,
 * priority) keep the state and are allowed until the problem is closed.
 */
const EXPECTED: Record<ProblemState, Record<string, { to: ProblemState; effects: string[] }>> = {
  new: {
    assess: { to: 'assessing', effects: ['record_confirmation'] },
    rca: { to: 'root_cause_analysis', effects: ['record_confirmation', 'record_root_cause'] },
    workaround: { to: 'new', effects: ['record_workaround', 'communicate_workaround'] },
    duplicate: { to: 'resolved', effects: ['record_resolution', 'move_links_to_original'] },
  },
  assessing: {
    rca: { to: 'root_cause_analysis', effects: ['record_root_cause'] },
    workaround: { to: 'assessing', effects: ['record_workaround', 'communicate_workaround'] },
    duplicate: { to: 'resolved', effects: ['record_resolution', 'move_links_to_original'] },
  },
  root_cause_analysis: {
    rca: { to: 'root_cause_analysis', effects: ['record_root_cause'] },
    workaround: { to: 'root_cause_analysis', effects: ['record_workaround', 'communicate_workaround'] },
    fix: { to: 'fix_in_progress', effects: ['record_fix'] },
    'resolve risk_accepted': { to: 'resolved', effects: ['record_resolution'] },
  },
  fix_in_progress: {
    rca: { to: 'fix_in_progress', effects: ['record_root_cause'] },
    workaround: { to: 'fix_in_progress', effects: ['record_workaround', 'communicate_workaround'] },
    fix: { to: 'fix_in_progress', effects: ['record_fix'] },
    'resolve fix_applied': { to: 'resolved', effects: ['record_resolution', 'resolve_waiting_incidents'] },
    'resolve risk_accepted': { to: 'resolved', effects: ['record_resolution'] },
  },
  resolved: { close: { to: 'closed', effects: ['record_closure'] } },
  closed: {},
};
const FIELD = ['assign', 'note', 'link', 'unlink', 'priority'];

const cases = STATES.flatMap((state) => EVENTS.map(({ name, event }) => {
  const expected = EXPECTED[state][name] ?? (FIELD.includes(name) && state !== 'closed' ? { to: state, effects: [] } : undefined);
  return { state, name, event, expected };
}));

describe('problem transitions: every state × every event', () => {
  it('covers 78 pairs, 42 allowed (17 state changes and updates: 4 + 3 + 4 + 5 + 1, and 25 field changes)', () => {
    expect(cases).toHaveLength(78);
    expect(cases.filter((c) => c.expected)).toHaveLength(42);
    expect(cases.filter((c) => c.expected && !FIELD.includes(c.name))).toHaveLength(17);
  });

  it.each(cases)('$state + $name', ({ state, event, expected }) => {
    const result = transition(state, event);
    if (expected) {
      expect(result).not.toBeInstanceOf(DomainError);
      expect((result as TransitionResult).next).toBe(expected.to);
      expect((result as TransitionResult).effects).toEqual(expected.effects);
    } else {
      expect(result).toBeInstanceOf(DomainError);
      const e = result as DomainError;
      expect(e.code).toBe('problem.invalid_transition');
      expect(e.status).toBe(409);
    }
  });
});

describe('refusals say what is possible', () => {
  it('names the first step for the common wrong orders', () => {
    expect((transition('new', { type: 'fix' }) as DomainError).message).toBe('A problem in new cannot be given a fix. Record the root cause first: /problem rca PRB-n <root cause>.');
    expect((transition('root_cause_analysis', { type: 'resolve', code: 'fix_applied' }) as DomainError).message)
      .toBe('A problem in root cause analysis cannot be resolved with fix_applied. Start the fix first (/problem fix PRB-n <change reference> <notes>), or resolve it with code:risk_accepted.');
    expect((transition('fix_in_progress', { type: 'duplicate' }) as DomainError).message).toBe('A problem in fix in progress cannot be marked a duplicate. Only a new or assessing problem can be marked a duplicate.');
    expect((transition('assessing', { type: 'resolve', code: 'risk_accepted' }) as DomainError).message).toMatch(/Find the root cause first/);
  });

  it('otherwise lists what the state allows; closed is final', () => {
    expect((transition('resolved', { type: 'workaround' }) as DomainError).message).toBe('A problem in resolved cannot be given a workaround. From resolved you can: close, assign, note, link, unlink, priority.');
    expect((transition('closed', { type: 'close' }) as DomainError).message).toBe('A problem in closed cannot be closed. Closed is final; open a new problem if it is back.');
    expect((transition('closed', { type: 'note' }) as DomainError).message).toMatch(/^A closed problem cannot be noted on\. Closed is final/);
    expect(allowedEvents('root_cause_analysis')).toEqual(['rca', 'workaround', 'fix', 'resolve code:risk_accepted', 'assign', 'note', 'link', 'unlink', 'priority']);
  });

  it('the resolve form offers the codes the state allows: risk accepted after the root cause, a fix applied once it is under way', () => {
    expect(Object.fromEntries(STATES.map((s) => [s, resolveCodes(s)]))).toEqual({
      new: [], assessing: [], root_cause_analysis: ['risk_accepted'], fix_in_progress: ['fix_applied', 'risk_accepted'], resolved: [], closed: [],
    });
  });

  it('open states are the four before resolved', () => {
    expect(STATES.filter(isOpen)).toEqual(['new', 'assessing', 'root_cause_analysis', 'fix_in_progress']);
  });
});
