/** The ChatPort to Microsoft Teams: proactive posts, updates and personal messages from stored conversation references. */
import type { CloudAdapter, ConversationReference, TurnContext } from 'botbuilder';
import type { AppContext } from '../../src/core/app.js';
import type { ChatPort, MessageRef, PersonAddress } from '../../src/core/chat-port.js';
import { deliveryPriority } from '../../src/core/delivery/context.js';
import { budgetsFor } from '../../src/core/delivery/delivery.config.js';
import { Pacer, type Budget, type Lane } from '../../src/core/delivery/pacer.js';
import { PermanentChatError, RateLimitedError, UnsupportedError } from '../../src/core/errors.js';
import type { Where } from '../../src/core/inbound.js';
import type { Message } from '../../src/core/message.js';
import { baseConversationId, isChannelConversation, threadConversationId } from './teams.inbound.js';
import { referenceKeys, type ReferenceStore, type StoredReference } from './teams.references.js';
import { renderActivity, renderCardActivity, type RenderedActivity } from './teams.render.js';

/** The audience of tokens for the public Bot Framework channel service. */
const BOT_FRAMEWORK_AUDIENCE = 'https://api.botframework.com';
/** Wait this long after a 429 that names no Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 2000;

/** The sentence the dispatcher posts instead of a major-incident channel. */
export const CHANNEL_CREATION_UNSUPPORTED = 'Teams channel creation needs Microsoft Graph permissions tread does not ask for, so no channel was created.';

/** Raised when a connector call does not finish in time (transient: the outbox retries). */
export class TeamsTimeoutError extends Error {
  override readonly name = 'TeamsTimeoutError';
}

/** Maps a connector failure to the outbox's error kinds: 429 -> RateLimitedError, 4xx -> PermanentChatError, else transient. */
export function mapConnectorError(e: unknown, what: string): Error {
  if (e instanceof RateLimitedError || e instanceof PermanentChatError || e instanceof UnsupportedError || e instanceof TeamsTimeoutError) return e;
  const err = e as { statusCode?: number; message?: string; response?: { headers?: { get?(name: string): string | undefined } | Record<string, string> } };
  const status = typeof err?.statusCode === 'number' ? err.statusCode : undefined;
  const message = `${what}: ${status ? `Teams answered HTTP ${status}` : 'request failed'}${err?.message ? ` (${err.message.split('\n')[0]!.slice(0, 300)})` : ''}`;
  if (status === 429) return new RateLimitedError(retryAfterMs(err.response?.headers) ?? DEFAULT_RETRY_AFTER_MS, message);
  if (status && status >= 400 && status < 500 && status !== 408) return new PermanentChatError(message);
  return new Error(message);
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date). */
export function retryAfterMs(headers: { get?(name: string): string | undefined } | Record<string, string> | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const value = typeof headers.get === 'function' ? (headers.get as (n: string) => string | undefined)('retry-after') : (headers as Record<string, string>)['retry-after'];
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new TeamsTimeoutError(`${what}: no answer from Teams within ${ms} ms`)), ms); });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The Bot Framework's documented limits for Teams: per bot per conversation (thread) 7 operations a second, 8 in two
 * seconds, 60 in thirty seconds and 1800 an hour; per app per tenant 50 a second. The organisation file's
 * `delivery.teams` overrides them by name.
 */
export const TEAMS_BUDGETS: Record<string, readonly Budget[]> = {
  conversation: [{ limit: 7, perMs: 1000, window: true }, { limit: 8, perMs: 2000, window: true }, { limit: 60, perMs: 30_000, window: true }, { limit: 1800, perMs: 3_600_000, window: true }],
  bot: [{ limit: 50, perMs: 1000, window: true }],
};

/** What the port needs. */
export interface TeamsPortOptions {
  app: AppContext;
  adapter: CloudAdapter;
  /** The bot's app id ('' with authentication off). */
  appId: string;
  refs: ReferenceStore;
  /** Each connector call ends within this (default 15 s). */
  sendTimeoutMs?: number;
  /** Budgets by name (`conversation`, `bot`), over TEAMS_BUDGETS. */
  budgets?: Record<string, readonly Budget[]>;
  /** Connector calls in flight at once for the bot (default 8). */
  inFlight?: number;
  /** Waits longer than this are handed back to the outbox (default 1500 ms). */
  maxInlineWaitMs?: number;
}

/** The Teams ChatPort. */
export class TeamsChatPort implements ChatPort {
  readonly platform = 'teams' as const;
  /** The Bot Framework's limits as this port keeps them. */
  readonly pacer: Pacer;
  private readonly sendTimeoutMs: number;
  private readonly budgets: Record<string, readonly Budget[]>;

  constructor(private readonly options: TeamsPortOptions) {
    this.sendTimeoutMs = options.sendTimeoutMs ?? 15_000;
    this.budgets = budgetsFor(TEAMS_BUDGETS, options.budgets);
    this.pacer = new Pacer('teams', { maxInlineWaitMs: options.maxInlineWaitMs, stallMs: this.sendTimeoutMs, stats: options.app.chatCalls });
  }

