/** Builds the chat platforms the environment turns on (called by src/start.ts, the composition root). The only place that knows the adapters. */
import type { AppContext } from './core/app.js';
import type { Env } from './core/config/env.js';
import type { PlatformAdapter } from './core/platform.js';
import type { Router } from './core/router.js';
import type { ChatPort } from './core/chat-port.js';
import type { Platform } from './core/inbound.js';
import type { Route } from './core/route.js';
import { isLoopback } from './http/server.js';

/** Which platforms the environment turns on, or a one-line reason it is half-configured. */
export function platformChoice(env: Env): { slack: boolean; teams: boolean; console: boolean } {
  const slack = Boolean(env.SLACK_BOT_TOKEN && (env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN));
  const teams = Boolean(env.MICROSOFT_APP_ID);
  return { slack, teams, console: env.TREAD_CONSOLE || (!slack && !teams) };
}

/** Creates the adapters for the platforms that are on. */
export async function buildPlatforms(env: Env, app: AppContext, router: Router, extras: { consoleInput?: NodeJS.ReadableStream; consoleOutput?: NodeJS.WritableStream; onConsoleLine?: () => Promise<void>; consoleReady?: Promise<{ url?: string }> } = {}): Promise<PlatformAdapter[]> {
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
  if (choice.teams) {
    const { createTeamsAdapter } = await import('../adapters/teams/index.js');
    adapters.push(await createTeamsAdapter({ env, app, router }));
  } else if (isLoopback(env.HOST)) {
    // The Emulator case: botbuilder is loaded on the first request, so a local start stays fast.
    adapters.push(lazyPlatform('teams', [{ method: 'POST', path: '/api/messages' }], async () => {
      const { createTeamsAdapter } = await import('../adapters/teams/index.js');
      return createTeamsAdapter({ env, app, router });
    }));
  } else app.log.info(`Teams is off: MICROSOFT_APP_ID is not set, and /api/messages is not served without authentication on HOST ${env.HOST} (only on a loopback address, for the Bot Framework Emulator)`);
  if (choice.console) {
    const { createConsoleAdapter } = await import('../adapters/console/index.js');
    adapters.push(createConsoleAdapter({ app, router, input: extras.consoleInput ?? process.stdin, output: extras.consoleOutput ?? process.stdout, user: env.TREAD_CONSOLE_USER, afterLine: extras.onConsoleLine, ready: extras.consoleReady }));
  }
  return adapters;
}

/**
 * A platform whose adapter module loads on first use (a request to one of its routes or a message to send).
 * The routes are declared up front; the loaded adapter's routes must match them by method and path.
 */
export function lazyPlatform(platform: Platform, routes: Pick<Route, 'method' | 'path'>[], load: () => Promise<PlatformAdapter>): PlatformAdapter {
  let loading: Promise<PlatformAdapter> | undefined;
  const get = () => (loading ??= load());
  const port = new Proxy({ platform } as ChatPort, {
    get(target, key) {
      if (key === 'platform') return target.platform;
      if (typeof key !== 'string' || key === 'then') return undefined;
      return async (...args: unknown[]) => {
        const real = (await get()).port as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        return real[key]!(...args);
      };
    },
  });
  return {
    platform,
    port,
    routes: routes.map((r) => ({
      ...r,
      handler: async (req, res) => {
        const real = (await get()).routes?.find((x) => x.method === r.method && String(x.path) === String(r.path));
        if (!real) throw new Error(`${platform}: the adapter does not serve ${r.method} ${String(r.path)}`);
        await real.handler(req, res);
      },
    })),
    async stop() {
      if (loading) await (await loading).stop?.();
    },
  };
}
