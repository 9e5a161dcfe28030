/** Opens tread's database: embedded PGlite under a data directory (default) or PostgreSQL via postgres.js. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { copyTemplate, defaultTemplateDir, templateKey, templateProblem } from './pglite-template.js';
import * as schema from './schema/index.js';

export { schema };
/**
 * The drizzle database, whichever driver is behind it. Without drizzle's relational queries (`db.query.*`): given the
 * schema, drizzle builds a query builder for each of its tables in every transaction it opens (37 tables: a measurable
 * part of each command's time), and tread queries with `select()` and `sql` only.
 */
export type Db = PgDatabase<PgQueryResultHKT>;
/** A transaction handle. */
export type Tx = PgTransaction<PgQueryResultHKT, Record<string, never>, any>;
/** Either a database or a transaction: functions that take this join the caller's transaction. */
export type DbOrTx = Db | Tx;

/** An open database and how to close it. */
export interface Database {
  db: Db;
  driver: 'pglite' | 'postgres';
  /** Runs one raw SQL statement and returns its rows (`queryRows` on this database). */
  rows<T = Record<string, unknown>>(query: SQL): Promise<T[]>;
  close(): Promise<void>;
  /** PGlite only: the whole data directory as a tarball, to open another database from (`pgliteSnapshot`). */
  snapshot?(): Promise<Blob>;
  /**
   * PostgreSQL only: runs `work` on a connection of its own holding tread's migration advisory lock (waiting for it while
   * another process holds it), then releases both.
   */
  exclusive?<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /** Where the migrations stood once the database was open (unset when opened with `migrate: false`). */
  migrations?: MigrationState;
  /**
   * PGlite only: how its data directory came to be: it held a database already (`existing`), or it was new and was
   * copied from the pre-initialised template (`template`), loaded from `pgliteSnapshot` (`snapshot`), or created by
   * PGlite's initdb (`initdb`, with `templateProblem` saying why the template was not used, when one was looked for).
   */
  pgliteStart?: { from: 'existing' | 'template' | 'snapshot' | 'initdb' | 'memory'; templateProblem?: string };
}

export interface OpenOptions {
  /** postgres://… : use PostgreSQL. */
  url?: string;
  /** PGlite data directory; `memory://` or undefined with no url: in memory. */
  dataDir?: string;
  /** Apply migrations (default true). */
  migrate?: boolean;
  /** postgres.js pool size (default 10). */
  poolSize?: number;
  /** PostgreSQL only: told of every statement sent (bench/statements.ts counts them). */
  onQuery?: (query: string) => void;
  /**
   * PGlite only: a data directory saved by `snapshot()` (or the path of a file holding one) to start a new data directory
   * from, instead of creating it anew (PGlite's initdb takes 3–5 s; loading a snapshot about 1 s). Not read for a data
   * directory that already holds a database. Migrations still run after it.
   */
  pgliteSnapshot?: Blob | string;
  /**
   * PGlite only: the pre-initialised template a new data directory on disk is copied from (db/pglite-template.ts):
   * a folder, or false for PGlite's initdb. Default: the one `npm run build` made (dist/pglite-template), when it was
   * made by the installed PGlite from the same migrations. A `pgliteSnapshot` comes first.
   */
  pgliteTemplate?: string | false;
  /**
   * PGlite only: PostgreSQL settings over `PGLITE_SETTINGS` (`TREAD_PGLITE_SETTINGS`): `name=value` pairs separated by
   * white space, or an object.
   */
  pgliteSettings?: string | Record<string, string>;
  /**
   * PGlite only: let V8 optimise PGlite's hot WebAssembly functions with TurboFan, as it does by default
   * (`TREAD_PGLITE_OPTIMISE=1`). Off, PGlite runs on V8's baseline compiler (Liftoff) only: see `compiledPgliteWasm`.
   * Decided once per process, by the first PGlite opened (or warmed).
   */
  pgliteOptimise?: boolean;
}

