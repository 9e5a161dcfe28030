/** Slack configuration: half-configured Slack stops start-up with one line; a refused token is one line too. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter, slackConfigProblem } from '../../../adapters/slack/index.js';
import type { AppContext } from '../../../src/core/app.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Router } from '../../../src/core/router.js';
import { buildPlatforms, platformChoice } from '../../../src/platforms.js';
import { FakeSlack } from './fake-slack.js';

const app = { config: parseOrganisation('organisation: Test', 'test'), log: silentLogger, platforms: new Set() } as unknown as AppContext;
const router = { journal: { replayer: () => {} } } as unknown as Router;

let fake: FakeSlack;
beforeAll(async () => { fake = await new FakeSlack().start(); });
afterAll(async () => { await fake.stop(); });

describe('Slack configuration', () => {
  it('is on with the bot token and the signing secret (HTTP) or the app token (Socket Mode)', () => {
    expect(platformChoice(loadEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' })).slack).toBe(true);
    expect(platformChoice(loadEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' })).slack).toBe(true);
    expect(platformChoice(loadEnv({})).slack).toBe(false);
    expect(slackConfigProblem({})).toBeUndefined();
  });

  for (const [what, vars, needs] of [
    ['a bot token alone', { SLACK_BOT_TOKEN: 'xoxb-1' }, /SLACK_SIGNING_SECRET .* nor SLACK_APP_TOKEN/],
    ['a signing secret alone', { SLACK_SIGNING_SECRET: 's' }, /SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not/],
    ['an app token alone', { SLACK_APP_TOKEN: 'xapp-1' }, /SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not/],
  ] as const) {
    it(`stops start-up with one line for ${what}`, async () => {
      const error = await buildPlatforms(loadEnv(vars), app, router).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('PlatformConfigError');
      expect((error as Error).message).toMatch(needs);
      expect((error as Error).message).not.toContain('\n');
    });
  }

  it('stops start-up with one line when Slack refuses the bot token', async () => {
    const env = loadEnv({ SLACK_BOT_TOKEN: 'xoxp-not-a-bot-token', SLACK_SIGNING_SECRET: 's', SLACK_API_URL: fake.apiUrl });
    const error = await createSlackAdapter({ env, app, router }).catch((e: Error) => e);
    expect((error as Error).name).toBe('PlatformConfigError');
    expect((error as Error).message).toMatch(/^SLACK_BOT_TOKEN: Slack refused it at start-up \(auth\.test: not_authed\)/);
    expect((error as Error).message).not.toContain('\n');
  });

  it('serves /slack/events only with a signing secret, and needs no auth.test when the bot ids are given', async () => {
    fake.reset();
    const http = await createSlackAdapter({ env: loadEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', SLACK_API_URL: fake.apiUrl }), app, router, bot: { botId: 'B1', botUserId: 'U1' } });
    expect(http.routes?.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /slack/events']);
    const socket = await createSlackAdapter({ env: loadEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_API_URL: fake.apiUrl }), app, router, bot: { botId: 'B1', botUserId: 'U1' } });
    expect(socket.routes).toEqual([]);
    expect(fake.calls).toHaveLength(0);
  });
});
