/** Timeline entries: what happened to a record, for people to read. */
import { asc, eq } from 'drizzle-orm';
import { schema, type DbOrTx } from '../../db/client.js';
import type { Source } from './inbound.js';

/** One entry. */
export interface TimelineEntry {
  subject: string;
  at: Date;
  actor: string;
  source: Source;
  kind: string;
  text: string;
  data?: Record<string, unknown>;
}

/** Adds an entry inside the caller's transaction. */
export async function addTimeline(tx: DbOrTx, entry: TimelineEntry): Promise<void> {
  await tx.insert(schema.timeline).values(entry);
}

/** The timeline of a record, oldest first. */
export async function readTimeline(db: DbOrTx, subject: string) {
  return db.select().from(schema.timeline).where(eq(schema.timeline.subject, subject)).orderBy(asc(schema.timeline.id));
}
