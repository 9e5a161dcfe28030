/** Request fulfilment tables: requests (`REQ-n`), their fulfilment tasks (`TASK-n`), and knowledge articles (`KB-n`). */
import { sql } from 'drizzle-orm';
import { boolean, customType, index, integer, jsonb, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** PostgreSQL's `tsvector` (only SQL reads it). */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

/** A request from the service catalog (`REQ-<id>`). */
export const requests = pgTable('requests', {
  id: serial('id').primaryKey(),
  /** The catalog item's name and title when it was requested. */
  item: text('item').notNull(),
  itemTitle: text('item_title').notNull(),
  category: text('category').notNull(),
  service: text('service'),
  requester: text('requester').notNull(),
  source: text('source').notNull(),
  /** The validated field values by field id. */
  fields: jsonb('fields').notNull().$type<Record<string, unknown>>(),
  /** submitted | awaiting_approval | approved | in_fulfilment | fulfilled | incomplete | closed | rejected | cancelled */
  state: text('state').notNull(),
  approvalId: integer('approval_id'),
  /** tasks | webhook */
  fulfilment: text('fulfilment').notNull(),
  team: text('team'),
  /** Why it was rejected, cancelled or could not be completed; the note of a fulfilment. */
  outcome: text('outcome'),
  outcomeBy: text('outcome_by'),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
  approvedAt: ts('approved_at'),
  fulfilmentStartedAt: ts('fulfilment_started_at'),
  /** First response: the first task claimed, or the fulfilment webhook accepted. */
  respondedAt: ts('responded_at'),
  /** Fulfilled or found incomplete: when, and which (it stays known once the request is closed). */
  completedAt: ts('completed_at'),
  completion: text('completion'),
  closedAt: ts('closed_at'),
  responseDueAt: ts('response_due_at'),
  resolutionDueAt: ts('resolution_due_at'),
  responseBreached: boolean('response_breached').notNull().default(false),
  resolutionBreached: boolean('resolution_breached').notNull().default(false),
  /** Webhook fulfilment: sent | accepted | failed, then after a cancellation cancel_sent | cancel_accepted | cancel_failed; and the receiver's or the failure's words. */
  webhookState: text('webhook_state'),
  webhookNote: text('webhook_note'),
  version: integer('version').notNull().default(1),
}, (t) => [
  index('requests_state').on(t.state),
  index('requests_requester').on(t.requester, t.id),
  index('requests_item').on(t.item),
  index('requests_created').on(t.createdAt),
]);

/** A fulfilment task of a request (`TASK-<id>`), posted to the fulfilment team's channel. */
export const requestTasks = pgTable('request_tasks', {
  id: serial('id').primaryKey(),
  requestId: integer('request_id').notNull(),
  position: integer('position').notNull(),
  title: text('title').notNull(),
  team: text('team').notNull(),
  /** Task ids that must be done first. */
  after: jsonb('after').notNull().$type<number[]>(),
  /** waiting | open | claimed | done | cannot_complete | cancelled */
  state: text('state').notNull(),
  holder: text('holder'),
  reason: text('reason'),
  createdAt: ts('created_at').notNull(),
  openedAt: ts('opened_at'),
  claimedAt: ts('claimed_at'),
  finishedAt: ts('finished_at'),
}, (t) => [index('request_tasks_request').on(t.requestId, t.position)]);

/** A knowledge article (`KB-<id>`) read from the knowledge folder, searchable by its weighted text (title A, body B). */
export const knowledgeArticles = pgTable('knowledge_articles', {
  id: serial('id').primaryKey(),
  /** Path inside the knowledge folder (`vpn/reset.md`). */
  path: text('path').notNull(),
  title: text('title').notNull(),
  body: text('body').notNull(),
  /** SHA-256 of the file: unchanged files are not written again. */
  hash: text('hash').notNull(),
  indexedAt: ts('indexed_at').notNull(),
  search: tsvector('search').generatedAlwaysAs(sql`setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')`),
}, (t) => [
  uniqueIndex('knowledge_articles_path').on(t.path),
  index('knowledge_articles_search').using('gin', t.search),
]);
