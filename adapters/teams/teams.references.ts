/** Conversation references the bot has seen, in the `conversations` table, so proactive messages work after a restart. */
import { and, desc, eq } from 'drizzle-orm';
import type { ConversationReference } from 'botbuilder';
import { schema } from '../../db/client.js';
import type { AppContext } from '../../src/core/app.js';
import { baseConversationId, type TeamsActivity } from './teams.inbound.js';

/** A stored reference: a Bot Framework ConversationReference without the activity id. */
export type StoredReference = Partial<ConversationReference> & Pick<ConversationReference, 'conversation' | 'serviceUrl'>;

/** Keys of the references of one activity. Conversation ids are stored as they are; the other keys have a prefix. */
export const referenceKeys = {
  /** A team (its id or its AAD group id): the reference of its General channel. */
  team: (id: string) => `team:${id}`,
  /** A person's personal chat with the bot, by AAD object id. */
  personal: (aadObjectId: string) => `user:${aadObjectId}`,
  /** Where a person was last seen (by AAD object id or channel account id): their channel account for creating a chat. */
  member: (id: string) => `member:${id}`,
};

const PLATFORM = 'teams';
const CACHE_LIMIT = 5000;

/** Reads and writes Teams conversation references. */
export class ReferenceStore {
  /** Key -> the JSON last written, so an unchanged reference is not written again. */
  private readonly written = new Map<string, string>();

  constructor(private readonly app: AppContext) {}

  /** The reference stored under a key. */
  async get(key: string): Promise<StoredReference | undefined> {
    const [row] = await this.app.db.select().from(schema.conversations)
      .where(and(eq(schema.conversations.platform, PLATFORM), eq(schema.conversations.key, key)));
    return row ? (row.ref as unknown as StoredReference) : undefined;
  }

  /** The most recently seen reference of any conversation (its service URL reaches the tenant). */
  async latest(): Promise<StoredReference | undefined> {
    const [row] = await this.app.db.select().from(schema.conversations)
      .where(eq(schema.conversations.platform, PLATFORM)).orderBy(desc(schema.conversations.updatedAt)).limit(1);
    return row ? (row.ref as unknown as StoredReference) : undefined;
  }

  /** Stores a reference under a key (insert or replace). */
  async put(key: string, ref: StoredReference): Promise<void> {
    const json = JSON.stringify(ref);
    if (this.written.get(key) === json) return;
    await this.app.db.insert(schema.conversations).values({ platform: PLATFORM, key, ref: ref as unknown as Record<string, unknown> })
      .onConflictDoUpdate({ target: [schema.conversations.platform, schema.conversations.key], set: { ref: ref as unknown as Record<string, unknown>, updatedAt: new Date() } });
    if (this.written.size >= CACHE_LIMIT) this.written.clear();
    this.written.set(key, json);
  }

  /** Stores every reference an activity reveals: its conversation, its team, the sender's personal chat and account. */
  async remember(activity: TeamsActivity): Promise<void> {
    if (!activity.conversation?.id || !activity.serviceUrl) return;
    const conversation = { ...activity.conversation, id: baseConversationId(activity.conversation.id) };
    const tenantId = activity.conversation.tenantId ?? activity.channelData?.tenant?.id;
    if (tenantId) conversation.tenantId = tenantId;
    const bot = activity.recipient ? { id: activity.recipient.id, name: activity.recipient.name ?? '' } : undefined;
    const base: StoredReference = {
      channelId: activity.channelId ?? 'msteams',
      serviceUrl: activity.serviceUrl,
      conversation: conversation as ConversationReference['conversation'],
      ...(bot ? { bot } : {}),
      ...(activity.locale && typeof activity.locale === 'string' ? { locale: activity.locale } : {}),
    };
    await this.put(conversation.id, base);
    const team = activity.channelData?.team;
    if (team?.id) {
      const general: StoredReference = { ...base, conversation: { id: team.id, isGroup: true, conversationType: 'channel', ...(tenantId ? { tenantId } : {}) } as ConversationReference['conversation'] };
      await this.put(referenceKeys.team(team.id), general);
      if (team.aadGroupId) await this.put(referenceKeys.team(team.aadGroupId), general);
    }
    const from = activity.from;
    const fromUser = from && (!activity.recipient || from.id !== activity.recipient.id) ? from : undefined;
    if (fromUser) {
      const user = { id: fromUser.id, name: fromUser.name ?? '', ...(fromUser.aadObjectId ? { aadObjectId: fromUser.aadObjectId } : {}) };
      const member: StoredReference = { ...base, user };
      if (fromUser.aadObjectId) {
        await this.put(referenceKeys.member(fromUser.aadObjectId), member);
        if (conversation.conversationType === 'personal') await this.put(referenceKeys.personal(fromUser.aadObjectId), member);
      }
      await this.put(referenceKeys.member(fromUser.id), member);
    }
  }
}
