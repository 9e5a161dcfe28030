/**
 * Slack's Web API unreachable (connection refused) or hanging (accepts, never answers), with tread running as in
 * production (dispatcher started) and the console chat alongside: slash commands are still acknowledged at once and
 * their incidents opened, the console keeps answering, every Slack call ends within the configured timeout, the outbox
 * keeps the messages and retries them, and once Slack is back every card goes out once. Nothing crashes (an unhandled
 * rejection fails the file).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.js';
import { createSlackAdapter } from '../../../adapters/slack/index.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { Terminal } from '../console/terminal.js';
import { commandBody, FakeSlack, signedHeaders } from './fake-slack.js';
import { until } from '../../helpers/wait.js';

const SECRET = 'unreachable-secret-0123';
const CALL_TIMEOUT_MS = 800;
const config = parseOrganisation(`
organisation: Test
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
`, 'test');


let seq = 0;

for (const driver of drivers) {
  describe(`Slack unreachable or hanging (${driver})`, () => {
    let database: Database;
    let fake: FakeSlack;
    let tread: Tread;
    const term = new Terminal();

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      fake = await new FakeSlack().start();
      const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl });
      tread = await startTread({
        database, config, tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
        platforms: async (app, router) => [
          await createSlackAdapter({ env, app, router, bot: { botId: 'B0TREADBOT', botUserId: 'U0TREADBOT', teamId: 'T0FAKE' }, callTimeoutMs: CALL_TIMEOUT_MS }),
          createConsoleAdapter({ app, router, input: term.input, output: term.output, afterLine: async () => { term.lineDone(); } }),
        ],
      });
      tread.dispatcher.start();
    });

    afterAll(async () => {
      await tread?.stop();
      await fake?.stop();
    });

    /** Sends `/incident <title>` as Slack does; the HTTP status and how long the acknowledgement took. */
    async function slashIncident(title: string): Promise<{ status: number; ms: number }> {
      const trigger = `trigger-${++seq}`;
      // Each in its own channel: Slack allows about one message a second per channel, which would only add waiting.
      const body = commandBody({
        token: 'legacy', team_id: 'T0FAKE', team_domain: 'fake', channel_id: `C0OPS${seq}`, channel_name: `ops-${seq}`, user_id: 'U0ALICE', user_name: 'alice',
        command: '/incident', text: title, api_app_id: 'A0TREAD', response_url: fake.responseUrl(trigger), trigger_id: trigger,
      });
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${tread.port}/slack/events`, { method: 'POST', headers: signedHeaders(SECRET, body, 'form'), body });
      await res.text();
      return { status: res.status, ms: performance.now() - started };
    }

    const titles = async () => (await database.rows<{ title: string }>(sql`select title from incidents order by id`)).map((r) => r.title);
    /** Outbox rows for Slack written since the outage began (`from`: the newest id before it). */
    let from = 0;
    const slackRows = async () => database.rows<{ status: string; attempts: number; last_error: string | null }>(sql`select status, attempts, last_error from outbox where id > ${from} and (payload->'where'->>'platform' = 'slack' or payload->'ref'->'where'->>'platform' = 'slack' or payload->'user'->>'platform' = 'slack')`);
    /** Cards Slack accepted (chat.postMessage answered ok) that show `title`. */
    const posted = (title: string) => fake.ok('chat.postMessage').filter((c) => JSON.stringify(c.args).includes(title));

    /** Slack down in some way: commands acked, incidents opened, console answering, outbox retrying; then Slack back. */
    async function outage(kind: string, down: () => Promise<void>, up: () => Promise<void>, check: () => Promise<void>): Promise<void> {
      const [last] = await database.rows<{ id: number | null }>(sql`select max(id)::int as id from outbox`);
      from = last?.id ?? 0;
      await down();
      const names = [1, 2, 3, 4].map((i) => `${kind} outage ${i}`);
      const acks = await Promise.all(names.map((n) => slashIncident(n)));
      for (const ack of acks) {
        expect(ack.status).toBe(200);
        // Slack's deadline is 3 s; the acknowledgement does not wait for Slack's API (only for the command to be recorded).
        expect(ack.ms).toBeLessThan(3000);
      }
      await until(async () => { const t = await titles(); return names.every((n) => t.includes(n)); }, 5000, 'the incidents');

      // The console chat is not held up by Slack.
      const started = performance.now();
      await term.say(`/incident Console during the ${kind} outage`);
      await until(() => term.text.includes(`Console during the ${kind} outage`) && /INC-\d+/.test(term.text), 3000, 'the console card');
      expect(performance.now() - started).toBeLessThan(3000);

      // The outbox kept every Slack message and is retrying them: bounded failures, not a stall.
      await until(async () => (await slackRows()).some((r) => r.attempts >= 1 && r.status === 'pending'), 3 * CALL_TIMEOUT_MS + 3000, 'a failed attempt');
      await check();
      expect((await slackRows()).filter((r) => r.status === 'dead')).toEqual([]);
      expect(names.flatMap(posted)).toEqual([]);

      await up();
      // Backoff after one or two failures is a few seconds; everything goes out once Slack answers again.
      await until(async () => (await slackRows()).every((r) => r.status === 'sent'), 15_000, 'every Slack message sent');
      for (const n of names) expect(posted(n), n).toHaveLength(1);
    }

    it('connection refused: commands are acknowledged, the console answers, the outbox retries, then every card goes out once', async () => {
      const port = fake.port;
      await outage('refused', () => fake.stop(), async () => { await fake.start(port); }, async () => {
        const errors = (await slackRows()).map((r) => r.last_error ?? '').filter(Boolean);
        expect(errors.length).toBeGreaterThan(0);
        expect(errors.join('\n')).toMatch(/ECONNREFUSED|connect|request failed/i);
      });
    }, 30_000);

    it('hanging (accepts, never answers): each call ends within the timeout, nothing else waits, then every card goes out once', async () => {
      fake.calls.length = 0;
      await outage('hanging', async () => { fake.hangAll = true; }, async () => { fake.hangAll = false; }, async () => {
        const errors = (await slackRows()).map((r) => r.last_error ?? '').filter(Boolean);
        expect(errors.join('\n')).toMatch(/timeout|timed out|within/i);
        // Slack saw calls that were never answered: they were given up, not waited on.
        expect(fake.strict.hung).toBeGreaterThan(0);
      });
    }, 30_000);
  });
}
