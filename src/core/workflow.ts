/**
 * What a workflow is, and how workflows talk to each other. Read this before adding one.
 *
 * A workflow lives in `src/workflows/<name>/` and exports one `Workflow` object from its `index.ts`. The runtime wires
 * every workflow from what that object declares; nothing else connects them:
 * - A workflow never imports another workflow's files and keeps no module-level hook slots for others to fill.
 *   `test/arch/imports.test.ts` enforces it.
 * - Record events: a workflow announces what happened to its records with `app.seam.announce(tx, 'incident.changed', …)`
 *   (`incident.opened`, `incident.changed`, `approval.decided`, …). Another workflow subscribes by listing a handler in
 *   `subscribes` (build one with `on(…)`), in one of two modes it chooses:
 *     `inline`: runs inside the announcing transaction; the work commits or rolls back with the change (linking records,
 *               copying a workaround onto a card, starting or stopping pages).
 *     `after`:  runs after commit, as a timer due at once: it survives a crash, runs once across replicas, is retried
 *               with backoff, and its failure never undoes the change (connector calls, searches, webhooks).
 *   The announcing workflow declares the event's name and data type by adding to `RecordEvents` below (TypeScript
 *   declaration merging from its own folder), so subscribers are type-checked without importing it. Data is plain JSON.
 * - Operations: what a workflow offers others to call and needs an answer from (`incident.open` returns the new id),
 *   declared in `provides` and typed by adding to `Operations`; callers use `app.seam.call('incident.open', op, input)`.
 * - Card contributions: lines, fields and buttons a workflow adds to another workflow's card (an incident's card shows
 *   its linked alerts), declared in `contributes`; the owner of the card merges them with `app.seam.cardParts(…)`.
 * - Everything else a workflow has is declared here too: its sections of the organisation file (`config`), who may do
 *   what (`permissions`), command aliases, commands, buttons, timers, HTTP routes, metrics.
 *
 * Each workflow folder holds the same kinds of files: `<w>.config.ts`, `<w>.machine.ts` (pure states and transitions),
 * `<w>.service.ts`, `<w>.messages.ts`, `<w>.commands.ts`, `<w>.routes.ts`, `<w>.timers.ts`, `index.ts`, plus what the
 * domain needs.
 */
import type { z } from 'zod';
import type { Tx, DbOrTx } from '../../db/client.js';
import type { AppContext } from './app.js';
import type { OrgConfig, Role } from './config/org.js';
import type { Actor, Person } from './identity.js';
import type { ActionInbound, CommandInbound, Reply, Source } from './inbound.js';
import type { Button, Field, Message } from './message.js';
import type { MetricFamily } from './metrics.js';
import type { Route, RouteTools } from './route.js';
import type { AnyTimerHandler } from './timers.js';
import type { WebhookTarget } from './webhooks.js';

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

/** A button or form action handler. */
export type ActionHandler = (inbound: ActionInbound, ctx: HandlerContext) => Promise<Reply>;

/** A button or form action, keyed by action id (`incident.ack`): the permission it needs and its handler. */
export interface ActionSpec {
  /** A declared permission (`incident.ack`); the router checks it before the handler runs. */
  permission: string;
  handle: ActionHandler;
}

/** Who may do an action: the roles (admins may do everything), and the words for a refusal ("may not acknowledge INC-7"). */
export interface Permission {
  roles: readonly Role[];
  /** A verb phrase; `{subject}` is replaced by the record (`put {subject} on hold`), else the record goes at the end. */
  what: string;
}

/** `/request access …` is `/access request …`: a command (and optional leading words) that another command handles. */
export interface CommandAlias {
  from: { command: string; words?: string[] };
  to: { command: string; words?: string[] };
}

/** A workflow's sections of the organisation file. */
export interface ConfigSection {
  /** Top-level keys it owns, with their schemas (defaults included). */
  shape: Record<string, z.ZodType>;
  /** Cross-checks against the whole file (known people, services, names); each problem names its path. */
  check?(org: OrgConfig, issue: (path: (string | number)[], message: string) => void): void;
  /**
   * Paths (`resources[2].connector.connectionString`) where a `${VAR}` that is not set is no mistake of the file: the
   * value stays `${VAR}` and the section itself decides what that means (an access resource is skipped).
   */
  optionalVariable?(path: string): boolean;
}

