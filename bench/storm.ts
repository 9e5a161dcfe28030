/**
 * Alert storm benchmark (issue 14): 10 000 Alertmanager alerts over 10 s, for 50 services each with its own Slack
 * channel, in 200 groups (service × alertname), against the strict Slack double in a process of its own (Slack's
 * documented limits per method per workspace, chat.postMessage one per second per channel, 429 with Retry-After
 * beyond them). tread runs as deployed: its scheduler and dispatcher wake by themselves, the load comes from a child
 * process at a steady pace. Prints one JSON line per run:
 * - time to card: from each group's first alert to its card in Slack (p50, p99, max) and from the storm's start to the
 *   last card;
 * - final state: every card showing its group's final count, and when the last one did, from the storm's end;
 * - chat.update calls (total, and the most in any 60 s: Slack's Tier 3 allows 50), 429s received by method, calls made
 *   inside a Retry-After window (must be 0), cards posted twice.
 * Run: npm run bench:storm   (DATABASE_URL=postgres://… for PostgreSQL; knobs: STORM_EVENTS=10000 STORM_SECONDS=10
 * STORM_SERVICES=50 STORM_GROUPS=200 STORM_BODY=10 STORM_WAIT=180)
 */
import { loadavg } from 'node:os';
import { sql } from 'drizzle-orm';
import { createSlackAdapter } from '../adapters/slack/index.js';
import { queryRows, type Database } from '../db/client.js';
import { loadEnv } from '../src/core/config/env.js';
import { startTread } from '../src/runtime.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { maxInWindow, startFakeSlack, type FakeCall, type FakeMessage } from './fake-slack.js';
import { quantileMs, requireChecks, runClient, storageOf, withBenchDatabase } from './util.js';

const EVENTS = Number(process.env.STORM_EVENTS ?? 10_000);
const SECONDS = Number(process.env.STORM_SECONDS ?? 10);
const SERVICES = Number(process.env.STORM_SERVICES ?? 50);
const GROUPS = Number(process.env.STORM_GROUPS ?? 200);
/** Alerts per Alertmanager notification (one group's new alerts). */
const BODY = Number(process.env.STORM_BODY ?? 10);
/** How long to wait after the storm for every card's final state. */
const WAIT_SECONDS = Number(process.env.STORM_WAIT ?? 180);
const AM_TOKEN = 'bench-am-token-0123456789';
const SECRET = 'bench-signing-secret';

const channelOf = (s: number) => `C0SVC${s}`;
const config = parseOrganisation(`
organisation: Bench
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
services:
${Array.from({ length: SERVICES }, (_, s) => `  - { name: svc-${s}, owners: [alice], slack: { channel: ${channelOf(s)} } }`).join('\n')}
integrations:
  - { name: am, kind: alertmanager, token: ${AM_TOKEN} }
correlation: { window: 10m, groupBy: [service, alertname] }
`, 'bench');

/**
 * The load generator (plain JS for `node -e`): sends each body at its offset from the start, over keep-alive
 * connections, and reports when each was sent and what it got.
 */
const CLIENT = `
const http = require('node:http');
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const { port, token, bodies, offsets, start } = JSON.parse(input);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const sent = new Array(bodies.length);
  const statuses = {};
  const post = (i) => new Promise((resolve) => {
    sent[i] = Date.now();
    const req = http.request({ host: '127.0.0.1', port, path: '/hooks/alertmanager', method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token, 'content-length': Buffer.byteLength(bodies[i]) } }, (res) => {
      res.resume();
      res.on('end', () => { statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1; resolve(); });
    });
    req.on('error', () => { statuses.error = (statuses.error || 0) + 1; resolve(); });
    req.end(bodies[i]);
  });
  const all = bodies.map((_, i) => new Promise((resolve) => setTimeout(() => post(i).then(resolve), Math.max(0, start + offsets[i] - Date.now()))));
  Promise.all(all).then(() => {
    process.stdout.write(JSON.stringify({ sent, statuses }));
    agent.destroy();
  });
});
`;

