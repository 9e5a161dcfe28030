/**
 * Event ingestion against Prometheus Alertmanager, in one run on one machine, with one load generator (a child process)
 * and the same alerts. tread runs as users run it: a spawned `node dist/src/main.js` with its default platform, answering
 * only once the events are durable (applied, or stored in the intake while their lane is busy); Alertmanager 0.25 (the
 * Debian package) keeps alerts in memory. Measured:
 * - first-sight batches: Alertmanager webhook bodies of 100 alerts with fingerprints never seen (`POST /hooks/alertmanager`
 *   for tread, the same alerts to Alertmanager's `POST /api/v2/alerts`);
 * - resends: the same bodies again (Alertmanager's steady state: every firing alert at each group interval);
 * - single events: PagerDuty Events v2 triggers (`/v2/enqueue`), dedup keys spread over KEYS values, content changing;
 *   Alertmanager gets each as a one-alert POST.
 * One JSON line per measurement: tread's rate of answers, Alertmanager's, the ratio; tread's applied rate (until the intake
 * is drained: every alert deduplicated and correlated) and its ratio; p50/p99 of both; tread's CPU (and its PostgreSQL's)
 * per alert including the drain (and the part spent while the load ran); and a check that every accepted alert is stored and counted (read from /metrics, so both drivers).
 * Rounds alternate Alertmanager and tread, so a machine that gets busier moves both. With the single events, one more
 * line measures a bare Node.js server (parse and answer, nothing else) against Alertmanager: the ceiling for any Node.js
 * server on the machine. On PostgreSQL, the commits per alert (from pg_stat_database) show how well requests share commits.
 *
 * Run: `npm run build && DATABASE_URL=postgres://… npm run bench:ingest` (PostgreSQL; without DATABASE_URL tread uses its
 * embedded PGlite). Needs /usr/bin/prometheus-alertmanager (`apt-get install prometheus-alertmanager`).
 * Knobs: ROUNDS=2 AM_BODIES=100 AM_CONCURRENCY=8 EVENTS=4000 CONCURRENCY=32 KEYS=500 DRIVER=postgres|pglite|both,
 * CASES=first,resends,singles (which measurements), PROFILE_DIR=/tmp/prof (tread runs with --cpu-prof and writes its profile there when it stops).
 * On a machine shared with other work, the README's figures were taken with the benchmark and its PostgreSQL cluster at
 * real-time priority (`chrt -r 10 npm run bench:ingest`, the cluster started under `chrt -r 10`), so both sides get the CPU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import postgres from 'postgres';
import { createPgDatabase } from '../test/helpers/db.js';
import { freePort } from '../test/helpers/net.js';
import { alertmanagerInstalled, ALERTMANAGER_BIN, postableAlerts, startAlertmanager, type Alertmanager } from './alertmanager.js';
import { quantileMs, requireChecks, runClient } from './util.js';

const ROUNDS = Number(process.env.ROUNDS ?? 2);
const AM_BODIES = Number(process.env.AM_BODIES ?? 100);
const AM_CONCURRENCY = Number(process.env.AM_CONCURRENCY ?? 8);
const EVENTS = Number(process.env.EVENTS ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const KEYS = Number(process.env.KEYS ?? 500);
const CASES = new Set((process.env.CASES ?? 'first,resends,singles').split(','));
const PD_KEY = 'BENCHKEY00000000000000000000000A';
const AM_TOKEN = 'bench-am-token-0123456789';
const SERVICES = Array.from({ length: 50 }, (_, i) => `svc-${i}`);

const CONFIG = `organisation: Bench
timezone: UTC
people:
  - { id: alice, name: Alice, roles: [admin, responder] }
services:
${SERVICES.map((s) => `  - { name: ${s}, owners: [alice] }`).join('\n')}
integrations:
  - { name: pd, kind: pagerduty, routingKey: ${PD_KEY}, service: svc-0 }
  - { name: am, kind: alertmanager, token: ${AM_TOKEN} }
correlation: { window: 10m, groupBy: [service, alertname] }
`;

/** The load generator (plain JS in a child process): posts each request, round robin over `concurrency` clients. */
const CLIENT = `
const http = require('node:http');
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const { port, path, headers, bodies, concurrency } = JSON.parse(input);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const latencies = new Array(bodies.length);
  const statuses = {};
  const post = (body) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
  const worker = async () => {
    while (next < bodies.length) {
      const i = next++;
      const t0 = performance.now();
      const status = await post(bodies[i]);
      latencies[i] = performance.now() - t0;
      statuses[status] = (statuses[status] || 0) + 1;
    }
  };
  const started = performance.now();
  Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, latencies, statuses }));
    agent.destroy();
  });
});
`;

