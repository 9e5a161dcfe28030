/** The composition root (loaded by src/main.ts): reads the environment and the organisation file, opens the database, builds the platforms and starts the runtime (src/runtime.ts). */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { DataDirLockedError, openDatabase, warmDatabase } from '../db/client.js';
import { EnvError, loadEnv, pgliteOptions, type Env } from './core/config/env.js';
import { ConfigError } from './core/config/org.js';
import { createLogger } from './core/logger.js';
import { isLoopback } from './http/server.js';
import { buildPlatforms, platformChoice } from './platforms.js';
import type { Tread } from './runtime.js';

/** Starts tread from the environment; resolves when it is ready. Exits the process with one line on bad configuration. */
export async function start(argvEnv: NodeJS.ProcessEnv = process.env): Promise<Tread> {
  const started = performance.now();
  let env: Env;
  try {
    env = loadEnv(argvEnv);
  } catch (e) {
    if (e instanceof EnvError) fail(`tread: bad environment: ${e.message}`);
    throw e;
  }
  // The database driver loads (PGlite compiles its WebAssembly on other threads) while the workflows load.
  warmDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : pgliteOptions(env));
  let loaded;
  try {
    loaded = (await import('./workflows/index.js')).loadOrganisation(env.TREAD_CONFIG, argvEnv);
  } catch (e) {
    if (e instanceof ConfigError) fail(`tread: bad config: ${e.message}`);
    throw e;
  }
  // On a terminal, log times are shown in the organisation's zone, like the chat.
  const log = createLogger(env.LOG_LEVEL, { timeZone: loaded.config.timezone });
  // Last line of defence, from here on: an error nothing caught is logged with its stack and a reference, then tread
  // stops as on SIGTERM (in-flight work finished, the database closed) and exits 1. Its state is in the database, so
  // a supervisor's restart is safe (README: "Running under a supervisor"); continuing would not be.
  let tread: Tread | undefined;
  let shutdown: ((reason: string, exitCode: number) => void) | undefined;
  const lastResort = (kind: 'uncaughtException' | 'unhandledRejection') => (e: unknown) => {
    const correlationId = randomUUID().slice(0, 8);
    log.fatal({ correlationId, kind, err: e instanceof Error ? e : { message: String(e) } }, `${kind}: tread stops now (reference ${correlationId}); run it under a supervisor that restarts it`);
    if (shutdown) return shutdown(kind, 1);
    log.flush?.();
    process.exit(1);
  };
  process.on('uncaughtException', lastResort('uncaughtException'));
  process.on('unhandledRejection', lastResort('unhandledRejection'));
  const choice = platformChoice(env);
  if (choice.console && env.TREAD_CONSOLE_USER && !loaded.config.people.some((p) => p.id === env.TREAD_CONSOLE_USER)) {
    fail(`tread: bad environment: TREAD_CONSOLE_USER: unknown person "${env.TREAD_CONSOLE_USER}" (people in ${loaded.path}: ${loaded.config.people.map((p) => p.id).join(', ') || 'none'})`);
  }
  if (loaded.example) log.warn({ config: loaded.path }, 'no TREAD_CONFIG and no ./tread.yaml: using the bundled example organisation (tread.example.yaml)');
  else log.info({ config: loaded.path }, 'organisation config loaded');

  // The database starts (PGlite boots) while the runtime and adapters load.
  const opening = openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : pgliteOptions(env));
  opening.catch(() => undefined);
  const { startTread } = await import('./runtime.js');
  let database;
  try {
    database = await opening;
  } catch (e) {
    if (e instanceof DataDirLockedError) fail(`tread: ${e.message}`);
    fail(`tread: cannot open the database (${env.DATABASE_URL ? 'DATABASE_URL' : `PGlite at ${env.TREAD_DATA_DIR}`}): ${databaseProblem(e, env.DATABASE_URL)}`);
  }

  if (database.migrations?.ahead) {
    log.warn({ applied: database.migrations.applied, known: database.migrations.known },
      'the database was migrated by a newer tread: this tread knows fewer migrations than the database holds; upgrade it (it runs, but what the newer version added is not used)');
  }

  const flush = async () => { await tread?.dispatcher.flush(); };
  // The console greets and prompts only after the ready lines below are written, so the prompt is the last line.
  let consoleReady!: (ready: { url?: string }) => void;
  const ready = new Promise<{ url?: string }>((resolve) => { consoleReady = resolve; });
  try {
    tread = await startTread({
      database, config: loaded.config, log, publicUrl: env.TREAD_PUBLIC_URL, apiToken: env.TREAD_API_TOKEN, tickSeconds: env.TREAD_TICK_SECONDS, inboundLeaseMs: env.TREAD_INBOUND_LEASE_SECONDS * 1000,
      http: { host: env.HOST, port: env.PORT, tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE } : undefined },
      platforms: (app, router) => buildPlatforms(env, app, router, { onConsoleLine: flush, consoleReady: ready }),
    });
  } catch (e) {
    await database.close().catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') fail(`tread: port ${env.PORT} on ${env.HOST} is in use: set PORT to another port`);
    if (err.name === 'PlatformConfigError') fail(`tread: ${err.message}`);
    throw e;
  }
  // A first start without the template `npm run build` makes (npm start builds without it; a stale one is not used).
  if (database.pgliteStart?.templateProblem) log.info({ reason: database.pgliteStart.templateProblem }, 'the new data directory was created by PGlite\'s initdb (slower, and ~850 MB of memory at its peak) instead of from the pre-initialised template');
  const scheme = env.TLS_CERT_FILE ? 'https' : 'http';
  log.info({
    url: `${scheme}://${env.HOST}:${tread.port}`, database: database.driver, dataDir: database.driver === 'pglite' ? resolve(env.TREAD_DATA_DIR) : undefined, pglite: database.pgliteStart?.from,
    platforms: tread.adapters.map((a) => a.platform), api: env.TREAD_API_TOKEN ? 'on' : 'off (set TREAD_API_TOKEN)', readyMs: Math.round(performance.now() - started),
  }, 'tread is ready');
  if (!isLoopback(env.HOST)) log.info('listening beyond loopback: put TLS in front (reverse proxy) or set TLS_CERT_FILE/TLS_KEY_FILE');
  log.flush(() => consoleReady({ url: `${scheme}://${env.HOST}:${tread!.port}` }));

  let stopping = false;
  shutdown = (signal: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight work and flushing the outbox');
    const force = setTimeout(() => { log.error('shutdown took longer than 20 s; exiting'); process.exit(1); }, 20_000);
    force.unref();
    tread!.stop().then(() => { log.info({ exitCode }, 'stopped'); log.flush?.(); process.exit(exitCode); }, (e) => { log.error({ err: e }, 'error while stopping'); process.exit(1); });
  };
  process.once('SIGTERM', () => shutdown!('SIGTERM', 0));
  process.once('SIGINT', () => shutdown!('SIGINT', 0));
  return tread;
}

