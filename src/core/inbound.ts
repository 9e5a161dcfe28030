/** What adapters hand to the core, and what the core answers. */
import type { Message } from './message.js';

/** A chat platform, or another source of a change. */
export type Platform = 'slack' | 'teams' | 'console';
/** Where a change came from: a chat platform, the REST API or the scheduler. */
export type Source = Platform | 'api' | 'scheduler' | 'webhook';

/** A chat user as the platform knows them. Mapping to a person uses `platformUserId` only. */
export interface ChatUser {
  platform: Platform;
  /** Slack user id, Teams AAD object id, or the console handle. */
  id: string;
  displayName?: string;
  email?: string;
}

/** A conversation (and optionally a thread or a message inside it). */
export interface Where {
  platform: Platform;
  /** Slack team id, Teams tenant id. */
  tenant?: string;
  /** Slack channel id, Teams conversation id, console: 'console'. */
  channel: string;
  /** Slack thread ts, Teams reply chain id. */
  thread?: string;
  /** The message the action was taken on (Slack ts, Teams activity id). */
  messageId?: string;
  /** Teams: the service URL of the conversation. */
  serviceUrl?: string;
  /** A human name for logs and notes, like `#ops` or `console`. */
  name?: string;
}

interface InboundBase {
  actor: ChatUser;
  where: Where;
  /** Platform delivery id (Slack trigger_id/event_id/envelope id, Teams activity id, console sequence). */
  deliveryId: string;
  /** Opaque platform handle needed to open a form (Slack trigger_id). */
  trigger?: string;
}

/** A typed command such as `/incident resolve INC-1 done`: name `incident`, text `resolve INC-1 done`. */
export interface CommandInbound extends InboundBase {
  kind: 'command';
  name: string;
  text: string;
}

/** A button press or a form submission. */
export interface ActionInbound extends InboundBase {
  kind: 'action';
  actionId: string;
  value: string;
  formValues?: Record<string, string>;
}

export type Inbound = CommandInbound | ActionInbound;

/** The immediate answer to the person who acted. */
export type Reply =
  | { kind: 'none' }
  /** Seen only by the actor (Slack ephemeral, Teams reply, console print). */
  | { kind: 'ephemeral'; message: Message }
  /** Open a form (Slack modal, Teams card with inputs, console prompts). */
  | { kind: 'form'; form: Message }
  /** A submitted form had errors: input id -> sentence. */
  | { kind: 'form_errors'; errors: Record<string, string>; form: Message }
  /** The refreshed card after a button press (Teams answers the invoke with it). */
  | { kind: 'card'; message: Message; notice?: Message };

/** An ephemeral reply with text. */
export function say(text: string): Reply {
  return { kind: 'ephemeral', message: { text } };
}
