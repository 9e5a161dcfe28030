/** The application context handed to workflows, the router, the scheduler and the HTTP server. */
import type { Database, Db } from '../../db/client.js';
import type { Clock } from './clock.js';
import type { CallStats } from './delivery/metrics.js';
import type { DatabaseHealth } from './errors.js';
import type { OrgConfig } from './config/org.js';
import type { Logger } from './logger.js';
import type { Platform } from './inbound.js';
import type { Permissions } from './permissions.js';
import type { Seam } from './seam.js';
import type { Webhooks } from './webhooks.js';

/** Shared, long-lived dependencies. */
export interface AppContext {
  database: Database;
  db: Db;
  config: OrgConfig;
  clock: Clock;
  log: Logger;
  /** Address people reach tread at (links in messages). */
  publicUrl?: string;
  /** Chat platforms that are on (adapters registered); the outbox only targets these. */
  platforms: Set<Platform>;
  /** What the registered workflows offer each other: record events, operations, card contributions. */
  seam: Seam;
  /** Who may do what, as the registered workflows declared it. */
  permissions: Permissions;
  /** Outgoing webhooks to the targets the workflows declared. */
  webhooks: Webhooks;
  /** Calls to the chat platforms, by method and outcome (the adapters' pacers report here; /metrics reads it). */
  chatCalls: CallStats;
  /** Recent database failures that readiness reports (a full disk). */
  health: DatabaseHealth;
}
