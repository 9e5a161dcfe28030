/**
 * Slack ingress benchmark: signed slash commands to tread's /slack/events at 50 concurrent requests.
 * Prints one JSON line per measurement: acks per second and p50/p99 time to ack (goal: p99 < 100 ms; Slack allows 3 s):
 * a payload with no work after the ack (the adapter alone), `/tread help`, and `/incident <title>` (creates incidents).
 * The load generator and the fake Slack Web API each run in a process of their own, as Slack does not run in tread.
 * Run: npx tsx bench/slack.ts   (REQUESTS=1000 CONCURRENCY=50 WARMUP=100; DATABASE_URL=postgres://… to bench on PostgreSQL;
 * BENCH_DEBUG=1 prints the requests slower than 60 ms with their order, to tell a stall from a slow steady state)
 */
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { createSlackAdapter } from '../adapters/slack/index.js';
import { openDatabase, queryRows, type Database } from '../db/client.js';
import { loadEnv } from '../src/core/config/env.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { startTread } from '../src/runtime.js';
import { createPgDatabase } from '../test/helpers/db.js';
import { startFakeSlack } from './fake-slack.js';
import { openBenchPglite, quantileMs, runClient, storageOf } from './util.js';

const REQUESTS = Number(process.env.REQUESTS ?? 1000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
/**
 * Requests each case's client sends before the measured ones, from the same process: Slack's senders are long-running,
 * so a fresh client's cold start (its own JIT, 50 connections opened at once) is not tread's ack time. 0 measures it.
 */
const WARMUP = Number(process.env.WARMUP ?? 2 * CONCURRENCY);
const SECRET = 'bench-signing-secret';

const config = parseOrganisation(`
organisation: Bench
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
services:
  - { name: payments, owners: [alice], slack: { channel: C0PAYMENTS } }
`, 'bench');

/**
 * The load generator, in its own process (like Slack, the client shares neither tread's event loop nor its heap): signs
 * and sends slash commands over keep-alive connections; `{n}` in the text is the request number. Plain JS for `node -e`.
 */
const CLIENT = `
const { createHmac } = require('node:crypto');
const http = require('node:http');
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const w = JSON.parse(input);
  const target = new URL(w.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: w.concurrency });
  const times = [];
  const slow = [];
  let errors = 0;
  let next = 0;
  const send = (body, headers) => new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
  async function one(n) {
    const trigger = 'bench.' + (w.first + n);
    const body = w.command === 'view_closed'
      ? new URLSearchParams({ payload: JSON.stringify({ type: 'view_closed', team: { id: 'T0FAKE' }, user: { id: 'U0ALICE' }, view: { id: 'V' + n } }) }).toString()
      : new URLSearchParams({ team_id: 'T0FAKE', channel_id: 'C0OPS', channel_name: 'ops', user_id: 'U0ALICE', user_name: 'alice',
        command: w.command, text: w.text.replace('{n}', String(n)), trigger_id: trigger, response_url: w.responseBase + trigger }).toString();
    const ts = Math.floor(Date.now() / 1000);
    const signature = 'v0=' + createHmac('sha256', w.secret).update('v0:' + ts + ':' + body).digest('hex');
    const t0 = performance.now();
    const status = await send(body, { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature });
    if (status !== 200) errors++;
    if (n < w.warmup) return; // this process's connections and JIT warming up: not measured
    times.push(performance.now() - t0);
    if (w.debug && times.at(-1) > 60) slow.push([n - w.warmup, Math.round(times.at(-1))]);
  }
  async function worker() { while (next < w.warmup + w.total) await one(next++); }
  Promise.all(Array.from({ length: w.concurrency }, worker)).then(() => {
    if (w.debug) process.stderr.write('slow requests [n, ms]: ' + JSON.stringify(slow.slice(0, 40)) + String.fromCharCode(10));
    process.stdout.write(JSON.stringify({ times, errors }));
    agent.destroy();
  });
});
`;


async function main(): Promise<void> {
  const fake = await startFakeSlack();
  let drop: (() => Promise<void>) | undefined;
  let database: Database;
  if (process.env.DATABASE_URL) {
    const pg = await createPgDatabase();
    drop = pg.drop;
    database = await openDatabase({ url: pg.url });
  } else {
    database = await openBenchPglite();
  }
  const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl });
  const tread = await startTread({
    database, config, tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
    // No budgets: this fake has no rate limit, and this measures ingress, not Slack's posting rate (bench:storm does).
    platforms: async (app, router) => [await createSlackAdapter({ env, app, router, port: { budgets: { channel: [], 'chat.postMessage': [], 'chat.update': [] } } })],
  });
  const url = `http://127.0.0.1:${tread.port}/slack/events`;
  let seq = 0;

  /** Sends `total` signed slash commands, `concurrency` at a time, from the load generator process. */
  async function run(name: string, command: string, text: string, total: number, concurrency: number, warmup = WARMUP) {
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const first = seq;
    seq += warmup + total;
    const started = performance.now();
    const { times, errors } = await runClient<{ times: number[]; errors: number }>(CLIENT, { url, secret: SECRET, command, text, total, warmup, concurrency, first, responseBase: fake.responseBase, debug: Boolean(process.env.BENCH_DEBUG) });
    const seconds = (performance.now() - started) / 1000;
    loop.disable();
    times.sort((a, b) => a - b);
    return {
      bench: 'slack', case: name, driver: database.driver, ...storageOf(database), requests: total, concurrency, warmupRequests: warmup,
      acksPerSecond: Math.round((warmup + total) / seconds),
      p50Ms: quantileMs(times, 0.5, 1), p99Ms: quantileMs(times, 0.99, 1), maxMs: Number(times.at(-1)!.toFixed(1)),
      errors,
      // What else tread's process did meanwhile (the work after the acks) and how busy the machine was.
      eventLoopDelayP99Ms: Number((loop.percentile(99) / 1e6).toFixed(1)), loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    };
  }

  const waitUntil = async (check: () => Promise<boolean> | boolean, timeoutMs = 120_000) => {
    const until = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > until) throw new Error('background work did not finish');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // Warm-up (JIT, connection pool, prepared statements), not reported.
  await run('warmup', '/tread', 'help', 100, 10, 0);
  await waitUntil(async () => (await fake.responses()) >= 100);

  // The adapter alone: signature check, parsing, Bolt, ack; nothing to do afterwards.
  console.log(JSON.stringify(await run('interaction_ack_only', 'view_closed', '', REQUESTS, CONCURRENCY)));

  fake.reset();
  const help = await run('slash_command_help', '/tread', 'help', REQUESTS, CONCURRENCY);
  await waitUntil(async () => (await fake.responses()) >= WARMUP + REQUESTS);
  console.log(JSON.stringify(help));

  const started = performance.now();
  const create = await run('slash_command_incident', '/incident', 'Bench incident {n} service:payments', REQUESTS, CONCURRENCY);
  const count = async () => Number((await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from incidents`))[0]!.n);
  await waitUntil(async () => (await count()) >= WARMUP + REQUESTS);
  console.log(JSON.stringify({ ...create, incidentsCreated: await count(), allCreatedMs: Math.round(performance.now() - started) }));

  await tread.stop();
  await drop?.();
  await fake.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
