/**
 * kill -9 right after Slack commands were acknowledged loses none of them: tread runs as a process (src/main.ts) with the
 * Slack adapter against a fake Slack, takes many signed `/incident` commands at once, and is killed as soon as the last
 * one is acknowledged (most are still waiting to be worked on). The next process on the same database replays what the
 * killed one had not finished (src/core/inbound-journal.ts): every acknowledged command has its incident, exactly once,
 * and its card in the channel.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../db/client.js';
import { commandBody, FakeSlack, signedHeaders } from '../adapters/slack/fake-slack.js';
import { createPgDatabase, drivers, pgliteSnapshotFile } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';
import { SpawnedTread } from '../helpers/spawned.js';

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

/** One tread process with the Slack adapter, on a port of its own. */
class Tread extends SpawnedTread {
  constructor(readonly port: number, env: Record<string, string>) {
    super({ LOG_LEVEL: 'warn', PORT: String(port), ...env });
  }

  /** Waits until no acknowledged request is left unfinished (tread_inbound_unfinished). */
  async journalEmpty(): Promise<void> {
    await this.until('no unfinished chat request', async () => (await this.metric('tread_inbound_unfinished')) === 0, 30_000);
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
