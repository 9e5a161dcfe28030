/**
 * Event ingestion benchmark against tread's real HTTP server. Prints one JSON line per measurement:
 * - PagerDuty-style single events (64 concurrent clients, 10 000 events over 500 dedup keys): events/s, p50/p99, and a check
 *   that every 202'd event is in the database;
 * - Alertmanager-style bodies of 100 alerts: alerts/s, new alerts and identical resends (the steady state) apart, and a
 *   check that every accepted alert is counted in the database;
 * - an alert storm (10 000 events over 50 services in 10 s): chat messages sent (one card per group plus throttled updates).
 * Run: DATABASE_URL=postgres://… npx tsx bench/ingest.ts   (without DATABASE_URL: embedded PGlite)
 * Knobs: EVENTS=10000 CONCURRENCY=64 KEYS=500 AM_BODIES=400 AM_CONCURRENCY=16 AM_REPEATS=1 STORM_EVENTS=10000 STORM_SECONDS=10 TICK_SECONDS=5
 */
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { sql } from 'drizzle-orm';
import { openDatabase, queryRows, type Database } from '../db/client.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { startTread, type Tread } from '../src/runtime.js';
import { writerOf } from '../src/workflows/event/index.js';
import { createPgDatabase } from '../test/helpers/db.js';
import { CountingPort } from './counting-port.js';
import { quantileMs, runClient } from './util.js';

