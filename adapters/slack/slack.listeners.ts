/** Bolt listeners: Slack payload -> core Inbound -> router -> Reply rendered back to Slack (ack first, work after). */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { App } from '@slack/bolt';
import type { AppContext } from '../../src/core/app.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { directoryOf } from '../../src/core/identity.js';
import { MAX_ATTEMPTS } from '../../src/core/inbound-journal.js';
import type { ChatUser, Inbound, Reply, Where } from '../../src/core/inbound.js';
import type { Message } from '../../src/core/message.js';
import type { Router } from '../../src/core/router.js';
import {
  blockActionInbound, commandInbound, messageInbound, viewSubmissionInbound, decodeMetadata,
  type BlockActionsBody, type CommandBody, type SlackBody, type ViewSubmissionBody,
} from './slack.inbound.js';
import type { SlackChatPort } from './slack.port.js';
import { inputBlockIds, renderMessage, renderModal, trimText, type FormMetadata } from './slack.render.js';

/** A Bolt ack function. */
type Ack = (response?: Record<string, unknown>) => Promise<void>;

/** A classified body with the delivery id tread deduplicates on. */
export interface Classified {
  parsed: SlackBody;
  /** Socket Mode envelope id, when the body came over the socket. */
  envelopeId?: string;
}

/** Where a reply goes: the conversation, the person, and the handles Slack gave with the request. */
interface ReplyTarget {
  where: Where;
  userId: string;
  responseUrl?: string;
  trigger?: string;
  /** The message a button was pressed on (updated in place for a `card` reply). */
  pressed?: { channel: string; ts: string };
  /** True in a DM with the app (or without an origin channel): replies are posted there instead of shown ephemerally. */
  isDirect?: boolean;
}

/** Dependencies of the listeners. */
export interface ListenerDeps {
  app: AppContext;
  router: Router;
  port: SlackChatPort;
  botUserId?: string;
  /** A view submission is answered in its ack when the router replies within this time (Slack allows 3 s). */
  viewDeadlineMs?: number;
  /** How many acknowledged requests are worked on at once; the rest wait their turn so new requests are acked promptly. */
  workConcurrency?: number;
}

/** Runs at most `limit` jobs at once, first come first served. */
export class WorkQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Jobs running or waiting. */
  get size(): number {
    return this.running + this.waiting.length;
  }

  /** Runs `job` when a slot is free (after pending I/O, so acks and new requests go first). */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else await nextTurn();
    this.running++;
    try {
      return await job();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

/** The answer when a request cannot be written down (the database is away): nothing was done. */
const NOT_RECEIVED = 'tread cannot reach its database right now, so this was not received and nothing was done. Please try again in a minute.';

/** The request in the person's words, for a message about it. */
function whatWasAsked(inbound: Inbound): string {
  return inbound.kind === 'command' ? `\`/${inbound.name.replace(/^\//, '')}${inbound.text ? ` ${inbound.text.slice(0, 80)}` : ''}\`` : 'your button press';
}

const sleep = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms));

/** Registers tread's listeners on a Bolt app and tracks the work they run after acknowledging. */
export class SlackListeners {
  private readonly inflight = new Set<Promise<unknown>>();
  /** Bodies classified by the app's processEvent, so listeners do not parse twice. */
  readonly classified = new WeakMap<object, Classified>();

  private readonly work: WorkQueue;

  constructor(private readonly deps: ListenerDeps) {
    this.work = new WorkQueue(deps.workConcurrency ?? 8);
    // A request acknowledged by a process that died before handling it: handled again, the answer through its
    // response_url (valid 30 minutes); a form cannot open any more (trigger ids live 3 s).
    deps.router.journal.replayer<ReplyTarget>('slack', {
      replay: (inbound, target) => this.track(this.work.run(async () => {
        const reply = await this.handle(inbound, true);
        await this.deliver(reply, { ...target, trigger: undefined });
      })),
      giveUp: (inbound, target) => this.ephemeral({ text: `tread could not finish ${whatWasAsked(inbound)} after ${MAX_ATTEMPTS} tries. Nothing more will happen with it: please try again, and if it keeps failing, tell your admin.`, tone: 'danger' }, target),
    });
  }