/**
 * The PostgreSQL settings tread starts PGlite with (as `-c` start parameters, which win over postgresql.conf), for a
 * bot's data and one connection. PGlite's initdb writes shared_buffers = 128MB, and PGlite's WebAssembly memory grows
 * to hold all of it: ~130 MB of resident memory more than 16MB (measured, issue 17; the command benchmarks did not
 * change beyond their noise: the pages still sit in the operating system's cache). wal_buffers follows it (1/32).
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB',
};

/** Parses `name=value` pairs separated by white space (TREAD_PGLITE_SETTINGS); throws naming the first bad one. */
export function parsePgliteSettings(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const pair of text.split(/\s+/).filter(Boolean)) {
    const m = /^([A-Za-z_][A-Za-z0-9_.]*)=(.+)$/.exec(pair);
    if (!m) throw new Error(`"${pair}" is not name=value (PostgreSQL settings separated by spaces, e.g. shared_buffers=32MB)`);
    settings[m[1]!.toLowerCase()] = m[2]!;
  }
  return settings;
}

/** PGlite's start parameters: its defaults, then tread's settings with `overrides` over them, as `-c name=value`. */
export function pgliteStartParams(defaults: readonly string[], overrides?: string | Record<string, string>): string[] {
  const settings = { ...PGLITE_SETTINGS, ...(typeof overrides === 'string' ? parsePgliteSettings(overrides) : overrides) };
  return [...defaults, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
}

/** The folder holding drizzle-kit's SQL migrations, from source or from dist/. */
export function migrationsFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'migrations'), join(here, '..', '..', 'db', 'migrations')]) {
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
  }
  throw new Error(`db/migrations not found near ${here}`);
}

/** Raised when another live process holds the data directory. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  readonly code = 'db.locked';
}

/** Lock files this process holds now (a lock naming our own pid but not listed here was left by an earlier process with our pid). */
const heldLocks = new Set<string>();

/** Takes tread's lock on a PGlite data directory; a lock left by a dead process is taken over. */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lockPath = join(realpathSync(dir), 'tread.lock');
  if (heldLocks.has(lockPath)) {
    throw new DataDirLockedError(`The data directory ${resolve(dir)} is already open in this process (pid ${process.pid}); close it first.`);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      heldLocks.add(lockPath);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldLocks.delete(lockPath);
        try {
          if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) rmSync(lockPath);
        } catch { /* already gone */ }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new DataDirLockedError(
          `The data directory ${resolve(dir)} is in use by another tread process (pid ${owner}). ` +
          'Stop it first, or set TREAD_DATA_DIR to another directory (or DATABASE_URL to share PostgreSQL).',
        );
      }
      rmSync(lockPath, { force: true }); // stale: its owner is dead
    }
  }
  throw new DataDirLockedError(`Could not lock ${resolve(dir)}: another process keeps taking it.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Opens and migrates the database. */
export async function openDatabase(options: OpenOptions = {}): Promise<Database> {
  const database = options.url ? await openPostgres(options.url, options.poolSize ?? 10, options.onQuery) : await openPglite(options);
  if (options.migrate !== false) {
    try {
      database.migrations = await migrateDatabase(database);
    } catch (e) {
      await database.close();
      throw e;
    }
  }
  return database;
}

/** The entries of drizzle-kit's journal (`meta/_journal.json`): one per migration, `when` in ms. */
export function journalEntries(folder: string = migrationsFolder()): { tag: string; when: number }[] {
  return (JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string; when: number }[] }).entries;
}

/** Where the database's migrations stand against this tread's journal. */
export interface MigrationState {
  /** drizzle's migrator has something to apply. */
  pending: boolean;
  /** Rows in drizzle.__drizzle_migrations (0 before the first migration). */
  applied: number;
  /** Entries in this tread's journal. */
  known: number;
  /**
   * The database was migrated by a newer tread: it holds migrations this one does not know (more rows than the journal,
   * or a last migration later than the journal's last). This tread still starts (a rolling upgrade runs old and new side
   * by side) and says so at start.
   */
  ahead: boolean;
}

/**
 * Where the migrations stand (its table is drizzle-orm's default, drizzle.__drizzle_migrations). `pending` mirrors
 * drizzle-orm's own rule (pg-core dialect `migrate`): a journal entry is applied when there is no row in the migrations
 * table or its `when` is later than the `created_at` of the row that comes first in `order by created_at desc` (a null
 * `created_at` counts as 0). To be safe it is also true when the table holds fewer rows than the journal has entries, or
 * does not exist yet.
 */
export async function migrationState(database: Database, folder: string = migrationsFolder()): Promise<MigrationState> {
  const entries = journalEntries(folder);
  const known = entries.length;
  const [present] = await database.rows<{ present: boolean }>(sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`);
  if (!present?.present) return { pending: true, applied: 0, known, ahead: false };
  const [row] = await database.rows<{ n: number; last: string | number | null }>(sql`select
    (select count(*)::int from drizzle.__drizzle_migrations) as n,
    (select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1) as last`);
  const applied = Number(row?.n ?? 0);
  if (!row || row.last === null || row.last === undefined) return { pending: true, applied, known, ahead: false };
  const last = Number(row.last);
  const newest = entries.reduce((max, e) => Math.max(max, e.when), 0);
  const ahead = applied > known || last > newest;
  return { pending: applied < known || entries.some((e) => last < e.when), applied, known, ahead };
}

