/** Pure parsing of Slack payloads (slash commands, block_actions, view_submission, events) into core Inbound objects. */
import { z } from 'zod';
import type { ActionInbound, ChatUser, CommandInbound, Where } from '../../src/core/inbound.js';
import { baseActionId, type FormMetadata } from './slack.render.js';

/** A Slack payload that does not have the shape its type promises; the HTTP route answers 400 with the issues. */
export class SlackPayloadError extends Error {
  override readonly name = 'SlackPayloadError';
  readonly code = 'slack.bad_payload';
  constructor(message: string, readonly issues: { path: string; message: string }[] = []) {
    super(message);
  }
}

const id = z.string().min(1);

/** A slash command (form-encoded; every value a string). */
export const commandSchema = z.object({
  command: z.string().regex(/^\/[^\s/]+$/, 'a slash command like /incident'),
  text: z.string().default(''),
  user_id: id,
  user_name: z.string().optional(),
  channel_id: id,
  channel_name: z.string().optional(),
  team_id: z.string().optional(),
  trigger_id: id,
  response_url: z.url().optional(),
});

const userSchema = z.object({ id, username: z.string().optional(), name: z.string().optional(), team_id: z.string().optional() });
const teamSchema = z.object({ id: z.string() }).nullish();

const actionSchema = z.object({
  action_id: id,
  block_id: z.string().optional(),
  type: z.string(),
  value: z.string().optional(),
  selected_option: z.object({ value: z.string() }).nullish(),
  selected_user: z.string().nullish(),
  selected_date: z.string().nullish(),
  selected_date_time: z.number().nullish(),
});

/** A button press (or select) on a message. */
export const blockActionsSchema = z.object({
  type: z.literal('block_actions'),
  user: userSchema,
  team: teamSchema,
  trigger_id: id,
  response_url: z.url().optional(),
  channel: z.object({ id, name: z.string().optional() }).nullish(),
  container: z.object({ type: z.string(), message_ts: z.string().optional(), channel_id: z.string().optional(), is_ephemeral: z.boolean().optional(), view_id: z.string().optional() }).optional(),
  message: z.object({ ts: id, thread_ts: z.string().optional() }).loose().optional(),
  view: z.object({ id: z.string() }).loose().optional(),
  actions: z.array(actionSchema).min(1, 'a block_actions payload has at least one action'),
});

const stateValueSchema = z.object({
  type: z.string(),
  value: z.string().nullish(),
  selected_option: z.object({ value: z.string() }).nullish(),
  selected_user: z.string().nullish(),
  selected_conversation: z.string().nullish(),
  selected_date: z.string().nullish(),
  selected_time: z.string().nullish(),
  selected_date_time: z.number().nullish(),
  selected_options: z.array(z.object({ value: z.string() })).nullish(),
  selected_users: z.array(z.string()).nullish(),
}).loose();

/** A submitted modal. */
export const viewSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  user: userSchema,
  team: teamSchema,
  trigger_id: z.string().optional(),
  view: z.object({
    id: id,
    callback_id: id,
    private_metadata: z.string().default(''),
    blocks: z.array(z.unknown()).default([]),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), stateValueSchema)) }),
  }).loose(),
});

const messageEventSchema = z.object({
  type: z.enum(['app_mention', 'message']),
  user: z.string().optional(),
  text: z.string().default(''),
  channel: z.string().optional(),
  channel_type: z.string().optional(),
  ts: z.string().optional(),
  thread_ts: z.string().optional(),
  bot_id: z.string().optional(),
  subtype: z.string().optional(),
}).loose();

/** An Events API callback. */
export const eventCallbackSchema = z.object({
  type: z.literal('event_callback'),
  event_id: id,
  team_id: z.string().optional(),
  event: z.object({ type: id }).loose(),
});

export type CommandBody = z.infer<typeof commandSchema>;
export type BlockActionsBody = z.infer<typeof blockActionsSchema>;
export type ViewSubmissionBody = z.infer<typeof viewSubmissionSchema>;
export type MessageEvent = z.infer<typeof messageEventSchema>;

/** A Slack body classified: what tread does with it. */
export type SlackBody =
  | { kind: 'command'; body: CommandBody }
  | { kind: 'block_actions'; body: BlockActionsBody }
  | { kind: 'view_submission'; body: ViewSubmissionBody }
  | { kind: 'message'; eventId: string; team?: string; event: MessageEvent & { user: string; channel: string; ts: string } }
  /** Known to Slack, nothing for tread to do (view_closed, shortcuts, other events): acknowledged and dropped. */
  | { kind: 'ignore'; reason: string };