  /**
   * The lanes of a connector call: the bot (every conversation) and, for a call in a conversation, that conversation;
   * a 429 holds back the conversation it came from for its Retry-After.
   */
  lanes(conversation?: string): Lane[] {
    const lanes: Lane[] = [{ key: 'bot', budgets: this.budgets.bot ?? [], maxInFlight: this.options.inFlight ?? 8 }];
    if (conversation) lanes.push({ key: `conversation:${baseConversationId(conversation)}`, budgets: this.budgets.conversation ?? [], retryAfterScope: true });
    return lanes;
  }

  /** Posts a message to a conversation, in `where.thread` when set (a channel reply chain). */
  async post(where: Where, message: Message): Promise<MessageRef> {
    const { ref, built } = await this.referenceFor(where);
    const id = await this.send(ref, where.thread, renderActivity(message), `posting to ${where.name ?? where.channel}`);
    if (built) await this.options.refs.put(ref.conversation.id, ref);
    return { where: this.whereOf(ref, where), messageId: id };
  }

  /** Replaces a posted message with the new rendering (updateActivity on the stored activity id). */
  async update(ref: MessageRef, message: Message): Promise<void> {
    const { ref: conv } = await this.referenceFor(ref.where);
    const conversation = this.conversationFor(conv, ref.where.thread);
    const activity = { ...renderCardActivity(message), id: ref.messageId };
    await this.run(conv, async (ctx) => {
      await ctx.adapter.updateActivity(ctx, this.address(conv, conversation, activity));
    }, `updating message ${ref.messageId}`, 'updateActivity');
  }

  /** Sends a personal message: in the person's chat with the bot, creating it from where they were last seen when needed. */
  async dm(user: PersonAddress, message: Message): Promise<MessageRef> {
    const what = `messaging ${user.name ?? user.userId}`;
    const personal = await this.options.refs.get(referenceKeys.personal(user.userId));
    if (personal) {
      const id = await this.send(personal, undefined, renderActivity(message), what);
      return { where: this.whereOf(personal), messageId: id };
    }
    const member = await this.options.refs.get(referenceKeys.member(user.userId));
    if (!member?.user?.id || !member.serviceUrl) {
      throw new PermanentChatError(`${what}: tread has not seen ${user.name ?? user.userId} in Teams yet, and Teams only lets a bot start a chat with someone who has the app. Ask them to open tread in Teams once.`);
    }
    const tenantId = member.conversation?.tenantId;
    const memberUser = member.user;
    const serviceUrl = member.serviceUrl;
    let created: StoredReference | undefined;
    await this.pacer.run({ method: 'createConversation', lanes: this.lanes(), priority: deliveryPriority() }, () => withTimeout(this.options.adapter.createConversationAsync(this.options.appId, member.channelId ?? 'msteams', serviceUrl, BOT_FRAMEWORK_AUDIENCE, {
      isGroup: false,
      bot: member.bot ?? { id: `28:${this.options.appId}`, name: 'tread' },
      members: [{ id: memberUser.id, name: memberUser.name ?? '' }],
      ...(tenantId ? { tenantId, channelData: { tenant: { id: tenantId } } } : {}),
    } as Parameters<CloudAdapter['createConversationAsync']>[4], async (ctx) => {
      const conversation = { id: ctx.activity.conversation.id, conversationType: 'personal', isGroup: false, ...(tenantId ? { tenantId } : {}) };
      created = { channelId: member.channelId ?? 'msteams', serviceUrl, conversation: conversation as ConversationReference['conversation'], ...(member.bot ? { bot: member.bot } : {}), user: memberUser };
    }), this.sendTimeoutMs, what).catch((e) => { throw mapConnectorError(e, what); }));
    if (!created) throw new Error(`${what}: Teams created no conversation`);
    await this.options.refs.put(referenceKeys.personal(user.userId), created);
    await this.options.refs.put(created.conversation.id, created);
    const id = await this.send(created, undefined, renderActivity(message), what);
    return { where: this.whereOf(created), messageId: id };
  }

  /** Teams has no ephemeral messages: a personal conversation gets the message, anywhere else the person gets a personal message. */
  async postEphemeral(where: Where, user: PersonAddress, message: Message): Promise<void> {
    const stored = await this.options.refs.get(where.channel);
    if (stored?.conversation.conversationType === 'personal') {
      await this.post(where, message);
      return;
    }
    await this.dm(user, message);
  }

  /** Teams has no trigger-based modal: the form is posted as a card with inputs into the conversation the trigger names. */
  async openForm(trigger: string, form: Message): Promise<void> {
    let where: Where;
    try {
      where = JSON.parse(trigger) as Where;
    } catch {
      throw new PermanentChatError('opening a form: the trigger is not a Teams conversation');
    }
    await this.post(where, form);
  }

