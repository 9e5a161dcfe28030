/** On-call tables: overrides made in chat, and running escalations (with their policy copied in). */
import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** An on-call override: `person` covers `schedule` from `starts_at` to `ends_at`. The newest override wins. */
export const oncallOverrides = pgTable('oncall_overrides', {
  id: serial('id').primaryKey(),
  schedule: text('schedule').notNull(),
  person: text('person').notNull(),
  startsAt: ts('starts_at').notNull(),
  endsAt: ts('ends_at').notNull(),
  createdBy: text('created_by').notNull(),
  source: text('source').notNull(),
  createdAt: ts('created_at').notNull(),
  /** Set when someone removed the override. */
  removedAt: ts('removed_at'),
  removedBy: text('removed_by'),
}, (t) => [index('oncall_overrides_schedule').on(t.schedule, t.endsAt)]);

/** An escalation of a record (`INC-7`, `ALR-3`): the policy as it was when paging started, and where it stands. */
export const escalations = pgTable('escalations', {
  id: serial('id').primaryKey(),
  subject: text('subject').notNull(),
  policyName: text('policy_name').notNull(),
  /** The policy copied at start: `{steps: [{targets, waitMs}], repeat}`; config edits later do not change it. */
  policy: jsonb('policy').notNull().$type<Record<string, unknown>>(),
  service: text('service'),
  title: text('title').notNull(),
  /** The card given at start (used for pages when no newer card of the record is known). */
  card: jsonb('card').$type<Record<string, unknown>>(),
  /** active | acknowledged | resolved | cancelled (stopped before an ack) | exhausted (every step paged) */
  state: text('state').notNull(),
  /** The step last paged (0-based) and the pass through the steps (0-based); -1 before the first page. */
  level: integer('level').notNull().default(-1),
  pass: integer('pass').notNull().default(0),
  pages: integer('pages').notNull().default(0),
  startedAt: ts('started_at').notNull(),
  startedBy: text('started_by').notNull(),
  lastPagedAt: ts('last_paged_at'),
  nextAt: ts('next_at'),
  acknowledgedAt: ts('acknowledged_at'),
  acknowledgedBy: text('acknowledged_by'),
  endedAt: ts('ended_at'),
}, (t) => [
  index('escalations_subject').on(t.subject),
  uniqueIndex('escalations_active_subject').on(t.subject).where(sql`state = 'active'`),
]);