/**
 * Record events by name with their data: each announcing workflow adds its own with declaration merging, e.g.
 * `declare module '../../core/workflow.js' { interface RecordEvents { 'incident.opened': IncidentOpened } }`.
 */
export interface RecordEvents {}

/** A record event's name. */
export type RecordEventName = keyof RecordEvents & string;

/** What an operation runs with: the caller's transaction, the app, the time and who acts. */
export interface OpContext {
  tx: Tx;
  app: AppContext;
  now: Date;
  actor: Actor;
}

/**
 * Operations by name, each `(op, input) => Promise<result>`: each offering workflow adds its own with declaration merging,
 * e.g. `interface Operations { 'incident.open': (op: OpContext, input: NewIncident) => Promise<{ id: number }> }`.
 */
export interface Operations {}

/** An operation's name. */
export type OperationName = keyof Operations & string;
/** What an operation takes. */
export type OpInput<K extends OperationName> = Operations[K] extends (op: OpContext, input: infer I) => Promise<unknown> ? I : never;
/** What an operation answers. */
export type OpOutput<K extends OperationName> = Operations[K] extends (op: OpContext, input: never) => Promise<infer O> ? O : never;

/** A subscriber to a record event. */
export interface Subscription {
  event: string;
  /** Unique within its workflow: names its after-commit timers and log lines. */
  name: string;
  mode: 'inline' | 'after';
  handle(tx: Tx, app: AppContext, data: unknown, now: Date): Promise<void>;
}

/** A typed subscription to one record event. */
export function on<K extends RecordEventName>(event: K, mode: 'inline' | 'after', name: string, handle: (tx: Tx, app: AppContext, data: RecordEvents[K], now: Date) => Promise<void>): Subscription {
  return { event, name, mode, handle: handle as Subscription['handle'] };
}

/** What one workflow adds to another's card. */
export interface CardPart {
  /** Lines added under the card's text. */
  lines?: string[];
  fields?: Field[];
  buttons?: Button[];
}

/** A contribution to the cards of records whose subject starts with `prefix` (`INC-`). */
export interface CardContribution {
  prefix: string;
  /**
   * False when none of it can exist yet while the record is being opened (its parts come with later changes, which
   * refresh the card): the card built inside the opening transaction skips it, so opening a record never waits for it.
   */
  atOpening?: boolean;
  /** Reads inside the caller's transaction (it sees the caller's writes). */
  contribute(db: DbOrTx, app: AppContext, subject: string, now: Date): Promise<CardPart | undefined>;
}

/** A workflow module: `src/workflows/<name>/index.ts` exports one. */
export interface Workflow {
  name: string;
  config?: ConfigSection;
  /** Permissions by name (`incident.ack`); every name starts with the workflow's name. */
  permissions?: Record<string, Permission>;
  commands?: CommandSpec[];
  aliases?: CommandAlias[];
  actions?: Record<string, ActionSpec>;
  timers?: Record<string, AnyTimerHandler>;
  /** Operations it offers other workflows (names start with the workflow's name). */
  provides?: Partial<Operations>;
  subscribes?: Subscription[];
  contributes?: CardContribution[];
  /** Where its outgoing webhooks go, from the config (secrets stay in memory: sends name the target). */
  webhookTargets?(config: OrgConfig): WebhookTarget[];
  /** Runs once at start-up (after migrations), e.g. to schedule recurring timers. */
  start?(app: AppContext): Promise<void>;
  /** HTTP routes it serves (webhooks, REST). */
  routes?(app: AppContext, tools: RouteTools): Route[];
  /** Metric families for /metrics, computed at scrape time. */
  metrics?(app: AppContext): Promise<MetricFamily[]>;
  /** Renders a record's current card, for re-posting and REST (`INC-7` -> Message). */
  card?(app: AppContext, subject: string): Promise<Message | undefined>;
}
