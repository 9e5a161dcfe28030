/**
 * The ChatPort for Slack: Web API calls paced the way Slack limits them, and Slack errors mapped to the dispatcher's
 * error kinds.
 *
 * Slack limits each Web API method per app per workspace (Tier 2: 20 a minute, Tier 3: 50, Tier 4: 100), and
 * chat.postMessage also to about one message per second in each channel, with short bursts. A 429's Retry-After stops
 * the whole method for the workspace, every channel (as Slack's own @slack/web-api pauses its queue), not only the
 * channel that got it. Calls of one method are not overlapped, so no call is already under way when a 429 arrives:
 * at Slack's latency that is still several posts a second, Slack's own workspace limit for chat.postMessage.
 */
import { webApi } from '@slack/bolt';
import type { ChatPort, MessageRef, PersonAddress } from '../../src/core/chat-port.js';
import { deliveryPriority } from '../../src/core/delivery/context.js';
import type { CallStats } from '../../src/core/delivery/metrics.js';
import { budgetsFor } from '../../src/core/delivery/delivery.config.js';
import { Pacer, type Budget, type Lane } from '../../src/core/delivery/pacer.js';
import { PermanentChatError, RateLimitedError } from '../../src/core/errors.js';
import type { Where } from '../../src/core/inbound.js';
import type { Logger } from '../../src/core/logger.js';
import type { Message } from '../../src/core/message.js';
import { renderMessage, renderModal, type FormMetadata, type ModalView } from './slack.render.js';

type WebClient = webApi.WebClient;

/** Slack error codes retrying cannot fix: the message goes to the dead letters at once. */
export const PERMANENT_ERRORS = new Set([
  'channel_not_found', 'not_in_channel', 'is_archived', 'channel_is_archived', 'invalid_blocks', 'invalid_blocks_format',
  'msg_too_long', 'no_text', 'too_many_attachments', 'cant_update_message', 'message_not_found', 'edit_window_closed',
  'user_not_found', 'users_not_found', 'user_not_in_channel', 'user_disabled', 'cannot_dm_bot', 'invalid_auth', 'not_authed',
  'account_inactive', 'token_revoked', 'token_expired', 'missing_scope', 'no_permission', 'restricted_action',
  'invalid_arguments', 'invalid_arg_name', 'not_allowed_token_type', 'ekm_access_denied', 'team_access_not_granted',
  'expired_trigger_id', 'invalid_trigger_id', 'exchanged_trigger_id', 'view_too_large', 'duplicate_external_id',
  'invalid_name', 'invalid_name_specials', 'invalid_name_punctuation', 'invalid_name_maxlength', 'invalid_name_required',
  'restricted_action_read_only_channel', 'restricted_action_thread_only_channel', 'restricted_action_non_threadable_channel',
  'method_not_supported_for_channel_type', 'not_pinnable', 'too_many_pins', 'is_bot', 'channel_type_not_supported',
]);

/** Hints appended to permanent errors people can fix. */
const HINTS: Record<string, string> = {
  not_in_channel: 'invite the tread app to the private channel (/invite @tread)',
  channel_not_found: 'check the channel in the config (a channel id like C0123, or #name of a public channel)',
  missing_scope: 'reinstall the app from manifest/slack/manifest.yaml so it has every scope it needs',
  invalid_auth: 'check SLACK_BOT_TOKEN',
  not_authed: 'check SLACK_BOT_TOKEN',
  token_revoked: 'the bot token was revoked: reinstall the app and update SLACK_BOT_TOKEN',
  expired_trigger_id: 'forms must open within 3 seconds of the command; try again',
};

/** Slack's "N per minute" (never more than N in any minute), in bursts of at most 5 a second. */
const perMinute = (limit: number): Budget[] => [{ limit, perMs: 60_000, window: true }, { limit: 1, perMs: 200, burst: 5 }];

/**
 * Slack's documented limits for the methods tread calls, per workspace: the tier of each method (Tier 2: 20 a minute,
 * Tier 3: 50, Tier 4: 100, "sporadic bursts welcome"), chat.postMessage's workspace-wide limit ("several hundred
 * messages a minute") and `channel`, one message per second in a channel with short bursts. The organisation file's
 * `delivery.slack` overrides them by name.
 */
