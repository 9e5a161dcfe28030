/** What a workflow exports for the router and the scheduler. */
import type { AppContext } from './app.js';
import type { Person } from './identity.js';
import type { ActionInbound, CommandInbound, Reply, Source } from './inbound.js';
import type { TimerHandler } from './timers.js';
import type { Route } from '../http/server.js';
import type { Message } from './message.js';

/** Per-request context: the app plus who acts and from where. */
export interface HandlerContext extends AppContext {
  person: Person;
  source: Source;
}

/** A chat command (`/incident`), with its subcommands parsed by the workflow. */
export interface CommandSpec {
  /** Command name without the slash. */
  name: string;
  /** One line for `/tread help`. */
  summary: string;
  /** Usage lines shown by `/<name> help`. */
  usage: string[];
  handle(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply>;
}

/** A button or form action, keyed by action id (`incident.ack`). */
export type ActionHandler = (inbound: ActionInbound, ctx: HandlerContext) => Promise<Reply>;

/** A workflow module: `src/workflows/<name>/index.ts` exports one. */
export interface Workflow {
  name: string;
  commands: CommandSpec[];
  actions: Record<string, ActionHandler>;
  timers: Record<string, TimerHandler>;
  /** Runs once at start-up (after migrations), e.g. to schedule recurring timers. */
  start?(app: AppContext): Promise<void>;
  /** HTTP routes the workflow serves (webhooks, REST). `api` checks the bearer token of /api/v1. */
  routes?(app: AppContext, tools: RouteTools): Route[];
  /** Metric families for /metrics in Prometheus text format (see `renderFamily`), computed at scrape time. */
  metrics?(app: AppContext): Promise<string[]>;
  /** Renders a record's current card, for re-posting and REST (`INC-7` -> Message). */
  card?(app: AppContext, subject: string): Promise<Message | undefined>;
}

/** Helpers handed to workflow routes. */
export interface RouteTools {
  /** Checks `Authorization: Bearer $TREAD_API_TOKEN`; answers 401/404 itself and returns false when the caller may not proceed. */
  authorizeApi(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): boolean;
  /** Runs work after an HTTP request changed state: sends the outbox now instead of at the next tick. */
  kick(): void;
}
