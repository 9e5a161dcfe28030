/** Approvals, pure: states and transitions, who may decide a stage, and when a stage is decided. No I/O, no clock. */
import { DomainError } from '../../core/errors.js';
import type { ApprovalRule } from './approval.config.js';

/** Where an approval stands. */
export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;
/** One of APPROVAL_STATES. */
export type ApprovalState = (typeof APPROVAL_STATES)[number];

/** What can happen to an approval. */
export const APPROVAL_EVENTS = ['approve', 'reject', 'expire', 'cancel'] as const;
/** One of APPROVAL_EVENTS. */
export type ApprovalEventType = (typeof APPROVAL_EVENTS)[number];

/** The transition table: only a pending approval changes; every outcome is final. */
export const TRANSITIONS: Record<ApprovalState, Partial<Record<ApprovalEventType, ApprovalState>>> = {
  pending: { approve: 'approved', reject: 'rejected', expire: 'expired', cancel: 'cancelled' },
  approved: {},
  rejected: {},
  expired: {},
  cancelled: {},
};

/** Words for states in sentences. */
export const APPROVAL_WORDS: Record<ApprovalState, string> = {
  pending: 'pending', approved: 'approved', rejected: 'rejected', expired: 'expired', cancelled: 'cancelled',
};

/** The next state, or a 409 DomainError saying the approval is already decided. */
export function transition(state: ApprovalState, event: ApprovalEventType): ApprovalState | DomainError {
  const next = TRANSITIONS[state][event];
  if (next) return next;
  return new DomainError('approval.already_decided', `This approval is already ${APPROVAL_WORDS[state]}; nothing more can be decided on it.`, 409);
}

/** One stage as copied onto an approval: approvers and fallback resolved to person ids. */
export interface StoredStage {
  /** Person ids who may decide the stage (the requester left out unless self-approval is allowed). */
  approvers: string[];
  /** Person ids asked too once the stage is escalated; any one of them decides it. */
  fallback: string[];
  rule: ApprovalRule;
  escalateAfterMs?: number;
  /** How the targets read (`manager`, `team it`, `on call for web-primary`), for cards. */
  targets: string[];
}

/** A policy as copied onto an approval when it starts; later config edits do not change it. */
export interface StoredPolicy {
  name: string;
  stages: StoredStage[];
  expireAfterMs: number;
  remindAfterMs: number;
  remindEveryMs: number;
  allowSelfApproval: boolean;
}

/** A decision of one person in one stage. */
export interface Vote {
  stage: number;
  person: string;
  decision: 'approve' | 'reject';
  /** False while a second step (owner's confirmation) is outstanding: it does not count yet. */
  confirmed: boolean;
}

/** People who may decide a stage now. */
export function eligibleFor(stage: StoredStage, escalated: boolean): string[] {
  return [...new Set([...stage.approvers, ...(escalated ? stage.fallback : [])])];
}

/** Approvals a rule needs from the stage's approvers (n is capped at how many there are). */
export function needed(stage: StoredStage): number {
  if (stage.rule.kind === 'any') return 1;
  if (stage.rule.kind === 'all') return stage.approvers.length;
  return Math.min(stage.rule.n, stage.approvers.length);
}

/**
 * Where a stage stands given its counted votes: a rejection by anyone eligible rejects it; an escalated stage is approved
 * by any one fallback approver; otherwise the rule counts approvals by the stage's approvers.
 */
export function stageOutcome(stage: StoredStage, votes: readonly Vote[], escalated: boolean): 'approved' | 'rejected' | 'pending' {
  const eligible = new Set(eligibleFor(stage, escalated));
  const counted = votes.filter((v) => v.confirmed && eligible.has(v.person));
  if (counted.some((v) => v.decision === 'reject')) return 'rejected';
  const approvals = new Set(counted.filter((v) => v.decision === 'approve').map((v) => v.person));
  if (escalated && stage.fallback.some((p) => approvals.has(p))) return 'approved';
  const byApprovers = stage.approvers.filter((p) => approvals.has(p)).length;
  return byApprovers >= needed(stage) ? 'approved' : 'pending';
}

/** What a press of Approve or Reject by a person amounts to. */
export type DecisionCheck =
  | { kind: 'count' }
  /** The person already decided this stage (or an earlier one): answered, not counted. */
  | { kind: 'repeat'; earlier: Vote }
  | { kind: 'self' }
  | { kind: 'not_eligible'; eligible: string[] };

/** Checks a decision before it counts: repeats first (never refused twice), then self-approval, then eligibility. */
export function checkDecision(input: {
  person: string;
  requester: string;
  policy: StoredPolicy;
  stage: number;
  escalated: boolean;
  votes: readonly Vote[];
}): DecisionCheck {
  const mine = input.votes.filter((v) => v.person === input.person);
  const here = mine.find((v) => v.stage === input.stage);
  if (here) return { kind: 'repeat', earlier: here };
  const stage = input.policy.stages[input.stage]!;
  const eligible = eligibleFor(stage, input.escalated);
  if (input.person === input.requester && !input.policy.allowSelfApproval) return { kind: 'self' };
  if (!eligible.includes(input.person)) {
    const earlier = mine.find((v) => v.stage < input.stage);
    return earlier ? { kind: 'repeat', earlier } : { kind: 'not_eligible', eligible };
  }
  return { kind: 'count' };
}

/** Approvers of the stage who have not decided yet (reminders go to them). */
export function undecided(stage: StoredStage, stageIndex: number, votes: readonly Vote[], escalated: boolean): string[] {
  const decided = new Set(votes.filter((v) => v.stage === stageIndex).map((v) => v.person));
  return eligibleFor(stage, escalated).filter((p) => !decided.has(p));
}

/** The rule in words: `any one of 2`, `all 3`, `2 of 3`. */
export function ruleWords(stage: StoredStage): string {
  const n = stage.approvers.length;
  if (n === 0) return 'its fallback decides';
  if (stage.rule.kind === 'any') return n === 1 ? 'one approver' : `any one of ${n}`;
  if (stage.rule.kind === 'all') return n === 1 ? 'one approver' : `all ${n}`;
  return `${needed(stage)} of ${n}`;
}