export const SLACK_BUDGETS: Record<string, readonly Budget[]> = {
  'chat.postMessage': [{ limit: 600, perMs: 60_000, window: true }],
  channel: [{ limit: 1, perMs: 1000, burst: 3 }],
  'chat.update': perMinute(50), // Tier 3
  'chat.postEphemeral': perMinute(100), // Tier 4
  'conversations.open': perMinute(50), // Tier 3
  'conversations.create': perMinute(20), // Tier 2
  'conversations.invite': perMinute(50), // Tier 3
  'pins.add': perMinute(20), // Tier 2
  'views.open': perMinute(100), // Tier 4
  'users.info': perMinute(100), // Tier 4
};
/** A method not in the table: Tier 2, Slack's most common. */
const DEFAULT_METHOD_BUDGET = perMinute(20);

/** Options of the Slack port. */
export interface SlackPortOptions {
  log: Logger;
  /** The bot's own user id (not invited to channels it creates). */
  botUserId?: string;
  /** The workspace (team id) the token belongs to: Slack's limits are per workspace. */
  workspace?: string;
  /** Budgets by method name (and `channel`), over SLACK_BUDGETS. */
  budgets?: Record<string, readonly Budget[]>;
  /** Calls of one method in flight at once (default 1: none under way when a 429 arrives). */
  inFlightPerMethod?: number;
  /** Waits longer than this are handed back to the outbox as a RateLimitedError instead of sleeping (default 1500). */
  maxInlineWaitMs?: number;
  /** A call in flight this long no longer holds back the next call of its method (default 1000). */
  stallMs?: number;
  /** Where calls are counted for /metrics. */
  stats?: CallStats;
}

/** Slack user details looked up with users.info (cached). */
export interface SlackUserInfo {
  name?: string;
  email?: string;
}

/** A lower-case Slack channel name from free text: `inc-7-payment-api-down`, at most 80 characters. */
export function channelName(name: string): string {
  const cleaned = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/^#/, '').replace(/[^a-z0-9_-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[-_]+|[-_]+$/g, '');
  return (cleaned || 'tread').slice(0, 80).replace(/[-_]+$/g, '');
}

/** Maps a Web API failure to RateLimitedError, PermanentChatError, or a retryable Error. */
export function mapSlackError(method: string, e: unknown): Error {
  const err = e as { code?: string; retryAfter?: number; data?: { error?: string; response_metadata?: { messages?: string[] } }; statusCode?: number; message?: string };
  if (err?.code === webApi.ErrorCode.RateLimitedError) return new RateLimitedError(Math.max(1, err.retryAfter ?? 1) * 1000, `slack ${method}: rate limited, retry after ${err.retryAfter}s`);
  if (err?.code === webApi.ErrorCode.PlatformError) {
    const code = err.data?.error ?? 'unknown_error';
    if (code === 'ratelimited' || code === 'rate_limited') return new RateLimitedError(30_000, `slack ${method}: ${code}`);
    const detail = err.data?.response_metadata?.messages?.join('; ');
    const text = `slack ${method}: ${code}${detail ? ` (${detail})` : ''}${HINTS[code] ? `: ${HINTS[code]}` : ''}`;
    return PERMANENT_ERRORS.has(code) ? new PermanentChatError(text) : new Error(text);
  }
  if (err?.code === webApi.ErrorCode.HTTPError) return new Error(`slack ${method}: HTTP ${err.statusCode}`);
  // A 429 without a usable Retry-After: wait a while.
  if (/rate limit|Retry header/i.test(err?.message ?? '')) return new RateLimitedError(30_000, `slack ${method}: ${err?.message}`);
  return new Error(`slack ${method}: ${err?.message ?? String(e)}${requestCause(e)}`);
}

/** Why a request failed below HTTP (` (ECONNREFUSED)`, ` (timeout of 10000ms exceeded)`), from the error's causes. */
function requestCause(e: unknown): string {
  const seen: string[] = [];
  let cur = (e as { original?: unknown; cause?: unknown })?.original ?? (e as { cause?: unknown })?.cause;
  for (let depth = 0; cur && depth < 4; depth++) {
    const c = cur as { code?: unknown; message?: unknown; original?: unknown; cause?: unknown };
    const part = typeof c.code === 'string' ? c.code : typeof c.message === 'string' ? c.message : undefined;
    if (part && !seen.includes(part)) seen.push(part);
    cur = c.original ?? c.cause;
  }
  return seen.length ? ` (${seen.join(': ').slice(0, 200)})` : '';
}

