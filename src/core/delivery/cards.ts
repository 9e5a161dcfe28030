/** The live cards of records (`chat_messages`): which platform messages show a subject, recorded as they are posted. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { schema } from '../../../db/client.js';
import type { AppContext } from '../app.js';
import type { MessageRef } from '../chat-port.js';
import { CardConflictError } from '../errors.js';
import type { Platform, Where } from '../inbound.js';

/** What a recorded message is to its subject. */
export type CardPurpose = 'card' | 'dm' | 'channel';

/** A recorded card. */
export interface Card {
  platform: string;
  ref: MessageRef;
}

/**
 * Records a posted message as a card of `subject`. The same card recorded again (a retried row) is fine; a message id
 * already recorded for another card throws CardConflictError (logged by the caller's outcome), never silently dropped.
 */
export async function rememberCard(app: AppContext, subject: string, ref: MessageRef, purpose: CardPurpose): Promise<void> {
  const inserted = await app.db.insert(schema.chatMessages).values({
    subject, platform: ref.where.platform, purpose, channel: ref.where.channel, messageId: ref.messageId, ref: ref as unknown as Record<string, unknown>,
  }).onConflictDoNothing().returning({ id: schema.chatMessages.id });
  if (inserted.length > 0) return;
  const [existing] = await app.db.select().from(schema.chatMessages).where(and(eq(schema.chatMessages.platform, ref.where.platform),
    eq(schema.chatMessages.channel, ref.where.channel), eq(schema.chatMessages.messageId, ref.messageId)));
  if (existing && existing.subject === subject && existing.purpose === purpose) return;
  app.log.error({ subject, platform: ref.where.platform, channel: ref.where.channel, messageId: ref.messageId, recordedFor: existing?.subject }, 'card record conflict: a new message got an id already recorded for another card');
  throw new CardConflictError(`${ref.where.platform} message ${ref.messageId} in ${ref.where.channel} is already recorded as a ${existing?.purpose ?? 'card'} of ${existing?.subject ?? 'another record'}, so it cannot be recorded as a ${purpose} of ${subject}: its updates would be lost (the platform reused a message id)`);
}

/** The cards of a subject on the platforms that are on, oldest first. */
export async function cardsOf(app: AppContext, platforms: ReadonlySet<string>, subject: string, purposes: CardPurpose[] = ['card', 'dm']): Promise<Card[]> {
  const rows = await app.db.select().from(schema.chatMessages)
    .where(and(eq(schema.chatMessages.subject, subject), inArray(schema.chatMessages.purpose, purposes)))
    .orderBy(schema.chatMessages.id);
  return rows.filter((r) => platforms.has(r.platform)).map((r) => ({ platform: r.platform, ref: r.ref as unknown as MessageRef }));
}

/** The channel recorded for a subject on a platform (made for a major incident, or `unsupported:<name>`). */
export async function channelOf(app: AppContext, subject: string, platform: string): Promise<{ channel: string; ref: MessageRef } | undefined> {
  const [made] = await app.db.select().from(schema.chatMessages)
    .where(and(eq(schema.chatMessages.subject, subject), eq(schema.chatMessages.platform, platform), eq(schema.chatMessages.purpose, 'channel')));
  return made ? { channel: made.channel, ref: made.ref as unknown as MessageRef } : undefined;
}

/** Forgets a card that is gone for good (archived channel, deleted message). */
export async function forgetCard(app: AppContext, card: Card): Promise<void> {
  await app.db.delete(schema.chatMessages).where(and(eq(schema.chatMessages.platform, card.platform), eq(schema.chatMessages.channel, card.ref.where.channel), eq(schema.chatMessages.messageId, card.ref.messageId)));
}

/** The conversation a live card of a record is in (for commands typed in a record's own channel or thread). */
export async function subjectsAt(app: AppContext, where: Where, prefix: string): Promise<string[]> {
  const rows = await app.db.select({ subject: schema.chatMessages.subject }).from(schema.chatMessages)
    .where(and(eq(schema.chatMessages.platform, where.platform), eq(schema.chatMessages.channel, where.channel),
      where.thread ? sql`(${schema.chatMessages.messageId} = ${where.thread} or ${schema.chatMessages.purpose} = 'channel')` : eq(schema.chatMessages.purpose, 'channel')));
  return [...new Set(rows.map((r) => r.subject).filter((s) => s.startsWith(prefix)))];
}

/** A platform name as the Platform type (rows store it as text). */
export const asPlatform = (p: string) => p as Platform;
