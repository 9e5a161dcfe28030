/**
 * Problem management tables: problems (`PRB-n`) and the incidents linked to them, the known error database (`KE-n`, every
 * version kept, searched by a weighted generated `tsvector`), the hints it gave on incidents with their feedback, and the
 * recurring-incident proposals (`RCR-n`).
 */
import { sql } from 'drizzle-orm';
import { customType, index, integer, jsonb, pgTable, primaryKey, real, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** PostgreSQL's `tsvector` (only SQL reads it). */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

/** A problem (`PRB-<id>`): the unknown cause of one or more incidents. */
export const problems = pgTable('problems', {
  id: serial('id').primaryKey(),
  title: text('title').notNull(),
  /** The problem statement: what happens, where, since when. */
  statement: text('statement'),
  /** new | assessing | root_cause_analysis | fix_in_progress | resolved | closed */
  state: text('state').notNull(),
  impact: text('impact').notNull(),
  urgency: text('urgency').notNull(),
  priority: integer('priority').notNull(),
  service: text('service'),
  assignee: text('assignee'),
  reporter: text('reporter').notNull(),
  source: text('source').notNull(),
  rootCause: text('root_cause'),
  workaround: text('workaround'),
  changeRef: text('change_ref'),
  fixNotes: text('fix_notes'),
  /** fix_applied | risk_accepted | duplicate */
  resolution: text('resolution'),
  resolutionNotes: text('resolution_notes'),
  duplicateOf: integer('duplicate_of'),
  /** The conversation it was opened from. */
  origin: jsonb('origin').$type<Record<string, unknown>>(),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
  /** Confirmed as a problem (assessed), root cause found, fix started, resolved, closed: when and by whom. */
  confirmedAt: ts('confirmed_at'),
  confirmedBy: text('confirmed_by'),
  rootCauseAt: ts('root_cause_at'),
  rootCauseBy: text('root_cause_by'),
  workaroundAt: ts('workaround_at'),
  workaroundBy: text('workaround_by'),
  fixedAt: ts('fixed_at'),
  fixedBy: text('fixed_by'),
  resolvedAt: ts('resolved_at'),
  resolvedBy: text('resolved_by'),
  closedAt: ts('closed_at'),
  closedBy: text('closed_by'),
  version: integer('version').notNull().default(1),
}, (t) => [
  index('problems_state').on(t.state),
  index('problems_service').on(t.service),
]);

/** An incident linked to a problem: one problem per incident. */
export const problemIncidents = pgTable('problem_incidents', {
  problemId: integer('problem_id').notNull(),
  incidentId: integer('incident_id').notNull(),
  /** How: link | from | feedback | duplicate | recurring */
  via: text('via').notNull(),
  linkedBy: text('linked_by').notNull(),
  linkedAt: ts('linked_at').notNull(),
}, (t) => [
  primaryKey({ columns: [t.problemId, t.incidentId] }),
  uniqueIndex('problem_incidents_incident').on(t.incidentId),
]);

/**
 * A known error (`KE-<id>`) published from a problem: symptoms, root cause, workaround, affected services and error codes.
 * `search` weighs symptoms and error codes A, the title B, the workaround and root cause C.
 */
export const knownErrors = pgTable('known_errors', {
  id: serial('id').primaryKey(),
  problemId: integer('problem_id').notNull(),
  title: text('title').notNull(),
  symptoms: text('symptoms').notNull(),
  rootCause: text('root_cause'),
  workaround: text('workaround'),
  /** Affected service names (empty: any service). */
  services: jsonb('services').notNull().$type<string[]>(),
  errorCodes: jsonb('error_codes').notNull().$type<string[]>(),
  /** published | retired (readable, out of matching) */
  state: text('state').notNull(),
  version: integer('version').notNull().default(1),
  createdAt: ts('created_at').notNull(),
  createdBy: text('created_by').notNull(),
  updatedAt: ts('updated_at').notNull(),
  retiredAt: ts('retired_at'),
  retiredBy: text('retired_by'),
  /**
   * Where it matches: its services, or `{*}` for any service (one GIN-indexed condition for the search's service filter).
   * An array of text, whose overlap (`&&`) the index answers exactly: a jsonb `?|` made every match be checked again
   * row by row. Service names are ids (lower-case letters, digits, `.`, `_`, `-`), so the JSON text `["a", "b"]` without
   * its brackets and quotes, split at ", ", is the list.
   */
  scope: text('scope').array().generatedAlwaysAs(sql`case when services = '[]'::jsonb then array['*'] else string_to_array(translate(services::text, '[]"', ''), ', ') end`),
  search: tsvector('search').generatedAlwaysAs(sql`setweight(to_tsvector('english'::regconfig, coalesce(symptoms, '')) || to_tsvector('english'::regconfig, error_codes), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(workaround, '') || ' ' || coalesce(root_cause, '')), 'C')`),
}, (t) => [
  uniqueIndex('known_errors_problem').on(t.problemId),
  // One GIN index on both: a hint search (a service's known errors matching any of the words) is one index scan that
  // intersects them, rather than two bitmaps of thousands of rows ANDed; searches by words alone use it as well.
  index('known_errors_scope_search').using('gin', t.scope, t.search),
]);

/** Every version of a known error, the first one included. */
export const knownErrorVersions = pgTable('known_error_versions', {
  knownErrorId: integer('known_error_id').notNull(),
  version: integer('version').notNull(),
  /** The fields as they were in this version. */
  fields: jsonb('fields').notNull().$type<Record<string, unknown>>(),
  changedBy: text('changed_by').notNull(),
  changedAt: ts('changed_at').notNull(),
  /** What changed, in words. */
  note: text('note'),
}, (t) => [primaryKey({ columns: [t.knownErrorId, t.version] })]);

/** A known error shown on an incident's card as a possible match, and what people said about it. */
export const kedbHints = pgTable('kedb_hints', {
  incidentId: integer('incident_id').notNull(),
  knownErrorId: integer('known_error_id').notNull(),
  /** The incident's service when the hint was shown (feedback ranks per service). */
  service: text('service'),
  rank: real('rank').notNull(),
  shownAt: ts('shown_at').notNull(),
  /** worked | not_related */
  feedback: text('feedback'),
  feedbackBy: text('feedback_by'),
  feedbackAt: ts('feedback_at'),
}, (t) => [
  primaryKey({ columns: [t.incidentId, t.knownErrorId] }),
  index('kedb_hints_feedback').on(t.knownErrorId, t.service),
]);

/** Incidents found recurring (same service, similar titles) and proposed as a problem (`RCR-<id>`). */
export const problemProposals = pgTable('problem_proposals', {
  id: serial('id').primaryKey(),
  service: text('service').notNull(),
  /** The incident ids, ascending. */
  incidentIds: jsonb('incident_ids').notNull().$type<number[]>(),
  /** The ids joined (`3,7,9`): a set is proposed once. */
  setKey: text('set_key').notNull(),
  /** proposed | opened | dismissed */
  state: text('state').notNull(),
  problemId: integer('problem_id'),
  createdAt: ts('created_at').notNull(),
  decidedBy: text('decided_by'),
  decidedAt: ts('decided_at'),
}, (t) => [uniqueIndex('problem_proposals_set').on(t.setKey)]);
