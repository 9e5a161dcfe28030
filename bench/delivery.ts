/**
 * Delivery benchmark (issue 14) against the strict Slack double in a process of its own. Two runs, one JSON line each:
 * - `faults`: the double answers 30 % of chat.postMessage/chat.update with 429 (Retry-After: 2), 10 % with a 5xx and
 *   never answers 1 %, on top of Slack's documented limits; 100 signed `/incident` commands from 10 channels, then
 *   `/incident ack` for 50 of them. Reports cards lost and doubled, acknowledgements missing from the cards and threads,
 *   calls made inside a Retry-After window (must be 0), time from command to card (p50/p99/max), 429s and 5xx received,
 *   and the time no call was made outside Retry-After windows (the idle time 429s did not impose: 5xx backoff and the
 *   client timeout of unanswered calls).
 * - `escalations`: 100 alerts that page at once (100 services, each policy: person A, 8 s, then person B); 50 are
 *   acknowledged before the second step. Reports how late each second page reached Slack after its due time
 *   (p50/p99/max), pages sent twice, pages decided after an acknowledgement (must be 0) and pages that reached Slack
 *   after one (decided before it, delivered after). With DATABASE_URL the run has two replicas on
 *   one PostgreSQL database, each with its own scheduler and dispatcher.
 * Run: npm run bench:delivery   (DATABASE_URL=postgres://… for PostgreSQL and two replicas; knobs: INCIDENTS=100
 * ACKS=50 ESCALATIONS=100 STEP_SECONDS=8 SEED=14)
 */
import { createHmac } from 'node:crypto';
import { loadavg } from 'node:os';
import { sql } from 'drizzle-orm';
import { createSlackAdapter } from '../adapters/slack/index.js';
import { queryRows, type Database } from '../db/client.js';
import { loadEnv } from '../src/core/config/env.js';
import type { OrgConfig } from '../src/core/config/org.js';
import { createLogger } from '../src/core/logger.js';
import { startTread, type Tread } from '../src/runtime.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { startFakeSlack, type FakeCall, type FakeSlackProcess } from './fake-slack.js';
import { quantileMs, requireChecks, storageOf, withBenchDatabase } from './util.js';

const INCIDENTS = Number(process.env.INCIDENTS ?? 100);
const ACKS = Number(process.env.ACKS ?? 50);
const ESCALATIONS = Number(process.env.ESCALATIONS ?? 100);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 8);
const SEED = Number(process.env.SEED ?? 14);
const SECRET = 'bench-signing-secret';
const GENERIC_TOKEN = 'bench-generic-token-0123456789';
const BOT = { botId: 'B0TREADBOT', botUserId: 'U0TREADBOT', teamId: 'T0FAKE' };
const CHANNELS = 10;

const faultsConfig = parseOrganisation(`
organisation: Bench
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
`, 'bench');

const escalationConfig = parseOrganisation(`
organisation: Bench
people:
${Array.from({ length: ESCALATIONS }, (_, i) => `  - { id: a${i}, name: Responder A${i}, slack: U0PA${i}, roles: [responder] }\n  - { id: b${i}, name: Responder B${i}, slack: U0PB${i}, roles: [responder] }`).join('\n')}
services:
${Array.from({ length: ESCALATIONS }, (_, i) => `  - { name: esc-${i}, owners: [a${i}], escalationPolicy: pol-${i}, slack: { channel: C0ESC${i} } }`).join('\n')}
escalationPolicies:
${Array.from({ length: ESCALATIONS }, (_, i) => `  - { name: pol-${i}, steps: [{ person: a${i}, wait: ${STEP_SECONDS}s }, { person: b${i}, wait: ${STEP_SECONDS}s }] }`).join('\n')}
integrations:
  - { name: mon, kind: generic, token: ${GENERIC_TOKEN} }
routing:
  - { match: { severity: error }, page: true, incident: false }
`, 'bench');

async function startSlackTread(database: Database, config: OrgConfig, fake: FakeSlackProcess): Promise<Tread> {
  const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl });
  return startTread({
    database, config, http: { host: '127.0.0.1', port: 0 }, ...(process.env.BENCH_DEBUG ? { log: createLogger('warn') } : {}),
    platforms: async (app, router) => [await createSlackAdapter({ env, app, router, bot: BOT })],
  });
}

