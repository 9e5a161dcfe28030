/**
 * kill -9 right after Slack commands were acknowledged loses none of them: tread runs as a process (src/main.ts) with the
 * Slack adapter against a fake Slack, takes many signed `/incident` commands at once, and is killed as soon as the last
 * one is acknowledged (most are still waiting to be worked on). The next process on the same database replays what the
 * killed one had not finished (src/core/inbound-journal.ts): every acknowledged command has its incident, exactly once,
 * and its card in the channel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../db/client.js';
import { commandBody, FakeSlack, signedHeaders } from '../adapters/slack/fake-slack.js';
import { createPgDatabase, drivers, pgliteSnapshotFile } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SECRET = 'kill-test-signing-secret-0123';
const API_TOKEN = 'kill-test-api-token-0123456789';
const SLOW = 180_000;
const COMMANDS = 60;
const CONFIG = `organisation: Slack kill test
timezone: UTC
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [admin, responder] }
services:
  - { name: payments, owners: [alice], slack: { channel: C0PAYMENTS } }
`;

/** One tread process with the Slack adapter. */
class Tread {
  readonly child: ChildProcess;
  stderr = '';
  constructor(readonly port: number, env: Record<string, string>) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'TREAD_DATA_DIR', 'TREAD_CONFIG', 'PORT', 'HOST', 'NODE_OPTIONS', 'MICROSOFT_APP_ID'].includes(k) && !k.startsWith('VITEST') && !k.startsWith('SLACK_')));
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...clean, LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString('utf8'); });
  }

  async ready(): Promise<void> {
    const deadline = Date.now() + SLOW - 60_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`tread exited (${this.child.exitCode}):\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`tread did not start:\n${this.stderr}`);
      if ((await fetch(`http://127.0.0.1:${this.port}/readyz`).then((r) => r.status, () => 0)) === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until no acknowledged request is left unfinished (tread_inbound_unfinished). */
  async journalEmpty(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('tread_inbound_unfinished '));
      if (line && Number(line.split(' ')[1]) === 0) return;
      if (Date.now() > deadline) throw new Error(`requests left unfinished: ${line}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

for (const driver of drivers) {
  describe(`kill -9 right after Slack acknowledged commands (${driver})`, () => {
    let dir: string;
    let env: Record<string, string>;
    let url: string | undefined;
    let fake: FakeSlack;
    let drop = async () => {};
    const open = () => openDatabase(url ? { url, poolSize: 1 } : { dataDir: join(dir, 'data') });

    beforeAll(async () => {
      fake = await new FakeSlack().start();
      dir = mkdtempSync(join(tmpdir(), 'tread-slack-kill-'));
      writeFileSync(join(dir, 'tread.yaml'), CONFIG);
      env = {
        TREAD_CONFIG: join(dir, 'tread.yaml'), TREAD_DATA_DIR: join(dir, 'data'), TREAD_PGLITE_SNAPSHOT: await pgliteSnapshotFile(),
        SLACK_BOT_TOKEN: 'xoxb-kill-test', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl, TREAD_INBOUND_LEASE_SECONDS: '2', TREAD_API_TOKEN: API_TOKEN,
      };
      if (driver === 'postgres') {
        const pg = await createPgDatabase();
        drop = pg.drop;
        url = pg.url;
        env.DATABASE_URL = pg.url;
      }
    }, SLOW);
    afterAll(async () => {
      await fake?.stop();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('every acknowledged /incident has its incident once and its card, the unfinished ones from the next process', async () => {
      const first = new Tread(await freePort(), env);
      await first.ready();
      const titles = Array.from({ length: COMMANDS }, (_, i) => `Checkout down ${driver} [${i}]`);
      const acked: string[] = [];
      const send = async (title: string, i: number) => {
        const trigger = `kill.${driver}.${i}`;
        const body = commandBody({
          team_id: 'T0FAKE', channel_id: 'C0OPS', channel_name: 'ops', user_id: 'U0ALICE', user_name: 'alice', command: '/incident',
          text: title, trigger_id: trigger, response_url: fake.responseUrl(trigger),
        });
        try {
          const res = await fetch(`http://127.0.0.1:${first.port}/slack/events`, { method: 'POST', headers: signedHeaders(SECRET, body, 'form'), body });
          if (res.status === 200 && (await res.text()) === '') acked.push(title);
        } catch { /* the process died first: not acknowledged */ }
      };
      await Promise.all(titles.map(send));
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.exitCode !== null || first.child.signalCode !== null ? r(null) : first.child.once('exit', r));
      expect(acked).toHaveLength(COMMANDS);

      const before = await open();
      let leftByTheKilled: number;
      try {
        const [row] = await queryRows<{ n: number }>(before.db, sql`select count(*)::int as n from deliveries where payload is not null`);
        leftByTheKilled = Number(row!.n);
      } finally {
        await before.close();
      }
      // The test only proves something when the killed process left work behind.
      expect(leftByTheKilled).toBeGreaterThan(0);

      const second = new Tread(await freePort(), env);
      try {
        await second.ready();
        // every acknowledged command's incident exists (opened by the killed process or by the replay)
        const opened = async () => {
          const res = await fetch(`http://127.0.0.1:${second.port}/api/v1/incidents?limit=500`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
          const body = await res.json() as { items: { title: string }[] };
          return new Set(body.items.map((i) => i.title).filter((t) => titles.includes(t))).size;
        };
        const deadline = Date.now() + 60_000;
        while ((await opened()) < COMMANDS) {
          if (Date.now() > deadline) throw new Error(`only ${await opened()} of ${COMMANDS} incidents:\n${second.stderr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        await second.journalEmpty();
        expect((second.stderr.match(/replaying a chat request/g) ?? []).length).toBe(leftByTheKilled);
      } finally {
        await second.stop();
      }

      const after = await open();
      try {
        const rows = await queryRows<{ title: string; n: number }>(after.db, sql`select title, count(*)::int as n from incidents group by title`);
        const byTitle = new Map(rows.map((r) => [r.title, Number(r.n)]));
        expect(acked.filter((t) => byTitle.get(t) !== 1)).toEqual([]);
        const [left] = await queryRows<{ n: number }>(after.db, sql`select count(*)::int as n from deliveries where payload is not null`);
        expect(Number(left!.n)).toBe(0);
      } finally {
        await after.close();
      }
    }, SLOW);
  });
}
