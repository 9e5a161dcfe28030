/**
 * The runtime: wires a running tread from its parts: the workflows (every registered one by default) with the seam
 * between them, the router, the outbox dispatcher, the scheduler, the HTTP server and the chat platforms it is given.
 * `src/start.ts` is the composition root that reads the environment and calls it; tests and benchmarks call it directly.
 */
import { readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql } from 'drizzle-orm';
import { migrationsFolder, queryRows, type Database } from '../db/client.js';
import type { AppContext } from './core/app.js';
import { auditHead } from './core/audit.js';
import { systemClock, type Clock } from './core/clock.js';
import type { OrgConfig } from './core/config/org.js';
import { Dispatcher } from './core/delivery/dispatcher.js';
import { CallStats } from './core/delivery/metrics.js';
import { DatabaseHealth } from './core/errors.js';
import { housekeeping } from './core/housekeeping.js';
import { syncPeople } from './core/identity.js';
import type { Platform } from './core/inbound.js';
import { silentLogger, type Logger } from './core/logger.js';
import { Permissions } from './core/permissions.js';
import type { PlatformAdapter } from './core/platform.js';
import type { Route, RouteTools } from './core/route.js';
import { Router } from './core/router.js';
import { RECORD_EVENT_TIMER, Seam } from './core/seam.js';
import { timerLagSeconds, type AnyTimerHandler } from './core/timers.js';
import { WEBHOOK_TIMER, Webhooks, type WebhookPolicy } from './core/webhooks.js';
import type { Workflow } from './core/workflow.js';
import { auditRoutes } from './http/audit.js';
import { bearerToken, sameSecret } from './http/credentials.js';
import { renderFamily } from './core/metrics.js';
import { infoPageRoutes } from './http/pages.js';
import { HttpServer, sendError, sendJson } from './http/server.js';
import { Scheduler } from './scheduler/scheduler.js';
import { allWorkflows, plannedCommands } from './workflows/index.js';

/** Options for starting tread. */
export interface TreadOptions {
  database: Database;
  config: OrgConfig;
  clock?: Clock;
  log?: Logger;
  publicUrl?: string;
  /** Builds the chat platforms once the router exists. */
  platforms?: (app: AppContext, router: Router) => Promise<PlatformAdapter[]> | PlatformAdapter[];
  /** Listen on HTTP (omit to only build the listener, e.g. for benchmarks). */
  http?: { host: string; port: number; tls?: { certFile: string; keyFile: string } };
  apiToken?: string;
  /** Scheduler tick in seconds; 0 turns the cron task off (tests call `tick()`). */
  tickSeconds?: number;
  workflows?: Workflow[];
  /** Retries of outgoing webhooks (tests shorten them). */
  webhookPolicy?: WebhookPolicy;
  /** How long a process holds an acknowledged chat request before another may replay it (src/core/inbound-journal.ts; tests shorten it). */
  inboundLeaseMs?: number;
}

/** A running tread. */
export interface Tread {
  app: AppContext;
  router: Router;
  dispatcher: Dispatcher;
  scheduler: Scheduler;
  http: HttpServer;
  adapters: PlatformAdapter[];
  workflows: Workflow[];
  /** The port the HTTP server listens on (0 when not listening). */
  port: number;
  /** Graceful stop: input off, in-flight work finished, outbox flushed, database closed. */
  stop(options?: { closeDatabase?: boolean }): Promise<void>;
}

