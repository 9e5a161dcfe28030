/**
 * Approvals, shared by every workflow whose records need one (requests, access grants). No command of its own: an owner
 * starts an approval with `approval.start` (its policy copied with every target resolved to person ids), approvers decide
 * on DM cards (or through the owner's REST actions with `approval.decide`), and the owner hears the outcome only as the
 * record event `approval.decided`. Hooks for owners with stricter rules:
 * - `approval.deciding` (announce inline, before a decision counts): an inline subscriber may veto it by throwing a
 *   PolicyRefusal (separation of duties); the decision rolls back and the refusal is audited.
 * - `secondStep: true` at start: an approve press does not count yet; `approval.second_step` is announced and the owner
 *   counts it with `approval.confirm` once its own second step (a one-time code, a link) succeeded.
 * - `selfApprovalCode`: the code a self-approval refusal carries (`access.self_approval`).
 * - `approval.changed`: every step (started, decision, stage, question, answer, escalation) for the owner's card and timeline.
 */
import type { PersonTarget } from '../../core/config/targets.js';
import { conflict } from '../../core/errors.js';
import type { ActorRef } from '../../core/identity.js';
import type { OpContext, Permission, Workflow } from '../../core/workflow.js';
import { approvalActions } from './approval.commands.js';
import { approvalConfig } from './approval.config.js';
import { approvalRoutes } from './approval.routes.js';
import {
  answerQuestions, approvalOfSubject, cancelApproval, confirmDecision, decide, startApproval, statusOf, type ApprovalInput, type ApprovalStatus,
} from './approval.service.js';
import { resolveTargets, type TargetContext } from './approval.targets.js';
import { approvalTimers } from './approval.timers.js';

export type { ApprovalInput, ApprovalStatus };

/** Common fields of approval events: the approval and the record it decides. */
interface ApprovalEventBase {
  /** `APR-3`. */
  id: string;
  approvalId: number;
  /** The owner's record (`REQ-7`). */
  subject: string;
  /** The owning workflow (`request`). */
  owner: string;
}

/** `approval.decided`: the approval ended. The owner's only way to learn the outcome. */
export interface ApprovalDecided extends ApprovalEventBase {
  outcome: 'approved' | 'rejected' | 'expired';
  /** Why (a rejection's reason, or how long it waited before it expired). */
  reason: string | null;
  /** Who decided last (the scheduler for an expiry). */
  by: ActorRef;
  decisions: { stage: number; person: string; decision: 'approve' | 'reject'; reason: string | null; at: string }[];
}

/** `approval.changed`: a step of a running approval, with a sentence for the owner's timeline. */
export interface ApprovalChanged extends ApprovalEventBase {
  what: 'started' | 'decision' | 'stage' | 'question' | 'answered' | 'escalated' | string;
  text: string;
  actor: ActorRef;
}

/** `approval.deciding`: a decision about to count (inline subscribers may veto it with a PolicyRefusal). */
export interface ApprovalDeciding extends ApprovalEventBase {
  person: string;
  decision: 'approve' | 'reject';
  /** 1-based. */
  stage: number;
  actor: ActorRef;
}

/** `approval.second_step`: an approve press waits for the owner's second step (`approval.confirm`). */
export interface ApprovalSecondStep extends ApprovalEventBase {
  person: string;
  stage: number;
  actor: ActorRef;
}

declare module '../../core/workflow.js' {
  interface RecordEvents {
    'approval.decided': ApprovalDecided;
    'approval.changed': ApprovalChanged;
    'approval.deciding': ApprovalDeciding;
    'approval.second_step': ApprovalSecondStep;
  }
  interface Operations {
    /** Starts the approval of a record in the caller's transaction (a coded 409 when a stage names nobody). */
    'approval.start': (op: OpContext, input: ApprovalInput) => Promise<{ id: string; approvalId: number }>;
    /** A decision by `op.actor` on the pending approval of a record, checked like a button press (policy refusals, 409s). */
    'approval.decide': (op: OpContext, input: { subject: string; decision: 'approve' | 'reject'; reason?: string }) => Promise<{ sentence: string; state: string }>;
    /** Counts an approve press that waited for the owner's second step. */
    'approval.confirm': (op: OpContext, input: { subject: string; person: string }) => Promise<{ state: string }>;
    /** Cancels the pending approval of a record (the owner cancelled the record); false when none was pending. */
    'approval.cancel': (op: OpContext, input: { subject: string; reason?: string }) => Promise<boolean>;
    /** The requester (`op.actor`) answers the open questions about a record's approval; how many were answered. */
    'approval.answer': (op: OpContext, input: { subject: string; answer: string }) => Promise<number>;
    /**
     * Targets of the organisation file's grammar resolved to person ids now, the way approvals resolve their policies
     * (for other deciders, like access reviewers). The person it is about is included when a target names them.
     */
    'approval.resolve': (op: OpContext, input: { targets: readonly PersonTarget[] } & TargetContext) => Promise<string[]>;
    /** The newest approval of a record, for the owner's card and REST. */
    'approval.status': (op: OpContext, input: { subject: string }) => Promise<ApprovalStatus | undefined>;
  }
}

const permissions: Record<string, Permission> = {
  // Who may decide a particular record is its copied policy (checked by person id), not a role.
  'approval.decide': { roles: ['requester'], what: 'decide approvals' },
  'approval.ask': { roles: ['requester'], what: 'ask questions about approvals' },
  'approval.answer': { roles: ['requester'], what: 'answer questions about approvals' },
};

async function pendingOf(op: OpContext, subject: string) {
  const a = await approvalOfSubject(op.tx, subject);
  if (!a) throw conflict('approval.none', `${subject} has no approval to decide.`);
  return a;
}

/** Approvals. */
export const approvalWorkflow: Workflow = {
  name: 'approval',
  config: approvalConfig,
  permissions,
  actions: approvalActions,
  timers: approvalTimers,
  provides: {
    'approval.start': async ({ tx, app, now, actor }, input) => {
      const a = await startApproval(tx, app, input, actor, now);
      return { id: `APR-${a.id}`, approvalId: a.id };
    },
    'approval.decide': async (op, input) => {
      const a = await pendingOf(op, input.subject);
      const r = await decide(op.tx, op.app, { approvalId: a.id, decision: input.decision, reason: input.reason }, op.actor, op.now);
      return { sentence: r.sentence, state: r.approval.state };
    },
    'approval.confirm': async (op, input) => {
      const a = await pendingOf(op, input.subject);
      return { state: (await confirmDecision(op.tx, op.app, a.id, input.person, op.actor, op.now)).state };
    },
    'approval.cancel': async ({ tx, app, now, actor }, input) => cancelApproval(tx, app, input.subject, input.reason, actor, now),
    'approval.answer': async (op, input) => {
      const a = await approvalOfSubject(op.tx, input.subject);
      return a ? answerQuestions(op.tx, op.app, a.id, input.answer, op.actor, op.now) : 0;
    },
    'approval.status': async ({ tx }, input) => statusOf(tx, input.subject),
    'approval.resolve': async (op, { targets, ...ctx }) => resolveTargets(op, targets, ctx),
  },
  routes: approvalRoutes,
};
