/**
 * One tread per test file with the Slack adapter against a fake Slack Web API: started before the file's tests on a
 * fresh database, stopped after; `send` posts a signed body to tread's /slack/events like Slack does.
 */
import { afterAll, beforeAll } from 'vitest';
import { createSlackAdapter } from '../../../adapters/slack/index.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import type { OrgConfig } from '../../../src/core/config/org.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { openTestDatabase, type Driver } from '../../helpers/db.js';
import { FakeSlack, signedHeaders, SLACK_TEST_BUDGETS } from './fake-slack.js';

/** What a Slack test works with. */
export interface SlackTread {
  tread: Tread;
  fake: FakeSlack;
  /** Posts a signed form or JSON body to /slack/events; the answer, parsed when it is JSON. */
  send(body: string, kind: 'form' | 'json'): Promise<{ status: number; text: string; json: any }>;
}

/** Registers beforeAll/afterAll in the current describe; `use` receives the running tread, fake and sender. */
export function slackTreadPerFile(driver: Driver, config: OrgConfig, secret: string, use: (s: SlackTread) => void): void {
  let database: Database | undefined;
  let started: SlackTread | undefined;
  beforeAll(async () => {
    const fake = await new FakeSlack().start();
    database = await openTestDatabase(driver);
    const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: secret, SLACK_API_URL: fake.apiUrl });
    const tread = await startTread({
      database, config, tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
      platforms: async (app, router) => [await createSlackAdapter({ env, app, router, port: { budgets: SLACK_TEST_BUDGETS } })],
    });
    started = {
      tread, fake,
      async send(body, kind) {
        const res = await fetch(`http://127.0.0.1:${tread.port}/slack/events`, { method: 'POST', headers: signedHeaders(secret, body, kind), body });
        const text = await res.text();
        return { status: res.status, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
      },
    };
    use(started);
  });
  afterAll(async () => {
    await started?.tread.stop();
    await started?.fake.stop();
  });
}
