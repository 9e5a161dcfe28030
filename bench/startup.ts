/**
 * Benchmark: start-up on an existing PGlite data directory (issue #2 aim: < 2 s from spawn to GET /readyz = 200).
 * Run `npm run build` first (this script builds nothing), then: npx tsx bench/startup.ts   (RUNS=n, default 7)
 *
 * One untimed run creates and migrates a temporary data directory (on Node 22.1+ it also fills Node's compile cache);
 * then each timed run spawns `node dist/src/main.js` on it, polls /readyz every 10 ms, and reads `readyMs` from tread's
 * 'tread is ready' log line (ms from the start of src/start.ts's start(), after its imports). Prints one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { freePort } from '../test/helpers/net.js';
import { quantileMs } from './util.js';

const RUNS = Number(process.env.RUNS ?? 7);
const MAIN = 'dist/src/main.js';
const TIMEOUT_MS = 30_000;

/** Watches a child's output lines for the 'tread is ready' JSON log line (logs go to stderr; stdout is read too). */
function watchReadyMs(child: ChildProcess): { readyMs: () => number | undefined; output: string[] } {
  let readyMs: number | undefined;
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      if (output.length < 200) output.push(line);
      if (!line.startsWith('{')) return;
      try {
        const entry = JSON.parse(line) as { msg?: string; readyMs?: number };
        if (entry.msg === 'tread is ready' && typeof entry.readyMs === 'number') readyMs = entry.readyMs;
      } catch { /* not a log line */ }
    });
  }
  return { readyMs: () => readyMs, output };
}

/**
 * Spawns `node dist/src/main.js` on a PGlite data directory (created and migrated when new); resolves with ms from spawn
 * to /readyz = 200, the logged readyMs and the process's RSS when ready, after stopping it with SIGTERM.
 */
export async function startupRun(dataDir: string): Promise<{ spawnMs: number; readyMs: number | undefined; rssMB: number }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { TREAD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' };
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS']) if (process.env[key] !== undefined) env[key] = process.env[key];
  const t0 = performance.now();
  // stdin ignored: the console adapter sees the input end at once and tread keeps serving HTTP.
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => { gone = true; });
  const watch = watchReadyMs(child);
  let spawnMs: number | undefined;
  while (spawnMs === undefined) {
    if (gone) throw new Error(`tread exited before it was ready:\n${watch.output.join('\n')}`);
    if (performance.now() - t0 > TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`tread was not ready within ${TIMEOUT_MS} ms:\n${watch.output.join('\n')}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) spawnMs = performance.now() - t0;
    } catch { /* not listening yet */ }
    if (spawnMs === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  // The ready line is logged just after the server listens; give the pipe a moment to deliver it.
  for (let i = 0; i < 100 && watch.readyMs() === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`tread exited with ${code} after SIGTERM:\n${watch.output.join('\n')}`);
  return { spawnMs, readyMs: watch.readyMs(), rssMB: Math.round(rss / 1048576) };
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'tread-bench-startup-'));
  try {
    await startupRun(dir); // creates and migrates the data directory
    const spawnMs: number[] = [];
    const readyMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await startupRun(dir);
      spawnMs.push(r.spawnMs);
      if (r.readyMs !== undefined) readyMs.push(r.readyMs);
    }
    spawnMs.sort((a, b) => a - b);
    readyMs.sort((a, b) => a - b);
    console.log(JSON.stringify({
      bench: 'startup-pglite-existing-dir', runs: RUNS,
      p50ms: quantileMs(spawnMs, 0.5, 0), maxms: Math.round(spawnMs.at(-1)!), minms: Math.round(spawnMs[0]!),
      readyMsP50: readyMs.length ? quantileMs(readyMs, 0.5, 0) : null, node: process.version,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script; bench/commands.ts imports startupRun.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