  /**
   * Writes the request to the inbound journal before it is acknowledged. False when it was seen before (a platform
   * retry) or could not be written: then the person is told (the database is away) and nothing else happens.
   */
  private async record(inbound: Inbound, target: ReplyTarget, refuse: (text: string) => Promise<void>): Promise<boolean> {
    try {
      if (await this.deps.router.journal.record(inbound, target)) return true;
      this.deps.app.log.info({ deliveryId: inbound.deliveryId }, 'repeated delivery ignored');
      return false;
    } catch (e) {
      const correlationId = randomUUID().slice(0, 8);
      this.deps.app.log.error({ correlationId, err: (e as Error).message }, 'slack: could not record a request (database unreachable); the person is told');
      await refuse(`${NOT_RECEIVED} (reference ${correlationId})`).catch(() => undefined);
      return false;
    }
  }

  /** Adds the listeners to a Bolt app. */
  register(bolt: App): void {
    bolt.command(/.*/, async ({ body, ack }) => {
      const c = this.classified.get(body);
      if (c?.parsed.kind !== 'command') return ack();
      await this.track(this.command(c.parsed.body, ack as Ack, c.envelopeId));
    });
    bolt.action({ type: 'block_actions' }, async ({ body, ack }) => {
      const c = this.classified.get(body);
      if (c?.parsed.kind !== 'block_actions') return ack();
      await this.track(this.blockAction(c.parsed.body, ack as Ack, c.envelopeId));
    });
    bolt.view({ type: 'view_submission' }, async ({ body, ack }) => {
      const c = this.classified.get(body);
      if (c?.parsed.kind !== 'view_submission') return ack();
      await this.track(this.viewSubmission(c.parsed.body, ack as Ack, c.envelopeId));
    });
    const onMessage = async ({ body }: { body: object }) => {
      const c = this.classified.get(body);
      if (c?.parsed.kind !== 'message') return;
      await this.track(this.message(c.parsed, c.envelopeId));
    };
    bolt.event('app_mention', onMessage);
    bolt.event('message', onMessage);
  }

