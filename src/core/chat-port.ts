/** The outbound side of a chat platform. Every adapter implements every method or throws UnsupportedError. */
import type { ChatUser, Platform, Where } from './inbound.js';
import type { Message } from './message.js';

/** A message the platform has stored: where it is and its id (Slack ts, Teams activity id). */
export interface MessageRef {
  where: Where;
  messageId: string;
}

/** A person's address on one platform. */
export interface PersonAddress {
  platform: Platform;
  /** Slack user id, Teams AAD object id, console handle. */
  userId: string;
  name?: string;
}

/** The outbound port to one chat platform. */
export interface ChatPort {
  readonly platform: Platform;
  /** Post a message to a conversation (in `where.thread` when set). */
  post(where: Where, message: Message): Promise<MessageRef>;
  /** Replace a posted message in place. */
  update(ref: MessageRef, message: Message): Promise<void>;
  /** Send a direct message. */
  dm(user: PersonAddress, message: Message): Promise<MessageRef>;
  /** Show a message only to one user in a conversation. */
  postEphemeral(where: Where, user: PersonAddress, message: Message): Promise<void>;
  /** Open a form for the user who triggered `trigger` (Slack trigger_id). */
  openForm(trigger: string, form: Message): Promise<void>;
  /** Create a channel and invite members; returns where it is. */
  createChannel(name: string, members: PersonAddress[]): Promise<Where>;
  /** Pin a message in its conversation. */
  pin(ref: MessageRef): Promise<void>;
}

export type { ChatUser };