/** The outbound port to Slack. */
export class SlackChatPort implements ChatPort {
  readonly platform = 'slack' as const;
  /** Slack's limits as this port keeps them (one per workspace). */
  readonly pacer: Pacer;
  private readonly budgets: Record<string, readonly Budget[]>;
  private readonly dmChannels = new Map<string, string>();
  private readonly createdChannels = new Map<string, Where>();
  private readonly users = new Map<string, { at: number; info: SlackUserInfo }>();

  constructor(readonly web: WebClient, private readonly options: SlackPortOptions) {
    this.budgets = budgetsFor(SLACK_BUDGETS, options.budgets);
    this.pacer = new Pacer('slack', { maxInlineWaitMs: options.maxInlineWaitMs, stallMs: options.stallMs, stats: options.stats });
  }

  /** The lanes a call goes through: its method for the workspace, and for chat.postMessage its channel too. */
  lanes(method: string, channel?: string): Lane[] {
    const workspace = this.options.workspace ?? 'workspace';
    const lanes: Lane[] = [{
      key: `${workspace}:${method}`, budgets: this.budgets[method] ?? DEFAULT_METHOD_BUDGET, retryAfterScope: true,
      maxInFlight: this.options.inFlightPerMethod ?? 1,
    }];
    if (method === 'chat.postMessage' && channel) lanes.push({ key: `${workspace}:${method}:${channel}`, budgets: this.budgets.channel ?? [] });
    return lanes;
  }

  /**
   * Calls a Web API method within Slack's limits (a long wait or a Retry-After window throws RateLimitedError without
   * calling); failures become RateLimitedError / PermanentChatError / Error.
   */
  async call<T = Record<string, unknown>>(method: string, args: Record<string, unknown>, channel?: string): Promise<T> {
    return this.pacer.run({ method, lanes: this.lanes(method, channel), priority: deliveryPriority() }, async () => {
      try {
        return (await this.web.apiCall(method, args)) as unknown as T;
      } catch (e) {
        throw mapSlackError(method, e);
      }
    });
  }

  /** chat.postMessage; the ref carries the channel id Slack answers with. */
  async post(where: Where, message: Message): Promise<MessageRef> {
    const args = { channel: where.channel, ...renderMessage(message), unfurl_links: false, unfurl_media: false, ...(where.thread ? { thread_ts: where.thread } : {}) };
    // chat:write.public lets tread post to public channels without joining; private ones need an invitation (not_in_channel).
    const res = await this.call<{ channel: string; ts: string }>('chat.postMessage', args, this.dmChannels.get(where.channel) ?? where.channel);
    return { where: { ...where, platform: 'slack', channel: res.channel ?? where.channel }, messageId: res.ts };
  }

  /** chat.update of a posted message. */
  async update(ref: MessageRef, message: Message): Promise<void> {
    await this.call('chat.update', { channel: ref.where.channel, ts: ref.messageId, ...renderMessage(message) });
  }

  /**
   * chat.postMessage to the person's user id, which Slack delivers in their direct messages with the app (no
   * conversations.open, a Tier 3 method, before the first page to someone). The DM channel Slack answers with is
   * remembered for pacing. A workspace that refuses a user id as the channel gets conversations.open instead.
   */
  async dm(user: PersonAddress, message: Message): Promise<MessageRef> {
    const name = user.name ? `@${user.name}` : undefined;
    const known = this.dmChannels.get(user.userId);
    if (known) return this.post({ platform: 'slack', channel: known, ...(name ? { name } : {}) }, message);
    try {
      const ref = await this.post({ platform: 'slack', channel: user.userId, ...(name ? { name } : {}) }, message);
      if (ref.where.channel !== user.userId) this.dmChannels.set(user.userId, ref.where.channel);
      return ref;
    } catch (e) {
      if (!(e instanceof PermanentChatError && /channel_not_found/.test(e.message))) throw e;
      const res = await this.call<{ channel: { id: string } }>('conversations.open', { users: user.userId });
      this.dmChannels.set(user.userId, res.channel.id);
      return this.post({ platform: 'slack', channel: res.channel.id, ...(name ? { name } : {}) }, message);
    }
  }