/** True when drizzle's migrator has something to apply (`migrationState(…).pending`). */
export async function migrationsPending(database: Database, folder: string = migrationsFolder()): Promise<boolean> {
  return (await migrationState(database, folder)).pending;
}

/**
 * Applies drizzle-kit's migrations; the migrator is loaded and run only when one is pending (a quicker start-up). On
 * PostgreSQL several replicas may start together (a first deploy, a rolling upgrade bringing a migration): the migrator
 * runs under a session advisory lock on a connection of its own, so the others wait, then find nothing pending. Returns
 * the state after migrating.
 */
export async function migrateDatabase(database: Database, migrationsFolderPath: string = migrationsFolder()): Promise<MigrationState> {
  const state = await migrationState(database, migrationsFolderPath);
  if (!state.pending) return state;
  if (database.driver === 'pglite') {
    // One process per data directory (lockDataDir): nobody to wait for.
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    await migrate(database.db as any, { migrationsFolder: migrationsFolderPath });
    return migrationState(database, migrationsFolderPath);
  }
  if (!database.exclusive) throw new Error('this PostgreSQL database cannot take the migration lock');
  return database.exclusive(async (db) => {
    const again = await migrationState({ ...database, db, rows: <T>(query: SQL) => queryRows<T>(db, query) }, migrationsFolderPath);
    if (!again.pending) return again; // another replica migrated while this one waited
    const { migrate } = await import('drizzle-orm/postgres-js/migrator');
    await migrate(db as any, { migrationsFolder: migrationsFolderPath });
    return migrationState(database, migrationsFolderPath);
  });
}

/** The advisory lock key tread's migrations run under (any bigint; 'tread' in ASCII). */
export const MIGRATION_LOCK_KEY = 0x7472656164n;

/** The global WebAssembly object (the lib settings here do not declare it). */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<object> };

let pgliteWasm: Promise<object | undefined> | undefined;

