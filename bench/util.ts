/** What the benchmarks share: quantiles in their JSON lines, and a load generator run in a process of its own. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../db/client.js';
import { quantile } from '../src/workflows/incident/incident.stats.js';
import { createPgDatabase } from '../test/helpers/db.js';

/**
 * The correctness checks a benchmark's figures stand on (every accepted alert stored, every event counted, nothing sent
 * twice): each false one is named on stderr and makes the benchmark exit non-zero, so a fast run that lost work is a
 * failed run, not a figure.
 */
export function requireChecks(bench: string, checks: Record<string, boolean>): void {
  const failed = Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name);
  if (failed.length === 0) return;
  console.error(`${bench}: check failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}

/** The q-quantile (nearest rank) of sorted milliseconds, rounded to `digits` decimals (0 when there are none). */
export function quantileMs(sorted: number[], q: number, digits = 2): number {
  return Number((quantile(sorted, q) ?? 0).toFixed(digits));
}

/**
 * Runs `script` (plain JS for `node -e`) in a child process, so the clients share neither tread's event loop nor its
 * CPU accounting: `input` goes to its stdin as JSON, and what it writes to stdout is parsed as its JSON answer.
 */
export async function runClient<T>(script: string, input: unknown): Promise<T> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stdin.end(JSON.stringify(input));
  const code = await exited;
  if (code !== 0) throw new Error(`the load generator exited with ${code}`);
  return JSON.parse(out) as T;
}

/**
 * Where the benchmarks keep a PGlite database: on disk by default, in a new temporary data directory, as tread keeps it
 * (`TREAD_DATA_DIR`); `BENCH_PGLITE=memory` measures an in-memory one (`memory://`) instead, which is faster and is not
 * what tread runs on.
 */
export const PGLITE_STORAGE: 'disk' | 'memory' = process.env.BENCH_PGLITE === 'memory' ? 'memory' : 'disk';

/** `{ storage }` for a JSON line about a PGlite database (where it was kept), nothing for PostgreSQL. */
export function storageOf(database: Database): { storage?: 'disk' | 'memory' } {
  return database.driver === 'pglite' ? { storage: PGLITE_STORAGE } : {};
}

/**
 * Opens a new, migrated PGlite database where PGLITE_STORAGE says, with TREAD_PGLITE_SETTINGS (PostgreSQL settings over
 * tread's) as tread reads it; closing it removes its temporary directory.
 */
export async function openBenchPglite(): Promise<Database> {
  const settings = process.env.TREAD_PGLITE_SETTINGS ? { pgliteSettings: process.env.TREAD_PGLITE_SETTINGS } : {};
  if (PGLITE_STORAGE === 'memory') return openDatabase({ dataDir: 'memory://', ...settings });
  const dir = mkdtempSync(join(tmpdir(), 'tread-bench-pglite-'));
  const database = await openDatabase({ dataDir: join(dir, 'data'), ...settings });
  return {
    ...database,
    async close() {
      try {
        await database.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Runs `work` on a fresh database: a new PostgreSQL database on DATABASE_URL's server (dropped afterwards), opened
 * `replicas` times as separate processes would (the first migrates it), or else one PGlite (`openBenchPglite`).
 */
export async function withBenchDatabase(work: (databases: Database[]) => Promise<void>, replicas = 1): Promise<void> {
  if (!process.env.DATABASE_URL) {
    const database = await openBenchPglite();
    try {
      await work([database]);
    } finally {
      await database.close();
    }
    return;
  }
  const { url, drop } = await createPgDatabase();
  const databases: Database[] = [];
  try {
    for (let i = 0; i < replicas; i++) databases.push(await openDatabase({ url, poolSize: 10, ...(i > 0 ? { migrate: false } : {}) }));
    await work(databases);
  } finally {
    for (const d of databases.reverse()) await d.close();
    await drop();
  }
}