const EVENTS = Number(process.env.EVENTS ?? 10_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const KEYS = Number(process.env.KEYS ?? 500);
const AM_BODIES = Number(process.env.AM_BODIES ?? 400);
const AM_CONCURRENCY = Number(process.env.AM_CONCURRENCY ?? 16);
/** How many times the bodies are resent after the first pass (Alertmanager's steady state). */
const AM_REPEATS = Number(process.env.AM_REPEATS ?? 1);
const STORM_EVENTS = Number(process.env.STORM_EVENTS ?? 10_000);
const STORM_SECONDS = Number(process.env.STORM_SECONDS ?? 10);
/** The scheduler's tick (tread's default is 5 s): card updates of a group go out at most once per tick. */
const TICK_SECONDS = Number(process.env.TICK_SECONDS ?? 5);
const PD_KEY = 'BENCHKEY00000000000000000000000A';
const AM_TOKEN = 'bench-am-token-0123456789';
const GENERIC_TOKEN = 'bench-generic-token-0123456789';

const services = Array.from({ length: 50 }, (_, i) => `svc-${i}`);
const config = parseOrganisation(`
organisation: Bench
people:
  - { id: alice, name: Alice, roles: [responder] }
services:
${services.map((s) => `  - { name: ${s}, owners: [alice], console: { channel: ${s} } }`).join('\n')}
integrations:
  - { name: pd, kind: pagerduty, routingKey: ${PD_KEY}, service: svc-0 }
  - { name: am, kind: alertmanager, token: ${AM_TOKEN} }
  - { name: gen, kind: generic, token: ${GENERIC_TOKEN} }
correlation: { window: 10m, groupBy: [service, alertname] }
`, 'bench');

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/**
 * The load generator runs in a child process, so the clients share neither tread's event loop nor its CPU accounting.
 * It sends `bodies` (round robin over `concurrency` clients) and reports status counts and latencies.
 */
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

/** Sends the bodies from a child process; returns seconds, sorted latencies and status counts. */
async function load(port: number, path: string, bodies: string[], concurrency: number, headers: Record<string, string> = {}): Promise<{ seconds: number; latencies: number[]; statuses: Record<string, number> }> {
  const result = await runClient<{ seconds: number; latencies: number[]; statuses: Record<string, number> }>(CLIENT, { port, path, headers, bodies, concurrency });
  result.latencies.sort((a, b) => a - b);
  return result;
}

function post(port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** CPU seconds used so far by this database's PostgreSQL backends (from /proc; 0 when not readable). */
async function pgCpuSeconds(database: Database): Promise<number> {
  if (database.driver !== 'postgres') return 0;
  const pids = await queryRows<{ pid: number }>(database.db, sql`select pid from pg_stat_activity where datname = current_database()`);
  let ticks = 0;
  for (const { pid } of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* not on this machine */ }
  }
  return ticks / 100;
}

/** CPU use during a measurement: tread's process (the clients run in another) and its PostgreSQL backends. */
async function cpuMeter(database: Database): Promise<() => Promise<{ treadCpuSeconds: number; pgCpuSeconds: number }>> {
  const cpu = process.cpuUsage();
  const pg0 = await pgCpuSeconds(database);
  return async () => {
    const used = process.cpuUsage(cpu);
    return { treadCpuSeconds: Number(((used.user + used.system) / 1e6).toFixed(2)), pgCpuSeconds: Number(((await pgCpuSeconds(database)) - pg0).toFixed(2)) };
  };
}

async function count(database: Database, query: ReturnType<typeof sql>): Promise<number> {
  return Number((await queryRows<{ n: number }>(database.db, query))[0]?.n ?? 0);
}

async function singleEvents(driver: string, tread: Tread, database: Database): Promise<void> {
  const bodies = Array.from({ length: EVENTS }, (_, i) => JSON.stringify({
    routing_key: PD_KEY, event_action: 'trigger', dedup_key: `key-${i % KEYS}`,
    payload: { summary: `Checkout latency high on host ${i % KEYS}`, source: `host-${i % KEYS}`, severity: 'warning', component: 'api', custom_details: { p99: 2.5 + (i % 7), n: i } },
  }));
  const before = { ...writerOf(tread.app)!.stats };
  const meter = await cpuMeter(database);
  const r = await load(tread.port, '/v2/enqueue', bodies, CONCURRENCY);
  const cpu = await meter();
  const accepted = r.statuses['202'] ?? 0;
  const stored = await count(database, sql`select count(*)::int as n from alert_events where actor = 'pd'`);
  const counted = await count(database, sql`select coalesce(sum(count), 0)::int as n from alerts where integration = 'pd'`);
  const stats = writerOf(tread.app)!.stats;
  console.log(JSON.stringify({
    bench: 'ingest-pagerduty-single', driver, events: EVENTS, concurrency: CONCURRENCY, dedupKeys: KEYS, perSecond: Math.round(EVENTS / r.seconds),
    p50ms: quantileMs(r.latencies, 0.5), p99ms: quantileMs(r.latencies, 0.99), accepted, statuses: r.statuses,
    allStored: stored === accepted && counted === accepted, storedEvents: stored, alertCountSum: counted,
    batches: stats.batches - before.batches, eventsPerBatch: Number(((stats.events - before.events) / Math.max(1, stats.batches - before.batches)).toFixed(1)),
    ...cpu, cpuMsPerEvent: Number(((cpu.treadCpuSeconds + cpu.pgCpuSeconds) * 1000 / EVENTS).toFixed(3)), loadAverage: loadavg()[0],
  }));
}

async function batchedAlerts(driver: string, tread: Tread, database: Database): Promise<void> {
  // AM_BODIES bodies of 100 alerts: the first half opens new alerts, the second half repeats them (Alertmanager resends
  // every firing alert of a group at each group_interval), which is the steady state.
  const half = Math.max(1, Math.floor(AM_BODIES / 2));
  const bodies: string[] = [];
  for (let b = 0; b < half; b++) {
    const svc = services[b % services.length]!;
    const alerts = Array.from({ length: 100 }, (_, j) => {
      const n = b * 100 + j;
      return {
        status: 'firing', labels: { alertname: `HighLoad${n % 20}`, service: svc, instance: `node-${n}:9100`, job: 'node', severity: 'warning' },
        annotations: { summary: `Load high on node-${n}`, runbook_url: 'https://runbooks.example/load' },
        startsAt: '2026-01-05T09:59:00.000Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus.local/graph?g0.expr=load', fingerprint: `fp${n.toString(16).padStart(12, '0')}`,
      };
    });
    bodies.push(JSON.stringify({ receiver: 'tread', status: 'firing', version: '4', groupKey: `{}:{service="${svc}"}`, truncatedAlerts: 0, groupLabels: { service: svc }, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am.local', alerts }));
  }
  const pass = async (phase: 'new' | 'repeat') => {
    const before = { ...writerOf(tread.app)!.stats };
    const meter = await cpuMeter(database);
    const r = await load(tread.port, '/hooks/alertmanager', bodies, AM_CONCURRENCY, { authorization: `Bearer ${AM_TOKEN}` });
    const cpu = await meter();
    const alerts = bodies.length * 100;
    return {
      phase, alerts, alertsPerSecond: Math.round(alerts / r.seconds), p50ms: quantileMs(r.latencies, 0.5), p99ms: quantileMs(r.latencies, 0.99),
      accepted: (r.statuses['200'] ?? 0) * 100, batches: writerOf(tread.app)!.stats.batches - before.batches,
      ...cpu, cpuMsPerAlert: Number(((cpu.treadCpuSeconds + cpu.pgCpuSeconds) * 1000 / alerts).toFixed(3)),
    };
  };
  const first = await pass('new');
  const repeats = [];
  for (let i = 0; i < Math.max(1, AM_REPEATS); i++) repeats.push(await pass('repeat'));
  const second = {
    alerts: repeats.reduce((n, p) => n + p.alerts, 0), accepted: repeats.reduce((n, p) => n + p.accepted, 0),
    alertsPerSecond: Math.round(repeats.reduce((n, p) => n + p.alerts, 0) / repeats.reduce((n, p) => n + p.alerts / p.alertsPerSecond, 0)),
  };
  // identical resends are counted on their alert (count, last seen), not stored again: every accepted alert must be counted
  const stored = await count(database, sql`select count(*)::int as n from alert_events where actor = 'am'`);
  const counted = await count(database, sql`select coalesce(sum(count), 0)::int as n from alerts where integration = 'am'`);
  const total = first.alerts + second.alerts;
  const seconds = first.alerts / first.alertsPerSecond + second.alerts / second.alertsPerSecond;
  console.log(JSON.stringify({
    bench: 'ingest-alertmanager-batched', driver, bodies: bodies.length * 2, alertsPerBody: 100, concurrency: AM_CONCURRENCY,
    alertsPerSecond: Math.round(total / seconds), newAlertsPerSecond: first.alertsPerSecond, repeatAlertsPerSecond: second.alertsPerSecond,
    allCounted: counted === first.accepted + second.accepted, alertCountSum: counted, historyRows: stored,
    distinctAlerts: await count(database, sql`select count(*)::int as n from alerts where integration = 'am'`), passes: [first, ...repeats], loadAverage: loadavg()[0],
  }));
}

async function storm(driver: string, tread: Tread, port: CountingPort): Promise<void> {
  await tread.dispatcher.flush();
  port.reset();
  const perTick = 50;
  const ticks = Math.ceil(STORM_EVENTS / perTick);
  const interval = (STORM_SECONDS * 1000) / ticks;
  const started = performance.now();
  const inflight: Promise<number>[] = [];
  let sent = 0;
  for (let t = 0; t < ticks; t++) {
    const due = started + t * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (let k = 0; k < perTick && sent < STORM_EVENTS; k++, sent++) {
      const svc = services[sent % services.length]!;
      inflight.push(post(tread.port, '/hooks/generic', JSON.stringify({ summary: `Storm on ${svc}: probe ${sent} failed`, severity: 'warning', source: `probe-${sent}`, labels: { service: svc, alertname: 'ProbeFailed' }, dedupKey: `storm-${sent}` }), { authorization: `Bearer ${GENERIC_TOKEN}` }));
    }
  }
  const statuses = await Promise.all(inflight);
  const seconds = (performance.now() - started) / 1000;
  // Let the scheduler tick a few more times so every pending card update goes out.
  await new Promise((r) => setTimeout(r, TICK_SECONDS * 1000 + 500));
  await tread.scheduler.tick();
  await tread.dispatcher.flush();
  const groups = Number((await queryRows<{ n: number }>(tread.app.db, sql`select count(distinct group_id)::int as n from alerts where integration = 'gen'`))[0]?.n ?? 0);
  console.log(JSON.stringify({
    bench: 'ingest-alert-storm', driver, events: STORM_EVENTS, services: services.length, seconds: Number(seconds.toFixed(1)),
    accepted: statuses.filter((s) => s === 202).length, groups, chatMessages: port.posts + port.updates + port.other,
    cards: port.posts, cardUpdates: port.updates, otherMessages: port.other, tickSeconds: TICK_SECONDS,
  }));
}

async function run(driver: string, database: Database): Promise<void> {
  const port = new CountingPort();
  const tread = await startTread({
    database, config, tickSeconds: TICK_SECONDS, http: { host: '127.0.0.1', port: 0 },
    platforms: () => [{ platform: 'console', port }],
  });
  try {
    await singleEvents(driver, tread, database);
    await batchedAlerts(driver, tread, database);
    await storm(driver, tread, port);
  } finally {
    await tread.stop();
  }
}

if (process.env.DATABASE_URL) {
  const { url, drop } = await createPgDatabase();
  try {
    await run('postgres', await openDatabase({ url, poolSize: 10 }));
  } finally {
    await drop();
  }
} else {
  await run('pglite', await openDatabase({ dataDir: 'memory://' }));
}
agent.destroy();
