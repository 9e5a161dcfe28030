/** The Slack adapter: Bolt receives (HTTP at /slack/events, or Socket Mode), the Web API sends. */
import { randomUUID } from 'node:crypto';
import { App, LogLevel, SocketModeReceiver, webApi, type AppOptions, type Logger as BoltLogger, type ReceiverEvent } from '@slack/bolt';
import type { AppContext } from '../../src/core/app.js';
import type { Env } from '../../src/core/config/env.js';
import type { Logger } from '../../src/core/logger.js';
import type { PlatformAdapter } from '../../src/core/platform.js';
import type { Router } from '../../src/core/router.js';
import type { Route } from '../../src/core/route.js';
import { MAX_BODY_BYTES } from '../../src/http/body.js';
import { SlackHttpReceiver } from './slack.http.js';
import { classifyBody, SlackPayloadError } from './slack.inbound.js';
import { SlackListeners } from './slack.listeners.js';
import { SlackChatPort, type SlackPortOptions } from './slack.port.js';

/** Inputs of createSlackAdapter. */
export interface SlackAdapterOptions {
  env: Env;
  app: AppContext;
  router: Router;
  /** Tuning for tests and benchmarks (budgets over the organisation file's, waits, calls in flight). */
  port?: Partial<Pick<SlackPortOptions, 'budgets' | 'maxInlineWaitMs' | 'inFlightPerMethod' | 'stallMs'>>;
  /** The bot's ids, when known; otherwise one auth.test at start-up finds them. */
  bot?: { botId: string; botUserId: string; teamId?: string };
  /** How long a view submission may take before its modal is closed without an answer (default 2500 ms). */
  viewDeadlineMs?: number;
  /** Acknowledged requests worked on at once (default 8); the rest queue so new requests are acked promptly. */
  workConcurrency?: number;
  /** A Web API call without an answer after this long fails (default 10 s) and its outbox row is retried. */
  callTimeoutMs?: number;
}

/** The Slack platform: its port, the /slack/events route, and Socket Mode when SLACK_APP_TOKEN is set. */
export interface SlackAdapter extends PlatformAdapter {
  port: SlackChatPort;
  /** The bot's ids (from options or auth.test). */
  bot: { botId: string; botUserId: string; teamId?: string };
  /**
   * Resolves when no acknowledged request is still being worked on (routed and answered): what a caller that got its
   * ack can wait for before looking at what the request did, or did not do twice.
   */
  idle(): Promise<void>;
}

/** A Slack configuration tread cannot start with; main.ts prints its message as one line (it goes by the name). */
export class SlackConfigError extends Error {
  override readonly name = 'PlatformConfigError';
}

/** Says what is missing when Slack is half-configured, or undefined when it is off or complete. */
export function slackConfigProblem(env: Pick<Env, 'SLACK_BOT_TOKEN' | 'SLACK_SIGNING_SECRET' | 'SLACK_APP_TOKEN'>): string | undefined {
  const inbound = env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN;
  if (env.SLACK_BOT_TOKEN && !inbound) return 'SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is: set one of them, or unset SLACK_BOT_TOKEN to turn Slack off';
  if (!env.SLACK_BOT_TOKEN && inbound) return `${env.SLACK_SIGNING_SECRET ? 'SLACK_SIGNING_SECRET' : 'SLACK_APP_TOKEN'} is set but SLACK_BOT_TOKEN is not: set the bot token (xoxb-…) from the app's OAuth page, or unset it to turn Slack off`;
  return undefined;
}

/** Bolt's logger interface over tread's pino logger. */
export function boltLogger(log: Logger): BoltLogger {
  const fmt = (msg: unknown[]) => msg.map((m) => {
    if (typeof m === 'string') return m;
    if (m instanceof Error) return m.message;
    try { return JSON.stringify(m); } catch { return String(m); }
  }).join(' ');
  const level = (): LogLevel => {
    const l = log.level;
    if (l === 'debug' || l === 'trace') return LogLevel.DEBUG;
    if (l === 'info') return LogLevel.INFO;
    if (l === 'warn') return LogLevel.WARN;
    return LogLevel.ERROR;
  };
  return {
    debug: (...m) => log.debug(fmt(m)),
    info: (...m) => log.debug(fmt(m)),
    warn: (...m) => log.warn(fmt(m)),
    error: (...m) => log.error(fmt(m)),
    setLevel: () => {},
    getLevel: level,
    setName: () => {},
  };
}

/** Bolt's App with tread's payload check in front: malformed payloads are refused, known-but-unused ones acknowledged. */
class TreadBoltApp extends App {
  constructor(options: AppOptions, private readonly tread: SlackListeners) {
    super(options);
  }