/** Payload `type`s Slack sends that tread acknowledges without acting. */
const IGNORED_TYPES = new Set(['view_closed', 'shortcut', 'message_action', 'block_suggestion', 'interactive_message', 'dialog_submission', 'dialog_cancellation', 'app_rate_limited', 'workflow_step_edit']);

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
}

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issues = issuesOf(r.error);
    throw new SlackPayloadError(`malformed ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return r.data;
}

/** Validates and classifies a parsed Slack body; throws SlackPayloadError for a malformed one. */
export function classifyBody(body: unknown): SlackBody {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new SlackPayloadError('the body is not a Slack payload object');
  const b = body as Record<string, unknown>;
  if (b.command !== undefined) return { kind: 'command', body: parse(commandSchema, b, 'slash command') };
  const type = typeof b.type === 'string' ? b.type : undefined;
  if (type === 'block_actions') return { kind: 'block_actions', body: parse(blockActionsSchema, b, 'block_actions payload') };
  if (type === 'view_submission') return { kind: 'view_submission', body: parse(viewSubmissionSchema, b, 'view_submission payload') };
  if (type === 'event_callback') {
    const cb = parse(eventCallbackSchema, b, 'event callback');
    if (cb.event.type !== 'app_mention' && cb.event.type !== 'message') return { kind: 'ignore', reason: `event ${cb.event.type}` };
    const event = parse(messageEventSchema, cb.event, `${cb.event.type} event`);
    // Bots (tread itself included), edits and joins are not commands.
    if (event.bot_id || event.subtype) return { kind: 'ignore', reason: `${event.type} from a bot or with subtype ${event.subtype}` };
    if (event.type === 'message' && event.channel_type !== 'im') return { kind: 'ignore', reason: 'channel message without a mention' };
    if (!event.user || !event.channel || !event.ts) {
      throw new SlackPayloadError(`malformed ${event.type} event: user, channel and ts are required`, [{ path: 'event', message: 'user, channel and ts are required' }]);
    }
    return { kind: 'message', eventId: cb.event_id, team: cb.team_id, event: { ...event, user: event.user, channel: event.channel, ts: event.ts } };
  }
  if (type && IGNORED_TYPES.has(type)) return { kind: 'ignore', reason: type };
  const issue = { path: type ? 'type' : '(body)', message: type ? `unsupported payload type "${type}"` : 'no command and no type' };
  throw new SlackPayloadError(`not a Slack payload tread understands (${issue.message}): expected a slash command, block_actions, view_submission or an event callback`, [issue]);
}

/** Slack's text -> tread's command text: bot mention removed, `<@U1|bob>` -> `@U1`, links unwrapped, entities unescaped. */
export function normaliseText(text: string, botUserId?: string): string {
  let t = text;
  if (botUserId) t = t.split(new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`, 'g')).join(' ');
  t = t.replace(/<([^<>]*)>/g, (_, inner: string) => {
    const bar = inner.indexOf('|');
    const target = bar < 0 ? inner : inner.slice(0, bar);
    const label = bar < 0 ? undefined : inner.slice(bar + 1);
    if (target.startsWith('@')) return `@${target.slice(1)}`;
    if (target.startsWith('#')) return `#${label || target.slice(1)}`;
    if (target.startsWith('!')) {
      const special = target.slice(1);
      if (special === 'here' || special === 'channel' || special === 'everyone') return `@${special}`;
      if (special.startsWith('subteam^')) return label || `@${special.slice('subteam^'.length)}`;
      return label ?? '';
    }
    if (target.startsWith('mailto:')) return target.slice('mailto:'.length);
    return target;
  });
  return t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').replace(/[ \t]{2,}/g, ' ').trim();
}

/** The actor of a payload. */
function actorOf(user: { id: string; name?: string; username?: string }, displayName?: string): ChatUser {
  const name = displayName ?? user.name ?? user.username;
  return { platform: 'slack', id: user.id, ...(name ? { displayName: name } : {}) };
}

