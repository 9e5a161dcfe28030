/**
 * Database faults under load (PostgreSQL only). tread runs as a process (src/main.ts) with the Slack adapter (against
 * the fake Slack Web API) and reaches its own test database through a TCP proxy written here, which can cut every
 * connection and refuse new ones. While 8 PagerDuty-style senders and 2 Slack users keep working, its backends are
 * terminated five times in a row (pg_terminate_backend, on this test's database only), then PostgreSQL is unreachable
 * through the proxy for a few seconds. The real server is never stopped: others share it.
 *
 * What must hold: the process stays up; every answer is 202 or 503 (never another 2xx, never a 500, never a broken
 * connection); a Slack command during the outage gets an ephemeral message that names the database; /readyz is 503
 * during the outage and 200 after; afterwards every event answered 202 is an alert exactly once, every command that
 * got its confirmation made one incident, the intake and the outbox drain, timers run, and no card was posted twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { FakeSlack, commandBody, signedHeaders } from '../adapters/slack/fake-slack.js';
import { createPgDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ROUTING_KEY = 'fau1tfau1tfau1tfau1tfau1tfau1t00';
const SECRET = 'db-faults-signing-secret';
const CONFIG = `organisation: Fault test
timezone: UTC
people:
  - { id: alice, name: Alice, roles: [admin, responder], slack: U0ALICE }
services:
  - { name: db, owners: [alice], slack: { channel: C0OPS } }
integrations:
  - { name: pd, kind: pagerduty, routingKey: ${ROUTING_KEY}, service: db }
`;

/** A TCP proxy to PostgreSQL that can cut every connection and refuse new ones (reset at once) while it is down. */
class Proxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Socket>();
  down = false;
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      if (this.down) return void client.resetAndDestroy();
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.pairs.add(s);
        s.once('close', () => this.pairs.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Cuts every open connection and refuses new ones until up(). */
  cut(): void {
    this.down = true;
    for (const s of this.pairs) s.resetAndDestroy();
  }

  up(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    for (const s of this.pairs) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}

/** Waits for `check` to return something truthy, polling every 50 ms; fails with `what` after `ms`. */
async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!process.env.DATABASE_URL)('database faults under load (PostgreSQL)', () => {
  let dir: string;
  let fake: FakeSlack;
  let proxy: Proxy;
  let child: ChildProcess;
  let stderr = '';
  let dbName: string;
  let testUrl: string;
  let drop = async () => {};
  let base: string;
  let admin: postgres.Sql;
  let direct: postgres.Sql;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tread-db-faults-'));
    writeFileSync(join(dir, 'tread.yaml'), CONFIG);
    const pg = await createPgDatabase();
    drop = pg.drop;
    testUrl = pg.url;
    const url = new URL(pg.url);
    dbName = url.pathname.slice(1);
    proxy = await new Proxy({ host: url.hostname, port: Number(url.port || 5432) }).start();
    url.host = `127.0.0.1:${proxy.port}`;
    fake = await new FakeSlack().start();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'TREAD_DATA_DIR', 'TREAD_CONFIG', 'PORT', 'HOST', 'NODE_OPTIONS', 'MICROSOFT_APP_ID', 'TREAD_CONSOLE'].includes(k) && !k.startsWith('VITEST') && !k.startsWith('SLACK_')));
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...clean, LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', TREAD_CONFIG: join(dir, 'tread.yaml'), TREAD_DATA_DIR: join(dir, 'data'),
        DATABASE_URL: url.toString(), TREAD_TICK_SECONDS: '1', TREAD_INBOUND_LEASE_SECONDS: '2', SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl,
      },
    });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    direct = postgres(testUrl, { max: 1, onnotice: () => {} });
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`tread exited (${child.exitCode}):\n${stderr}`);
      return (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200;
    }, 'tread to be ready', 60_000);
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await direct?.end({ timeout: 1 });
    await admin?.end({ timeout: 1 });
    await proxy?.stop();
    await fake?.stop();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const readyz = async () => (await fetch(`${base}/readyz`)).status;

  /** Ends tread's backends on this test's database (only there), from outside tread; how many were ended. */
  async function terminateBackends(): Promise<number> {
    const rows = await admin`select pg_terminate_backend(pid) as ended from pg_stat_activity where datname = ${dbName} and pid <> pg_backend_pid()`;
    return rows.filter((r) => r.ended).length;
  }

  it('survives terminated backends and an outage under load: 202 or 503 only, nothing answered lost or doubled, recovery after', async () => {
    onTestFailed(() => { console.error(`tread's stderr (end):\n${stderr.slice(-4000)}`); });
    const started = Date.now();
    const answers: Record<string, number> = {};
    const accepted: string[] = [];
    const problems: string[] = [];
    let outageStatuses: number[] = [];
    let inOutage = false;
    let running = true;
    let seq = 0;

    const sender = async () => {
      while (running) {
        const key = `fault-${seq++}`;
        const body = JSON.stringify({ routing_key: ROUTING_KEY, event_action: 'trigger', dedup_key: key, payload: { summary: `disk ${key}`, source: 'db-1', severity: 'error' } });
        const sentInOutage = proxy.down;
        try {
          const res = await fetch(`${base}/v2/enqueue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          const text = await res.text();
          answers[res.status] = (answers[res.status] ?? 0) + 1;
          // sent after the cut and answered before the end: nothing can have been committed
          if (sentInOutage && proxy.down) outageStatuses.push(res.status);
          if (res.status === 202) accepted.push(key);
          else if (res.status !== 503) problems.push(`${res.status} ${text}`);
          else if (!text.includes('retry')) problems.push(`503 without a retry hint: ${text}`);
        } catch (e) {
          problems.push(`connection: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };

    let triggerSeq = 0;
    const commands: { trigger: string; title: string; duringOutage: boolean }[] = [];
    const ackAnswers = new Map<string, { response_type?: string; text?: string }>();
    const command = async (title: string) => {
      const trigger = `T${Date.now()}.${triggerSeq++}`;
      commands.push({ trigger, title, duringOutage: inOutage });
      const body = commandBody({
        // a channel of its own: the card is not paced behind the others' (Slack allows about one message a second per channel)
        token: 'legacy', team_id: 'T0FAKE', team_domain: 'fake', channel_id: `C0F${triggerSeq}`, channel_name: `f${triggerSeq}`, user_id: 'U0ALICE', user_name: 'alice',
        command: '/incident', text: title, api_app_id: 'A0TREAD', response_url: fake.responseUrl(trigger), trigger_id: trigger,
      });
      const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signedHeaders(SECRET, body, 'form'), body });
      const text = await res.text();
      if (res.status !== 200) problems.push(`slack command answered ${res.status}`);
      // A command the database cannot take is answered in its acknowledgement (an ephemeral message)
      if (text.startsWith('{')) ackAnswers.set(trigger, JSON.parse(text) as { response_type?: string; text?: string });
      return trigger;
    };
    /** The ephemeral answer to a command: in its acknowledgement, or posted to its response_url. */
    const answerTo = (trigger: string) => ackAnswers.get(trigger) ?? fake.responses.find((r) => r.id === trigger)?.body as { response_type?: string; text?: string } | undefined;
    const slackUser = async (who: number) => {
      for (let i = 0; running; i++) {
        await command(`fault cmd ${who}-${i}`).catch((e) => problems.push(`slack: ${(e as Error).message}`));
        await new Promise((r) => setTimeout(r, 400));
      }
    };

    const load = [...Array.from({ length: 8 }, sender), slackUser(1), slackUser(2)];

    // five terminations in a row, each once the load has had an event accepted since the last and tread has backends
    const ended: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = accepted.length;
      await until(() => accepted.length > before, `an event accepted before termination ${i + 1}`);
      await until(async () => (await admin`select count(*)::int as n from pg_stat_activity where datname = ${dbName}`)[0]!.n > 1, `tread's backends before termination ${i + 1}`);
      ended.push(await terminateBackends());
    }
    expect(ended.filter((n) => n === 0)).toEqual([]);

    // PostgreSQL unreachable through the proxy: 503 and /readyz 503 while it lasts
    inOutage = true;
    outageStatuses = [];
    proxy.cut();
    const outageStarted = Date.now();
    expect(await readyz()).toBe(503);
    await until(() => outageStatuses.filter((s) => s === 503).length >= 10, 'ten 503 answers during the outage');
    const outageTrigger = await command('fault cmd during the outage');
    const notice = await until(() => answerTo(outageTrigger), 'the ephemeral answer to a command during the outage');
    expect(notice.response_type).toBe('ephemeral');
    expect(notice.text).toMatch(/cannot reach its database.*try again/);
    await until(() => Date.now() - outageStarted >= 3000, 'three seconds of outage', 5000);
    expect(await readyz()).toBe(503);
    expect(outageStatuses.filter((s) => s !== 503)).toEqual([]);
    inOutage = false;
    proxy.up();
    const upAt = Date.now();
    await until(async () => (await readyz()) === 200, '/readyz 200 after the outage');
    const recoveryMs = Date.now() - upAt;
    const after = accepted.length;
    await until(() => accepted.length > after + 20, 'events accepted again after the outage');
    running = false;
    await Promise.all(load);

    // afterwards: everything works
    expect(child.exitCode).toBeNull();
    expect(problems).toEqual([]);
    await command('fault cmd after');

    // the intake drains, every accepted event is an alert exactly once
    await until(async () => (await direct`select count(*)::int as n from event_intake`)[0]!.n === 0, 'the intake to drain', 30_000);
    const alerts = await direct`select dedup_key, count(*)::int as n from alerts where dedup_key like 'fault-%' group by dedup_key`;
    const byKey = new Map(alerts.map((r) => [r.dedup_key as string, r.n as number]));
    expect(accepted.filter((k) => !byKey.has(k))).toEqual([]);
    expect(alerts.filter((r) => r.n !== 1)).toEqual([]);

    // every command either made one incident or was answered that the database could not be reached; none made two
    const refused = (c: { trigger: string }) => /cannot reach its database.*try again/.test(String(answerTo(c.trigger)?.text));
    const titles = await until(async () => {
      const t = new Map((await direct`select title, count(*)::int as n from incidents where title like 'fault cmd%' group by title`).map((r) => [r.title as string, r.n as number]));
      return commands.every((c) => refused(c) || t.has(c.title)) && t;
    }, 'every command to be answered', 20_000);
    expect([...titles].filter(([, n]) => n !== 1)).toEqual([]);
    const failedByDatabase = commands.filter(refused);
    expect(failedByDatabase.map((c) => c.title)).toContain('fault cmd during the outage');
    expect(titles.has('fault cmd after')).toBe(true);
    expect(failedByDatabase.filter((c) => titles.has(c.title)).map((c) => c.title)).toEqual([]);

    // the outbox drains without dead letters, timers run, and no card was posted twice
    await until(async () => (await direct`select count(*)::int as n from outbox where status in ('pending', 'sending')`)[0]!.n === 0, 'the outbox to drain', 30_000)
      .catch(async (e) => { console.error(await direct`select id, kind, status, attempts, available_at, now() as now, order_key from outbox where status in ('pending', 'sending') order by id limit 20`); throw e; });
    expect((await direct`select count(*)::int as n from outbox where status = 'dead'`)[0]!.n).toBe(0);
    await until(async () => (await direct`select count(*)::int as n from timers where due_at < now() - interval '5 seconds'`)[0]!.n === 0, 'overdue timers to run', 20_000);
    const posted = fake.ok('chat.postMessage').map((c) => `${c.args.channel} ${String(c.args.text)}`);
    expect(posted.filter((p, i) => posted.indexOf(p) !== i)).toEqual([]);
    const sentRows = (await direct`select count(*)::int as n from outbox where status = 'sent' and kind = 'post'`)[0]!.n as number;
    expect(posted.length).toBe(sentRows);

    expect(child.exitCode).toBeNull();
    expect(stderr).not.toMatch(/uncaught|TypeError|unhandled/i);
    console.log(JSON.stringify({ test: 'db faults', ms: Date.now() - started, answers, accepted: accepted.length, commands: commands.length, commandsRefused: failedByDatabase.length, backendsEnded: ended, recoveryMs, alerts: alerts.length, posted: posted.length }));
  }, 120_000);
});
