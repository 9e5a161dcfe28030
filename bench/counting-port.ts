/** A chat port for benchmarks: counts what would be sent to chat and answers like a platform that accepts everything. */
import type { ChatPort, MessageRef } from '../src/core/chat-port.js';
import type { Where } from '../src/core/inbound.js';
import type { Message } from '../src/core/message.js';

export class CountingPort implements ChatPort {
  readonly platform = 'console' as const;
  posts = 0;
  updates = 0;
  other = 0;
  private seq = 0;
  async post(where: Where, _m: Message): Promise<MessageRef> { this.posts++; return { where, messageId: `m${++this.seq}` }; }
  async update(): Promise<void> { this.updates++; }
  async dm(user: { userId: string }): Promise<MessageRef> { this.other++; return { where: { platform: 'console', channel: `dm:${user.userId}` }, messageId: `d${++this.seq}` }; }
  async postEphemeral(): Promise<void> { this.other++; }
  async openForm(): Promise<void> { this.other++; }
  async createChannel(): Promise<Where> { throw new Error('not in the benchmark'); }
  async pin(): Promise<void> {}
  reset(): void { this.posts = 0; this.updates = 0; this.other = 0; }
}