/** Sends a signed slash command to tread's /slack/events; resolves with the HTTP status. */
async function slash(port: number, responseBase: string, command: string, text: string, channel: string, user: string, n: number): Promise<number> {
  const trigger = `bench.${Date.now()}.${n}`;
  const body = new URLSearchParams({ team_id: 'T0FAKE', channel_id: channel, channel_name: channel.toLowerCase(), user_id: user, user_name: user.toLowerCase(), command, text, trigger_id: trigger, response_url: `${responseBase}${trigger}` }).toString();
  const ts = Math.floor(Date.now() / 1000);
  const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
  const res = await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature }, body });
  await res.text();
  return res.status;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Seconds between `from` and `to` with no Slack call made and no Retry-After window open (gaps of 250 ms or more). */
function idleOutsideRetryAfter(calls: FakeCall[], from: number, to: number, retryAfterMs: number): number {
  const times = calls.filter((c) => c.at >= from && c.at <= to).map((c) => c.at).sort((a, b) => a - b);
  const windows = calls.filter((c) => c.status === 429).map((c) => [c.at, c.at + retryAfterMs] as const);
  let idle = 0;
  for (let i = 1; i < times.length; i++) {
    const [a, b] = [times[i - 1]!, times[i]!];
    if (b - a < 250) continue;
    // The part of the gap no window covers.
    let covered = 0;
    let cursor = a;
    for (const [s, e] of windows.filter(([s, e]) => e > a && s < b).sort((x, y) => x[0] - y[0])) {
      const start = Math.max(cursor, s);
      const end = Math.min(b, e);
      if (end > start) covered += end - start;
      cursor = Math.max(cursor, end);
    }
    idle += b - a - covered;
  }
  return Number((idle / 1000).toFixed(1));
}

