/** Teams activities -> tread's Inbound: text normalisation, commands, card actions, actor and conversation. Pure. */
import { z } from 'zod';
import type { ChatUser, Where } from '../../src/core/inbound.js';
import { DATE_SUFFIX, FORM_MARKER, TIME_SUFFIX } from './teams.render.js';

/** The parts of a Bot Framework activity the adapter reads (validated with zod; other fields pass through). */
export const activitySchema = z.looseObject({
  type: z.string(),
  id: z.string().optional(),
  name: z.string().optional(),
  text: z.string().optional(),
  replyToId: z.string().optional(),
  serviceUrl: z.string().optional(),
  channelId: z.string().optional(),
  value: z.unknown().optional(),
  from: z.looseObject({ id: z.string(), name: z.string().optional(), aadObjectId: z.string().optional() }).optional(),
  recipient: z.looseObject({ id: z.string(), name: z.string().optional() }).optional(),
  conversation: z.looseObject({
    id: z.string(),
    name: z.string().optional(),
    conversationType: z.string().optional(),
    tenantId: z.string().optional(),
    isGroup: z.boolean().optional(),
  }).optional(),
  entities: z.array(z.looseObject({ type: z.string().optional() })).optional(),
  channelData: z.looseObject({
    tenant: z.looseObject({ id: z.string().optional() }).optional(),
    team: z.looseObject({ id: z.string().optional(), name: z.string().optional(), aadGroupId: z.string().optional() }).optional(),
    channel: z.looseObject({ id: z.string().optional(), name: z.string().optional() }).optional(),
  }).optional(),
});

/** An activity as the adapter reads it. */
export type TeamsActivity = z.infer<typeof activitySchema>;

const THREAD_SEPARATOR = ';messageid=';

/** A channel conversation id without its reply-chain suffix (`19:x@thread.tacv2;messageid=1` -> `19:x@thread.tacv2`). */
export function baseConversationId(id: string): string {
  const at = id.indexOf(THREAD_SEPARATOR);
  return at >= 0 ? id.slice(0, at) : id;
}

/** The reply chain (root message id) of a channel conversation id, if any. */
export function threadOf(id: string): string | undefined {
  const at = id.indexOf(THREAD_SEPARATOR);
  return at >= 0 ? id.slice(at + THREAD_SEPARATOR.length) || undefined : undefined;
}

/** The conversation id of a reply chain in a channel. */
export function threadConversationId(base: string, thread: string): string {
  return `${baseConversationId(base)}${THREAD_SEPARATOR}${thread}`;
}

/** The person who sent an activity. Mapping uses the AAD object id (the Emulator has none: its user id is used). */
export function actorOf(activity: TeamsActivity): ChatUser {
  const from = activity.from;
  return { platform: 'teams', id: from?.aadObjectId ?? from?.id ?? 'unknown', ...(from?.name ? { displayName: from.name } : {}) };
}

/** Where an activity happened: tenant, channel (without reply chain), thread, the message acted on, service URL. */
export function whereOf(activity: TeamsActivity): Where {
  const conversationId = activity.conversation?.id ?? 'unknown';
  const thread = threadOf(conversationId);
  const tenant = activity.conversation?.tenantId ?? activity.channelData?.tenant?.id;
  const name = activity.channelData?.channel?.name ?? activity.conversation?.name;
  return {
    platform: 'teams',
    channel: baseConversationId(conversationId),
    ...(tenant ? { tenant } : {}),
    ...(thread ? { thread } : {}),
    ...(activity.type === 'invoke' && activity.replyToId ? { messageId: activity.replyToId } : {}),
    ...(activity.serviceUrl ? { serviceUrl: activity.serviceUrl } : {}),
    ...(name ? { name } : {}),
  };
}

/** A mention in a message, as Teams sends it in `entities`. */
export interface Mention {
  /** The text in the message, like `<at>Alice</at>`. */
  text: string;
  /** The channel account id (`29:…`, the bot's `28:…`). */
  id: string;
  name?: string;
  aadObjectId?: string;
  /** True when it mentions the bot itself. */
  isBot: boolean;
}

const mentionSchema = z.object({
  type: z.literal('mention'),
  text: z.string().optional(),
  mentioned: z.looseObject({ id: z.string(), name: z.string().optional(), aadObjectId: z.string().optional() }),
});

/** The mentions of an activity. */
export function mentionsOf(activity: TeamsActivity): Mention[] {
  const out: Mention[] = [];
  for (const entity of activity.entities ?? []) {
    const parsed = mentionSchema.safeParse(entity);
    if (!parsed.success) continue;
    const m = parsed.data;
    out.push({
      text: m.text ?? `<at>${m.mentioned.name ?? ''}</at>`,
      id: m.mentioned.id,
      ...(m.mentioned.name ? { name: m.mentioned.name } : {}),
      ...(m.mentioned.aadObjectId ? { aadObjectId: m.mentioned.aadObjectId } : {}),
      isBot: Boolean(activity.recipient && m.mentioned.id === activity.recipient.id),
    });
  }
  return out;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Decodes the HTML entities Teams puts in message text. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, code: string) => {
    if (code[0] === '#') {
      const n = code[1] === 'x' || code[1] === 'X' ? Number.parseInt(code.slice(2), 16) : Number.parseInt(code.slice(1), 10);
      return Number.isFinite(n) && n > 0 && n < 0x110000 ? String.fromCodePoint(n) : whole;
    }
    return ENTITIES[code.toLowerCase()] ?? whole;
  });
}

