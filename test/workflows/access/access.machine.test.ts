/**
 * The grant state machine, exhaustively: every state × every event against the lifecycle the issue names, written out
 * here independently of the machine's own table; the effects of each allowed pair; and the pure rules (duration limits,
 * separation of duties, the second step, extensions, drift, logins, review tallies).
 */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import {
  checkDuration, computeDrift, conflictsWith, extensionCheck, loginFor, needsSecondStep, tallyReview, transition,
  type GrantEffect, type GrantEvent, type GrantState, type TransitionResult,
} from '../../../src/workflows/access/access.machine.js';

const STATES: GrantState[] = ['requested', 'approved', 'provisioning', 'active', 'expiring', 'revoked', 'expired', 'denied', 'cancelled', 'failed'];
const EVENTS: GrantEvent[] = ['approve', 'deny', 'cancel', 'provision', 'activate', 'fail', 'warn', 'extend', 'expire', 'revoke'];

/**
 * requested → approved → provisioning → active → expiring → revoked | expired; denied (rejected or the approval expired),
 * cancelled (by the requester before it is provisioned), failed (the connector could not grant or confirm it).
 * An extension returns active or expiring to active; revoking or expiring a grant still being provisioned is allowed.
 */
const EXPECTED: Record<GrantState, Partial<Record<GrantEvent, GrantState>>> = {
  requested: { approve: 'approved', deny: 'denied', cancel: 'cancelled' },
  approved: { provision: 'provisioning', cancel: 'cancelled' },
  provisioning: { activate: 'active', fail: 'failed', revoke: 'revoked', expire: 'expired' },
  active: { warn: 'expiring', extend: 'active', expire: 'expired', revoke: 'revoked' },
  expiring: { extend: 'active', expire: 'expired', revoke: 'revoked' },
  revoked: {}, expired: {}, denied: {}, cancelled: {}, failed: {},
};

const cases = STATES.flatMap((state) => EVENTS.map((event) => ({ state, event, to: EXPECTED[state][event] })));
const allowed = cases.filter((c) => c.to);
const effects = (state: GrantState, event: GrantEvent): GrantEffect[] => (transition(state, event) as TransitionResult).effects;

describe('grant transitions: every state × every event', () => {
  it('covers 100 pairs, 16 of them allowed (3 + 2 + 4 + 4 + 3)', () => {
    expect(cases).toHaveLength(100);
    expect(allowed).toHaveLength(16);
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
    expect(err.code).toBe('access.invalid_transition');
    expect(err.status).toBe(409);
    expect(err.message).toMatch(/^A grant that is [a-z ]+ cannot be [a-z ]+\. /);
    expect(err.message).toMatch(Object.keys(EXPECTED[state]).length ? /it can be / : /is final\.$/);
  });
});

describe('grant effects', () => {
  it.each(allowed)('$state + $event: the connector is asked to grant only when provisioning starts', ({ state, event }) => {
    expect(effects(state, event).includes('connector_grant')).toBe(event === 'provision');
  });

  it.each(allowed)('$state + $event: removal at the target follows every end of held access, and nothing else', ({ state, event }) => {
    expect(effects(state, event).includes('connector_revoke')).toBe(event === 'expire' || event === 'revoke');
    expect(effects(state, event).includes('record_end')).toBe(event === 'expire' || event === 'revoke');
  });

  it.each(allowed)('$state + $event: the expiry clocks are set on activation and extension, stopped when access ends early', ({ state, event }) => {
    expect(effects(state, event).includes('schedule_expiry')).toBe(event === 'activate' || event === 'extend');
    expect(effects(state, event).includes('cancel_expiry')).toBe((event === 'expire' || event === 'revoke') && state !== 'provisioning');
    expect(effects(state, event).includes('cancel_provisioning')).toBe((event === 'expire' || event === 'revoke') && state === 'provisioning');
  });

  it.each(allowed)('$state + $event: a running approval is stopped on cancel, revoke and expiry (an extension waiting)', ({ state, event }) => {
    const stops = (event === 'cancel' && state === 'requested') || ((event === 'expire' || event === 'revoke') && state !== 'provisioning');
    expect(effects(state, event).includes('cancel_approval')).toBe(stops);
  });

  it('the owners and the security channel hear of a failure; the grantee of an expiry warning', () => {
    expect(effects('provisioning', 'fail')).toEqual(['record_outcome', 'notify_failure']);
    expect(effects('active', 'warn')).toEqual(['notify_expiring']);
    expect(effects('requested', 'deny')).toEqual(['record_outcome']);
    expect(effects('requested', 'approve')).toEqual(['record_approval']);
  });
});

