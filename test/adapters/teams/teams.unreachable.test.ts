/**
 * The Bot Framework connector (and the token endpoint) unreachable or hanging, with authentication on, the dispatcher
 * running and the console chat alongside: activities are still answered in time and their incidents opened, the
 * console keeps answering, every connector call ends within the configured timeout, the outbox keeps the messages and
 * retries them, and once the connector is back every card goes out once. Nothing crashes (an unhandled rejection
 * fails the file).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.js';
import { createTeamsAdapter } from '../../../adapters/teams/index.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { Terminal } from '../console/terminal.js';
import { cardOf, FakeConnector } from './fake-connector.js';
import { FakeIdentity } from './fake-identity.js';
import { until } from '../../helpers/wait.js';

const APP_ID = '4f1e2d3c-0b9a-4876-9543-210fedcba987';
const SECRET = 'unreachable~secret_0123456789';
const SEND_TIMEOUT_MS = 800;
const config = parseOrganisation(`
organisation: Example
people:
  - { id: alice, name: Alice Responder, teams: aad-alice, roles: [responder] }
`, 'test', {});
const TENANT = 'tenant-1';
const BOT = { id: `28:${APP_ID}`, name: 'tread' };
const ALICE = { id: '29:alice', name: 'Alice Responder', aadObjectId: 'aad-alice' };


let seq = 0;

for (const driver of drivers) {
  describe(`Bot Framework connector unreachable or hanging (${driver})`, () => {
    let database: Database;
    let identity: FakeIdentity;
    let connector: FakeConnector;
    let tread: Tread;
    const term = new Terminal();

    beforeAll(async () => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      database = await openTestDatabase(driver);
      identity = await new FakeIdentity(APP_ID, SECRET).start();
      identity.tokenLifetimeS = 2;
      connector = await new FakeConnector({ authorize: (header) => identity.checkBotToken(header) }).start();
      tread = await startTread({
        database, config, http: { host: '127.0.0.1', port: 0 }, tickSeconds: 0,
        platforms: async (app, router) => [
          await createTeamsAdapter({
            env: loadEnv({ HOST: '127.0.0.1', MICROSOFT_APP_ID: APP_ID, MICROSOFT_APP_PASSWORD: SECRET }), app, router,
            auth: identity.authOptions(), authTimeoutMs: 2000, tokenTimeoutMs: SEND_TIMEOUT_MS, sendTimeoutMs: SEND_TIMEOUT_MS,
          }),
          createConsoleAdapter({ app, router, input: term.input, output: term.output, afterLine: async () => { term.lineDone(); } }),
        ],
      });
      tread.dispatcher.start();
    });

    afterAll(async () => {
      vi.restoreAllMocks();
      await tread?.stop();
      await connector?.stop();
      await identity?.stop();
    });

    /** A message in a person's own chat with the bot (one conversation per message, so no conversation budget waits). */
    async function say(text: string): Promise<{ status: number; ms: number; conversation: string }> {
      const conversation = `a:personal-alice-${++seq}`;
      const activity = {
        type: 'message', id: `act-${seq}`, channelId: 'msteams', serviceUrl: connector.url, text, from: ALICE, recipient: BOT,
        conversation: { id: conversation, conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
      };
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${tread.port}/api/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: identity.channelAuthorization(connector.url) }, body: JSON.stringify(activity),
      });
      await res.text();
      return { status: res.status, ms: performance.now() - started, conversation };
    }

    let from = 0;
    const teamsRows = async () => database.rows<{ status: string; attempts: number; last_error: string | null }>(sql`select status, attempts, last_error
      from outbox where id > ${from} and (payload->'where'->>'platform' = 'teams' or payload->'ref'->'where'->>'platform' = 'teams')`);
    const titles = async () => (await database.rows<{ title: string }>(sql`select title from incidents order by id`)).map((r) => r.title);
    /** Cards the connector accepted that show `title`. */
    const posted = (title: string) => connector.activityCalls().filter((c) => c.method === 'POST' && JSON.stringify(cardOf(c) ?? {}).includes(title));

    /** The connector down in some way: activities answered, incidents opened, console answering, outbox retrying; then back. */
    async function outage(kind: string, down: () => Promise<void>, up: () => Promise<void>, errors: RegExp): Promise<void> {
      const [last] = await database.rows<{ id: number | null }>(sql`select max(id)::int as id from outbox`);
      from = last?.id ?? 0;
      await down();
      const names = [1, 2, 3].map((i) => `${kind} outage ${i}`);
      // A command answered in the conversation (help: the reply is sent inside the turn) and commands answered by the outbox.
      const answers = await Promise.all([say('help'), ...names.map((n) => say(`incident ${n}`))]);
      for (const a of answers) {
        expect(a.status).toBe(200);
        // Teams gives a bot 15 s; the answer does not wait on the connector longer than one bounded call.
        expect(a.ms).toBeLessThan(SEND_TIMEOUT_MS + 1500);
      }
      const t = await titles();
      for (const n of names) expect(t).toContain(n);

      const started = performance.now();
      await term.say(`/incident Console during the ${kind} outage`);
      await until(() => term.text.includes(`Console during the ${kind} outage`), 3000, 'the console card');
      expect(performance.now() - started).toBeLessThan(2000);

      await until(async () => (await teamsRows()).some((r) => r.attempts >= 1 && r.status === 'pending' && errors.test(r.last_error ?? '')), 3 * SEND_TIMEOUT_MS + 3000, 'a failed attempt');
      expect((await teamsRows()).filter((r) => r.status === 'dead')).toEqual([]);
      expect(names.flatMap(posted)).toEqual([]);

      await up();
      await until(async () => (await teamsRows()).every((r) => r.status === 'sent'), 15_000, 'every Teams message sent');
      for (const n of names) expect(posted(n), n).toHaveLength(1);
      expect(connector.refused).toEqual([]);
    }

    it('is reachable at first: a command is answered and its card posted with the bot token', async () => {
      const a = await say('incident Before the outage');
      expect(a.status).toBe(200);
      await until(() => posted('Before the outage').length === 1, 5000, 'the card');
    });

    it('connection refused: activities answered, the console answers, the outbox retries, then every card goes out once', async () => {
      const port = connector.port;
      await outage('refused', () => connector.stop(), async () => { await connector.start(port); }, /ECONNREFUSED|request failed|connect/i);
    }, 30_000);

    it('hanging (accepts, never answers): each call ends within the timeout, nothing else waits, then every card goes out once', async () => {
      await outage('hanging', async () => { connector.hang = true; }, async () => { connector.hang = false; }, /within \d+ ms|timeout/i);
      expect(connector.hung).toBeGreaterThan(0);
    }, 30_000);

    it('the token endpoint hanging: the send ends within its timeout and is retried; the token comes when it answers again', async () => {
      identity.tokenMode = 'hang';
      // Tokens here live 2 s and are renewed at half their life: after a second the next send needs a new one.
      await new Promise((r) => setTimeout(r, 1100));
      await outage('token', async () => {}, async () => { identity.tokenMode = 'answer'; }, /token.*no answer within \d+ ms/i);
      expect(identity.tokenRequests.some((r) => r.status === 0)).toBe(true);
    }, 30_000);
  });
}