/** Starts tread. */
export async function startTread(options: TreadOptions): Promise<Tread> {
  const log = options.log ?? silentLogger;
  const workflows = [...(options.workflows ?? allWorkflows), housekeeping];
  const app: AppContext = {
    database: options.database,
    db: options.database.db,
    config: options.config,
    clock: options.clock ?? systemClock,
    log,
    publicUrl: options.publicUrl,
    platforms: new Set<Platform>(),
    seam: new Seam(workflows),
    permissions: new Permissions(workflows),
    webhooks: Webhooks.fromWorkflows(workflows, options.config, options.webhookPolicy),
    chatCalls: new CallStats(),
    health: new DatabaseHealth(),
  };
  const router = new Router(app, workflows, plannedCommands, { inboundLeaseMs: options.inboundLeaseMs });
  // Every button and form action names a permission some workflow declared: an undeclared one stops start-up here.
  for (const [action, permission] of router.actionPermissions()) {
    if (!app.permissions.has(permission)) throw new Error(`action ${action} needs permission "${permission}", which no workflow declares`);
  }
  await syncPeople(app);
  const adapters = options.platforms ? await options.platforms(app, router) : [];
  const ports = new Map(adapters.map((a) => [a.platform, a.port] as const));
  for (const a of adapters) app.platforms.add(a.platform);
  const dispatcher = new Dispatcher(app, ports, { concurrency: app.config.delivery.concurrency, pacers: adapters.flatMap((a) => (a.pacer ? [a.pacer] : [])) });
  const scheduler = new Scheduler(app, timerHandlers(app, workflows), dispatcher, options.tickSeconds || 5);
  for (const w of workflows) await w.start?.(app);

  const http = new HttpServer({ host: options.http?.host ?? '127.0.0.1', port: options.http?.port ?? 0, log, tls: options.http?.tls, health: app.health });
  // After a change: send its messages now, and run its after-commit subscribers now rather than at the next tick; both
  // once the answer to the change is on its way (the event loop's next turn), so after-commit work (a known error
  // search, a connector call) never delays that answer, nor shares PGlite's one connection with it.
  let kickQueued = false;
  let stopped = false;
  const kick = () => {
    if (kickQueued) return;
    kickQueued = true;
    setImmediate(() => {
      kickQueued = false;
      if (stopped) return;
      if (app.seam.takeScheduled()) void scheduler.run();
      else dispatcher.kick();
      scheduler.poke();
    });
  };
  router.afterHandle = kick;
  const tools: RouteTools = { authorizeApi: (req, res) => authorizeApi(options.apiToken, req, res), kick };
  http.add(...coreRoutes(app, http, dispatcher, scheduler, workflows, router), ...auditRoutes(app, tools), ...infoPageRoutes(app.config.organisation));
  for (const a of adapters) http.add(...(a.routes ?? []));
  for (const w of workflows) http.add(...(w.routes?.(app, tools) ?? []));

  let port = 0;
  if (options.http) port = await http.listen();
  for (const a of adapters) await a.start?.();
  if (options.tickSeconds !== 0) {
    // Chat requests acknowledged by a process that died are replayed from now on (and this one's leases renewed).
    router.journal.start();
    scheduler.start();
    dispatcher.start();
  }

  let stopping: Promise<void> | undefined;
  return {
    app, router, dispatcher, scheduler, http, adapters, workflows, port,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        stopped = true;
        for (const a of adapters) await a.stop?.().catch((e) => log.warn({ err: (e as Error).message }, 'adapter stop failed'));
        await router.journal.stop();
        await http.close();
        await scheduler.stop();
        await dispatcher.stop();
        await dispatcher.flush().catch((e) => log.warn({ err: (e as Error).message }, 'final outbox flush failed'));
        if (stopOptions.closeDatabase !== false) await options.database.close();
      })();
      return stopping;
    },
  };
}

/** Outbox rows waiting to be sent, by platform (rows for every platform a record or person is on count as `any`). */
async function outboxWaiting(app: AppContext): Promise<{ platform: string; depth: number; oldestSeconds: number }[]> {
  const rows = await queryRows<{ platform: string; depth: number; oldest: number | null }>(app.db, sql`select coalesce(payload->'where'->>'platform', 'any') as platform,
      count(*)::int as depth, extract(epoch from (now() - min(created_at)))::float8 as oldest
    from outbox where status in ('pending', 'sending') group by 1`);
  const platforms = new Set<string>(['any', ...app.platforms]);
  return [...platforms].map((platform) => {
    const r = rows.find((x) => x.platform === platform);
    return { platform, depth: Number(r?.depth ?? 0), oldestSeconds: Number(Number(r?.oldest ?? 0).toFixed(3)) };
  });
}

/** Chat requests recorded and not yet handled (src/core/inbound-journal.ts). */
async function inboundUnfinished(app: AppContext): Promise<number> {
  const [row] = await queryRows<{ n: number }>(app.db, sql`select count(*)::int as n from deliveries where payload is not null`);
  return Number(row?.n ?? 0);
}

/** Every workflow's timer handlers by kind, and the seam's; a kind handled twice stops start-up. */
function timerHandlers(app: AppContext, workflows: Workflow[]): Record<string, AnyTimerHandler> {
  const handlers: Record<string, AnyTimerHandler> = { [RECORD_EVENT_TIMER]: app.seam.timer, [WEBHOOK_TIMER]: app.webhooks.timer };
  for (const w of workflows) {
    for (const [kind, handler] of Object.entries(w.timers ?? {})) {
      if (handlers[kind]) throw new Error(`timer kind ${kind} is handled twice (workflow ${w.name})`);
      handlers[kind] = handler;
    }
  }
  return handlers;
}

