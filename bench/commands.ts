/**
 * Benchmark: commands through router + database (/incident create and ack, /request submission and an approval press),
 * and start-up to ready.
 * Prints one JSON line per measurement. Run: npx tsx bench/commands.ts   (DATABASE_URL adds the PostgreSQL run)
 * Knobs: BENCH_COMMANDS=500 BENCH_CONCURRENCY=1, BENCH_NO_DISPATCH=1 (router + database only, no outbox dispatch),
 * BENCH_ONLY_POSTGRES=1, BENCH_NO_STARTUP=1, BENCH_PGLITE=memory (bench/util.ts), TREAD_PGLITE_SETTINGS (PostgreSQL
 * settings for PGlite over tread's, as tread reads them). PGlite's lines show the settings and this process's peak RSS.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../db/client.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { startTread } from '../src/runtime.js';
import { createPgDatabase } from '../test/helpers/db.js';
import { CountingPort } from './counting-port.js';
import { processMemoryMB, startupRun } from './startup.js';
import { openBenchPglite, PGLITE_STORAGE, quantileMs } from './util.js';

const N = Number(process.env.BENCH_COMMANDS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);

const config = parseOrganisation(readFileSync(new URL('../tread.example.yaml', import.meta.url), 'utf8'), 'tread.example.yaml');

async function measure(driver: string, database: Database): Promise<void> {
  // cards go to a port that accepts them, as a chat platform would, so the outbox dispatch runs alongside as in production
  const port = new CountingPort();
  const tread = await startTread({ database, config, tickSeconds: 0, platforms: () => [{ platform: 'console', port }] });
  if (process.env.BENCH_NO_DISPATCH) tread.router.afterHandle = () => {};
  const where = { platform: 'console' as const, channel: 'console' };
  const actor = { platform: 'console' as const, id: 'alice' };
  let seq = 0;
  const dave = { platform: 'console' as const, id: 'dave' };
  const carol = { platform: 'console' as const, id: 'carol' };
  const names = {
    create: '/incident <title>', ack: 'incident.ack',
    request: '/request laptop model:… reason:…', approve: 'approval.approve',
  };
  for (const kind of ['create', 'ack', 'request', 'approve'] as const) {
    const latencies: number[] = [];
    const cpu = process.cpuUsage();
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const t0 = performance.now();
        const reply = kind === 'create'
          ? await tread.router.handle({ kind: 'command', name: 'incident', text: `Bench incident ${i} impact:low`, actor, where, deliveryId: `b${++seq}` })
          : kind === 'ack'
            ? await tread.router.handle({ kind: 'action', actionId: 'incident.ack', value: `INC-${i + 1}`, actor, where, deliveryId: `b${++seq}` })
            : kind === 'request'
              // a laptop: validated fields, the request, its approval copied from the manager policy, two DM cards
              ? await tread.router.handle({ kind: 'command', name: 'request', text: `laptop model:"14-inch standard" reason: bench request ${i}`, actor: dave, where, deliveryId: `b${++seq}` })
              // the manager approves on the card: the approval ends, the request is approved, its first task posted
              : await tread.router.handle({ kind: 'action', actionId: 'approval.approve', value: `APR-${i + 1}`, actor: carol, where, deliveryId: `b${++seq}` });
        latencies.push(performance.now() - t0);
        if (kind === 'approve' && reply.kind !== 'card') throw new Error(`approval press answered ${reply.kind}: ${reply.kind === 'ephemeral' ? reply.message.text : ''}`);
        if (reply.kind === 'ephemeral' && (reply.message.tone === 'danger' || (kind === 'request' && !/submitted/.test(reply.message.text ?? '')))) throw new Error(reply.message.text);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    latencies.sort((a, b) => a - b);
    // PGlite runs in this process: its settings (TREAD_PGLITE_SETTINGS over tread's) and the process's peak RSS so far
    const pglite = database.driver === 'pglite' ? { pgliteSettings: process.env.TREAD_PGLITE_SETTINGS ?? 'tread\'s', peakRssMB: processMemoryMB(process.pid).peakRssMB } : {};
    console.log(JSON.stringify({ bench: 'commands', driver, command: names[kind], n: N, concurrency: CONCURRENCY, perSecond: Math.round(N / seconds), p50ms: quantileMs(latencies, 0.5), p99ms: quantileMs(latencies, 0.99), treadCpuMsPerCommand: Number(((used.user + used.system) / 1000 / N).toFixed(2)), ...pglite }));
  }
  await tread.stop();
}

/** Start-up to ready and RSS on a new and then an existing PGlite directory (bench/startup.ts times more runs). */
async function startup(): Promise<void> {
  if (!existsSync('dist/src/main.js')) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'tread-bench-'));
  try {
    for (const run of ['fresh', 'existing', 'existing']) {
      const r = await startupRun(dir);
      console.log(JSON.stringify({ bench: 'startup', driver: 'pglite', dataDir: run, readyMs: Math.round(r.spawnMs), rssMB: r.rssMB, peakRssMB: r.peakRssMB }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!process.env.BENCH_ONLY_POSTGRES) await measure(`pglite-${PGLITE_STORAGE}`, await openBenchPglite());
if (process.env.DATABASE_URL) {
  const { url, drop } = await createPgDatabase();
  await measure('postgres', await openDatabase({ url }));
  await drop();
}
if (!process.env.BENCH_NO_STARTUP) await startup();
