/**
 * Benchmark: start-up time.
 *
 * Default (issue #2 aim: < 2 s from spawn to GET /readyz = 200): start-up on an existing PGlite data directory.
 * Run `npm run build` first (this mode builds nothing), then: npx tsx bench/startup.ts   (RUNS=n, default 7)
 * One untimed run creates and migrates a temporary data directory (on Node 22.1+ it also fills Node's compile cache);
 * then each timed run spawns `node dist/src/main.js` on it, polls /readyz every 10 ms, and reads `readyMs` from tread's
 * 'tread is ready' log line (ms from the start of src/start.ts's start(), after its imports). Prints one JSON line.
 *
 * NPM_START=1 (issue #13 aim: a second `npm start` with nothing changed ready in < 3 s): what a new user sees. The
 * working tree's files (tracked and new, not ignored) are copied to a temporary directory with node_modules linked, as
 * a fresh clone after `npm ci`; then `npm start` runs there RUNS times (default 3) on one data directory: the first
 * run builds dist/ and creates the database, the later ones find both. One JSON line per run (`run`: 1 = first start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
 * Spawns `node dist/src/main.js` (or `command` in `cwd`) on a PGlite data directory (created and migrated when new);
 * resolves with ms from spawn to /readyz = 200, the logged readyMs and the process's RSS when ready, after stopping
 * it with SIGTERM (sent to its process group, so `npm start` and the node it runs both get it).
 */
export async function startupRun(dataDir: string, options: { command?: string[]; cwd?: string; timeoutMs?: number } = {}): Promise<{ spawnMs: number; readyMs: number | undefined; rssMB: number }> {
  const port = await freePort();
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const env: NodeJS.ProcessEnv = { TREAD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' };
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS']) if (process.env[key] !== undefined) env[key] = process.env[key];
  const [file, ...args] = options.command ?? [process.execPath, MAIN];
  const t0 = performance.now();
  // stdin ignored: the console adapter sees the input end at once and tread keeps serving HTTP.
  const child = spawn(file!, args, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stop = (signal: NodeJS.Signals) => { try { process.kill(-child.pid!, signal); } catch { /* gone */ } };
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => { gone = true; });
  const watch = watchReadyMs(child);
  let spawnMs: number | undefined;
  while (spawnMs === undefined) {
    if (gone) throw new Error(`tread exited before it was ready:\n${watch.output.join('\n')}`);
    if (performance.now() - t0 > timeoutMs) {
      stop('SIGKILL');
      throw new Error(`tread was not ready within ${timeoutMs} ms:\n${watch.output.join('\n')}`);
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
  const rss = options.command ? 0 : Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  stop('SIGTERM');
  const code = await exited;
  // npm itself dies of the SIGTERM sent to the group (exit code null); tread's own exit is checked without it.
  if (code !== 0 && !(options.command && code === null)) throw new Error(`tread exited with ${code} after SIGTERM:\n${watch.output.join('\n')}`);
  return { spawnMs, readyMs: watch.readyMs(), rssMB: Math.round(rss / 1048576) };
}

/** A fresh clone of the working tree after `npm ci`: its files (tracked and new, not ignored) and node_modules linked. */
function freshClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tread-bench-clone-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(file) || file === 'node_modules') continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(file, join(dir, file));
  }
  symlinkSync(realpathSync('node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** NPM_START=1: `npm start` in a fresh clone, RUNS times on one data directory. */
async function npmStart(): Promise<void> {
  const runs = Number(process.env.RUNS ?? 3);
  const clone = freshClone();
  try {
    for (let run = 1; run <= runs; run++) {
      const r = await startupRun(join(clone, 'data'), { command: ['npm', 'start', '--silent'], cwd: clone, timeoutMs: 300_000 });
      console.log(JSON.stringify({
        bench: 'startup-npm-start', run, what: run === 1 ? 'fresh clone: build and new database' : 'nothing changed',
        ms: Math.round(r.spawnMs), readyMs: r.readyMs ?? null, node: process.version,
      }));
    }
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.env.NPM_START === '1') return npmStart();
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