  /** Waits for the work still running after acks (graceful stop). */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private async track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    try {
      return await work;
    } finally {
      this.inflight.delete(work);
    }
  }

  /** Slash command: recorded, acked, then routed; the reply goes through response_url / views.open. */
  private async command(body: CommandBody, ack: Ack, envelopeId?: string): Promise<void> {
    const inbound = commandInbound(body, { botUserId: this.deps.botUserId, deliveryId: envelopeId });
    const target: ReplyTarget = { where: inbound.where, userId: body.user_id, responseUrl: body.response_url, trigger: body.trigger_id };
    let refused = false;
    const fresh = await this.record(inbound, target, async (text) => { refused = true; await ack({ response_type: 'ephemeral', text }); });
    if (!refused) await ack();
    if (!fresh) return;
    await this.work.run(async () => {
      const reply = await this.handle(inbound, true);
      await this.deliver(reply, target);
    });
  }

  /** Button press: recorded, acked, then routed; a card reply updates the pressed message in place. */
  private async blockAction(body: BlockActionsBody, ack: Ack, envelopeId?: string): Promise<void> {
    // Inputs inside modals and App Home send block_actions too; tread reads them on submit.
    if (body.container?.type === 'view' || body.view) return ack();
    const inbound = blockActionInbound(body, { deliveryId: envelopeId });
    const ts = body.message?.ts ?? body.container?.message_ts;
    const pressed = ts && !body.container?.is_ephemeral ? { channel: inbound.where.channel, ts } : undefined;
    const target: ReplyTarget = { where: inbound.where, userId: body.user.id, responseUrl: body.response_url, trigger: body.trigger_id, pressed };
    let refusal: string | undefined;
    const fresh = await this.record(inbound, target, async (text) => { refusal = text; });
    await ack();
    if (refusal) await this.deliver({ kind: 'ephemeral', message: { text: refusal, tone: 'danger' } }, target);
    if (!fresh) return;
    await this.work.run(async () => {
      const reply = await this.handle(inbound, true);
      await this.deliver(reply, target);
    });
  }

  /** Modal submission: recorded, then routed before the ack, so field errors show inline (`response_action: errors`). */
  private async viewSubmission(body: ViewSubmissionBody, ack: Ack, envelopeId?: string): Promise<void> {
    const inbound = viewSubmissionInbound(body, { deliveryId: envelopeId });
    const target: ReplyTarget = { where: inbound.where, userId: body.user.id, trigger: body.trigger_id, isDirect: inbound.where.channel === body.user.id };
    let refusal: string | undefined;
    if (!(await this.record(inbound, target, async (text) => { refusal = text; }))) {
      const first = inputBlockIds(body.view)[0];
      return ack(refusal && first ? { response_action: 'errors', errors: { [first]: trimText(refusal, 2000) } } : undefined);
    }
    const work = this.handle(inbound, true);
    let acked = false;
    try {
      const first = await Promise.race([work, sleep(this.deps.viewDeadlineMs ?? 2500)]);
      if (first === 'timeout') {
        acked = true;
        await ack();
        await this.deliver(await work, target);
        return;
      }
      const answer = this.viewAnswer(first, body);
      acked = true;
      await ack(answer);
      if (!answer) await this.deliver(first, target);
    } finally {
      if (!acked) await ack().catch(() => undefined);
    }
  }

  /** The ack body for a view submission's reply, or undefined to close the modal and deliver the reply normally. */
  private viewAnswer(reply: Reply, body: ViewSubmissionBody): Record<string, unknown> | undefined {
    const inputs = inputBlockIds(body.view);
    const errorsAt = (errors: Record<string, string>) => {
      const out: Record<string, string> = {};
      for (const [key, text] of Object.entries(errors)) {
        // An error on a field the view does not show goes on the first field, so it is seen.
        const at = inputs.includes(key) ? key : inputs[0];
        if (at) out[at] = trimText(out[at] ? `${out[at]} ${text}` : text, 2000);
      }
      return out;
    };
    if (reply.kind === 'form_errors') {
      const errors = errorsAt(reply.errors);
      if (Object.keys(errors).length > 0) return { response_action: 'errors', errors };
      return undefined;
    }
    if (reply.kind === 'form') {
      const meta = decodeMetadata(body.view.private_metadata);
      return { response_action: 'update', view: renderModal(reply.form, { c: meta.c, t: meta.t }) };
    }
    // A refusal (permission, wrong state) keeps the modal open with the sentence on it.
    if (reply.kind === 'ephemeral' && (reply.message.tone === 'warning' || reply.message.tone === 'danger') && inputs[0] && reply.message.text) {
      return { response_action: 'errors', errors: errorsAt({ [inputs[0]]: reply.message.text }) };
    }
    return undefined;
  }

  /** A mention of the bot or a DM to it: the first word is the command. */
  private async message(parsed: Extract<SlackBody, { kind: 'message' }>, envelopeId?: string): Promise<void> {
    const inbound = messageInbound(parsed, { botUserId: this.deps.botUserId, deliveryId: envelopeId });
    const target: ReplyTarget = { where: inbound.where, userId: parsed.event.user, isDirect: parsed.event.channel_type === 'im' };
    const fresh = await this.record(inbound, target, (text) => this.deliver({ kind: 'ephemeral', message: { text, tone: 'danger' } }, target));
    if (!fresh) return;
    await this.work.run(async () => {
      const reply = await this.handle(inbound, true);
      await this.deliver(reply, target);
    });
  }

  /** Adds what Slack did not send (a display name, an email when the config matches by email) and routes. */
  private async handle(inbound: Inbound, recorded = false): Promise<Reply> {
    try {
      inbound.actor = await this.enrich(inbound.actor);
    } catch (e) {
      this.deps.app.log.debug({ err: (e as Error).message }, 'slack: could not look the person up; routing as Slack sent them');
    }
    return this.deps.router.handle(inbound, { recorded });
  }

  private async enrich(actor: ChatUser): Promise<ChatUser> {
    const { config } = this.deps.app;
    if (directoryOf(config).byPlatformId('slack', actor.id)) return actor;
    if (actor.displayName && !config.matchByEmail) return actor;
    const info = await this.deps.port.userInfo(actor.id);
    if (!info) return actor;
    return {
      ...actor,
      ...(actor.displayName || !info.name ? {} : { displayName: info.name }),
      ...(config.matchByEmail && info.email ? { email: info.email } : {}),
    };
  }

  /** Renders a reply to the person who acted. Failures are logged: the change itself is already committed. */
  private async deliver(reply: Reply, target: ReplyTarget): Promise<void> {
    try {
      switch (reply.kind) {
        case 'none':
          return;
        case 'ephemeral':
          return await this.ephemeral(reply.message, target);
        case 'form_errors':
          return await this.ephemeral({ text: Object.values(reply.errors).join('\n') || reply.form.text || 'The form has errors.', tone: 'warning' }, target);
        case 'form': {
          if (!target.trigger) {
            return await this.ephemeral({ text: 'That opens a form, which needs a slash command: type the command with / (for example `/incident`) to open it.', tone: 'info' }, target);
          }
          const meta: FormMetadata = { c: target.where.channel, ...(target.where.thread ? { t: target.where.thread } : {}) };
          return await this.deps.port.openFormAt(target.trigger, reply.form, meta);
        }
        case 'card': {
          if (target.pressed) {
            try {
              await this.deps.port.update({ where: { ...target.where, channel: target.pressed.channel }, messageId: target.pressed.ts }, reply.message);
            } catch (e) {
              // chat.update is over its budget or inside a Retry-After window: the press's response_url edits the card instead.
              if (!(e instanceof RateLimitedError) || !target.responseUrl) throw e;
              await this.respond(target.responseUrl, { replace_original: true, ...renderMessage(reply.message) });
            }
          } else if (target.responseUrl) {
            await this.respond(target.responseUrl, { replace_original: true, ...renderMessage(reply.message) });
          }
          if (reply.notice) await this.ephemeral(reply.notice, target);
          return;
        }
      }
    } catch (e) {
      const correlationId = randomUUID().slice(0, 8);
      this.deps.app.log.warn({ correlationId, err: (e as Error).message, reply: reply.kind, channel: target.where.channel }, 'slack: could not deliver the reply');
    }
  }

  private async ephemeral(message: Message, target: ReplyTarget): Promise<void> {
    if (target.responseUrl) {
      try {
        await this.respond(target.responseUrl, { response_type: 'ephemeral', replace_original: false, ...renderMessage(message) });
        return;
      } catch (e) {
        this.deps.app.log.debug({ err: (e as Error).message }, 'slack: response_url failed, using chat.postEphemeral');
      }
    }
    if (target.isDirect) {
      await this.deps.port.post({ ...target.where, channel: target.where.channel }, message);
      return;
    }
    await this.deps.port.postEphemeral(target.where, { platform: 'slack', userId: target.userId }, message);
  }

  /** POSTs to a response_url (valid for 30 minutes, five uses). */
  private async respond(url: string, payload: Record<string, unknown>): Promise<void> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload), signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    if (text.startsWith('{')) {
      const body = JSON.parse(text) as { ok?: boolean; error?: string };
      if (body.ok === false) throw new Error(`response_url answered ${body.error}`);
    }
  }
}