/**
 * The ceiling of any Node.js server on this machine: one process that only reads each body, parses the JSON and answers
 * 202 (no validation, no database). Measured against Alertmanager in the same run for single events, it shows how much
 * of the gap is tread's own work and how much is Node's HTTP stack on a machine whose cores the load generator shares.
 */
const BARE_SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let v;
    try { v = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { res.writeHead(400); res.end(); return; }
    const text = JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: v.dedup_key });
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

/** Starts the bare server (see BARE_SERVER). */
async function startBare(): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', BARE_SERVER], { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
  });
  return { port, stop: () => child.kill() };
}

interface LoadResult {
  seconds: number;
  latencies: number[];
  statuses: Record<string, number>;
}

async function load(port: number, path: string, bodies: string[], concurrency: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  const r = await runClient<LoadResult>(CLIENT, { port, path, headers, bodies, concurrency });
  r.latencies.sort((a, b) => a - b);
  return r;
}

/** CPU seconds of processes (utime + stime from /proc; 0 where not readable). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone or not Linux */ }
  }
  return ticks / 100;
}

/** tread as a user starts it: `node dist/src/main.js` with its default platform (the console, its input closed). */
interface TreadProcess {
  port: number;
  pid: number;
  /** PIDs of its PostgreSQL backends (none on PGlite). */
  pgPids(): Promise<number[]>;
  /** Transactions committed in its PostgreSQL database so far (0 on PGlite; the server's statistics lag up to a second). */
  pgCommits(): Promise<number>;
  metric(name: string): Promise<number>;
  /** Resolves once no answered event waits in the intake (all applied). */
  drained(): Promise<void>;
  stop(): Promise<void>;
}

