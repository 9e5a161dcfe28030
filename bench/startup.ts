/**
 * Benchmark: start-up time and memory of the embedded default (issue #2: < 2 s from spawn to GET /readyz = 200;
 * issue #17: first start peak RSS <= 400 MB and ready <= 3 s, restart peak RSS <= 250 MB and ready <= 1 s).
 *
 * Default: the server as users run it, `node dist/src/main.js` with no platform configured (the console, its stdin
 * ended). Run `npm run build` first (this mode builds nothing), then: npm run bench:startup   (FRESH=n, default 3;
 * RUNS=n restarts, default 7). Each run spawns tread, polls /readyz every 10 ms, reads `readyMs` from tread's
 * 'tread is ready' log line (ms from the start of src/start.ts's start(), after its imports), reads the process's
 * VmRSS at ready and its VmHWM (peak resident memory since spawn) one second later, then stops it with SIGTERM. First
 * FRESH runs each on a new, empty data directory (what a first start does: from the pre-initialised template, or
 * initdb), then RUNS restarts on the last of them. One JSON line per run, then one summary line per kind (ranges).
 * TREAD_PGLITE_SETTINGS, TREAD_PGLITE_TEMPLATE, TREAD_PGLITE_SNAPSHOT and TREAD_PGLITE_OPTIMISE are passed to tread.
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
const FRESH = Number(process.env.FRESH ?? 3);
/** tread's variables a run passes through from the benchmark's environment, besides the basics. */
const PASSED = ['TREAD_PGLITE_SETTINGS', 'TREAD_PGLITE_TEMPLATE', 'TREAD_PGLITE_SNAPSHOT', 'TREAD_PGLITE_OPTIMISE'];
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

/** VmRSS and VmHWM (peak) of a live process, in MB, from /proc/<pid>/status (0 when unreadable). */
export function processMemoryMB(pid: number): { rssMB: number; peakRssMB: number } {
  let status = '';
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { /* gone, or not Linux */ }
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMB: Math.round(kb('VmRSS') / 1024), peakRssMB: Math.round(kb('VmHWM') / 1024) };
}

/**
 * Spawns `node dist/src/main.js` (or `command` in `cwd`) on a PGlite data directory (created and migrated when new);
 * resolves with ms from spawn to /readyz = 200, the logged readyMs, the process's RSS when ready and its peak RSS
 * (VmHWM) `settleMs` later (default 1000), after stopping it with SIGTERM (sent to its process group, so `npm start`
 * and the node it runs both get it). Memory is read only for `node dist/src/main.js` (npm's process is not tread's).
 */
export async function startupRun(dataDir: string, options: { command?: string[]; cwd?: string; timeoutMs?: number; settleMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ spawnMs: number; readyMs: number | undefined; rssMB: number; peakRssMB: number }> {
  const port = await freePort();
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const env: NodeJS.ProcessEnv = { TREAD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' };
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS', ...PASSED]) if (process.env[key] !== undefined) env[key] = process.env[key];
  Object.assign(env, options.env);
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
  const atReady = options.command ? { rssMB: 0, peakRssMB: 0 } : processMemoryMB(child.pid!);
  await new Promise((r) => setTimeout(r, options.settleMs ?? 1000));
  const settled = options.command ? atReady : processMemoryMB(child.pid!);
  stop('SIGTERM');
  const code = await exited;
  // npm itself dies of the SIGTERM sent to the group (exit code null); tread's own exit is checked without it.
  if (code !== 0 && !(options.command && code === null)) throw new Error(`tread exited with ${code} after SIGTERM:\n${watch.output.join('\n')}`);
  return { spawnMs, readyMs: watch.readyMs(), rssMB: atReady.rssMB, peakRssMB: settled.peakRssMB };
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

/** min–max and median of some numbers, for the summary lines. */
function range(values: number[], digits = 0): { min: number; p50: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: Number(sorted[0]!.toFixed(digits)), p50: quantileMs(sorted, 0.5, digits), max: Number(sorted.at(-1)!.toFixed(digits)) };
}

async function main(): Promise<void> {
  if (process.env.NPM_START === '1') return npmStart();
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  const dirs: string[] = [];
  try {
    for (const [start, runs] of [['fresh', FRESH], ['restart', RUNS]] as const) {
      const results: Awaited<ReturnType<typeof startupRun>>[] = [];
      for (let run = 1; run <= runs; run++) {
        if (start === 'fresh' || dirs.length === 0) dirs.push(mkdtempSync(join(tmpdir(), 'tread-bench-startup-')));
        if (start === 'restart' && run === 1 && FRESH === 0) await startupRun(dirs.at(-1)!); // creates the data directory
        const r = await startupRun(dirs.at(-1)!);
        results.push(r);
        console.log(JSON.stringify({
          bench: 'startup', driver: 'pglite', start, run, ms: Math.round(r.spawnMs), readyMs: r.readyMs ?? null,
          rssMB: r.rssMB, peakRssMB: r.peakRssMB, node: process.version,
        }));
      }
      if (runs === 0) continue;
      console.log(JSON.stringify({
        bench: 'startup-summary', driver: 'pglite', start, runs, ms: range(results.map((r) => r.spawnMs)),
        readyMs: range(results.flatMap((r) => (r.readyMs === undefined ? [] : [r.readyMs]))),
        peakRssMB: range(results.map((r) => r.peakRssMB)), node: process.version,
      }));
    }
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script; bench/commands.ts imports startupRun.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