/**
 * PGlite's WebAssembly, compiled once per process (on background threads, while PGlite's modules load). PGlite's own
 * loader instantiates straight from the bytes, which on Node leaves ~0.2 s of main-thread work for right after the
 * database is ready, in the way of start-up; a module compiled first does not. On any problem (a changed package
 * layout) it resolves undefined and PGlite loads its WebAssembly itself.
 *
 * Unless `optimise`, V8 compiles it with its baseline compiler only (`--liftoff-only`, set before the first
 * WebAssembly compilation of the process; it applies to every later one). V8's default re-compiles PGlite's hot
 * functions with TurboFan on background threads: measured (issue 17), that held ~50–90 MB more resident memory at
 * start-up and after the command benchmarks (a restart's peak 260–276 MB against 177 MB), took CPU from start-up on a
 * 2-core machine, and made no difference to the commands' CPU time beyond the benchmarks' noise.
 */
function compiledPgliteWasm(optimise = false): Promise<object | undefined> {
  pgliteWasm ??= (async () => {
    if (!optimise) {
      // Node 24's V8 compiles with Liftoff only but still tiers up when --liftoff-only is set at run time (not on the
      // command line); a tier-up filter naming no function (-2: V8's default -1 means every function) stops that too.
      for (const flag of ['--liftoff-only', '--wasm-tier-up-filter=-2']) {
        try {
          v8.setFlagsFromString(flag);
        } catch { /* a V8 without the flag: its default */ }
      }
    }
    try {
      // Read at once (a few ms): an async read would wait for the busy main thread between its chunks.
      const file = join(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), 'pglite.wasm');
      return await WebAssembly.compile(readFileSync(file));
    } catch {
      return undefined;
    }
  })();
  return pgliteWasm;
}

/**
 * Starts the slow, side-effect-free part of opening a database ahead of `openDatabase`: the driver's modules, and for
 * PGlite the compilation of its WebAssembly (on background threads). Start-up calls it before it reads the organisation
 * file, so that work overlaps with loading the workflows; nothing is locked, created or connected.
 */
export function warmDatabase(options: Pick<OpenOptions, 'url' | 'pgliteOptimise'> = {}): void {
  const modules = options.url
    ? [import('postgres'), import('drizzle-orm/postgres-js')]
    : [compiledPgliteWasm(options.pgliteOptimise), import('@electric-sql/pglite'), import('drizzle-orm/pglite')];
  for (const m of modules) (m as Promise<unknown>).catch(() => undefined); // openDatabase reports any failure itself
}

/** What `yielding` needs of a PGlite instance or of the transaction it hands over. */
interface PgliteLike {
  query(...args: unknown[]): Promise<unknown>;
}

/** Work marked urgent by `urgently` (read by PGlite's gate). */
const urgentWork = new AsyncLocalStorage<true>();

/**
 * Runs `work` ahead of other waiting work on the embedded database: PGlite runs one statement or transaction at a time,
 * and a statement someone waits on to be answered (a chat request written down before its acknowledgement) goes before
 * the statements of requests already being worked on. On PostgreSQL (a pool of connections) it changes nothing.
 */
export function urgently<T>(work: () => Promise<T>): Promise<T> {
  return urgentWork.run(true, work);
}

/**
 * One statement or transaction at a time into PGlite, urgent ones first. PGlite serialises them itself (its query,
 * exec and transaction each hold its transaction lock), first come first served; this gate in front of it only changes
 * who goes next.
 */
class PgliteGate {
  private busy = false;
  private readonly urgent: (() => void)[] = [];
  private readonly normal: (() => void)[] = [];

  async run<T>(urgent: boolean, work: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => (urgent ? this.urgent : this.normal).push(resolve));
    else this.busy = true;
    try {
      return await work();
    } finally {
      const next = this.urgent.shift() ?? this.normal.shift();
      if (next) next();
      else this.busy = false;
    }
  }
}

/**
 * PGlite with a turn of the event loop before each query. PGlite runs a query on the main thread and resolves it without
 * giving I/O a turn, so a handler's dozen statements would run back to back while HTTP requests wait (Slack expects an
 * answer within 3 s, tread's aim is 100 ms). With a turn before each query, requests that arrived meanwhile are read
 * and acknowledged between statements, as they are while a network database answers. On the instance itself (not a
 * transaction it hands over) statements and transactions pass a gate that lets urgent ones (`urgently`) go first.
 */
