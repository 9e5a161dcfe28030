import { describe, expect, it } from 'vitest';
import {
  ALERT_STATES, applyAlertAction, deriveGroupState, deriveState, isFlapping, newAlertFlags, normaliseSeverity, type AlertAction, type AlertFlags, type AlertState,
} from '../../../src/workflows/event/event.machine.js';

const now = new Date('2026-01-05T10:00:00Z');
const later = new Date('2026-01-05T11:00:00Z');

/** Flags that derive to each state. */
const FLAGS: Record<AlertState, AlertFlags> = {
  firing: newAlertFlags(),
  flapping: newAlertFlags({ flapping: true }),
  acknowledged: { ...newAlertFlags(), acknowledgedAt: now, acknowledgedBy: 'alice' },
  silenced: newAlertFlags({ suppressedBy: 'SIL-1', suppressedUntil: later }),
  resolved: { ...newAlertFlags(), resolvedAt: now, resolvedBy: 'prometheus' },
};

const ACTIONS: Record<string, AlertAction> = {
  trigger: { type: 'trigger' },
  acknowledge: { type: 'acknowledge', by: 'bob' },
  resolve: { type: 'resolve', by: 'bob' },
  suppress: { type: 'suppress', by: 'SIL-2', until: later },
  unsuppress: { type: 'unsuppress' },
};

/** Expected next state, or `ignored`, for every state × action. */
const TABLE: Record<AlertState, Record<string, AlertState | 'ignored'>> = {
  firing: { trigger: 'firing', acknowledge: 'acknowledged', resolve: 'resolved', suppress: 'silenced', unsuppress: 'ignored' },
  flapping: { trigger: 'flapping', acknowledge: 'acknowledged', resolve: 'resolved', suppress: 'silenced', unsuppress: 'ignored' },
  acknowledged: { trigger: 'acknowledged', acknowledge: 'ignored', resolve: 'resolved', suppress: 'silenced', unsuppress: 'ignored' },
  silenced: { trigger: 'silenced', acknowledge: 'silenced', resolve: 'resolved', suppress: 'silenced', unsuppress: 'firing' },
  resolved: { trigger: 'ignored', acknowledge: 'ignored', resolve: 'ignored', suppress: 'ignored', unsuppress: 'ignored' },
};

describe('the alert lifecycle (PagerDuty rules)', () => {
  it('derives each state from its flags', () => {
    for (const s of ALERT_STATES) expect(deriveState(FLAGS[s])).toBe(s);
  });

  for (const state of ALERT_STATES) {
    for (const [name, action] of Object.entries(ACTIONS)) {
      it(`${state} × ${name} → ${TABLE[state][name]}`, () => {
        const r = applyAlertAction(FLAGS[state], action, later);
        if (TABLE[state][name] === 'ignored') {
          expect('ignored' in r).toBe(true);
        } else {
          expect('flags' in r).toBe(true);
          if ('flags' in r) expect(deriveState(r.flags)).toBe(TABLE[state][name]);
        }
      });
    }
  }

  it('a trigger on an open alert deduplicates; on a resolved one it asks for a new alert', () => {
    expect(applyAlertAction(FLAGS.firing, ACTIONS.trigger!, later)).toEqual({ flags: FLAGS.firing, outcome: 'deduplicated' });
    expect(applyAlertAction(FLAGS.resolved, ACTIONS.trigger!, later)).toEqual({ ignored: 'resolved: a trigger opens a new alert' });
  });

  it('records who acknowledged and resolved, and when', () => {
    const ack = applyAlertAction(FLAGS.firing, ACTIONS.acknowledge!, later);
    expect(ack).toMatchObject({ outcome: 'acknowledged', flags: { acknowledgedAt: later, acknowledgedBy: 'bob' } });
    const res = applyAlertAction(FLAGS.acknowledged, ACTIONS.resolve!, later);
    expect(res).toMatchObject({ outcome: 'resolved', flags: { resolvedAt: later, resolvedBy: 'bob', acknowledgedBy: 'alice' } });
  });

  it('an acknowledged alert that is silenced comes back acknowledged', () => {
    const s = applyAlertAction(FLAGS.acknowledged, ACTIONS.suppress!, later);
    if (!('flags' in s)) throw new Error('expected a transition');
    const u = applyAlertAction(s.flags, ACTIONS.unsuppress!, later);
    if (!('flags' in u)) throw new Error('expected a transition');
    expect(deriveState(u.flags)).toBe('acknowledged');
  });

  it('derives a group\'s state from its alerts', () => {
    expect(deriveGroupState({ open: 0, firing: 0, acknowledged: 0, silenced: 0 })).toBe('resolved');
    expect(deriveGroupState({ open: 3, firing: 1, acknowledged: 1, silenced: 1 })).toBe('firing');
    expect(deriveGroupState({ open: 2, firing: 0, acknowledged: 1, silenced: 1 })).toBe('acknowledged');
    expect(deriveGroupState({ open: 2, firing: 0, acknowledged: 0, silenced: 2 })).toBe('silenced');
  });

  it('counts flapping as more than N firing/resolved changes', () => {
    // two earlier alerts (4 changes) + this trigger = 5
    expect(isFlapping(2, 0, 4)).toBe(true);
    expect(isFlapping(2, 0, 5)).toBe(false);
    expect(isFlapping(0, 0, 1)).toBe(false);
  });

  it('maps monitors\' severity words', () => {
    expect(normaliseSeverity('critical')).toBe('critical');
    expect(normaliseSeverity('page')).toBe('critical');
    expect(normaliseSeverity('WARN')).toBe('warning');
    expect(normaliseSeverity('info')).toBe('info');
    expect(normaliseSeverity('whatever')).toBe('warning');
    expect(normaliseSeverity(undefined, 'error')).toBe('error');
  });
});
