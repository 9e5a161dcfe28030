/** Known error rows and their versions: every write of a known error keeps the version it makes. */
import { asc, eq } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import { notFound } from '../../core/errors.js';
import type { KnownErrorValues } from './problem.inputs.js';
import type { KnownErrorRow } from './problem.messages.js';

/** The fields a version keeps. */
const VERSIONED = ['title', 'symptoms', 'rootCause', 'workaround', 'services', 'errorCodes', 'state'] as const;

function snapshot(k: KnownErrorRow): Record<string, unknown> {
  return Object.fromEntries(VERSIONED.map((f) => [f, k[f]]));
}

/** Loads a known error or throws a 404-coded error. */
export async function getKnownError(db: DbOrTx, id: number, lock = false): Promise<KnownErrorRow> {
  const q = db.select().from(schema.knownErrors).where(eq(schema.knownErrors.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('problem.known_error_not_found', `There is no known error KE-${id}.`);
  return row;
}

/** The known error published from a problem, if any. */
export async function knownErrorOf(db: DbOrTx, problemId: number): Promise<KnownErrorRow | undefined> {
  const [row] = await db.select().from(schema.knownErrors).where(eq(schema.knownErrors.problemId, problemId));
  return row;
}

/** Stores a new known error and its first version. */
export async function insertKnownError(tx: Tx, values: Required<Pick<KnownErrorValues, 'title' | 'symptoms' | 'services' | 'errorCodes'>> & Pick<KnownErrorValues, 'rootCause' | 'workaround'> & { problemId: number }, by: string, now: Date): Promise<KnownErrorRow> {
  const [row] = await tx.insert(schema.knownErrors).values({
    problemId: values.problemId, title: values.title, symptoms: values.symptoms, rootCause: values.rootCause ?? null, workaround: values.workaround ?? null,
    services: values.services, errorCodes: values.errorCodes, state: 'published', version: 1, createdAt: now, createdBy: by, updatedAt: now,
  }).returning();
  await tx.insert(schema.knownErrorVersions).values({ knownErrorId: row!.id, version: 1, fields: snapshot(row!), changedBy: by, changedAt: now, note: 'published' });
  return row!;
}

/**
 * Writes a change of a known error as its next version; returns the row and the names of the fields that changed
 * (nothing is written when none did).
 */
export async function reviseKnownError(tx: Tx, before: KnownErrorRow, changes: KnownErrorValues & { state?: 'published' | 'retired' }, by: string, now: Date, note?: string): Promise<{ row: KnownErrorRow; changed: string[] }> {
  const changed = VERSIONED.filter((f) => changes[f] !== undefined && JSON.stringify(changes[f]) !== JSON.stringify(before[f]));
  if (changed.length === 0) return { row: before, changed };
  const patch: Partial<KnownErrorRow> = Object.fromEntries(changed.map((f) => [f, changes[f]]));
  if (changes.state === 'retired' && before.state !== 'retired') Object.assign(patch, { retiredAt: now, retiredBy: by });
  if (changes.state === 'published' && before.state === 'retired') Object.assign(patch, { retiredAt: null, retiredBy: null });
  const [row] = await tx.update(schema.knownErrors).set({ ...patch, version: before.version + 1, updatedAt: now }).where(eq(schema.knownErrors.id, before.id)).returning();
  await tx.insert(schema.knownErrorVersions).values({ knownErrorId: before.id, version: row!.version, fields: snapshot(row!), changedBy: by, changedAt: now, note: note ?? `changed ${changed.join(', ')}` });
  return { row: row!, changed };
}

/** Every version of a known error, oldest first. */
export async function versionsOf(db: DbOrTx, id: number) {
  return db.select().from(schema.knownErrorVersions).where(eq(schema.knownErrorVersions.knownErrorId, id)).orderBy(asc(schema.knownErrorVersions.version));
}
