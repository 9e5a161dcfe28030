/** Builds the chat platforms the environment turns on. The only place (with main.ts) that knows the adapters. */
import type { AppContext } from './core/app.js';
import type { Env } from './core/config/env.js';
import type { PlatformAdapter } from './core/platform.js';
import type { Router } from './core/router.js';

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
  if (choice.console) {
    const { createConsoleAdapter } = await import('../adapters/console/index.js');
    adapters.push(createConsoleAdapter({ app, router, input: extras.consoleInput ?? process.stdin, output: extras.consoleOutput ?? process.stdout, user: env.TREAD_CONSOLE_USER, afterLine: extras.onConsoleLine }));
  }
  return adapters;
}
