/** Approval tables: approvals of records (`APR-n`) with their policy copied in, decisions, and questions to the requester. */
import { boolean, index, integer, jsonb, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** An approval (`APR-<id>`) of a record of another workflow (`REQ-7`, `GRT-3`). */
export const approvals = pgTable('approvals', {
  id: serial('id').primaryKey(),
  /** The record it decides (`REQ-7`) and the workflow that owns it (`request`). */
  subject: text('subject').notNull(),
  owner: text('owner').notNull(),
  requester: text('requester').notNull(),
  title: text('title').notNull(),
  /** What the approvers see: `[{label, value}]`. */
  details: jsonb('details').notNull().$type<{ label: string; value: string }[]>(),
  reason: text('reason'),
  policyName: text('policy_name').notNull(),
  /** The policy copied when approval started, every target resolved to person ids (StoredPolicy). */
  policy: jsonb('policy').notNull().$type<Record<string, unknown>>(),
  /** pending | approved | rejected | expired | cancelled */
  state: text('state').notNull(),
  /** The current stage (0-based) and when it started. */
  stage: integer('stage').notNull().default(0),
  stageStartedAt: ts('stage_started_at').notNull(),
  /** The current stage was escalated to its fallback approvers. */
  escalated: boolean('escalated').notNull().default(false),
  /** When it expires; moved later by the time a question kept it paused. */
  expiresAt: ts('expires_at').notNull(),
  /** Set while a question to the requester is unanswered (the expiry clock is paused). */
  pausedAt: ts('paused_at'),
  /** Approvals count only after the owner confirms them (a second step, e.g. a one-time code). */
  secondStep: boolean('second_step').notNull().default(false),
  /** The refusal code for self-approval (an owner may name its own, e.g. `access.self_approval`). */
  selfApprovalCode: text('self_approval_code').notNull().default('approval.self_approval'),
  createdAt: ts('created_at').notNull(),
  decidedAt: ts('decided_at'),
  decidedBy: text('decided_by'),
  outcomeReason: text('outcome_reason'),
  reminders: integer('reminders').notNull().default(0),
  version: integer('version').notNull().default(1),
}, (t) => [
  index('approvals_subject').on(t.subject),
  index('approvals_state').on(t.state),
]);

/** One decision of one person in one stage (a person decides at most once per stage). */
export const approvalDecisions = pgTable('approval_decisions', {
  id: serial('id').primaryKey(),
  approvalId: integer('approval_id').notNull(),
  stage: integer('stage').notNull(),
  person: text('person').notNull(),
  /** approve | reject */
  decision: text('decision').notNull(),
  reason: text('reason'),
  /** False while the owner's second step is outstanding (the decision does not count yet). */
  confirmed: boolean('confirmed').notNull().default(true),
  source: text('source').notNull(),
  at: ts('at').notNull(),
}, (t) => [uniqueIndex('approval_decisions_once').on(t.approvalId, t.stage, t.person)]);

/** A question an approver asked the requester; the approval's expiry pauses until it is answered. */
export const approvalQuestions = pgTable('approval_questions', {
  id: serial('id').primaryKey(),
  approvalId: integer('approval_id').notNull(),
  asker: text('asker').notNull(),
  question: text('question').notNull(),
  askedAt: ts('asked_at').notNull(),
  answer: text('answer'),
  answeredAt: ts('answered_at'),
}, (t) => [index('approval_questions_approval').on(t.approvalId)]);