/** Checks the REST bearer token. With no TREAD_API_TOKEN the API is off (404). */
export function authorizeApi(token: string | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  if (!token) {
    sendError(res, 404, 'api.disabled', 'the REST API is off: set TREAD_API_TOKEN to turn it on');
    return false;
  }
  const given = bearerToken(req);
  if (given === undefined || !sameSecret(given, token)) {
    sendError(res, 401, 'api.unauthorized', given !== undefined ? 'the bearer token is wrong' : 'send Authorization: Bearer <TREAD_API_TOKEN>');
    return false;
  }
  return true;
}

function coreRoutes(app: AppContext, http: HttpServer, dispatcher: Dispatcher, scheduler: Scheduler, workflows: Workflow[], router: Router): Route[] {
  const expectedMigrations = readdirSync(migrationsFolder()).filter((f) => f.endsWith('.sql')).length;
  return [
    { method: 'GET', path: '/healthz', handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET', path: '/readyz', handler: async (_req, res) => {
        try {
          const applied = await queryRows<{ n: number }>(app.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
          const expected = expectedMigrations;
          const n = Number(applied[0]?.n ?? 0);
          if (n < expected) return sendJson(res, 503, { status: 'migrating', applied: n, expected });
          // reads work on a full disk; writes do not
          const diskFull = app.health.diskFull();
          if (diskFull) return sendJson(res, 503, { status: 'unavailable', error: `${diskFull}; writes fail until space is freed` });
          sendJson(res, 200, { status: 'ready', database: app.database.driver, migrations: n });
        } catch (e) {
          sendJson(res, 503, { status: 'unavailable', error: (e as Error).message });
        }
      },
    },
    {
      method: 'GET', path: '/metrics', handler: async (_req, res) => {
        const outbox = await queryRows<{ status: string; n: number }>(app.db, sql`select status, count(*)::int as n from outbox where status in ('pending','sending','dead') group by status`);
        const waiting = await outboxWaiting(app);
        const lag = await timerLagSeconds(app, app.clock.now());
        const text = [
          renderFamily({ name: 'tread_outbox_backlog', type: 'gauge', help: 'Outbox rows not yet sent, by status', samples: ['pending', 'sending', 'dead'].map((s) => ({ labels: { status: s }, value: Number(outbox.find((r) => r.status === s)?.n ?? 0) })) }),
          renderFamily({ name: 'tread_outbox_depth', type: 'gauge', help: 'Outbox rows waiting to be sent (pending or being sent), by platform (any: every platform the record or person is on)', samples: waiting.map((w) => ({ labels: { platform: w.platform }, value: w.depth })) }),
          renderFamily({ name: 'tread_outbox_oldest_pending_seconds', type: 'gauge', help: 'Age of the oldest outbox row waiting to be sent, by platform', samples: waiting.map((w) => ({ labels: { platform: w.platform }, value: w.oldestSeconds })) }),
          dispatcher.stats.render(),
          app.chatCalls.render(),
          renderFamily({ name: 'tread_audit_head_seq', type: 'gauge', help: 'Sequence number of the newest audit row (record `tread audit head` elsewhere; a drop means rows were deleted)', samples: [{ value: (await auditHead(app.db)).seq }] }),
          renderFamily({ name: 'tread_inbound_unfinished', type: 'gauge', help: 'Chat requests acknowledged and not yet handled (a process that died leaves them to be replayed)', samples: [{ value: await inboundUnfinished(app) }] }),
          renderFamily({ name: 'tread_inbound_replayed_total', type: 'counter', help: 'Chat requests this process replayed for a process that died, and those it gave up on after the last try (the person is told)', samples: [{ labels: { outcome: 'replayed' }, value: router.journal.counts.replayed }, { labels: { outcome: 'given_up' }, value: router.journal.counts.givenUp }] }),
          renderFamily({ name: 'tread_timer_lag_seconds', type: 'gauge', help: 'How long the oldest due timer has waited', samples: [{ value: lag }] }),
          renderFamily({ name: 'tread_scheduler_last_tick_timestamp_seconds', type: 'gauge', help: 'When the scheduler last ticked', samples: [{ value: (scheduler.lastTickAt?.getTime() ?? 0) / 1000 }] }),
          renderFamily({ name: 'tread_timers_run_total', type: 'counter', help: 'Timers this process ran, by outcome (failed: retried later)', samples: (['ran', 'failed'] as const).map((o) => ({ labels: { outcome: o }, value: scheduler.timersRun[o] })) }),
          http.durations.render(),
          ...(await Promise.all(workflows.map((w) => w.metrics?.(app) ?? Promise.resolve([])))).flat().map(renderFamily),
        ].join('\n\n');
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(`${text}\n`);
      },
    },
  ];
}
