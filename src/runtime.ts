/** The composition root: database + config + workflows + router + outbox + scheduler + HTTP + platforms. */
import { readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql } from 'drizzle-orm';
import { migrationsFolder, resultRows, type Database } from '../db/client.js';
import type { AppContext } from './core/app.js';
import { systemClock, type Clock } from './core/clock.js';
import type { OrgConfig } from './core/config/org.js';
import { Dispatcher } from './core/dispatcher.js';
import { housekeeping } from './core/housekeeping.js';
import { syncPeople } from './core/identity.js';
import type { Platform } from './core/inbound.js';
import { silentLogger, type Logger } from './core/logger.js';
import type { PlatformAdapter } from './core/platform.js';
import { Router } from './core/router.js';
import { timerLagSeconds, type TimerHandler } from './core/timers.js';
import type { RouteTools, Workflow } from './core/workflow.js';
import { bearerToken, sameSecret } from './http/credentials.js';
import { renderFamily } from './http/metrics.js';
import { HttpServer, sendError, sendJson, type Route } from './http/server.js';
import { Scheduler } from './scheduler/scheduler.js';
import { allWorkflows } from './workflows/index.js';

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
  };
  await syncPeople(app);
  const router = new Router(app, workflows);
  const adapters = options.platforms ? await options.platforms(app, router) : [];
  const ports = new Map(adapters.map((a) => [a.platform, a.port] as const));
  for (const a of adapters) app.platforms.add(a.platform);
  const dispatcher = new Dispatcher(app, ports);
  const handlers: Record<string, TimerHandler> = Object.assign({}, ...workflows.map((w) => w.timers));
  const scheduler = new Scheduler(app, handlers, dispatcher, options.tickSeconds || 5);
  for (const w of workflows) await w.start?.(app);

  const http = new HttpServer({ host: options.http?.host ?? '127.0.0.1', port: options.http?.port ?? 0, log, tls: options.http?.tls });
  const kick = () => { void dispatcher.flush().catch((e) => log.error({ err: (e as Error).message }, 'outbox flush failed')); };
  router.afterHandle = kick;
  const tools: RouteTools = { authorizeApi: (req, res) => authorizeApi(options.apiToken, req, res), kick };
  http.add(...coreRoutes(app, http, dispatcher, scheduler, workflows));
  for (const a of adapters) http.add(...(a.routes ?? []));
  for (const w of workflows) http.add(...(w.routes?.(app, tools) ?? []));

  let port = 0;
  if (options.http) port = await http.listen();
  for (const a of adapters) await a.start?.();
  if (options.tickSeconds !== 0) scheduler.start();

  let stopping: Promise<void> | undefined;
  return {
    app, router, dispatcher, scheduler, http, adapters, workflows, port,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        for (const a of adapters) await a.stop?.().catch((e) => log.warn({ err: (e as Error).message }, 'adapter stop failed'));
        await http.close();
        await scheduler.stop();
        await dispatcher.flush().catch((e) => log.warn({ err: (e as Error).message }, 'final outbox flush failed'));
        if (stopOptions.closeDatabase !== false) await options.database.close();
      })();
      return stopping;
    },
  };
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

function coreRoutes(app: AppContext, http: HttpServer, dispatcher: Dispatcher, scheduler: Scheduler, workflows: Workflow[]): Route[] {
  const expectedMigrations = readdirSync(migrationsFolder()).filter((f) => f.endsWith('.sql')).length;
  return [
    { method: 'GET', path: '/healthz', handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET', path: '/readyz', handler: async (_req, res) => {
        try {
          const applied = resultRows<{ n: number }>(await app.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`));
          const expected = expectedMigrations;
          const n = Number(applied[0]?.n ?? 0);
          if (n < expected) return sendJson(res, 503, { status: 'migrating', applied: n, expected });
          sendJson(res, 200, { status: 'ready', database: app.database.driver, migrations: n });
        } catch (e) {
          sendJson(res, 503, { status: 'unavailable', error: (e as Error).message });
        }
      },
    },
    {
      method: 'GET', path: '/metrics', handler: async (_req, res) => {
        const byState = resultRows<{ state: string; n: number }>(await app.db.execute(sql`select state, count(*)::int as n from incidents group by state`));
        const outbox = resultRows<{ status: string; n: number }>(await app.db.execute(sql`select status, count(*)::int as n from outbox where status in ('pending','sending','dead') group by status`));
        const lag = await timerLagSeconds(app, app.clock.now());
        const text = [
          renderFamily('tread_incidents', 'gauge', 'Incidents by state', byState.map((r) => ({ labels: { state: r.state }, value: Number(r.n) }))),
          renderFamily('tread_outbox_backlog', 'gauge', 'Outbox rows not yet sent, by status', ['pending', 'sending', 'dead'].map((s) => ({ labels: { status: s }, value: Number(outbox.find((r) => r.status === s)?.n ?? 0) }))),
          renderFamily('tread_outbox_sent_total', 'counter', 'Outbox messages sent by this process', [{ value: dispatcher.stats.sent }]),
          renderFamily('tread_outbox_failures_total', 'counter', 'Outbox send failures in this process', [{ value: dispatcher.stats.failed }]),
          renderFamily('tread_timer_lag_seconds', 'gauge', 'How long the oldest due timer has waited', [{ value: lag }]),
          renderFamily('tread_scheduler_last_tick_timestamp_seconds', 'gauge', 'When the scheduler last ticked', [{ value: (scheduler.lastTickAt?.getTime() ?? 0) / 1000 }]),
          http.durations.render(),
          ...(await Promise.all(workflows.map((w) => w.metrics?.(app) ?? Promise.resolve([])))).flat(),
        ].join('\n\n');
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(`${text}\n`);
      },
    },
  ];
}
