/** Builds the chat platforms the environment turns on. The only place (with main.ts) that knows the adapters. */
import type { AppContext } from './core/app.js';
import type { Env } from './core/config/env.js';
import type { PlatformAdapter } from './core/platform.js';
import type { Router } from './core/router.js';
import { isLoopback } from './http/server.js';

/** Which platforms the environment turns on, or a one-line reason it is half-configured. */
export function platformChoice(env: Env): { slack: boolean; teams: boolean; console: boolean } {
  const slack = Boolean(env.SLACK_BOT_TOKEN && (env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN));
  const teams = Boolean(env.MICROSOFT_APP_ID);
  return { slack, teams, console: env.TREAD_CONSOLE || (!slack && !teams) };
}

/** Creates the adapters for the platforms that are on. */
export async function buildPlatforms(env: Env, app: AppContext, router: Router, extras: { consoleInput?: NodeJS.ReadableStream; consoleOutput?: NodeJS.WritableStream; onConsoleLine?: () => Promise<void> } = {}): Promise<PlatformAdapter[]> {
  const choice = platformChoice(env);
  const adapters: PlatformAdapter[] = [];
  // Slack and Teams adapters are added here by their issues.
  if (env.SLACK_BOT_TOKEN || env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN) {
    // Slack: the bot token with the signing secret (HTTP) or the app token (Socket Mode); half of it stops start-up.
    const { createSlackAdapter, slackConfigProblem, SlackConfigError } = await import('../adapters/slack/index.js');
    const problem = slackConfigProblem(env);
    if (problem) throw new SlackConfigError(problem);
    if (choice.slack) adapters.push(await createSlackAdapter({ env, app, router }));
  }
  // Teams: on with MICROSOFT_APP_ID (authentication on); without it, /api/messages is served unauthenticated only on a
  // loopback HOST (the Bot Framework Emulator), which does not count as a chat platform for the console choice.
  if (choice.teams || isLoopback(env.HOST)) {
    const { createTeamsAdapter } = await import('../adapters/teams/index.js');
    adapters.push(await createTeamsAdapter({ env, app, router }));
  } else app.log.info(`Teams is off: MICROSOFT_APP_ID is not set, and /api/messages is not served without authentication on HOST ${env.HOST} (only on a loopback address, for the Bot Framework Emulator)`);
  if (choice.console) {
    const { createConsoleAdapter } = await import('../adapters/console/index.js');
    adapters.push(createConsoleAdapter({ app, router, input: extras.consoleInput ?? process.stdin, output: extras.consoleOutput ?? process.stdout, user: env.TREAD_CONSOLE_USER, afterLine: extras.onConsoleLine }));
  }
  return adapters;
}
