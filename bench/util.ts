/** What the benchmarks share: quantiles in their JSON lines, and a load generator run in a process of its own. */
import { spawn } from 'node:child_process';
import { openDatabase, type Database } from '../db/client.js';
import { quantile } from '../src/workflows/incident/incident.stats.js';
import { createPgDatabase } from '../test/helpers/db.js';

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
 * Runs `work` on a fresh database: a new PostgreSQL database on DATABASE_URL's server (dropped afterwards), opened
 * `replicas` times as separate processes would (the first migrates it), or else one in-memory PGlite.
 */
export async function withBenchDatabase(work: (databases: Database[]) => Promise<void>, replicas = 1): Promise<void> {
  if (!process.env.DATABASE_URL) {
    const database = await openDatabase({ dataDir: 'memory://' });
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