describe('grant rules', () => {
  const limits = { defaultDuration: 4 * 3_600_000, maxDuration: 7 * 86_400_000 };

  it('a duration defaults to defaultDuration and may not exceed maxDuration: refused naming the limit, never clamped', () => {
    expect(checkDuration(undefined, limits)).toEqual({ ms: 4 * 3_600_000 });
    expect(checkDuration(2 * 86_400_000, limits)).toEqual({ ms: 2 * 86_400_000 });
    expect(checkDuration(7 * 86_400_000, limits)).toEqual({ ms: 7 * 86_400_000 });
    expect(checkDuration(8 * 86_400_000, limits)).toEqual({ problem: '8d is longer than the limit of 7d for this resource; ask for 7d or less' });
    expect(checkDuration(0, limits)).toEqual({ problem: 'write the duration like 30m, 4h or 2d' });
  });

  it('separation of duties: the conflicting roles a person holds, in either order of the pair', () => {
    const pairs: [string, string][] = [['read', 'admin'], ['deploy', 'approve-deploys']];
    expect(conflictsWith('admin', ['read'], pairs)).toEqual(['read']);
    expect(conflictsWith('read', ['admin', 'deploy'], pairs)).toEqual(['admin']);
    expect(conflictsWith('approve-deploys', ['deploy'], pairs)).toEqual(['deploy']);
    expect(conflictsWith('read', ['read', 'deploy'], pairs)).toEqual([]);
    expect(conflictsWith('read', [], [])).toEqual([]);
  });

  it('only high sensitivity needs a second step', () => {
    expect([needsSecondStep('low'), needsSecondStep('medium'), needsSecondStep('high')]).toEqual([false, false, true]);
  });

  it('an extension: self-extend within the limit applies at once, otherwise re-approval; beyond the limit refused naming it', () => {
    const H = 3_600_000;
    expect(extensionCheck(4 * H, 2 * H, { maxDuration: 8 * H, selfExtend: true })).toEqual({ kind: 'self', totalMs: 6 * H });
    expect(extensionCheck(4 * H, 2 * H, { maxDuration: 8 * H, selfExtend: false })).toEqual({ kind: 'approval', totalMs: 6 * H });
    expect(extensionCheck(4 * H, 4 * H, { maxDuration: 8 * H, selfExtend: true })).toEqual({ kind: 'self', totalMs: 8 * H });
    expect(extensionCheck(4 * H, 5 * H, { maxDuration: 8 * H, selfExtend: true })).toEqual({ kind: 'refused', problem: '4h plus 5h is longer than the limit of 8h in total for this resource; at most 4h more' });
    expect(extensionCheck(8 * H, 1 * H, { maxDuration: 8 * H, selfExtend: true })).toEqual({ kind: 'refused', problem: '8h plus 1h is longer than the limit of 8h in total for this resource; it cannot be extended further' });
  });

  it('drift: managed roles granted without an active grant, active grants missing; settling memberships count neither way', () => {
    const actual = [{ login: 'dave', role: 'read' }, { login: 'erin', role: 'read' }, { login: 'mallory', role: 'write' }, { login: 'dba', role: 'superuser' }, { login: 'gina', role: 'read' }];
    const active = [{ login: 'dave', role: 'read', grantId: 1 }, { login: 'frank', role: 'write', grantId: 2 }, { login: 'hank', role: 'read', grantId: 3 }];
    const settling = [{ login: 'gina', role: 'read' }, { login: 'hank', role: 'read' }];
    expect(computeDrift(actual, active, settling, ['read', 'write'])).toEqual([
      { kind: 'unexpected', login: 'erin', role: 'read' },
      { kind: 'unexpected', login: 'mallory', role: 'write' },
      { kind: 'missing', login: 'frank', role: 'write', grantId: 2 },
      { kind: 'missing', login: 'hank', role: 'read', grantId: 3 },
    ]);
    expect(computeDrift([], [], [], ['read'])).toEqual([]);
  });

  it('a login from the connector template: {person} is the person id, {email} the email (none without an email)', () => {
    expect(loginFor('{person}', { id: 'dave' })).toBe('dave');
    expect(loginFor('app_{person}', { id: 'dave' })).toBe('app_dave');
    expect(loginFor('{email}', { id: 'dave', email: 'dave@example.com' })).toBe('dave@example.com');
    expect(loginFor('{email}', { id: 'dave' })).toBeUndefined();
  });

  it('a review tally counts kept, revoked and unreviewed grants', () => {
    expect(tallyReview([{ decision: 'keep' }, { decision: 'revoke' }, { decision: null }, { decision: 'keep' }])).toEqual({ kept: 2, revoked: 1, unreviewed: 1 });
  });
});
