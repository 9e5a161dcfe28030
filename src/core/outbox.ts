/** The outbox: messages written with the change they announce, sent after commit by the dispatcher. */
import { schema, type DbOrTx } from '../../db/client.js';
import type { Where } from './inbound.js';
import type { Message } from './message.js';

/** What a row asks the dispatcher to do. */
export type OutboxPayload =
  /** Post to a conversation; with `subject`, the post becomes a live card of that record. */
  | { kind: 'post'; where: Where; message: Message; subject?: string; pin?: boolean }
  /** Refresh every live card of a record, wherever it was posted. */
  | { kind: 'update'; subject: string; message: Message }
  /** Post into the thread of every live card of a record (announcements: "acknowledged by …"). */
  | { kind: 'announce'; subject: string; message: Message }
  /** A direct message to a person on every platform that can reach them. */
  | { kind: 'dm'; person: string; message: Message; subject?: string }
  /** Show a message to one person in a conversation. */
  | { kind: 'ephemeral'; where: Where; person: string; message: Message }
  /** Create a channel for a record, invite people, post and pin its card there; on platforms that cannot, say where it would have been. */
  | { kind: 'channel'; subject: string; name: string; members: string[]; message: Message; platforms?: string[] };

/**
 * Which rows go first across records when the platforms' budgets are short (a record's own rows always go in order):
 * `high` someone is waiting for it (a page, a direct message, an ephemeral answer), `normal` cards and their state
 * changes, `low` what only refreshes counters on a card.
 */
export type OutboxPriority = 'high' | 'normal' | 'low';

/** The stored value of a priority (higher goes first). */
export const PRIORITY: Record<OutboxPriority, number> = { high: 2, normal: 1, low: 0 };

/** Writes an outbox row inside the caller's transaction. */
export async function enqueue(tx: DbOrTx, payload: OutboxPayload, options: { orderKey?: string; availableAt?: Date; priority?: OutboxPriority } = {}): Promise<void> {
  const orderKey = options.orderKey ?? ('subject' in payload && payload.subject ? payload.subject : `${payload.kind}:${'person' in payload ? payload.person : 'where' in payload ? payload.where.channel : ''}`);
  const priority = options.priority ?? (payload.kind === 'dm' || payload.kind === 'ephemeral' ? 'high' : 'normal');
  await tx.insert(schema.outbox).values({
    kind: payload.kind,
    orderKey,
    payload: payload as unknown as Record<string, unknown>,
    priority: PRIORITY[priority],
    ...(options.availableAt ? { availableAt: options.availableAt } : {}),
  });
}