async function faults(database: Database): Promise<void> {
  const fake = await startFakeSlack({ limits: true, faults: { rateLimited: 0.3, retryAfter: 2, serverError: 0.1, hang: 0.01, seed: SEED } });
  const tread = await startSlackTread(database, faultsConfig, fake);
  try {
    const started = Date.now();
    const sentAt = new Map<number, number>();
    const statuses: number[] = [];
    // 100 commands from 10 channels, ten at a time.
    for (let k = 0; k < INCIDENTS; k += 10) {
      await Promise.all(Array.from({ length: Math.min(10, INCIDENTS - k) }, async (_, j) => {
        const n = k + j;
        sentAt.set(n, Date.now());
        statuses.push(await slash(tread.port, fake.responseBase, '/incident', `Bench incident ${n}`, `C0CH${n % CHANNELS}`, 'U0ALICE', n));
      }));
    }
    // Slack gets its 200 at once; the incidents are created right after: wait for all of them.
    await waitFor(async () => Number((await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from incidents`))[0]!.n) >= INCIDENTS, 60_000);
    const byTitle = new Map<number, number>();
    const rows = await queryRows<{ id: number; title: string }>(tread.app.db, sql`select id, title from incidents`);
    for (const r of rows) byTitle.set(Number(/Bench incident (\d+)/.exec(r.title)![1]), Number(r.id));
    for (let n = 0; n < ACKS; n++) statuses.push(await slash(tread.port, fake.responseBase, '/incident', `ack INC-${byTitle.get(n)}`, `C0CH${n % CHANNELS}`, 'U0ALICE', 1000 + n));
    // Until every card is posted, every acknowledged card says so, and every acknowledgement is in its thread.
    const complete = async () => {
      const calls = await fake.calls();
      const cards = calls.filter((c) => c.ok && c.method === 'chat.postMessage' && !c.thread && /Bench incident/.test(c.text));
      const acks = calls.filter((c) => c.ok && c.method === 'chat.postMessage' && c.thread);
      const [pending] = await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from outbox where status in ('pending', 'sending')`);
      return new Set(cards.map((c) => c.text)).size >= INCIDENTS && acks.length >= ACKS && Number(pending!.n) === 0;
    };
    await waitFor(complete, Number(process.env.FAULTS_WAIT ?? 300) * 1000);
    const finished = Date.now();
    const calls = await fake.calls();
    const messages = await fake.messages();
    const strict = await fake.strict();
    const cards = new Map<number, FakeCall[]>();
    for (const c of calls.filter((x) => x.ok && x.method === 'chat.postMessage' && !x.thread)) {
      const m = /Bench incident (\d+)\b/.exec(c.text);
      if (m) cards.set(Number(m[1]), [...(cards.get(Number(m[1])) ?? []), c]);
    }
    const toCard = [...cards].map(([n, cs]) => (cs[0]!.at - sentAt.get(n)!) / 1000).sort((a, b) => a - b);
    let ackMissing = 0;
    let ackThreadMissing = 0;
    let ackThreadDoubled = 0;
    for (let n = 0; n < ACKS; n++) {
      const card = cards.get(n)?.[0];
      const stored = card && messages.find((m) => m.channel === (card.answeredChannel ?? card.channel) && m.ts === card.ts);
      if (!stored || !/acknowledged/i.test(stored.text)) ackMissing++;
      const replies = calls.filter((c) => c.ok && c.method === 'chat.postMessage' && card && c.thread === card.ts);
      if (replies.length === 0) ackThreadMissing++;
      if (replies.length > 1) ackThreadDoubled++;
    }
    const dead = await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from outbox where status = 'dead'`);
    if (process.env.BENCH_DEBUG) {
      const d = tread.dispatcher as unknown as { tasks: Map<number, unknown>; pumping: unknown };
      console.error('dispatcher tasks', [...d.tasks.keys()], 'pumping', d.pumping !== undefined);
      const pacer = (tread.adapters[0]!.port as unknown as { pacer: { lanes: Map<string, { inFlight: number; waiters: unknown[]; blockedUntil: number }> } }).pacer;
      for (const [k, l] of pacer.lanes) if (l.inFlight || l.waiters.length) console.error('lane', k, l.inFlight, l.waiters.length, l.blockedUntil - Date.now());
      console.error(await queryRows(tread.app.db, sql`select kind, status, priority, count(*)::int as n, min(last_error) as err, min(available_at) as next from outbox group by 1, 2, 3`));
      console.error(calls.slice(-15).map((c) => [c.method, c.status, c.channel, new Date(c.at).toISOString()]));
    }
    console.log(JSON.stringify({
      bench: 'delivery', case: 'faults', driver: database.driver, ...storageOf(database), incidents: INCIDENTS, channels: CHANNELS, acknowledged: ACKS,
      faults: { rateLimited: 0.3, retryAfterSeconds: 2, serverError: 0.1, noAnswer: 0.01 }, commandStatuses: [...new Set(statuses)],
      cardsLost: INCIDENTS - cards.size, cardsDoubled: [...cards.values()].filter((cs) => cs.length > 1).length,
      acknowledgementsMissingOnCard: ackMissing, acknowledgementsMissingInThread: ackThreadMissing, acknowledgementsDoubled: ackThreadDoubled,
      deadLetters: Number(dead[0]?.n ?? 0),
      callsInsideRetryAfter: Object.values(strict.violations).reduce((a, b) => a + b, 0), rateLimited: strict.rateLimited, serverErrors: strict.serverErrors, unanswered: strict.hung,
      timeToCardP50Seconds: quantileMs(toCard, 0.5, 1), timeToCardP99Seconds: quantileMs(toCard, 0.99, 1), timeToCardMaxSeconds: Number((toCard.at(-1) ?? NaN).toFixed(1)),
      allDeliveredSeconds: Number(((finished - started) / 1000).toFixed(1)),
      idleOutsideRetryAfterSeconds: idleOutsideRetryAfter(calls, started, finished, 2000),
      loadAverage: Number(loadavg()[0]!.toFixed(2)),
    }));
    requireChecks('bench:delivery faults', {
      noCardLost: cards.size === INCIDENTS, noCardDoubled: [...cards.values()].every((cs) => cs.length === 1),
      everyAcknowledgementOnItsCard: ackMissing === 0, everyAcknowledgementInItsThreadOnce: ackThreadMissing === 0 && ackThreadDoubled === 0,
      noCallInsideRetryAfter: Object.values(strict.violations).reduce((a, b) => a + b, 0) === 0,
    });
  } finally {
    await tread.stop({ closeDatabase: false });
    await fake.stop();
  }
}

async function escalations(databases: Database[]): Promise<void> {
  const fake = await startFakeSlack({ limits: true });
  const treads: Tread[] = [];
  for (const database of databases) treads.push(await startSlackTread(database, escalationConfig, fake));
  const [a] = treads;
  try {
    // 100 alerts that page at once, through the first replica's webhook.
    await Promise.all(Array.from({ length: ESCALATIONS }, async (_, i) => {
      const res = await fetch(`http://127.0.0.1:${a!.port}/hooks/generic`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GENERIC_TOKEN}` },
        body: JSON.stringify({ summary: `Service esc-${i} failing`, severity: 'error', source: 'bench', labels: { service: `esc-${i}`, alertname: 'Failing' } }),
      });
      await res.text();
    }));
    const firstPages = async () => (await fake.calls()).filter((c) => c.ok && c.method === 'chat.postMessage' && /^U0PA/.test(c.channel)).length;
    await waitFor(async () => (await firstPages()) >= ESCALATIONS, 60_000);
    const due = await queryRows<{ service: string; subject: string; next_at: Date | string }>(a!.app.db, sql`select service, subject, next_at from escalations where state = 'active'`);
    // Half are acknowledged before their second step is due.
    const acked = due.filter((d) => Number(d.service.slice(4)) < ESCALATIONS / 2);
    await Promise.all(acked.map((d, n) => slash(a!.port, fake.responseBase, '/event', `ack ${d.subject}`, `C0ESC${d.service.slice(4)}`, `U0PA${d.service.slice(4)}`, n)));
    // Slack gets its 200 at once and the acknowledgement is handled right after: wait until they are recorded.
    const ackedAt = new Map<string, number>();
    await waitFor(async () => {
      const rows = await queryRows<{ subject: string; at: Date | string | null }>(a!.app.db, sql`select subject, acknowledged_at as at from escalations where acknowledged_at is not null`);
      for (const r of rows) ackedAt.set(r.subject, new Date(r.at!).getTime());
      return acked.every((d) => ackedAt.has(d.subject));
    }, 30_000);
    const unacked = due.filter((d) => !acked.includes(d));
    const secondPages = async () => (await fake.calls()).filter((c) => c.ok && c.method === 'chat.postMessage' && /^U0PB|^D0PB/.test(c.channel) && unacked.some((d) => c.channel.endsWith(`PB${d.service.slice(4)}`)));
    await waitFor(async () => (await secondPages()).length >= unacked.length, (STEP_SECONDS + 60) * 1000);
    await new Promise((r) => setTimeout(r, 3000)); // anything late or doubled
    const calls = await fake.calls();
    const late: number[] = [];
    let doubled = 0;
    let deliveredAfterAck = 0;
    for (const d of due) {
      const i = d.service.slice(4);
      const pages = calls.filter((c) => c.ok && c.method === 'chat.postMessage' && (c.channel === `U0PB${i}` || c.channel === `D0PB${i}`));
      const first = calls.filter((c) => c.ok && c.method === 'chat.postMessage' && (c.channel === `U0PA${i}` || c.channel === `D0PA${i}`));
      if (pages.length > 1 || first.length > 1) doubled++;
      // A page that reached Slack after the acknowledgement was recorded: decided before it (written with the
      // escalation step, sent after), or after it, which must never happen.
      if (acked.includes(d)) deliveredAfterAck += pages.filter((p) => p.at > (ackedAt.get(d.subject) ?? Infinity)).length;
      else if (pages[0]) late.push((pages[0].at - new Date(d.next_at).getTime()) / 1000);
    }
    late.sort((x, y) => x - y);
    const [decided] = await queryRows<{ n: number }>(a!.app.db, sql`select count(*)::int as n from audit_log l join escalations e on e.subject = l.subject
      where l.action = 'oncall.paged' and e.acknowledged_at is not null and l.at > e.acknowledged_at`);
    const strict = await fake.strict();
    console.log(JSON.stringify({
      bench: 'delivery', case: 'escalations', driver: databases[0]!.driver, ...storageOf(databases[0]!), replicas: treads.length, escalations: ESCALATIONS, stepSeconds: STEP_SECONDS,
      acknowledged: acked.length, acknowledgedBeforeDue: acked.filter((d) => (ackedAt.get(d.subject) ?? Infinity) < new Date(d.next_at).getTime()).length,
      secondPagesExpected: unacked.length, secondPagesSent: late.length,
      secondPageLateP50Seconds: quantileMs(late, 0.5, 2), secondPageLateP99Seconds: quantileMs(late, 0.99, 2), secondPageLateMaxSeconds: Number((late.at(-1) ?? NaN).toFixed(2)),
      pagesDoubled: doubled, pagesDecidedAfterAck: Number(decided!.n), pagesDeliveredAfterAck: deliveredAfterAck, rateLimited: strict.rateLimited, callsInsideRetryAfter: Object.values(strict.violations).reduce((x, y) => x + y, 0),
      loadAverage: Number(loadavg()[0]!.toFixed(2)),
    }));
    requireChecks('bench:delivery escalations', {
      everyUnacknowledgedSecondPageSent: late.length === unacked.length, noPageDoubled: doubled === 0, noPageDecidedAfterAck: Number(decided!.n) === 0, noPageDeliveredAfterAck: deliveredAfterAck === 0,
    });
  } finally {
    for (const t of treads) await t.stop({ closeDatabase: false });
    await fake.stop();
  }
}

await withBenchDatabase(([database]) => faults(database!));
// With PostgreSQL, two replicas on one database; PGlite is one process's.
await withBenchDatabase((databases) => escalations(databases), 2);
