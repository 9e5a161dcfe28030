/** Sends outbox rows through the chat ports: claims with SKIP LOCKED, keeps per-record order, retries with backoff. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { queryRows, schema } from '../../db/client.js';
import type { AppContext } from './app.js';
import type { ChatPort, MessageRef } from './chat-port.js';
import { CardConflictError, PermanentChatError, RateLimitedError, UnsupportedError } from './errors.js';
import { addressesOf, findPerson } from './identity.js';
import type { Platform, Where } from './inbound.js';
import type { Message } from './message.js';
import type { OutboxPayload } from './outbox.js';

/** A row is given up (dead letter) after this many failed attempts. */
export const MAX_ATTEMPTS = 8;
/** How long a claimed row stays reserved for the dispatcher that claimed it. */
const LEASE_MS = 120_000;

type OutboxRow = typeof schema.outbox.$inferSelect;

/** Backoff after `attempts` failures: 1s, 2s, 4s … capped at 5 minutes. */
export function backoffMs(attempts: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** Counters the metrics endpoint reads. */
export interface DispatcherStats {
  sent: number;
  failed: number;
  dead: number;
  /** Cards whose message id was already recorded for another card (see CardConflictError). */
  conflicts: number;
}

/** The outbox dispatcher. One per process; several processes may share a PostgreSQL outbox. */
export class Dispatcher {
  readonly stats: DispatcherStats = { sent: 0, failed: 0, dead: 0, conflicts: 0 };
  private running: Promise<number> | undefined;
  private again = false;

  constructor(private readonly app: AppContext, private readonly ports: Map<Platform, ChatPort>) {}

  /** Sends everything due now; resolves when the backlog that is due is empty. Concurrent calls share one run. */
  async flush(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let total = 0;
      try {
        do {
          this.again = false;
          for (;;) {
            const n = await this.dispatchBatch(50);
            total += n;
            if (n === 0) break;
          }
        } while (this.again);
      } finally {
        this.running = undefined;
      }
      return total;
    })();
    return this.running;
  }

  /** Claims up to `limit` due rows (first pending row per order key only) and sends them. Returns rows handled. */
  async dispatchBatch(limit: number): Promise<number> {
    const { db } = this.app;
    // Superseded card updates: only the newest pending update of a record matters.
    await db.execute(sql`update outbox o set status = 'superseded' where o.status = 'pending' and o.kind = 'update'
      and exists (select 1 from outbox n where n.order_key = o.order_key and n.kind = 'update' and n.status = 'pending' and n.id > o.id)
      and not exists (select 1 from outbox p where p.order_key = o.order_key and p.status in ('pending','sending') and p.kind <> 'update' and p.id < o.id)`);
    const claimed = await db.transaction(async (tx) => {
      const rows = await queryRows<{ id: number }>(tx, sql`
        select o.id from outbox o
        where ((o.status = 'pending' and o.available_at <= now()) or (o.status = 'sending' and o.available_at <= now()))
          and not exists (select 1 from outbox p where p.order_key = o.order_key and p.status in ('pending','sending') and p.id < o.id)
        order by o.id limit ${limit} for update skip locked`);
      if (rows.length === 0) return [] as OutboxRow[];
      const ids = rows.map((r) => Number(r.id));
      return tx.update(schema.outbox)
        .set({ status: 'sending', availableAt: sql`now() + ${`${LEASE_MS} milliseconds`}::interval`, attempts: sql`${schema.outbox.attempts} + 1` })
        .where(sql`${schema.outbox.id} in ${ids}`)
        .returning();
    });
    claimed.sort((a, b) => a.id - b.id);
    for (const row of claimed) await this.deliver(row);
    return claimed.length;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { db, log } = this.app;
    // Posts an earlier attempt of this row already made (announcements and DMs to several places): not repeated.
    const done = new Set<string>((row.result as { done?: string[] } | null)?.done ?? []);
    const progress = () => (done.size ? { done: [...done] } : null);
    try {
      const result = await this.send(row.payload as unknown as OutboxPayload, done);
      await db.update(schema.outbox).set({ status: 'sent', sentAt: new Date(), lastError: null, result: result ?? null }).where(eq(schema.outbox.id, row.id));
      this.stats.sent++;
    } catch (e) {
      const err = e as Error;
      if (e instanceof RateLimitedError) {
        // Waiting is not failing: give the attempt back.
        await db.update(schema.outbox).set({ status: 'pending', attempts: row.attempts - 1, result: progress(), lastError: `rate limited, retry after ${e.retryAfterMs} ms`, availableAt: new Date(Date.now() + e.retryAfterMs) }).where(eq(schema.outbox.id, row.id));
        return;
      }
      this.stats.failed++;
      const dead = e instanceof PermanentChatError || e instanceof CardConflictError || row.attempts >= MAX_ATTEMPTS;
      if (dead) {
        this.stats.dead++;
        log.error({ outboxId: row.id, kind: row.kind, orderKey: row.orderKey, attempts: row.attempts, err: err.message }, 'outbox message given up (dead letter)');
        await db.update(schema.outbox).set({ status: 'dead', result: progress(), lastError: err.message.slice(0, 2000) }).where(eq(schema.outbox.id, row.id));
      } else {
        log.warn({ outboxId: row.id, kind: row.kind, attempts: row.attempts, err: err.message }, 'outbox message failed; will retry');
        await db.update(schema.outbox).set({ status: 'pending', result: progress(), lastError: err.message.slice(0, 2000), availableAt: new Date(Date.now() + backoffMs(row.attempts)) }).where(eq(schema.outbox.id, row.id));
      }
    }
  }

  private port(platform: string): ChatPort | undefined {
    return this.ports.get(platform as Platform);
  }

  /** Sends one payload. Partial progress (cards already posted) is recorded so a retry does not repeat it. */
  private async send(p: OutboxPayload, done: Set<string>): Promise<Record<string, unknown> | undefined> {
    switch (p.kind) {
      case 'post': {
        const port = this.port(p.where.platform);
        if (!port) return { skipped: `platform ${p.where.platform} is off` };
        const ref = await port.post(p.where, p.message);
        if (p.subject) await this.remember(p.subject, ref, 'card');
        if (p.pin) await this.tryPin(port, ref);
        return { messageId: ref.messageId };
      }
      case 'update': {
        for (const card of await this.cards(p.subject)) {
          const port = this.port(card.platform);
          if (port) await this.onCard(card, () => port.update(card.ref, p.message));
        }
        return undefined;
      }
      case 'announce': {
        for (const card of await this.cards(p.subject, ['card'])) {
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
            if (p.subject) await this.remember(p.subject, ref, 'dm');
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
    const existing = await this.cards(p.subject, ['card']);
    const platforms = (p.platforms ?? [...this.ports.keys()]).filter((pl) => this.ports.has(pl as Platform));
    for (const platform of platforms) {
      const port = this.port(platform)!;
      const [made] = await this.app.db.select().from(schema.chatMessages)
        .where(and(eq(schema.chatMessages.subject, p.subject), eq(schema.chatMessages.platform, platform), eq(schema.chatMessages.purpose, 'channel')));
      if (made?.channel.startsWith('unsupported:')) continue;
      try {
        let where: Where;
        if (made) {
          where = (made.ref as unknown as MessageRef).where;
        } else {
          const people = (await Promise.all(p.members.map((id) => findPerson(this.app, id)))).filter((x) => x !== undefined);
          const members = people.flatMap((person) => addressesOf(person, new Set([platform as Platform])));
          where = await port.createChannel(p.name, members);
          // Remembered at once: a retry after a failed post must not create a second channel.
          await this.remember(p.subject, { where, messageId: `channel:${where.channel}` }, 'channel');
        }
        if (!existing.some((c) => c.platform === platform && c.ref.where.channel === where.channel)) {
          const ref = await port.post(where, p.message);
          await this.remember(p.subject, ref, 'card');
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
        await this.remember(p.subject, { where: { platform: platform as Platform, channel: `unsupported:${p.name}` }, messageId: `channel:${p.name}` }, 'channel');
        out[platform] = 'unsupported';
      }
    }
    return out;
  }

  /** Runs a card operation; a card that is gone for good (archived channel, deleted message) is forgotten instead of failing the row. */
  private async onCard(card: { platform: string; ref: MessageRef }, op: () => Promise<unknown>): Promise<void> {
    try {
      await op();
    } catch (e) {
      if (!(e instanceof PermanentChatError)) throw e;
      this.app.log.warn({ platform: card.platform, channel: card.ref.where.channel, messageId: card.ref.messageId, err: e.message }, 'card is gone for good; forgetting it');
      await this.app.db.delete(schema.chatMessages).where(and(eq(schema.chatMessages.platform, card.platform), eq(schema.chatMessages.channel, card.ref.where.channel), eq(schema.chatMessages.messageId, card.ref.messageId)));
    }
  }

  private async tryPin(port: ChatPort, ref: MessageRef): Promise<void> {
    try {
      await port.pin(ref);
    } catch (e) {
      if (!(e instanceof UnsupportedError)) this.app.log.warn({ err: (e as Error).message }, 'could not pin message');
    }
  }

  /**
   * Records a posted message as a card of `subject`. The same card recorded again (a retried row) is fine; a message id
   * already recorded for another card is a CardConflictError, logged and counted, never silently dropped.
   */
  private async remember(subject: string, ref: MessageRef, purpose: 'card' | 'dm' | 'channel'): Promise<void> {
    const { db, log } = this.app;
    const inserted = await db.insert(schema.chatMessages).values({
      subject, platform: ref.where.platform, purpose, channel: ref.where.channel, messageId: ref.messageId, ref: ref as unknown as Record<string, unknown>,
    }).onConflictDoNothing().returning({ id: schema.chatMessages.id });
    if (inserted.length > 0) return;
    const [existing] = await db.select().from(schema.chatMessages).where(and(eq(schema.chatMessages.platform, ref.where.platform),
      eq(schema.chatMessages.channel, ref.where.channel), eq(schema.chatMessages.messageId, ref.messageId)));
    if (existing && existing.subject === subject && existing.purpose === purpose) return;
    this.stats.conflicts++;
    const text = `${ref.where.platform} message ${ref.messageId} in ${ref.where.channel} is already recorded as a ${existing?.purpose ?? 'card'} of ${existing?.subject ?? 'another record'}, so it cannot be recorded as a ${purpose} of ${subject}: its updates would be lost (the platform reused a message id)`;
    log.error({ subject, platform: ref.where.platform, channel: ref.where.channel, messageId: ref.messageId, recordedFor: existing?.subject }, 'card record conflict: a new message got an id already recorded for another card');
    throw new CardConflictError(text);
  }

  private async cards(subject: string, purposes: string[] = ['card', 'dm']): Promise<{ platform: string; ref: MessageRef }[]> {
    const rows = await this.app.db.select().from(schema.chatMessages)
      .where(and(eq(schema.chatMessages.subject, subject), inArray(schema.chatMessages.purpose, purposes)))
      .orderBy(schema.chatMessages.id);
    return rows.filter((r) => this.ports.has(r.platform as Platform)).map((r) => ({ platform: r.platform, ref: r.ref as unknown as MessageRef }));
  }
}

/** The conversation a live card of a record is in (for commands typed in a record's own channel or thread). */
export async function subjectsAt(app: AppContext, where: Where, prefix: string): Promise<string[]> {
  const rows = await app.db.select({ subject: schema.chatMessages.subject }).from(schema.chatMessages)
    .where(and(eq(schema.chatMessages.platform, where.platform), eq(schema.chatMessages.channel, where.channel),
      where.thread ? sql`(${schema.chatMessages.messageId} = ${where.thread} or ${schema.chatMessages.purpose} = 'channel')` : eq(schema.chatMessages.purpose, 'channel')));
  return [...new Set(rows.map((r) => r.subject).filter((s) => s.startsWith(prefix)))];
}
