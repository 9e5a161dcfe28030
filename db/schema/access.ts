/**
 * Access management tables: grants (`GRT-n`), the manual connector's tasks (`TASK-n`, numbered with the request tasks so
 * a task id means one task), second-step codes and links, drift found by reconciliation, and review campaigns (`REV-n`).
 */
import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** A grant of a role on a resource to a person (`GRT-<id>`). */
export const accessGrants = pgTable('access_grants', {
  id: serial('id').primaryKey(),
  resource: text('resource').notNull(),
  role: text('role').notNull(),
  /** The person it is for (a person id: matched by platform ids, never by display name). */
  person: text('person').notNull(),
  /** The target's login for the person (postgres connector), resolved when requested. */
  login: text('login').notNull(),
  /** request | breakglass */
  kind: text('kind').notNull(),
  /** low | medium | high, copied from the role when requested. */
  sensitivity: text('sensitivity').notNull(),
  /** manual | webhook | postgres, copied from the resource when requested. */
  connector: text('connector').notNull(),
  /** requested | approved | provisioning | active | expiring | revoked | expired | denied | cancelled | failed */
  state: text('state').notNull(),
  reason: text('reason'),
  ticket: text('ticket'),
  /** The incident a break-glass grant is for (`INC-7`). */
  incident: text('incident'),
  source: text('source').notNull(),
  /** How long it lasts once active (extensions added). */
  durationMs: integer('duration_ms').notNull(),
  approvalId: integer('approval_id'),
  /** An extension waiting for approval: how much longer, and why. */
  pendingExtensionMs: integer('pending_extension_ms'),
  pendingExtensionReason: text('pending_extension_reason'),
  extensions: integer('extensions').notNull().default(0),
  requestedAt: ts('requested_at').notNull(),
  approvedAt: ts('approved_at'),
  activatedAt: ts('activated_at'),
  /** When access ends (set when it becomes active; a break-glass grant's at once). */
  endsAt: ts('ends_at'),
  endedAt: ts('ended_at'),
  /** Who denied, cancelled, revoked or let it expire, and why; why it failed. */
  outcomeBy: text('outcome_by'),
  outcome: text('outcome'),
  /** Removal at the target after it ended: pending | done | retrying, with attempts and the last error. */
  removal: text('removal'),
  removalAttempts: integer('removal_attempts').notNull().default(0),
  removalError: text('removal_error'),
  removedAt: ts('removed_at'),
  /** Provisioning attempts (connection problems are retried before the grant fails). */
  grantAttempts: integer('grant_attempts').notNull().default(0),
  updatedAt: ts('updated_at').notNull(),
  version: integer('version').notNull().default(1),
}, (t) => [
  index('access_grants_state').on(t.state),
  index('access_grants_person').on(t.person, t.state),
  index('access_grants_resource').on(t.resource, t.state),
  index('access_grants_incident').on(t.incident),
]);

/** A task of the manual connector (grant, removal) or a break-glass review, for a team or the owners (`TASK-<id>`). */
export const accessTasks = pgTable('access_tasks', {
  id: integer('id').primaryKey().default(sql`nextval('request_tasks_id_seq'::regclass)`),
  grantId: integer('grant_id').notNull(),
  /** grant | revoke | breakglass_review */
  kind: text('kind').notNull(),
  title: text('title').notNull(),
  /** The team that does it (grant, revoke), or null when the resource's owners do (a review). */
  team: text('team'),
  /** open | done | cancelled */
  state: text('state').notNull(),
  doneBy: text('done_by'),
  note: text('note'),
  createdAt: ts('created_at').notNull(),
  doneAt: ts('done_at'),
}, (t) => [index('access_tasks_grant').on(t.grantId)]);

/** A second step of a high-sensitivity approval: a one-time code or a single-use link, stored hashed, for one approver. */
export const accessSecondSteps = pgTable('access_second_steps', {
  id: serial('id').primaryKey(),
  grantId: integer('grant_id').notNull(),
  /** The approval (`APR-n`) whose press waits. */
  approvalId: integer('approval_id').notNull(),
  person: text('person').notNull(),
  /** code | link */
  kind: text('kind').notNull(),
  /** SHA-256 of the code or the link's token. */
  secretHash: text('secret_hash').notNull(),
  createdAt: ts('created_at').notNull(),
  expiresAt: ts('expires_at').notNull(),
  usedAt: ts('used_at'),
  /** Wrong codes typed; after five the code is void. */
  failures: integer('failures').notNull().default(0),
}, (t) => [
  index('access_second_steps_grant').on(t.grantId, t.person),
  index('access_second_steps_secret').on(t.secretHash),
]);

/** A difference between what is really granted at a target and the active grants (found by reconciliation). */
export const accessDrift = pgTable('access_drift', {
  id: serial('id').primaryKey(),
  resource: text('resource').notNull(),
  login: text('login').notNull(),
  role: text('role').notNull(),
  /** unexpected (granted without an active grant) | missing (an active grant the target does not show) */
  kind: text('kind').notNull(),
  /** The grant that should be there (missing). */
  grantId: integer('grant_id'),
  firstSeen: ts('first_seen').notNull(),
  lastSeen: ts('last_seen').notNull(),
  resolvedAt: ts('resolved_at'),
}, (t) => [uniqueIndex('access_drift_open').on(t.resource, t.login, t.role, t.kind).where(sql`resolved_at is null`)]);

/** A review campaign of a resource's active grants (`REV-<id>`). */
export const accessReviews = pgTable('access_reviews', {
  id: serial('id').primaryKey(),
  resource: text('resource').notNull(),
  /** open | closed */
  state: text('state').notNull(),
  /** The reviewers, resolved to person ids when it started. */
  reviewers: jsonb('reviewers').notNull().$type<string[]>(),
  startedBy: text('started_by').notNull(),
  startedAt: ts('started_at').notNull(),
  deadline: ts('deadline').notNull(),
  revokeUnreviewed: boolean('revoke_unreviewed').notNull().default(false),
  closedAt: ts('closed_at'),
  /** At the close: kept, revoked, unreviewed (and what became of them). */
  result: jsonb('result').$type<Record<string, unknown>>(),
}, (t) => [index('access_reviews_resource').on(t.resource, t.state)]);

/** One grant in a campaign, and its decision. */
export const accessReviewItems = pgTable('access_review_items', {
  id: serial('id').primaryKey(),
  reviewId: integer('review_id').notNull(),
  grantId: integer('grant_id').notNull(),
  /** Who may review this grant, resolved when the campaign started (null in campaigns from before: the campaign's reviewers). */
  reviewers: jsonb('reviewers').$type<string[]>(),
  /** keep | revoke, or null while undecided */
  decision: text('decision'),
  decidedBy: text('decided_by'),
  reason: text('reason'),
  decidedAt: ts('decided_at'),
}, (t) => [uniqueIndex('access_review_items_once').on(t.reviewId, t.grantId)]);