export function yielding<T extends PgliteLike>(client: T, gate?: PgliteGate): T {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target); // getters of PGlite read private fields: run them on PGlite itself
      if (prop === 'query' || prop === 'exec') {
        return async (...args: unknown[]) => {
          const urgent = urgentWork.getStore() === true;
          await nextTurn();
          const run = () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          return gate ? gate.run(urgent, run) : run();
        };
      }
      if (prop === 'transaction') {
        // a turn first too, so calls keep their order (a query issued just before runs before the transaction)
        return async (work: (tx: PgliteLike) => unknown) => {
          const urgent = urgentWork.getStore() === true;
          await nextTurn();
          const run = () => (value as (w: (tx: PgliteLike) => unknown) => Promise<unknown>).call(target, (tx: PgliteLike) => work(yielding(tx)));
          return gate ? gate.run(urgent, run) : run();
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function openPglite(options: OpenOptions): Promise<Database> {
  const { dataDir, pgliteSnapshot: snapshot } = options;
  const wasm = compiledPgliteWasm(options.pgliteOptimise);
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const inMemory = !dataDir || dataDir.startsWith('memory://');
  let release = () => {};
  if (!inMemory) {
    release = lockDataDir(dataDir);
    // PGlite writes a fake postmaster.pid; after a crash it is stale and would stop the start. We hold the lock.
    rmSync(join(dataDir, 'pg', 'postmaster.pid'), { force: true });
  }
  let client: InstanceType<typeof PGlite>;
  let start: NonNullable<Database['pgliteStart']>;
  try {
    const pgliteWasmModule = (await wasm) as NonNullable<ConstructorParameters<typeof PGlite>[0]>['pgliteWasmModule'];
    const dir = inMemory ? undefined : join(dataDir, 'pg');
    const fresh = !dir || !existsSync(join(dir, 'PG_VERSION'));
    start = !fresh ? { from: 'existing' } : snapshot ? { from: 'snapshot' } : dir ? startFromTemplate(dir, options.pgliteTemplate) : { from: 'memory' };
    const load = start.from === 'snapshot'
      ? { loadDataDir: typeof snapshot === 'string' ? new Blob([readFileSync(snapshot)]) : snapshot! } : {};
    client = new PGlite({ dataDir: dir, pgliteWasmModule, startParams: pgliteStartParams(PGlite.defaultStartParams, options.pgliteSettings), ...load });
    await client.waitReady;
  } catch (e) {
    release();
    throw e;
  }
  const db = drizzle(yielding(client, new PgliteGate()) as typeof client) as unknown as Db;
  return {
    db,
    driver: 'pglite',
    rows: <T>(query: SQL) => queryRows<T>(db, query),
    pgliteStart: start,
    snapshot: async () => {
      const dump = await client.dumpDataDir('none');
      return dump instanceof Blob ? dump : new Blob([dump]);
    },
    async close() {
      try {
        await client.close();
      } finally {
        release();
      }
    },
  };
}

/**
 * A new data directory on disk (`pgDir` without a database) becomes a copy of the pre-initialised template when one
 * matches the installed PGlite and the migrations; otherwise PGlite's initdb will create it. A `pg` folder holding
 * files but no database (an initdb that was interrupted) is left to PGlite, as before: nothing is deleted.
 */
function startFromTemplate(pgDir: string, template: string | false | undefined): NonNullable<Database['pgliteStart']> {
  if (template === false) return { from: 'initdb' };
  const folder = template ?? defaultTemplateDir();
  const problem = templateProblem(folder, templateKey(migrationsFolder()));
  if (problem) return { from: 'initdb', templateProblem: problem };
  if (existsSync(pgDir) && readdirSync(pgDir).length > 0) return { from: 'initdb', templateProblem: `${pgDir} holds files but no database` };
  try {
    copyTemplate(folder, pgDir);
  } catch (e) {
    return { from: 'initdb', templateProblem: `copying the template failed: ${(e as Error).message}` };
  }
  return { from: 'template' };
}

/** What `preparing` needs of a postgres.js `sql` (the client, or the one a transaction or savepoint hands over). */
interface PgSql {
  unsafe(query: string, params?: unknown[], options?: Record<string, unknown>): unknown;
}

/**
 * The postgres.js client with every parameterised query prepared. drizzle runs its queries unnamed, and postgres.js
 * then describes each one before binding it: two round trips per statement. Prepared statements are described once per
 * connection and cached, so each statement after the first costs one round trip (postgres.js re-prepares a statement
 * whose cached plan went stale, and recycles connections, which bounds the cache).
 */
export function preparing<T extends PgSql>(sqlFn: T): T {
  return new Proxy(sqlFn, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'unsafe') {
        return (query: string, ...rest: unknown[]) => {
          const [params, options] = rest as [unknown[] | undefined, Record<string, unknown> | undefined];
          if (!Array.isArray(params) || params.length === 0) return target.unsafe(query, ...(rest as [])); // as called
          return target.unsafe(query, params, { ...options, prepare: true });
        };
      }
      if ((prop === 'begin' || prop === 'savepoint') && typeof value === 'function') {
        // the transaction's own sql is wrapped too; the callback is the last argument (an optional mode comes first)
        return (...args: unknown[]) => {
          const last = args.length - 1;
          const work = args[last] as (inner: PgSql) => unknown;
          args[last] = (inner: PgSql) => work(preparing(inner));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** postgres.js's wait before reconnecting after the `retries`-th failed connection in a row: 50 ms doubling, at most 1 s. */
export function reconnectDelaySeconds(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1);
}

async function openPostgres(url: string, max: number, onQuery?: (query: string) => void): Promise<Database> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  // Prepared statements are planned with their parameters, as unnamed ones are: a cached generic plan for the JSON batches
  // of event ingestion cost PostgreSQL twice the CPU (measured). `?prepare=false` in the URL (for PgBouncer, which
  // refuses unknown startup parameters and, in transaction mode, named statements) turns preparing off and with it this
  // parameter; postgres.js's own option wins over preparing().
  const prepare = new URL(url).searchParams.get('prepare') !== 'false';
  const client = postgres(url, {
    max, onnotice: () => {}, connect_timeout: 10,
    // Reconnect within a second, not postgres.js's default of up to 20 s after a run of failures (a failover, a restart,
    // terminated backends): queries wait for that delay, so requests during an outage would hang instead of getting
    // 503, and tread would stay unready for up to 20 s after the database is back.
    backoff: reconnectDelaySeconds,
    ...(prepare ? { connection: { plan_cache_mode: 'force_custom_plan' } } : {}),
    ...(onQuery ? { debug: (_connection: number, query: string) => onQuery(query) } : {}),
  });
  const db = drizzle(preparing(client) as typeof client) as unknown as Db;
  return {
    db,
    driver: 'postgres',
    rows: <T>(query: SQL) => queryRows<T>(db, query),
    async exclusive<T>(work: (db: Db) => Promise<T>): Promise<T> {
      // One connection (max 1), so the session lock and everything run under it share a backend.
      const own = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        await own`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
        try {
          return await work(drizzle(own) as unknown as Db);
        } finally {
          await own`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`.catch(() => undefined);
        }
      } finally {
        await own.end({ timeout: 5 });
      }
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

/** Rows of a raw `execute()` result, whichever driver produced it. */
function resultRows<T = Record<string, unknown>>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : ((result as { rows?: T[] }).rows ?? []);
}

/** Runs one raw SQL statement (in a transaction or not) and returns its rows, whichever driver is behind it. */
export async function queryRows<T = Record<string, unknown>>(db: DbOrTx, query: SQL): Promise<T[]> {
  return resultRows<T>(await db.execute(query));
}
