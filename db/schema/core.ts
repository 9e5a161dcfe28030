/** Tables every workflow shares: people, audit, timeline, outbox, timers, cards, deliveries, conversations. */
import { sql } from 'drizzle-orm';
import {
  bigint, bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, smallint, text, timestamp, uniqueIndex,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** People known to tread: from the YAML config (source of truth) or first seen in chat (requesters). */
export const people = pgTable('people', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  email: text('email'),
  slackId: text('slack_id'),
  teamsId: text('teams_id'),
  timezone: text('timezone'),
  fromConfig: boolean('from_config').notNull().default(false),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [
  uniqueIndex('people_slack_id').on(t.slackId),
  uniqueIndex('people_teams_id').on(t.teamsId),
]);

/** Tamper-evident, append-only audit log: each row hashes the previous row's hash and its own content. */
export const auditLog = pgTable('audit_log', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
  at: ts('at').notNull(),
  actor: text('actor').notNull(),
  source: text('source').notNull(),
  subject: text('subject').notNull(),
  action: text('action').notNull(),
  data: jsonb('data').notNull().$type<Record<string, unknown>>(),
  prevHash: text('prev_hash').notNull(),
  hash: text('hash').notNull(),
}, (t) => [index('audit_subject').on(t.subject)]);

/** One row per audit chain: the newest hash, locked while appending so the chain stays linear. */
export const auditHead = pgTable('audit_head', {
  id: integer('id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull().default(0),
  hash: text('hash').notNull(),
});

/** What happened to a record, for people: `INC-7 acknowledged by Alice`. */
export const timeline = pgTable('timeline', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  subject: text('subject').notNull(),
  at: ts('at').notNull(),
  actor: text('actor').notNull(),
  source: text('source').notNull(),
  kind: text('kind').notNull(),
  text: text('text').notNull(),
  data: jsonb('data').$type<Record<string, unknown>>(),
}, (t) => [index('timeline_subject').on(t.subject, t.id)]);

/** Messages to send, written in the same transaction as the change they announce. */
export const outbox = pgTable('outbox', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  createdAt: ts('created_at').notNull().defaultNow(),
  availableAt: ts('available_at').notNull().defaultNow(),
  /** Orders delivery: rows with the same key go out in id order. Usually the subject (`INC-7`). */
  orderKey: text('order_key').notNull(),
  kind: text('kind').notNull(),
  payload: jsonb('payload').notNull().$type<Record<string, unknown>>(),
  /** Higher goes first across records (2: people waiting, like DMs and pages; 1: cards; 0: counters on busy cards). */
  priority: smallint('priority').notNull().default(1),
  attempts: integer('attempts').notNull().default(0),
  /** pending | sending | sent | dead | superseded */
  status: text('status').notNull().default('pending'),
  /** The platform message id once sent. */
  result: jsonb('result').$type<Record<string, unknown>>(),
  lastError: text('last_error'),
  sentAt: ts('sent_at'),
}, (t) => [
  index('outbox_pending').on(t.status, t.availableAt, t.id),
  index('outbox_order').on(t.orderKey, t.id),
]);

/** Every posted message that shows a record, so a change can update all of them. */
export const chatMessages = pgTable('chat_messages', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  subject: text('subject').notNull(),
  platform: text('platform').notNull(),
  /** `card` for a live card of the subject; `dm` for a page. */
  purpose: text('purpose').notNull().default('card'),
  channel: text('channel').notNull(),
  messageId: text('message_id').notNull(),
  ref: jsonb('ref').notNull().$type<Record<string, unknown>>(),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [
  index('chat_messages_subject').on(t.subject),
  uniqueIndex('chat_messages_msg').on(t.platform, t.channel, t.messageId),
]);

/** Work due later: escalations, SLA warnings, reminders, expiries. Claimed with FOR UPDATE SKIP LOCKED. */
export const timers = pgTable('timers', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  dueAt: ts('due_at').notNull(),
  kind: text('kind').notNull(),
  subject: text('subject').notNull(),
  /** Optional identity: a timer with the same key replaces the earlier one. */
  key: text('key'),
  payload: jsonb('payload').notNull().$type<Record<string, unknown>>().default(sql`'{}'::jsonb`),
  attempts: integer('attempts').notNull().default(0),
  lastError: text('last_error'),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [
  index('timers_due').on(t.dueAt),
  uniqueIndex('timers_key').on(t.key),
  index('timers_subject').on(t.subject),
]);

/**
 * Platform delivery ids already handled, so a retried delivery does nothing twice. A chat request acknowledged before it
 * is worked on (a Slack command, a Teams card action past its deadline) is written here first with what it asked
 * (`payload`): the process working on it holds it until `lease_until`; one whose lease ran out (its process died) is
 * worked on again by any replica (src/core/inbound-journal.ts). `payload` is cleared once it is done.
 */
export const deliveries = pgTable('deliveries', {
  id: text('id').primaryKey(),
  seenAt: ts('seen_at').notNull().defaultNow(),
  payload: jsonb('payload'),
  leaseUntil: ts('lease_until'),
  attempts: smallint('attempts').notNull().default(0),
}, (t) => [
  index('deliveries_seen').on(t.seenAt),
  index('deliveries_unfinished').on(t.leaseUntil).where(sql`payload is not null`),
]);

/**
 * Retry-After windows a platform announced (a Slack method for the workspace, a Teams conversation), so every replica
 * holds back, not only the one that got the 429.
 */
export const deliveryBlocks = pgTable('delivery_blocks', {
  platform: text('platform').notNull(),
  lane: text('lane').notNull(),
  blockedUntil: ts('blocked_until').notNull(),
}, (t) => [primaryKey({ columns: [t.platform, t.lane] })]);

/**
 * The processes delivering to chat through one database, each seen within the last seconds: every one keeps its share
 * of the platforms' budgets (Slack limits a method per workspace, not per process).
 */
export const deliveryReplicas = pgTable('delivery_replicas', {
  id: text('id').primaryKey(),
  seenAt: ts('seen_at').notNull(),
});

/** Conversation references seen by an adapter (Teams needs them for proactive messages). */
export const conversations = pgTable('conversations', {
  platform: text('platform').notNull(),
  key: text('key').notNull(),
  ref: jsonb('ref').notNull().$type<Record<string, unknown>>(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.platform, t.key] })]);