/** The Alertmanager notifications of the storm: body k carries BODY new alerts of group k mod GROUPS. */
function stormBodies(): { bodies: string[]; groupOf: number[] } {
  const bodies: string[] = [];
  const groupOf: number[] = [];
  const count = Math.ceil(EVENTS / BODY);
  const perGroup = new Array<number>(GROUPS).fill(0);
  for (let k = 0; k < count; k++) {
    const g = k % GROUPS;
    const service = `svc-${g % SERVICES}`;
    const alerts = Array.from({ length: Math.min(BODY, EVENTS - k * BODY) }, () => {
      const n = perGroup[g]!++;
      return {
        status: 'firing', labels: { alertname: `Probe${g}`, service, instance: `h${n}:9100`, severity: 'warning' },
        annotations: { summary: `Probe ${g} failing on h${n}` }, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.local/graph', fingerprint: `${g.toString(16).padStart(4, '0')}${n.toString(16).padStart(8, '0')}`,
      };
    });
    bodies.push(JSON.stringify({ receiver: 'tread', status: 'firing', version: '4', groupKey: `{}:{alertname="Probe${g}",service="${service}"}`, truncatedAlerts: 0,
      groupLabels: { alertname: `Probe${g}`, service }, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am.local', alerts }));
    groupOf.push(g);
  }
  return { bodies, groupOf };
}

/** The group a card belongs to (its title starts with the alert name `Probe<g>`), or undefined. */
function groupOfText(text: string): number | undefined {
  const m = /Probe(\d+)\b/.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function run(database: Database): Promise<void> {
  const fake = await startFakeSlack({ limits: true });
  const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl });
  const tread = await startTread({
    database, config, http: { host: '127.0.0.1', port: 0 },
    platforms: async (app, router) => [await createSlackAdapter({ env, app, router, bot: { botId: 'B0TREADBOT', botUserId: 'U0TREADBOT', teamId: 'T0FAKE' } })],
  });
  try {
    const { bodies, groupOf } = stormBodies();
    const offsets = bodies.map((_, k) => Math.floor((k * SECONDS * 1000) / bodies.length));
    const perGroup = Math.round(EVENTS / GROUPS);
    const start = Date.now() + 500;
    const firstAlertAt = new Map<number, number>();
    bodies.forEach((_, k) => { if (!firstAlertAt.has(groupOf[k]!)) firstAlertAt.set(groupOf[k]!, start + offsets[k]!); });
    const load = await runClient<{ sent: number[]; statuses: Record<string, number> }>(CLIENT, { port: tread.port, token: AM_TOKEN, bodies, offsets, start });
    load.sent.forEach((at, k) => { if (at < (firstAlertAt.get(groupOf[k]!) ?? Infinity) || !firstAlertAt.has(groupOf[k]!)) firstAlertAt.set(groupOf[k]!, at); });
    const stormEnd = start + SECONDS * 1000;

    // Wait until every group's card shows its final count (or give up after WAIT_SECONDS).
    const finalText = `*${perGroup} alerts*`;
    let messages: FakeMessage[] = [];
    const done = () => {
      const final = new Set<number>();
      for (const m of messages) {
        if (m.thread) continue;
        const g = groupOfText(m.text);
        if (g !== undefined && m.blocks.includes(finalText)) final.add(g);
      }
      return final;
    };
    const deadline = Date.now() + WAIT_SECONDS * 1000;
    for (;;) {
      messages = await fake.messages();
      if (done().size >= GROUPS || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const calls = await fake.calls();
    const strict = await fake.strict();

    // Time to card: each group's first successful top-level post.
    const posts = calls.filter((c) => c.method === 'chat.postMessage' && c.ok && !c.thread);
    const cardAt = new Map<number, FakeCall[]>();
    for (const p of posts) {
      const g = groupOfText(p.text);
      if (g !== undefined) cardAt.set(g, [...(cardAt.get(g) ?? []), p]);
    }
    const toCard = [...cardAt].map(([g, ps]) => (ps[0]!.at - firstAlertAt.get(g)!) / 1000).sort((a, b) => a - b);
    const lastCard = Math.max(...[...cardAt.values()].map((ps) => ps[0]!.at));
    // Final state: when the content with the final count reached each card (its post or its last update).
    const finalAt: number[] = [];
    for (const [g, ps] of cardAt) {
      const ts = ps[0]!.ts;
      const writes = calls.filter((c) => c.ok && ((c.method === 'chat.postMessage' && c.ts === ts && groupOfText(c.text) === g) || (c.method === 'chat.update' && c.ts === ts)));
      const final = messages.find((m) => m.ts === ts);
      if (final?.blocks.includes(finalText) && writes.length) finalAt.push(writes.at(-1)!.at);
    }
    const updates = calls.filter((c) => c.method === 'chat.update');
    if (process.env.STORM_DEBUG) {
      const rel = (t: number) => Number(((t - start) / 1000).toFixed(1));
      console.error('updates', updates.map((u) => [rel(u.at), u.status, groupOfText(u.text)]));
      console.error('cards', [...cardAt].map(([g, ps]) => [g, rel(ps[0]!.at)]).sort((a, b) => a[1]! - b[1]!).slice(-20));
      console.error('load sent last', rel(Math.max(...load.sent)));
    }
    const groups = Number((await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from alert_groups where integration = 'am'`))[0]?.n ?? 0);
    const alerts = Number((await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from alerts where integration = 'am'`))[0]?.n ?? 0);
    const runSeconds = (Math.max(...calls.map((c) => c.at)) - start) / 1000;
    console.log(JSON.stringify({
      bench: 'storm', driver: database.driver, ...storageOf(database), events: EVENTS, seconds: SECONDS, services: SERVICES, groups: GROUPS, accepted: load.statuses, alertsStored: alerts, groupsOpened: groups,
      cards: cardAt.size, cardsPostedTwice: [...cardAt.values()].filter((ps) => ps.length > 1).length,
      timeToCardP50Seconds: quantileMs(toCard, 0.5, 1), timeToCardP99Seconds: quantileMs(toCard, 0.99, 1), timeToCardMaxSeconds: Number((toCard.at(-1) ?? NaN).toFixed(1)),
      timeToLastCardSeconds: Number(((lastCard - start) / 1000).toFixed(1)),
      cardsWithFinalState: finalAt.length, lastFinalStateAfterStormEndSeconds: finalAt.length ? Number(((Math.max(...finalAt) - stormEnd) / 1000).toFixed(1)) : null,
      chatUpdateCalls: updates.length, chatUpdateMaxPerMinute: maxInWindow(calls, 'chat.update'),
      chatUpdatePerMinuteAverage: Number((updates.length / Math.max(1, runSeconds / 60)).toFixed(1)),
      chatPostMessageCalls: calls.filter((c) => c.method === 'chat.postMessage').length,
      rateLimited: strict.rateLimited, callsInsideRetryAfter: Object.values(strict.violations).reduce((a, b) => a + b, 0),
      loadAverage: Number(loadavg()[0]!.toFixed(2)),
    }));
    requireChecks('bench:storm', { everyGroupCardPostedOnce: [...cardAt.values()].every((ps) => ps.length === 1), noCallInsideRetryAfter: Object.values(strict.violations).reduce((a, b) => a + b, 0) === 0 });
  } finally {
    await tread.stop({ closeDatabase: false });
    await fake.stop();
  }
}

await withBenchDatabase(([database]) => run(database!));
