/**
 * What one outbox row does through the chat ports: post a card and record it, refresh every card of a record, announce
 * in their threads, message a person on every platform, create a record's channel. Progress (cards already updated,
 * threads already announced in, platforms already messaged) is kept in `done`, so a row that is retried, or sent back
 * to wait for a rate limit half-way, does not repeat what already went out.
 */
import type { AppContext } from '../app.js';
import type { ChatPort, MessageRef } from '../chat-port.js';
import { PermanentChatError, persistThroughOutage, UnsupportedError } from '../errors.js';
import { addressesOf, findPerson } from '../identity.js';
import type { Platform, Where } from '../inbound.js';
import type { Message } from '../message.js';
import type { OutboxPayload } from '../outbox.js';
import { cardsOf, channelOf, forgetCard, rememberCard, type Card } from './cards.js';

/** How long recording a sent message (its platform id) keeps trying through a database outage. */
const REMEMBER_WITHIN_MS = 60_000;

/** Sends payloads through the ports of the platforms that are on. */
export class Sender {
  constructor(private readonly app: AppContext, private readonly ports: Map<Platform, ChatPort>) {}

  private port(platform: string): ChatPort | undefined {
    return this.ports.get(platform as Platform);
  }

  private get platforms(): ReadonlySet<string> {
    return new Set(this.ports.keys());
  }

  /** Sends one payload. Returns what to store as the row's result. */
  async send(p: OutboxPayload, done: Set<string>): Promise<Record<string, unknown> | undefined> {
    switch (p.kind) {
      case 'post': {
        const port = this.port(p.where.platform);
        if (!port) return { skipped: `platform ${p.where.platform} is off` };
        const ref = await port.post(p.where, p.message);
        // Posted: recording it must outlast a database outage, or the row is retried and the card posted twice.
        if (p.subject) await persistThroughOutage(() => rememberCard(this.app, p.subject!, ref, 'card'), Date.now() + REMEMBER_WITHIN_MS);
        if (p.pin) await this.tryPin(port, ref);
        return { messageId: ref.messageId };
      }
      case 'update': {
        for (const card of await cardsOf(this.app, this.platforms, p.subject)) {
          const port = this.port(card.platform);
          const key = `${card.platform}:${card.ref.where.channel}:${card.ref.messageId}`;
          if (!port || done.has(key)) continue;
          await this.onCard(card, () => port.update(card.ref, p.message));
          done.add(key);
        }
        return undefined;
      }
      case 'announce': {
        for (const card of await cardsOf(this.app, this.platforms, p.subject, ['card'])) {
          const port = this.port(card.platform);
          const key = `${card.platform}:${card.ref.where.channel}:${card.ref.messageId}`;
          if (!port || done.has(key)) continue;
          await this.onCard(card, () => port.post({ ...card.ref.where, thread: card.ref.where.thread ?? card.ref.messageId }, p.message));
          done.add(key);
        }
        return undefined;
      }
      case 'dm': {
        const person = await findPerson(this.app, p.person);
        if (!person) return { skipped: `unknown person ${p.person}` };
        const sent: string[] = [];
        for (const address of addressesOf(person, new Set(this.ports.keys()))) {
          const key = `dm:${address.platform}:${address.userId}`;
          if (!done.has(key)) {
            const ref = await this.port(address.platform)!.dm(address, p.message);
            if (p.subject) await persistThroughOutage(() => rememberCard(this.app, p.subject!, ref, 'dm'), Date.now() + REMEMBER_WITHIN_MS);
            done.add(key);
          }
          sent.push(address.platform);
        }
        return { sent };
      }
      case 'ephemeral': {
        const port = this.port(p.where.platform);
        const person = await findPerson(this.app, p.person);
        if (!port || !person) return { skipped: 'no port or person' };
        const address = addressesOf(person, new Set([p.where.platform])).find((a) => a.platform === p.where.platform);
        if (address) await port.postEphemeral(p.where, address, p.message);
        return undefined;
      }
      case 'channel':
        return this.createChannel(p);
    }
  }

  private async createChannel(p: Extract<OutboxPayload, { kind: 'channel' }>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    const existing = await cardsOf(this.app, this.platforms, p.subject, ['card']);
    const platforms = (p.platforms ?? [...this.ports.keys()]).filter((pl) => this.ports.has(pl as Platform));
    for (const platform of platforms) {
      const port = this.port(platform)!;
      const made = await channelOf(this.app, p.subject, platform);
      if (made?.channel.startsWith('unsupported:')) continue;
      try {
        let where: Where;
        if (made) {
          where = made.ref.where;
        } else {
          const people = (await Promise.all(p.members.map((id) => findPerson(this.app, id)))).filter((x) => x !== undefined);
          const members = people.flatMap((person) => addressesOf(person, new Set([platform as Platform])));
          where = await port.createChannel(p.name, members);
          // Remembered at once: a retry after a failed post must not create a second channel.
          await rememberCard(this.app, p.subject, { where, messageId: `channel:${where.channel}` }, 'channel');
        }
        if (!existing.some((c) => c.platform === platform && c.ref.where.channel === where.channel)) {
          const ref = await port.post(where, p.message);
          await rememberCard(this.app, p.subject, ref, 'card');
          await this.tryPin(port, ref);
        }
        out[platform] = where.channel;
      } catch (e) {
        if (!(e instanceof UnsupportedError)) throw e;
        const notice: Message = { text: `${e.message} A dedicated channel *${p.name}* would have been created for ${p.subject}; updates will be posted here instead.`, tone: 'info' };
        for (const card of existing.filter((c) => c.platform === platform)) {
          await port.post({ ...card.ref.where, thread: card.ref.where.thread ?? card.ref.messageId }, notice);
        }
        if (!existing.some((c) => c.platform === platform)) await port.post({ platform: platform as Platform, channel: p.name }, notice).catch(() => undefined);
        await rememberCard(this.app, p.subject, { where: { platform: platform as Platform, channel: `unsupported:${p.name}` }, messageId: `channel:${p.name}` }, 'channel');
        out[platform] = 'unsupported';
      }
    }
    return out;
  }

  /** Runs a card operation; a card that is gone for good (archived channel, deleted message) is forgotten instead of failing the row. */
  private async onCard(card: Card, op: () => Promise<unknown>): Promise<void> {
    try {
      await op();
    } catch (e) {
      if (!(e instanceof PermanentChatError)) throw e;
      this.app.log.warn({ platform: card.platform, channel: card.ref.where.channel, messageId: card.ref.messageId, err: e.message }, 'card is gone for good; forgetting it');
      await forgetCard(this.app, card);
    }
  }

  private async tryPin(port: ChatPort, ref: MessageRef): Promise<void> {
    try {
      await port.pin(ref);
    } catch (e) {
      if (!(e instanceof UnsupportedError)) this.app.log.warn({ err: (e as Error).message }, 'could not pin message');
    }
  }
}