  /** Unsupported: creating channels needs Graph permissions tread does not ask for. */
  async createChannel(name: string, _members: PersonAddress[] = []): Promise<Where> {
    throw new UnsupportedError('createChannel', `${CHANNEL_CREATION_UNSUPPORTED.replace('no channel was created', `no channel "${name}" was created`)}`);
  }

  /** Unsupported: bots cannot pin messages in Teams. */
  async pin(_ref?: MessageRef): Promise<void> {
    throw new UnsupportedError('pin', 'Teams bots cannot pin messages.');
  }

  /** The reference to post with: stored for the conversation, else built from a reference of its team (or any). */
  async referenceFor(where: Where): Promise<{ ref: StoredReference; built: boolean }> {
    const channel = baseConversationId(where.channel);
    const stored = await this.options.refs.get(channel);
    if (stored) return { ref: stored, built: false };
    const basis = (where.tenant ? await this.options.refs.get(referenceKeys.team(where.tenant)) : undefined)
      ?? (where.serviceUrl ? { serviceUrl: where.serviceUrl, conversation: { id: channel } } as StoredReference : undefined)
      ?? await this.options.refs.latest();
    if (!basis?.serviceUrl) {
      const why = `posting to ${where.name ?? channel}: tread has not seen any Teams conversation yet, so it does not know where to send. Install the tread app in the team${where.tenant ? ` ${where.tenant}` : ''}`;
      // Without an app id this is the Emulator on loopback: nothing will ever arrive for a configured Teams channel.
      if (!this.options.appId) throw new PermanentChatError(`${why} (Teams authentication is off: only the Bot Framework Emulator talks to this tread).`);
      throw new Error(`${why}; the message is retried.`);
    }
    const tenantId = basis.conversation?.tenantId;
    const ref: StoredReference = {
      channelId: basis.channelId ?? 'msteams',
      serviceUrl: basis.serviceUrl,
      conversation: { id: channel, isGroup: true, conversationType: 'channel', ...(tenantId ? { tenantId } : {}) } as ConversationReference['conversation'],
      ...(basis.bot ? { bot: basis.bot } : {}),
    };
    return { ref, built: true };
  }

  private conversationFor(ref: StoredReference, thread: string | undefined): ConversationReference['conversation'] {
    if (thread && isChannelConversation(ref.conversation)) return { ...ref.conversation, id: threadConversationId(ref.conversation.id, thread) };
    return ref.conversation;
  }

  private whereOf(ref: StoredReference, where?: Where): Where {
    const tenant = where?.tenant ?? ref.conversation.tenantId;
    return {
      platform: 'teams',
      channel: baseConversationId(ref.conversation.id),
      ...(tenant ? { tenant } : {}),
      ...(where?.thread ? { thread: where.thread } : {}),
      serviceUrl: ref.serviceUrl,
      ...(where?.name ?? ref.conversation.name ? { name: where?.name ?? ref.conversation.name } : {}),
    };
  }

  private address<T extends object>(ref: StoredReference, conversation: ConversationReference['conversation'], activity: T) {
    return {
      ...activity,
      channelId: ref.channelId ?? 'msteams',
      serviceUrl: ref.serviceUrl,
      conversation,
      ...(ref.bot ? { from: ref.bot } : {}),
      ...(ref.user ? { recipient: ref.user } : {}),
    };
  }

  /** Sends one activity proactively; returns its id. */
  private async send(ref: StoredReference, thread: string | undefined, activity: RenderedActivity, what: string): Promise<string> {
    const conversation = this.conversationFor(ref, thread);
    let id = '';
    await this.run(ref, async (ctx) => {
      const outgoing = { ...this.address(ref, conversation, activity), ...(thread ? { replyToId: thread } : {}) };
      const [response] = await ctx.adapter.sendActivities(ctx, [outgoing]);
      id = response?.id ?? '';
    }, what);
    if (!id) {
      this.options.app.log.warn({ conversation: conversation.id }, 'Teams returned no message id; the message cannot be updated later');
      id = `unknown:${Date.now().toString(36)}`;
    }
    return id;
  }

  /** Runs logic in a proactive turn of a conversation, bounded in time, with errors mapped for the outbox. */
  private async run(ref: StoredReference, logic: (ctx: TurnContext) => Promise<void>, what: string, method = 'sendActivity'): Promise<void> {
    const reference = { ...ref, bot: ref.bot ?? { id: `28:${this.options.appId}`, name: 'tread' } } as Partial<ConversationReference>;
    // The adapter's onTurnError would swallow a failure inside the turn: carry it out instead.
    let failure: { error: unknown } | undefined;
    const guarded = async (ctx: TurnContext) => {
      try {
        await logic(ctx);
      } catch (error) {
        failure = { error };
      }
    };
    await this.pacer.run({ method, lanes: this.lanes(ref.conversation.id), priority: deliveryPriority() }, async () => {
      try {
        await withTimeout(this.options.adapter.continueConversationAsync(this.options.appId, reference, guarded), this.sendTimeoutMs, what);
      } catch (e) {
        throw mapConnectorError(e, what);
      }
      if (failure) throw mapConnectorError(failure.error, what);
    });
  }
}