async function spawnTread(env: Record<string, string>, databaseUrl?: string): Promise<TreadProcess> {
  if (!existsSync('dist/src/main.js')) throw new Error('dist/src/main.js is missing: run npm run build first');
  const dir = mkdtempSync(join(tmpdir(), 'tread-bench-ingest-'));
  writeFileSync(join(dir, 'tread.yaml'), CONFIG);
  const port = await freePort();
  const base: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ', 'NODE_OPTIONS']) if (process.env[key] !== undefined) base[key] = process.env[key];
  const profile = process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, 'dist/src/main.js'], {
    env: { ...base, PORT: String(port), TREAD_CONFIG: join(dir, 'tread.yaml'), TREAD_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const errors: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => { if (errors.length < 50) errors.push(l); });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > 600) throw new Error(`tread did not start:\n${errors.join('\n')}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const admin = databaseUrl ? postgres(databaseUrl, { max: 1, onnotice: () => {} }) : undefined;
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name) && !l.startsWith('#')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  };
  return {
    port, pid: child.pid!,
    pgPids: async () => (admin ? (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`).map((r) => r.pid) : []),
    pgCommits: async () => (admin ? Number((await admin<{ n: string }[]>`select pg_stat_force_next_flush(), xact_commit::text as n from pg_stat_database where datname = current_database()`)[0]!.n) : 0),
    metric,
    async drained() {
      while ((await metric('tread_event_intake_pending')) > 0) await new Promise((r) => setTimeout(r, 10));
    },
    async stop() {
      await admin?.end();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One side's figures for one measurement. */
function side(alerts: number, r: LoadResult) {
  return { perSecond: Math.round(alerts / r.seconds), p50ms: quantileMs(r.latencies, 0.5), p99ms: quantileMs(r.latencies, 0.99), statuses: r.statuses };
}

let batchSeq = 0;

/** `n` webhook bodies of 100 firing alerts each, every alert with a fingerprint never sent before. */
function firstSightBodies(n: number): { webhook: string[]; api: string[] } {
  const webhook: string[] = [];
  const api: string[] = [];
  for (let b = 0; b < n; b++, batchSeq++) {
    const svc = SERVICES[batchSeq % SERVICES.length]!;
    const alerts = Array.from({ length: 100 }, (_, j) => {
      const n2 = batchSeq * 100 + j;
      return {
        status: 'firing', labels: { alertname: `HighLoad${n2 % 20}`, service: svc, instance: `node-${n2}:9100`, job: 'node', severity: 'warning' },
        annotations: { summary: `Load high on node-${n2}`, runbook_url: 'https://runbooks.example/load' },
        startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus.local/graph?g0.expr=load', fingerprint: `fp${n2.toString(16).padStart(14, '0')}`,
      };
    });
    const body = { receiver: 'tread', status: 'firing', version: '4', groupKey: `{}:{service="${svc}"}`, truncatedAlerts: 0, groupLabels: { service: svc }, commonLabels: { service: svc }, commonAnnotations: {}, externalURL: 'http://am.local', alerts };
    webhook.push(JSON.stringify(body));
    api.push(JSON.stringify(postableAlerts(body)));
  }
  return { webhook, api };
}

let singleSeq = 0;

/** `n` single triggers over KEYS dedup keys, each with new content, as PagerDuty events and as one-alert POSTs. */
function singleEvents(n: number): { webhook: string[]; api: string[] } {
  const webhook: string[] = [];
  const api: string[] = [];
  for (let i = 0; i < n; i++, singleSeq++) {
    const k = singleSeq % KEYS;
    const summary = `Checkout latency high on host ${k}`;
    webhook.push(JSON.stringify({ routing_key: PD_KEY, event_action: 'trigger', dedup_key: `key-${k}`, payload: { summary, source: `host-${k}`, severity: 'warning', component: 'api', custom_details: { p99: 2.5 + (singleSeq % 7), n: singleSeq } } }));
    api.push(JSON.stringify([{ labels: { alertname: 'CheckoutLatency', dedup: `key-${k}`, source: `host-${k}`, severity: 'warning' }, annotations: { summary, p99: String(2.5 + (singleSeq % 7)), n: String(singleSeq) }, startsAt: new Date().toISOString() }]));
  }
  return { webhook, api };
}

async function measure(name: string, driver: string, tread: TreadProcess, am: Alertmanager, make: () => { webhook: string[]; api: string[] }, alertsPer: number, path: string, headers: Record<string, string>, concurrency: number, resend: boolean): Promise<{ accepted: number }> {
  const sides = { tread: [] as (ReturnType<typeof side> & { appliedPerSecond: number })[], alertmanager: [] as ReturnType<typeof side>[] };
  let treadSeconds = 0; let appliedSeconds = 0; let amSeconds = 0; let alerts = 0; let accepted = 0; let treadCpu = 0; let pgCpu = 0; let answerCpu = 0; let commits = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const bodies = make();
    if (resend) { // the first send is not measured: the bodies are known to both (stored and applied) before the resend
      await load(am.port, '/api/v2/alerts', bodies.api, concurrency);
      await load(tread.port, path, bodies.webhook, concurrency, headers);
      await tread.drained();
    }
    const n = bodies.webhook.length * alertsPer;
    const a = await load(am.port, '/api/v2/alerts', bodies.api, concurrency);
    const pids = [tread.pid, ...(await tread.pgPids())];
    const cpu0 = cpuSeconds([tread.pid]); const pg0 = cpuSeconds(pids.slice(1)); const commits0 = await tread.pgCommits();
    const t = await load(tread.port, path, bodies.webhook, concurrency, headers);
    answerCpu += cpuSeconds([tread.pid]) - cpu0;
    const drainStart = performance.now();
    await tread.drained();
    const drain = (performance.now() - drainStart) / 1000;
    treadCpu += cpuSeconds([tread.pid]) - cpu0;
    await new Promise((r) => setTimeout(r, 1100)); // the backends' statistics reach pg_stat_database within a second
    commits += (await tread.pgCommits()) - commits0 - 1; pgCpu += cpuSeconds(pids.slice(1)) - pg0;
    sides.alertmanager.push(side(n, a)); sides.tread.push({ ...side(n, t), appliedPerSecond: Math.round(n / (t.seconds + drain)) });
    amSeconds += a.seconds; treadSeconds += t.seconds; appliedSeconds += t.seconds + drain; alerts += n;
    accepted += Object.entries(t.statuses).filter(([s]) => s.startsWith('2')).reduce((x, [, c]) => x + c, 0) * alertsPer;
  }
  const treadRate = Math.round(alerts / treadSeconds);
  const amRate = Math.round(alerts / amSeconds);
  console.log(JSON.stringify({
    bench: `ingest-${name}`, driver, alerts, alertsPerRequest: alertsPer, concurrency, rounds: ROUNDS,
    treadPerSecond: treadRate, alertmanagerPerSecond: amRate, ratio: Number((treadRate / amRate).toFixed(2)),
    treadAppliedPerSecond: Math.round(alerts / appliedSeconds), appliedRatio: Number((alerts / appliedSeconds / amRate).toFixed(2)),
    tread: sides.tread, alertmanager: sides.alertmanager, accepted: accepted === alerts ? 'all' : accepted,
    treadCpuMsPerAlert: Number((treadCpu * 1000 / alerts).toFixed(3)), treadCpuMsPerAlertWhileAnswering: Number((answerCpu * 1000 / alerts).toFixed(3)), pgCpuMsPerAlert: Number((pgCpu * 1000 / alerts).toFixed(3)), pgCommitsPerAlert: driver === 'postgres' ? Number((commits / alerts).toFixed(4)) : undefined, loadAverage: Number(loadavg()[0]!.toFixed(2)),
  }));
  return { accepted };
}

