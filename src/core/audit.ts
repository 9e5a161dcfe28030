/** The tamper-evident audit log: a SHA-256 hash chain over every decision and state change. */
import { createHash } from 'node:crypto';
import { asc, eq, is, sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { queryRows, schema, type Db, type DbOrTx } from '../../db/client.js';
import type { Actor } from './identity.js';
import type { Source } from './inbound.js';
import { doneWithAudit } from './inbound-journal.js';

/** One audited change. */
export interface AuditEntry {
  at: Date;
  actor: string;
  source: Source;
  subject: string;
  action: string;
  data?: Record<string, unknown>;
}

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with sorted keys, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of a row given the previous row's hash. */
export function auditHash(prevHash: string, row: { seq: number; at: Date; actor: string; source: string; subject: string; action: string; data: unknown }): string {
  const content = canonicalJson({ seq: row.seq, at: row.at.toISOString(), actor: row.actor, source: row.source, subject: row.subject, action: row.action, data: row.data });
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

/**
 * The head each open transaction last wrote (it holds the head row's lock until it ends): its next append in the same
 * transaction need not lock and read the head again. A savepoint that appended meanwhile moved the head, and a
 * savepoint rolled back moved it back: the append's statement checks the head is still the one remembered, and reads
 * it again when it is not.
 */
const headOf = new WeakMap<object, { seq: number; hash: string }>();

/** Appends to the chain inside the caller's transaction (the head row is locked until it commits). */
export async function appendAudit(tx: DbOrTx, entry: AuditEntry): Promise<{ seq: number; hash: string }> {
  const data = JSON.parse(JSON.stringify(entry.data ?? {})) as Record<string, unknown>;
  const at = new Date(Math.floor(entry.at.getTime()));
  const inTransaction = is(tx, PgTransaction);
  const known = inTransaction ? headOf.get(tx) : undefined;
  if (known) {
    // One statement, only if the head is still the one this transaction wrote: the row and the new head.
    const nextSeq = known.seq + 1;
    const hash = auditHash(known.hash, { seq: nextSeq, at, actor: entry.actor, source: entry.source, subject: entry.subject, action: entry.action, data });
    const written = await queryRows(tx, sql`with head as (
        select seq from audit_head where id = 1 and seq = ${known.seq}::bigint and hash = ${known.hash}::text
      ), row as (
        insert into audit_log (seq, at, actor, source, subject, action, data, prev_hash, hash)
        select ${nextSeq}::bigint, ${at.toISOString()}::timestamptz, ${entry.actor}::text, ${entry.source}::text, ${entry.subject}::text,
          ${entry.action}::text, ${JSON.stringify(data)}::jsonb, ${known.hash}::text, ${hash}::text from head
      )${doneWithAudit()} update audit_head set seq = ${nextSeq}::bigint, hash = ${hash}::text where id = 1 and exists (select 1 from head) returning seq`);
    if (written.length === 1) {
      headOf.set(tx, { seq: nextSeq, hash });
      return { seq: nextSeq, hash };
    }
  }
  // One statement creates the head on first use, or locks the existing one (an upsert's update takes the row lock) and reads it.
  const [head] = await tx.insert(schema.auditHead).values({ id: 1, seq: 0, hash: GENESIS_HASH })
    .onConflictDoUpdate({ target: schema.auditHead.id, set: { id: sql`${schema.auditHead.id}` } })
    .returning();
  const nextSeq = head!.seq + 1; // the head row is locked: sequence numbers are gap-free
  const hash = auditHash(head!.hash, { seq: nextSeq, at, actor: entry.actor, source: entry.source, subject: entry.subject, action: entry.action, data });
  // the row and the new head in one statement (one round trip)
  await tx.execute(sql`with row as (
      insert into audit_log (seq, at, actor, source, subject, action, data, prev_hash, hash)
      values (${nextSeq}, ${at.toISOString()}::timestamptz, ${entry.actor}, ${entry.source}, ${entry.subject}, ${entry.action}, ${JSON.stringify(data)}::jsonb, ${head!.hash}, ${hash})
    )${doneWithAudit()} update audit_head set seq = ${nextSeq}, hash = ${hash} where id = 1`);
  if (inTransaction) headOf.set(tx, { seq: nextSeq, hash });
  return { seq: nextSeq, hash };
}

/** The Slack or Teams user id of an actor acting there (undefined for the console, the API and the scheduler). */
export function platformUserId(actor: Actor): string | undefined {
  return actor.source === 'slack' ? actor.person.slackId : actor.source === 'teams' ? actor.person.teamsId : undefined;
}

/** Appends what an actor did: the person, where it came from, and (in the data) their platform user id. */
export async function auditActor(tx: DbOrTx, actor: Actor, entry: { at: Date; subject: string; action: string; data?: Record<string, unknown> }): Promise<{ seq: number; hash: string }> {
  const id = platformUserId(actor);
  return appendAudit(tx, { at: entry.at, actor: actor.person.id, source: actor.source, subject: entry.subject, action: entry.action, data: { ...entry.data, ...(id ? { platformUserId: id } : {}) } });
}

/** The result of checking the chain. */
export interface AuditVerification {
  ok: boolean;
  rows: number;
  head: string;
  problems: string[];
}

/** A head recorded outside tread (`tread audit head` printed it): the hash, and its sequence number when known. */
export interface RecordedHead {
  seq?: number;
  hash: string;
}

/**
 * Parses recorded heads: lines of `<seq> <hash>` (what `tread audit head` prints, and what tread logs each day), or
 * `<seq>:<hash>`, or a bare hash. Empty lines and lines starting with # are skipped. Throws naming the bad line.
 */
export function parseRecordedHeads(text: string): RecordedHead[] {
  const heads: RecordedHead[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:(\d+)[\s:]+)?([0-9a-f]{64})$/i.exec(line);
    if (!m) throw new Error(`line ${i + 1}: expected "<seq> <hash>" (as tread audit head prints) or a 64-character hash, not "${line.slice(0, 80)}"`);
    heads.push({ ...(m[1] ? { seq: Number(m[1]) } : {}), hash: m[2]!.toLowerCase() });
  }
  return heads;
}

/**
 * Walks the whole chain and reports edited, inserted or deleted rows. With heads recorded elsewhere, each must still be
 * in the chain (at its sequence number when given): deleting the newest rows and rewriting the head to match goes
 * unnoticed by the chain alone, but not against a head recorded before.
 */
export async function verifyAudit(db: Db, options: { heads?: RecordedHead[] } = {}): Promise<AuditVerification> {
  const wanted = new Map((options.heads ?? []).map((h) => [h.hash, h]));
  const found = new Set<string>();
  const problems: string[] = [];
  let prev = GENESIS_HASH;
  let count = 0;
  let lastSeq = 0;
  const pageSize = 5000;
  for (;;) {
    const rows = await db.select().from(schema.auditLog).where(sql`${schema.auditLog.seq} > ${lastSeq}`).orderBy(asc(schema.auditLog.seq)).limit(pageSize);
    for (const row of rows) {
      count++;
      if (row.seq !== lastSeq + 1) problems.push(`rows ${lastSeq + 1}…${row.seq - 1} are missing (deleted)`);
      if (row.prevHash !== prev) problems.push(`row ${row.seq}: previous hash does not match row before it (a row was deleted or inserted before ${row.seq})`);
      const expected = auditHash(row.prevHash, row);
      if (expected !== row.hash) problems.push(`row ${row.seq}: content does not match its hash (the row was edited)`);
      const recorded = wanted.get(row.hash);
      if (recorded && (recorded.seq === undefined || recorded.seq === row.seq)) found.add(row.hash);
      prev = row.hash;
      lastSeq = row.seq;
    }
    if (rows.length < pageSize) break;
  }
  const [head] = await db.select().from(schema.auditHead).where(eq(schema.auditHead.id, 1));
  if (head && head.hash !== prev) problems.push(`the chain ends at ${prev.slice(0, 12)}… but the recorded head is ${head.hash.slice(0, 12)}… (newest rows were deleted or the head was changed)`);
  if (!head && count > 0) problems.push('the recorded head is missing');
  for (const h of wanted.values()) {
    if (found.has(h.hash)) continue;
    const at = h.seq === undefined ? '' : ` (row ${h.seq})`;
    problems.push(h.seq !== undefined && h.seq > lastSeq
      ? `the head recorded elsewhere${at}, ${h.hash.slice(0, 12)}…, is beyond the chain's end (row ${lastSeq}): rows ${lastSeq + 1}…${h.seq} were deleted`
      : `the head recorded elsewhere${at}, ${h.hash.slice(0, 12)}…, is not in the chain: rows were deleted or rewritten`);
  }
  return { ok: problems.length === 0, rows: count, head: prev, problems };
}

/** The newest hash, to record elsewhere; a later deletion of the newest rows shows against it. */
export async function auditHead(db: DbOrTx): Promise<{ seq: number; hash: string }> {
  const [head] = await db.select().from(schema.auditHead).where(eq(schema.auditHead.id, 1));
  return head ? { seq: head.seq, hash: head.hash } : { seq: 0, hash: GENESIS_HASH };
}
