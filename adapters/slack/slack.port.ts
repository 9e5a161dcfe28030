/** The ChatPort for Slack: Web API calls, per-channel pacing, and Slack errors mapped to the dispatcher's error kinds. */
import { webApi } from '@slack/bolt';
import type { ChatPort, MessageRef, PersonAddress } from '../../src/core/chat-port.js';
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

/** Options of the Slack port. */
export interface SlackPortOptions {
  log: Logger;
  /** The bot's own user id (not invited to channels it creates). */
  botUserId?: string;
  /** Minimum gap between messages posted to one channel (Slack allows about one per second). */
  minIntervalMs?: number;
  /** Waits longer than this are handed back to the outbox as a RateLimitedError instead of sleeping. */
  maxInlineWaitMs?: number;
}

/** Slack user details looked up with users.info (cached). */
export interface SlackUserInfo {
  name?: string;
  email?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
  return new Error(`slack ${method}: ${err?.message ?? String(e)}`);
}

/** The outbound port to Slack. */
export class SlackChatPort implements ChatPort {
  readonly platform = 'slack' as const;
  private readonly nextSlot = new Map<string, number>();
  private readonly blockedUntil = new Map<string, number>();
  private readonly dmChannels = new Map<string, string>();
  private readonly createdChannels = new Map<string, Where>();
  private readonly users = new Map<string, { at: number; info: SlackUserInfo }>();
  private readonly minIntervalMs: number;
  private readonly maxInlineWaitMs: number;

  constructor(readonly web: WebClient, private readonly options: SlackPortOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.maxInlineWaitMs = options.maxInlineWaitMs ?? 3000;
  }

  /** Calls a Web API method; failures become RateLimitedError / PermanentChatError / Error. */
  async call<T = Record<string, unknown>>(method: string, args: Record<string, unknown>, rateKey = method): Promise<T> {
    const blocked = (this.blockedUntil.get(rateKey) ?? 0) - Date.now();
    if (blocked > 0) throw new RateLimitedError(blocked, `slack ${method}: still rate limited for ${blocked} ms`);
    try {
      return (await this.web.apiCall(method, args)) as unknown as T;
    } catch (e) {
      const mapped = mapSlackError(method, e);
      if (mapped instanceof RateLimitedError) this.blockedUntil.set(rateKey, Date.now() + mapped.retryAfterMs);
      throw mapped;
    }
  }

  /** Waits for the channel's next posting slot (about one message per second per channel). */
  private async pace(channel: string): Promise<void> {
    if (this.minIntervalMs <= 0) return;
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot.get(channel) ?? 0);
    const wait = slot - now;
    if (wait > this.maxInlineWaitMs) throw new RateLimitedError(wait, `slack: pacing channel ${channel}, next slot in ${wait} ms`);
    this.nextSlot.set(channel, slot + this.minIntervalMs);
    if (this.nextSlot.size > 10_000) for (const [k, v] of this.nextSlot) if (v < now) this.nextSlot.delete(k);
    if (wait > 0) await sleep(wait);
  }

  /** chat.postMessage with pacing; the ref carries the channel id Slack answers with. */
  async post(where: Where, message: Message): Promise<MessageRef> {
    await this.pace(where.channel);
    const args = { channel: where.channel, ...renderMessage(message), unfurl_links: false, unfurl_media: false, ...(where.thread ? { thread_ts: where.thread } : {}) };
    // chat:write.public lets tread post to public channels without joining; private ones need an invitation (not_in_channel).
    const res = await this.call<{ channel: string; ts: string }>('chat.postMessage', args, `chat.postMessage:${where.channel}`);
    return { where: { ...where, platform: 'slack', channel: res.channel ?? where.channel }, messageId: res.ts };
  }

  /** chat.update of a posted message. */
  async update(ref: MessageRef, message: Message): Promise<void> {
    await this.call('chat.update', { channel: ref.where.channel, ts: ref.messageId, ...renderMessage(message) }, `chat.update:${ref.where.channel}`);
  }

  /** conversations.open (cached) + chat.postMessage. */
  async dm(user: PersonAddress, message: Message): Promise<MessageRef> {
    let channel = this.dmChannels.get(user.userId);
    if (!channel) {
      const res = await this.call<{ channel: { id: string } }>('conversations.open', { users: user.userId });
      channel = res.channel.id;
      this.dmChannels.set(user.userId, channel);
    }
    return this.post({ platform: 'slack', channel, name: user.name ? `@${user.name}` : undefined }, message);
  }

  /** chat.postEphemeral. */
  async postEphemeral(where: Where, user: PersonAddress, message: Message): Promise<void> {
    await this.pace(where.channel);
    await this.call('chat.postEphemeral', { channel: where.channel, user: user.userId, ...renderMessage(message), ...(where.thread ? { thread_ts: where.thread } : {}) }, `chat.postEphemeral:${where.channel}`);
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
