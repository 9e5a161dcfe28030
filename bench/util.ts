/** What the benchmarks share: quantiles in their JSON lines, and a load generator run in a process of its own. */
import { spawn } from 'node:child_process';
import { quantile } from '../src/workflows/incident/incident.stats.js';

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