/** The same single events to the bare server and to Alertmanager, alternating rounds (one line, no database). */
async function measureBare(am: Alertmanager): Promise<void> {
  const bare = await startBare();
  try {
    let bareSeconds = 0; let amSeconds = 0; let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const bodies = singleEvents(EVENTS);
      amSeconds += (await load(am.port, '/api/v2/alerts', bodies.api, CONCURRENCY)).seconds;
      bareSeconds += (await load(bare.port, '/v2/enqueue', bodies.webhook, CONCURRENCY)).seconds;
      n += bodies.webhook.length;
    }
    const bareRate = Math.round(n / bareSeconds); const amRate = Math.round(n / amSeconds);
    console.log(JSON.stringify({ bench: 'ingest-single-events-bare-node', note: 'a Node.js server that only parses each body and answers 202: the ceiling of one Node process here', alerts: n, concurrency: CONCURRENCY, rounds: ROUNDS, barePerSecond: bareRate, alertmanagerPerSecond: amRate, ratio: Number((bareRate / amRate).toFixed(2)), loadAverage: Number(loadavg()[0]!.toFixed(2)) }));
  } finally {
    bare.stop();
  }
}

async function run(driver: 'postgres' | 'pglite', am: Alertmanager): Promise<void> {
  const pg = driver === 'postgres' ? await createPgDatabase() : undefined;
  const tread = await spawnTread(pg ? { DATABASE_URL: pg.url } : {}, pg?.url);
  try {
    const amHeaders = { authorization: `Bearer ${AM_TOKEN}` };
    const events0 = await tread.metric('tread_events_ingested_total');
    const none = { accepted: 0 };
    const first = CASES.has('first') ? await measure('first-sight-batches', driver, tread, am, () => firstSightBodies(AM_BODIES), 100, '/hooks/alertmanager', amHeaders, AM_CONCURRENCY, false) : none;
    const firing = await tread.metric('tread_alerts_open{state="firing"}');
    const resends = CASES.has('resends') ? await measure('resends', driver, tread, am, () => firstSightBodies(AM_BODIES), 100, '/hooks/alertmanager', amHeaders, AM_CONCURRENCY, true) : none;
    const singles = CASES.has('singles') ? await measure('single-events', driver, tread, am, () => singleEvents(EVENTS), 1, '/v2/enqueue', {}, CONCURRENCY, false) : none;
    if (CASES.has('singles') && driver === drivers[0]) await measureBare(am);
    const queued = await tread.metric('tread_events_queued_total');
    const committed = (await tread.metric('tread_events_ingested_total')) - events0;
    const sent = first.accepted + 2 * resends.accepted + singles.accepted;
    const checks = { everyFirstSightAlertStored: firing === first.accepted, everyAcceptedEventCommitted: committed === sent };
    console.log(JSON.stringify({
      bench: 'ingest-check', driver, firstSightAlerts: first.accepted, openFiringAfterFirstSight: firing,
      everyFirstSightAlertStored: checks.everyFirstSightAlertStored, eventsAccepted: sent, eventsQueued: queued, eventsCommitted: committed, everyAcceptedEventCommitted: checks.everyAcceptedEventCommitted,
    }));
    requireChecks(`bench:ingest (${driver})`, checks);
  } finally {
    await tread.stop();
    await pg?.drop();
  }
}

if (!alertmanagerInstalled()) {
  console.error(`bench:ingest measures tread against Prometheus Alertmanager, which is not installed at ${ALERTMANAGER_BIN}: apt-get install prometheus-alertmanager (or set ALERTMANAGER_BIN)`);
  process.exit(2);
}
const drivers = (process.env.DRIVER === 'both' ? ['postgres', 'pglite'] : process.env.DRIVER ? [process.env.DRIVER] : process.env.DATABASE_URL ? ['postgres'] : ['pglite']) as ('postgres' | 'pglite')[];
if (drivers.includes('postgres') && !process.env.DATABASE_URL) {
  console.error('bench:ingest on PostgreSQL needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres; each run creates and drops its own database)');
  process.exit(2);
}
for (const driver of drivers) {
  const am = await startAlertmanager();
  try {
    await run(driver, am);
  } finally {
    await am.stop();
  }
}
