/** Approvals, pure: the transitions, the rules (any, all, n), escalation to the fallback, and which presses count. */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import {
  checkDecision, eligibleFor, needed, stageOutcome, transition, undecided, type ApprovalEventType, type ApprovalState, type StoredPolicy, type StoredStage, type Vote,
} from '../../../src/workflows/approval/approval.machine.js';

const STATES: ApprovalState[] = ['pending', 'approved', 'rejected', 'expired', 'cancelled'];
const EVENTS: ApprovalEventType[] = ['approve', 'reject', 'expire', 'cancel'];
const EXPECTED: Record<ApprovalEventType, ApprovalState> = { approve: 'approved', reject: 'rejected', expire: 'expired', cancel: 'cancelled' };

describe('approval transitions: every state × every event', () => {
  const cases = STATES.flatMap((state) => EVENTS.map((event) => ({ state, event })));
  it.each(cases)('$state + $event', ({ state, event }) => {
    const result = transition(state, event);
    if (state === 'pending') expect(result).toBe(EXPECTED[event]);
    else {
      expect(result).toBeInstanceOf(DomainError);
      expect((result as DomainError).status).toBe(409);
      expect((result as DomainError).code).toBe('approval.already_decided');
    }
  });
});

const stage = (approvers: string[], rule: StoredStage['rule'], fallback: string[] = []): StoredStage => ({ approvers, fallback, rule, targets: ['test'] });
const vote = (person: string, decision: 'approve' | 'reject' = 'approve', stageIndex = 0, confirmed = true): Vote => ({ stage: stageIndex, person, decision, confirmed });

describe('stage rules', () => {
  it('any: one approval by an approver decides', () => {
    const s = stage(['a', 'b', 'c'], { kind: 'any' });
    expect(stageOutcome(s, [], false)).toBe('pending');
    expect(stageOutcome(s, [vote('b')], false)).toBe('approved');
    expect(stageOutcome(s, [vote('x')], false)).toBe('pending'); // not an approver: does not count
  });

  it('all: every approver must approve', () => {
    const s = stage(['a', 'b', 'c'], { kind: 'all' });
    expect(needed(s)).toBe(3);
    expect(stageOutcome(s, [vote('a'), vote('b')], false)).toBe('pending');
    expect(stageOutcome(s, [vote('a'), vote('b'), vote('c')], false)).toBe('approved');
  });

  it('n: n approvals decide; n is capped at the number of approvers', () => {
    const s = stage(['a', 'b', 'c'], { kind: 'n', n: 2 });
    expect(stageOutcome(s, [vote('a')], false)).toBe('pending');
    expect(stageOutcome(s, [vote('a'), vote('c')], false)).toBe('approved');
    expect(needed(stage(['a'], { kind: 'n', n: 3 }))).toBe(1);
  });

  it('a rejection by anyone eligible rejects the stage, whatever the rule', () => {
    for (const rule of [{ kind: 'any' }, { kind: 'all' }, { kind: 'n', n: 2 }] as const) {
      expect(stageOutcome(stage(['a', 'b'], rule), [vote('a'), vote('b', 'reject')], false)).toBe('rejected');
    }
  });

  it('a decision waiting for its second step does not count yet', () => {
    expect(stageOutcome(stage(['a'], { kind: 'any' }), [vote('a', 'approve', 0, false)], false)).toBe('pending');
  });

  it('escalated: any one fallback approver decides, also for all', () => {
    const s = stage(['a', 'b'], { kind: 'all' }, ['f']);
    expect(eligibleFor(s, false)).toEqual(['a', 'b']);
    expect(eligibleFor(s, true)).toEqual(['a', 'b', 'f']);
    expect(stageOutcome(s, [vote('f')], false)).toBe('pending'); // not escalated: the fallback does not count
    expect(stageOutcome(s, [vote('f')], true)).toBe('approved');
    expect(stageOutcome(s, [vote('f', 'reject')], true)).toBe('rejected');
  });

  it('reminds only those who have not decided', () => {
    const s = stage(['a', 'b', 'c'], { kind: 'all' }, ['f']);
    expect(undecided(s, 0, [vote('a'), vote('b', 'approve', 1)], false)).toEqual(['b', 'c']);
    expect(undecided(s, 0, [vote('a')], true)).toEqual(['b', 'c', 'f']);
  });
});

describe('which presses count', () => {
  const policy = (allowSelfApproval: boolean): StoredPolicy => ({
    name: 'p', expireAfterMs: 1, remindAfterMs: 1, remindEveryMs: 1, allowSelfApproval,
    stages: [stage(['a', 'b'], { kind: 'all' }), stage(['c'], { kind: 'any' })],
  });
  const check = (person: string, votes: Vote[], stageIndex = 0, allowSelf = false, requester = 'r') =>
    checkDecision({ person, requester, policy: policy(allowSelf), stage: stageIndex, escalated: false, votes });

  it('counts an eligible approver once per stage; a second press is a repeat', () => {
    expect(check('a', [])).toEqual({ kind: 'count' });
    expect(check('a', [vote('a')])).toEqual({ kind: 'repeat', earlier: vote('a') });
  });

  it('refuses the requester (self-approval) before eligibility, unless the policy allows it', () => {
    expect(check('r', [])).toEqual({ kind: 'self' });
    expect(check('a', [], 0, false, 'a')).toEqual({ kind: 'self' });
    expect(check('a', [], 0, true, 'a')).toEqual({ kind: 'count' });
  });

  it('refuses someone who is not an approver of the current stage, naming who is', () => {
    expect(check('x', [])).toEqual({ kind: 'not_eligible', eligible: ['a', 'b'] });
    expect(check('a', [vote('a'), vote('b')], 1)).toEqual({ kind: 'repeat', earlier: vote('a') }); // decided stage 1 already: answered, not refused
    expect(check('x', [], 1)).toEqual({ kind: 'not_eligible', eligible: ['c'] });
  });
});