  /** chat.postEphemeral. */
  async postEphemeral(where: Where, user: PersonAddress, message: Message): Promise<void> {
    await this.call('chat.postEphemeral', { channel: where.channel, user: user.userId, ...renderMessage(message), ...(where.thread ? { thread_ts: where.thread } : {}) });
  }

  /** views.open with the trigger of a command or button press. */
  async openForm(trigger: string, form: Message): Promise<void> {
    await this.openModal(trigger, renderModal(form));
  }

  /** views.open with a rendered modal (the adapter adds the origin channel to its metadata). */
  async openModal(trigger: string, view: ModalView): Promise<void> {
    await this.call('views.open', { trigger_id: trigger, view });
  }

  /** Renders and opens a form that remembers where it was opened. */
  async openFormAt(trigger: string, form: Message, meta: FormMetadata): Promise<void> {
    await this.openModal(trigger, renderModal(form, meta));
  }

  /** conversations.create (suffix on name_taken) + conversations.invite. */
  async createChannel(name: string, members: PersonAddress[]): Promise<Where> {
    const base = channelName(name);
    const known = this.createdChannels.get(base);
    let where = known;
    for (let attempt = 1; !where && attempt <= 20; attempt++) {
      const suffix = attempt === 1 ? '' : `-${attempt}`;
      const candidate = `${base.slice(0, 80 - suffix.length).replace(/[-_]+$/, '')}${suffix}`;
      try {
        const res = await this.call<{ channel: { id: string; name?: string } }>('conversations.create', { name: candidate, is_private: false });
        where = { platform: 'slack', channel: res.channel.id, name: `#${res.channel.name ?? candidate}` };
      } catch (e) {
        if (!(e instanceof PermanentChatError) && /name_taken/.test((e as Error).message)) continue;
        throw e;
      }
    }
    if (!where) throw new PermanentChatError(`slack conversations.create: every name from ${base} to ${base}-20 is taken`);
    // Remembered so a retry after a later failure (posting the card) does not create a second channel.
    this.createdChannels.set(base, where);
    const users = [...new Set(members.filter((m) => m.platform === 'slack').map((m) => m.userId))].filter((u) => u !== this.options.botUserId);
    if (users.length > 0) {
      try {
        await this.call('conversations.invite', { channel: where.channel, users: users.join(','), force: true });
      } catch (e) {
        // The channel exists; a failed invitation must not make the outbox create another one.
        if (!/already_in_channel|cant_invite_self/.test((e as Error).message)) this.options.log.warn({ err: (e as Error).message, channel: where.channel }, 'slack: could not invite every member');
      }
    }
    return where;
  }

  /** pins.add (already pinned is fine). */
  async pin(ref: MessageRef): Promise<void> {
    try {
      await this.call('pins.add', { channel: ref.where.channel, timestamp: ref.messageId });
    } catch (e) {
      if (!/already_pinned/.test((e as Error).message)) throw e;
    }
  }

  /** users.info, cached for ten minutes; undefined when Slack does not answer. */
  async userInfo(userId: string): Promise<SlackUserInfo | undefined> {
    const cached = this.users.get(userId);
    if (cached && Date.now() - cached.at < 600_000) return cached.info;
    try {
      const res = await this.call<{ user?: { name?: string; real_name?: string; profile?: { display_name?: string; real_name?: string; email?: string } } }>('users.info', { user: userId });
      const p = res.user?.profile;
      const info: SlackUserInfo = { name: p?.display_name || p?.real_name || res.user?.real_name || res.user?.name, email: p?.email };
      this.users.set(userId, { at: Date.now(), info });
      if (this.users.size > 10_000) this.users.delete(this.users.keys().next().value!);
      return info;
    } catch (e) {
      this.options.log.warn({ err: (e as Error).message, userId }, 'slack: users.info failed');
      return undefined;
    }
  }
}
