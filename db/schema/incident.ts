/** Incident management tables. */
import { boolean, index, integer, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** An incident (`INC-<id>`). */
export const incidents = pgTable('incidents', {
  id: serial('id').primaryKey(),
  title: text('title').notNull(),
  description: text('description'),
  state: text('state').notNull(),
  holdReason: text('hold_reason'),
  holdNote: text('hold_note'),
  impact: text('impact').notNull(),
  urgency: text('urgency').notNull(),
  priority: integer('priority').notNull(),
  major: boolean('major').notNull().default(false),
  service: text('service'),
  assignee: text('assignee'),
  reporter: text('reporter').notNull(),
  source: text('source').notNull(),
  resolutionCode: text('resolution_code'),
  resolutionNotes: text('resolution_notes'),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
  acknowledgedAt: ts('acknowledged_at'),
  resolvedAt: ts('resolved_at'),
  closedAt: ts('closed_at'),
  /** SLA clocks: due times (null when met, paused or not applicable). */
  responseDueAt: ts('response_due_at'),
  resolutionDueAt: ts('resolution_due_at'),
  /** Resolution time already spent before the current hold, in ms of SLA time. */
  resolutionSpentMs: integer('resolution_spent_ms').notNull().default(0),
  resolutionClockStartedAt: ts('resolution_clock_started_at'),
  responseBreached: boolean('response_breached').notNull().default(false),
  resolutionBreached: boolean('resolution_breached').notNull().default(false),
  /** Where the major-incident channel is, if any. */
  majorChannel: jsonb('major_channel').$type<Record<string, unknown>>(),
  /** The conversation the incident was opened from. */
  origin: jsonb('origin').$type<Record<string, unknown>>(),
  version: integer('version').notNull().default(1),
}, (t) => [
  index('incidents_state').on(t.state),
  index('incidents_created').on(t.createdAt),
  index('incidents_service').on(t.service),
]);