  override async processEvent(event: ReceiverEvent): Promise<void> {
    const parsed = classifyBody(event.body);
    if (parsed.kind === 'ignore') {
      await event.ack();
      return;
    }
    const envelopeId = typeof event.customProperties?.envelopeId === 'string' ? event.customProperties.envelopeId : undefined;
    this.tread.classified.set(event.body, { parsed, ...(envelopeId ? { envelopeId } : {}) });
    return super.processEvent(event);
  }
}

/** Creates the Slack adapter. Throws one line when the environment is half-configured or the token is refused. */
export async function createSlackAdapter(options: SlackAdapterOptions): Promise<SlackAdapter> {
  const { env, app, router } = options;
  const problem = slackConfigProblem(env);
  if (problem) throw new SlackConfigError(problem);
  if (!env.SLACK_BOT_TOKEN) throw new SlackConfigError('SLACK_BOT_TOKEN is not set: the Slack adapter needs the bot token (xoxb-…)');
  const log = app.log.child({ platform: 'slack' });
  const logger = boltLogger(log);
  const slackApiUrl = env.SLACK_API_URL ? `${env.SLACK_API_URL.replace(/\/+$/, '')}/` : undefined;
  // The outbox decides about retries: web-api neither retries nor waits out rate limits itself.
  const clientOptions = { ...(slackApiUrl ? { slackApiUrl } : {}), retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger, timeout: options.callTimeoutMs ?? 10_000 };
  const web = new webApi.WebClient(env.SLACK_BOT_TOKEN, clientOptions);

  let bot = options.bot;
  if (!bot) {
    try {
      const auth = await web.auth.test();
      if (!auth.user_id || !auth.bot_id) throw new Error('auth.test did not name a bot: SLACK_BOT_TOKEN must be a bot token (xoxb-…)');
      bot = { botId: auth.bot_id, botUserId: auth.user_id, ...(auth.team_id ? { teamId: auth.team_id } : {}) };
    } catch (e) {
      const code = (e as { data?: { error?: string } }).data?.error ?? (e as Error).message;
      throw new SlackConfigError(`SLACK_BOT_TOKEN: Slack refused it at start-up (auth.test: ${code}); check the token${slackApiUrl ? ` and SLACK_API_URL (${slackApiUrl})` : ''}`);
    }
  }

  const port = new SlackChatPort(web, {
    log, botUserId: bot.botUserId, workspace: bot.teamId, stats: app.chatCalls, ...options.port,
    budgets: { ...app.config.delivery.slack, ...options.port?.budgets },
  });
  const listeners = new SlackListeners({ app, router, port, botUserId: bot.botUserId, viewDeadlineMs: options.viewDeadlineMs, workConcurrency: options.workConcurrency });

  // HTTP: tread's own receiver (Bolt's verification and processEvent, every step awaited); see slack.http.ts.
  const http = env.SLACK_SIGNING_SECRET ? new SlackHttpReceiver({ signingSecret: env.SLACK_SIGNING_SECRET, log, logger, bodyLimit: MAX_BODY_BYTES }) : undefined;
  const socket = env.SLACK_APP_TOKEN
    ? new SocketModeReceiver({
      appToken: env.SLACK_APP_TOKEN,
      logger,
      installerOptions: { clientOptions: { ...(slackApiUrl ? { slackApiUrl } : {}) } },
      customPropertiesExtractor: (args: { envelope_id?: string }) => (args.envelope_id ? { envelopeId: args.envelope_id } : {}),
      processEventErrorHandler: async ({ error }) => {
        // Acknowledge a malformed envelope so Slack does not redeliver it.
        log.warn({ err: (error as Error).message }, error instanceof SlackPayloadError ? 'slack: malformed envelope acknowledged and dropped' : 'slack: envelope failed');
        return error instanceof SlackPayloadError;
      },
    })
    : undefined;

  const bolt = new TreadBoltApp({
    receiver: (http ?? socket)!,
    token: env.SLACK_BOT_TOKEN,
    botId: bot.botId,
    botUserId: bot.botUserId,
    clientOptions,
    logger,
    convoStore: false,
  }, listeners);
  // Both transports may run at once; they feed the same app.
  if (http && socket) socket.init(bolt);
  bolt.error(async (error) => {
    const correlationId = randomUUID().slice(0, 8);
    log.error({ correlationId, err: error.message, code: error.code }, 'slack: listener failed');
  });
  listeners.register(bolt);

  const routes: Route[] = http ? [http.route()] : [];

  return {
    platform: 'slack',
    port,
    pacer: port.pacer,
    bot,
    routes,
    idle: () => listeners.drain(),
    async start() {
      if (socket) {
        await socket.start();
        log.info('slack: Socket Mode connected');
      }
    },
    async stop() {
      if (socket) await socket.stop().catch((e) => log.warn({ err: (e as Error).message }, 'slack: Socket Mode stop failed'));
      await listeners.drain();
    },
  };
}