/** A slash command as a core command. */
export function commandInbound(body: CommandBody, options: { botUserId?: string; deliveryId?: string } = {}): CommandInbound {
  const where: Where = { platform: 'slack', channel: body.channel_id, ...(body.team_id ? { tenant: body.team_id } : {}), ...(body.channel_name ? { name: channelLabel(body.channel_name) } : {}) };
  return {
    kind: 'command',
    name: body.command.replace(/^\//, '').toLowerCase(),
    text: normaliseText(body.text, options.botUserId),
    actor: { platform: 'slack', id: body.user_id, ...(body.user_name ? { displayName: body.user_name } : {}) },
    where,
    deliveryId: options.deliveryId ?? body.trigger_id,
    trigger: body.trigger_id,
  };
}

function channelLabel(name: string): string {
  return name === 'directmessage' || name === 'privategroup' ? name : `#${name}`;
}

/** The value of one action element (button value, selected option, user, date). */
function actionValue(a: z.infer<typeof actionSchema>): string {
  if (a.value !== undefined) return a.value;
  if (a.selected_option) return a.selected_option.value;
  if (a.selected_user) return `@${a.selected_user}`;
  if (a.selected_date) return a.selected_date;
  if (typeof a.selected_date_time === 'number') return new Date(a.selected_date_time * 1000).toISOString();
  return '';
}

/** A button press as a core action; `where` is the pressed message (channel + ts). */
export function blockActionInbound(body: BlockActionsBody, options: { deliveryId?: string } = {}): ActionInbound {
  const action = body.actions[0]!;
  const channel = body.channel?.id ?? body.container?.channel_id ?? body.user.id;
  const messageId = body.message?.ts ?? body.container?.message_ts;
  const where: Where = {
    platform: 'slack', channel,
    ...(body.team?.id ? { tenant: body.team.id } : {}),
    ...(messageId ? { messageId } : {}),
    ...(body.message?.thread_ts && body.message.thread_ts !== messageId ? { thread: body.message.thread_ts } : {}),
    ...(body.channel?.name ? { name: channelLabel(body.channel.name) } : {}),
  };
  return {
    kind: 'action',
    actionId: baseActionId(action.action_id),
    value: actionValue(action),
    actor: actorOf(body.user),
    where,
    deliveryId: options.deliveryId ?? body.trigger_id,
    trigger: body.trigger_id,
  };
}

/** Reads a modal's private_metadata (tolerates a bare string, the value alone). */
export function decodeMetadata(raw: string): FormMetadata {
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const o = parsed as Record<string, unknown>;
      return {
        ...(typeof o.v === 'string' ? { v: o.v } : {}),
        ...(typeof o.c === 'string' ? { c: o.c } : {}),
        ...(typeof o.t === 'string' ? { t: o.t } : {}),
      };
    }
  } catch {
    // Not ours: treat it as the value.
  }
  return { v: raw };
}

/** The submitted values of a modal: block id -> string (users as `@U…`, datetimes as ISO 8601). Empty inputs are left out. */
export function formValuesOf(body: ViewSubmissionBody): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [blockId, actions] of Object.entries(body.view.state.values)) {
    for (const v of Object.values(actions)) {
      const value = v.value ?? v.selected_option?.value ?? (v.selected_user ? `@${v.selected_user}` : undefined)
        ?? v.selected_conversation ?? v.selected_date ?? v.selected_time
        ?? (typeof v.selected_date_time === 'number' ? new Date(v.selected_date_time * 1000).toISOString() : undefined)
        ?? (v.selected_options ? v.selected_options.map((o) => o.value).join(',') : undefined)
        ?? (v.selected_users ? v.selected_users.map((u) => `@${u}`).join(' ') : undefined);
      if (value !== undefined && value !== null && value !== '') out[blockId] = value;
    }
  }
  return out;
}

/** A modal submission as a core action: the submit actionId is the view's callback_id, its value in private_metadata. */
export function viewSubmissionInbound(body: ViewSubmissionBody, options: { deliveryId?: string } = {}): ActionInbound {
  const meta = decodeMetadata(body.view.private_metadata);
  const where: Where = {
    platform: 'slack',
    // Without an origin channel, replies go to the user's DM with the app.
    channel: meta.c ?? body.user.id,
    ...(body.team?.id ? { tenant: body.team.id } : {}),
    ...(meta.t ? { thread: meta.t } : {}),
  };
  return {
    kind: 'action',
    actionId: body.view.callback_id,
    value: meta.v ?? '',
    formValues: formValuesOf(body),
    actor: actorOf(body.user),
    where,
    deliveryId: options.deliveryId ?? body.trigger_id ?? `view:${body.view.id}:${body.view.hash ?? ''}`,
    ...(body.trigger_id ? { trigger: body.trigger_id } : {}),
  };
}

/** A mention of the bot (`@tread incident DB down`) or a DM to it, as a core command: first word is the command. */
export function messageInbound(parsed: Extract<SlackBody, { kind: 'message' }>, options: { botUserId?: string; deliveryId?: string } = {}): CommandInbound {
  const text = normaliseText(parsed.event.text, options.botUserId).replace(/^\//, '');
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  const first = m?.[1];
  const where: Where = {
    platform: 'slack', channel: parsed.event.channel,
    ...(parsed.team ? { tenant: parsed.team } : {}),
    ...(parsed.event.thread_ts ? { thread: parsed.event.thread_ts } : {}),
  };
  return {
    kind: 'command',
    name: (first || 'tread').toLowerCase(),
    text: first ? m![2]!.trim() : 'help',
    actor: { platform: 'slack', id: parsed.event.user },
    where,
    deliveryId: options.deliveryId ?? parsed.eventId,
  };
}
