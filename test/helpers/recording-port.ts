/** A recording ChatPort test double shared by the workflow tests: it records every call instead of sending it. */
import { randomBytes } from 'node:crypto';
import type { ChatPort, MessageRef, PersonAddress } from '../../src/core/chat-port.js';
import { UnsupportedError } from '../../src/core/errors.js';
import type { Platform, Where } from '../../src/core/inbound.js';
import type { Message } from '../../src/core/message.js';

/** One recorded ChatPort call. */
export interface PortCall {
  method: 'post' | 'update' | 'dm' | 'ephemeral' | 'form' | 'pin' | 'channel';
  where?: Where;
  user?: string;
  members?: string[];
  name?: string;
  message?: Message;
  messageId?: string;
}

/** A ChatPort that records every call. With `channels`, it can create channels (like Slack); otherwise it says it cannot. */
export class RecordingPort implements ChatPort {
  readonly calls: PortCall[] = [];
  private seq = 0;
  private readonly prefix = randomBytes(3).toString('hex');

  constructor(readonly platform: Platform = 'console', private readonly channels = false) {}

  private id(): string {
    return `${this.prefix}-${++this.seq}`;
  }
  async post(where: Where, message: Message): Promise<MessageRef> {
    const messageId = this.id();
    this.calls.push({ method: 'post', where, message, messageId });
    return { where, messageId };
  }
  async update(ref: MessageRef, message: Message): Promise<void> {
    this.calls.push({ method: 'update', where: ref.where, message, messageId: ref.messageId });
  }
  async dm(user: PersonAddress, message: Message): Promise<MessageRef> {
    const messageId = this.id();
    const where: Where = { platform: this.platform, channel: `dm:${user.userId}` };
    this.calls.push({ method: 'dm', user: user.userId, where, message, messageId });
    return { where, messageId };
  }
  async postEphemeral(where: Where, user: PersonAddress, message: Message): Promise<void> {
    this.calls.push({ method: 'ephemeral', where, user: user.userId, message });
  }
  async openForm(_trigger: string, form: Message): Promise<void> {
    this.calls.push({ method: 'form', message: form });
  }
  async createChannel(name: string, members: PersonAddress[]): Promise<Where> {
    if (!this.channels) throw new UnsupportedError('createChannel', `This test port cannot create channels (it would have created #${name}).`);
    const channel = `CH-${name}`;
    this.calls.push({ method: 'channel', name, members: members.map((m) => m.userId), where: { platform: this.platform, channel } });
    return { platform: this.platform, channel, name };
  }
  async pin(ref: MessageRef): Promise<void> {
    this.calls.push({ method: 'pin', where: ref.where, messageId: ref.messageId });
  }
  /** Calls of one method, optionally filtered. */
  of(method: PortCall['method'], filter: (c: PortCall) => boolean = () => true): PortCall[] {
    return this.calls.filter((c) => c.method === method && filter(c));
  }
  /** Texts of everything posted (titles and texts), for assertions. */
  texts(method: PortCall['method'] = 'post'): string[] {
    return this.of(method).map((c) => messageText(c.message));
  }
  /** Calls about one subject (`GRP-1`), optionally of one method. */
  about(subject: string, method?: PortCall['method']): PortCall[] {
    return this.calls.filter((c) => c.message?.subject === subject && (!method || c.method === method));
  }
  /** Direct messages, optionally to one person. */
  dms(user?: string): PortCall[] {
    return this.calls.filter((c) => c.method === 'dm' && (!user || c.user === user));
  }
}

/** Title, text, fields and context of a message as one string. */
export function messageText(m: Message | undefined): string {
  if (!m) return '';
  return [m.title, m.text, ...(m.fields ?? []).map((f) => `${f.label}: ${f.value}`), m.context].filter(Boolean).join('\n');
}