/**
 * What went wrong opening the database, in words that say what to fix: a missing database, a closed port, a refused
 * password or user, an unknown host — not the first query that failed.
 */
export function databaseProblem(e: unknown, url?: string): string {
  let u: URL | undefined;
  try { u = url ? new URL(url) : undefined; } catch { /* not a URL: the environment check refuses those */ }
  const target = u ? `${u.hostname}:${u.port || '5432'}` : '';
  for (let cur: unknown = e, i = 0; cur && i < 6; cur = (cur as { cause?: unknown }).cause, i++) {
    const code = (cur as { code?: unknown }).code;
    switch (code) {
      case '3D000': return `database "${decodeURIComponent(u?.pathname.slice(1) ?? '')}" does not exist on ${target}: create it (createdb) or name another in DATABASE_URL`;
      case '28P01': return `password authentication failed for user "${decodeURIComponent(u?.username ?? '')}" at ${target}: check the password in DATABASE_URL`;
      case '28000': return `${(cur as Error).message} at ${target}: check the user in DATABASE_URL`;
      case 'ECONNREFUSED': return `connection refused at ${target}: is PostgreSQL running there? (DATABASE_URL)`;
      case 'ENOTFOUND': case 'EAI_AGAIN': return `unknown host ${u?.hostname ?? ''} (DATABASE_URL)`;
      case 'ETIMEDOUT': case 'CONNECT_TIMEOUT': return `no answer from ${target} (DATABASE_URL): a firewall, or the wrong host`;
    }
  }
  return (e as Error).message;
}

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}