/**
 * Normalises message text for the command grammar: drops the bot's mention, turns other mentions into
 * `@<aadObjectId>` tokens (`tokens` maps a mention's text to its token), strips HTML and decodes entities.
 */
export function normalizeText(text: string, mentions: Mention[], tokens: Map<string, string> = new Map()): string {
  let out = text;
  const placeholders: string[] = [];
  for (const m of mentions) {
    const at = out.indexOf(m.text);
    if (at < 0) continue;
    const replacement = m.isBot ? ' ' : `\u0000${placeholders.push(tokens.get(m.text) ?? `@${m.name ?? m.id}`) - 1}\u0000`;
    out = out.slice(0, at) + replacement + out.slice(at + m.text.length);
  }
  // A leading mention without an entity (the Emulator, older clients) is the bot's.
  out = out.replace(/^\s*<at>[^<]*<\/at>/i, ' ');
  out = out.replace(/<at>([^<]*)<\/at>/gi, '@$1')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div)>/gi, '\n')
    .replace(/<[^>]+>/g, '');
  out = decodeEntities(out).replace(/\u00a0/g, ' ');
  out = out.replace(/\u0000(\d+)\u0000/g, (_, i: string) => placeholders[Number(i)] ?? '');
  return out.replace(/[ \t]+/g, ' ').replace(/ *\n */g, '\n').trim();
}

/** Splits normalised text into a command: `/incident Payment API down` -> {name: 'incident', text: 'Payment API down'}. */
export function parseCommand(text: string): { name: string; text: string } {
  const trimmed = text.trim().replace(/^\/+/, '');
  if (!trimmed) return { name: 'help', text: '' };
  const m = /^(\S+)\s*([\s\S]*)$/.exec(trimmed)!;
  return { name: m[1]!.toLowerCase(), text: m[2]!.trim() };
}

const cardActionSchema = z.object({
  action: z.looseObject({
    type: z.string().optional(),
    verb: z.string().min(1, 'the action has no verb'),
    data: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** A card button press or form submission, read from an `adaptiveCard/action` invoke (or an Action.Submit message). */
export interface CardAction {
  actionId: string;
  value: string;
  /** The form id when the action submitted a form. */
  formId?: string;
  formValues?: Record<string, string>;
}

/** Form values from Action.Execute data: everything but tread's own keys; date + time inputs joined. */
export function formValuesFrom(data: Record<string, unknown>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, raw] of Object.entries(data)) {
    if (key === 'value' || key === FORM_MARKER || key === 'msteams' || key === 'verb' || key === 'actionId') continue;
    if (raw === undefined || raw === null) continue;
    values[key] = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : JSON.stringify(raw);
  }
  for (const key of Object.keys(values)) {
    if (!key.endsWith(DATE_SUFFIX)) continue;
    const id = key.slice(0, -DATE_SUFFIX.length);
    const date = values[key]!;
    const time = values[`${id}${TIME_SUFFIX}`];
    delete values[key];
    delete values[`${id}${TIME_SUFFIX}`];
    values[id] = date && time ? `${date}T${time}` : date;
  }
  for (const key of Object.keys(values)) {
    if (!key.endsWith(TIME_SUFFIX)) continue;
    const id = key.slice(0, -TIME_SUFFIX.length);
    values[id] ??= values[key]!;
    delete values[key];
  }
  return values;
}

/** Reads an `adaptiveCard/action` invoke value; returns a sentence when it is not one. */
export function cardActionOf(value: unknown): CardAction | { error: string } {
  const parsed = cardActionSchema.safeParse(value);
  if (!parsed.success) return { error: `this card action is not one tread understands (${parsed.error.issues[0]?.message ?? 'bad value'})` };
  const data = parsed.data.action.data ?? {};
  const formId = typeof data[FORM_MARKER] === 'string' ? (data[FORM_MARKER] as string) : undefined;
  const raw = data.value;
  return {
    actionId: parsed.data.action.verb,
    value: typeof raw === 'string' ? raw : raw === undefined || raw === null ? '' : String(raw),
    ...(formId ? { formId, formValues: formValuesFrom(data) } : {}),
  };
}

/** An Action.Submit from an older client arrives as a message with `value` holding the data; read it as an action. */
export function submitActionOf(value: unknown): CardAction | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const data = value as Record<string, unknown>;
  const verb = typeof data.verb === 'string' ? data.verb : typeof data.actionId === 'string' ? data.actionId : undefined;
  if (!verb) return undefined;
  const result = cardActionOf({ action: { verb, data } });
  return 'error' in result ? undefined : result;
}

/** True when a conversation is a Teams channel (reply chains exist), not a personal or group chat. */
export function isChannelConversation(conversation: { id: string; conversationType?: string } | undefined): boolean {
  if (!conversation) return false;
  if (conversation.conversationType) return conversation.conversationType === 'channel';
  return /@thread\.(tacv2|skype)/.test(conversation.id);
}
