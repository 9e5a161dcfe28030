/** The tamper-evident audit chain on both drivers: appends verify; edits, deletions and a truncated tail are detected. */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { schema, type Database } from '../../db/client.js';
import { appendAudit, auditHash, auditHead, canonicalJson, GENESIS_HASH, verifyAudit, type AuditEntry } from '../../src/core/audit.js';
import { drivers, openTestDatabase } from '../helpers/db.js';

const T0 = Date.parse('2026-01-05T09:00:00Z');

function entry(i: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    at: new Date(T0 + i * 1000 + 0.4), actor: i % 2 ? 'alice' : 'tread', source: i % 2 ? 'console' : 'scheduler',
    subject: `INC-${1 + (i % 3)}`, action: i % 2 ? 'incident.ack' : 'incident.sla_warn',
    data: { i, note: `row ${i} «ü»`, nested: { b: 2, a: [1, { y: null, x: 'x' }] }, skipped: undefined },
    ...extra,
  };
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined, so equal content hashes equally', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"f":1}]},"b":1}');
    expect(canonicalJson(new Date('2026-01-05T09:00:00Z'))).toBe('"2026-01-05T09:00:00.000Z"');
    expect(canonicalJson(undefined)).toBe('null');
  });
});

for (const driver of drivers) {
  describe(`audit chain (${driver})`, () => {
    let database: Database;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
    });
    afterAll(async () => {
      await database?.close();
    });
    beforeEach(async () => {
      await database.db.execute(sql`delete from audit_log`);
      await database.db.execute(sql`delete from audit_head`);
    });

    async function append(n: number, from = 1): Promise<{ seq: number; hash: string }[]> {
      const out = [];
      for (let i = from; i < from + n; i++) out.push(await database.db.transaction((tx) => appendAudit(tx, entry(i))));
      return out;
    }

    it('several appends in one transaction, with savepoints that append, commit and roll back between them, keep the chain whole', async () => {
      await append(2);
      const seqs = await database.db.transaction(async (tx) => {
        const out = [(await appendAudit(tx, entry(3))).seq, (await appendAudit(tx, entry(4))).seq];
        // a savepoint appends and is released: the transaction's next append follows it
        await tx.transaction(async (sp) => { out.push((await appendAudit(sp, entry(5))).seq); });
        out.push((await appendAudit(tx, entry(6))).seq);
        // a savepoint appends and rolls back: its row is gone, and the next append takes its place
        await tx.transaction(async (sp) => {
          await appendAudit(sp, entry(99));
          throw new Error('undo');
        }).catch(() => undefined);
        out.push((await appendAudit(tx, entry(7))).seq, (await appendAudit(tx, entry(8))).seq);
        return out;
      });
      expect(seqs).toEqual([3, 4, 5, 6, 7, 8]);
      await append(1, 9);
      const rows = await database.rows<{ seq: number | string; data: { i: number } }>(sql`select seq, data from audit_log order by seq`);
      expect(rows.map((r) => [Number(r.seq), r.data.i])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => [i, i]));
      const v = await verifyAudit(database.db);
      expect(v).toMatchObject({ ok: true, rows: 9, problems: [] });
      expect(await auditHead(database.db)).toEqual({ seq: 9, hash: v.head });
    });

    it('an empty chain verifies, with the genesis head', async () => {
      expect(await verifyAudit(database.db)).toEqual({ ok: true, rows: 0, head: GENESIS_HASH, problems: [] });
      expect(await auditHead(database.db)).toEqual({ seq: 0, hash: GENESIS_HASH });
    });

    it('appends link each row to the one before, and the chain verifies', async () => {
      const appended = await append(12);
      expect(appended.map((a) => a.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      const rows = await database.rows<{ seq: number | string; prev_hash: string; hash: string }>(sql`select seq, prev_hash, hash from audit_log order by seq`);
      expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
      expect(rows.map((r) => r.hash)).toEqual(appended.map((a) => a.hash));
      const v = await verifyAudit(database.db);
      expect(v).toEqual({ ok: true, rows: 12, head: appended[11]!.hash, problems: [] });
      expect(await auditHead(database.db)).toEqual({ seq: 12, hash: appended[11]!.hash });
    });

    it('a hash can be recomputed by anyone from the stored row', async () => {
      await append(2);
      const [row] = await database.db.select().from(schema.auditLog).where(eq(schema.auditLog.seq, 2));
      expect(auditHash(row!.prevHash, row!)).toBe(row!.hash);
      expect(row!.data).toEqual({ i: 2, note: 'row 2 «ü»', nested: { b: 2, a: [1, { y: null, x: 'x' }] } });
    });

    it('a rolled-back append leaves no trace and no gap', async () => {
      await append(3);
      await expect(database.db.transaction(async (tx) => {
        await appendAudit(tx, entry(4));
        throw new Error('the change failed');
      })).rejects.toThrow('the change failed');
      const next = await database.db.transaction((tx) => appendAudit(tx, entry(5)));
      expect(next.seq).toBe(4);
      expect((await verifyAudit(database.db)).ok).toBe(true);
    });

    it('detects a row whose data was edited with raw SQL', async () => {
      await append(6);
      await database.db.execute(sql`update audit_log set data = jsonb_set(data, '{note}', '"nothing to see"') where seq = 3`);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(false);
      expect(v.problems).toEqual(['row 3: content does not match its hash (the row was edited)']);
    });

    it.each([
      ['actor', sql`update audit_log set actor = 'mallory' where seq = 2`],
      ['action', sql`update audit_log set action = 'incident.cancel' where seq = 2`],
      ['time', sql`update audit_log set at = at + interval '1 millisecond' where seq = 2`],
      ['subject', sql`update audit_log set subject = 'INC-99' where seq = 2`],
      ['source', sql`update audit_log set source = 'api' where seq = 2`],
    ])('detects an edited %s', async (_field, edit) => {
      await append(4);
      await database.db.execute(edit);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(false);
      expect(v.problems).toContain('row 2: content does not match its hash (the row was edited)');
    });

    it('detects an edit that also rewrote the row\'s own hash (the next row no longer links)', async () => {
      await append(5);
      await database.db.execute(sql`update audit_log set actor = 'mallory' where seq = 3`);
      const [row] = await database.db.select().from(schema.auditLog).where(eq(schema.auditLog.seq, 3));
      await database.db.execute(sql`update audit_log set hash = ${auditHash(row!.prevHash, row!)} where seq = 3`);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(false);
      expect(v.problems).toEqual([expect.stringMatching(/^row 4: previous hash does not match/)]);
    });

    it('detects a deleted middle row', async () => {
      await append(6);
      await database.db.execute(sql`delete from audit_log where seq = 4`);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(false);
      expect(v.rows).toBe(5);
      expect(v.problems).toContain('rows 4…4 are missing (deleted)');
      expect(v.problems).toContainEqual(expect.stringMatching(/^row 5: previous hash does not match/));
    });

    it('detects deleted newest rows against the recorded head (head row untouched)', async () => {
      const appended = await append(6);
      const recorded = await auditHead(database.db); // e.g. printed by `tread audit head` and kept elsewhere
      expect(recorded).toEqual({ seq: 6, hash: appended[5]!.hash });
      await database.db.execute(sql`delete from audit_log where seq >= 5`);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(false);
      expect(v.rows).toBe(4);
      expect(v.head).toBe(appended[3]!.hash);
      expect(v.problems).toEqual([expect.stringMatching(/^the chain ends at .+ but the recorded head is .+ \(newest rows were deleted or the head was changed\)$/)]);
      expect(v.problems[0]).toContain(recorded.hash.slice(0, 12));
    });

    it('deleting the newest rows and rewinding the head verifies on its own, but not against a head recorded elsewhere', async () => {
      const appended = await append(6);
      const recorded = await auditHead(database.db);
      await database.db.execute(sql`delete from audit_log where seq >= 5`);
      await database.db.execute(sql`update audit_head set seq = 4, hash = ${appended[3]!.hash}`);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(true); // a chain cut at its end is consistent in itself…
      expect(v.head).not.toBe(recorded.hash); // …which is why `tread audit head` is recorded elsewhere
      expect((await auditHead(database.db)).seq).toBeLessThan(recorded.seq);
    });

    it('detects a row inserted into the chain', async () => {
      await append(3);
      await database.db.execute(sql`insert into audit_log (seq, at, actor, source, subject, action, data, prev_hash, hash)
        select 4, at, 'mallory', source, subject, action, data, hash, repeat('a', 64) from audit_log where seq = 3`);
      const v = await verifyAudit(database.db);
      expect(v.ok).toBe(false);
      expect(v.problems).toContain('row 4: content does not match its hash (the row was edited)');
    });

    it('a deleted head row with rows left is reported', async () => {
      await append(2);
      await database.db.execute(sql`delete from audit_head`);
      const v = await verifyAudit(database.db);
      expect(v.problems).toEqual(['the recorded head is missing']);
    });

    it.skipIf(driver !== 'postgres')('concurrent appends from many transactions keep one linear chain', async () => {
      // 24 transactions at once (pool of 10), each appending 5 rows with a pause between, interleaving where they can.
      const writers = Array.from({ length: 24 }, (_, w) => database.db.transaction(async (tx) => {
        const seqs: number[] = [];
        for (let k = 0; k < 5; k++) {
          seqs.push((await appendAudit(tx, entry(w * 100 + k, { actor: `writer-${w}` }))).seq);
          await new Promise((r) => setTimeout(r, 1));
        }
        return seqs;
      }));
      const results = await Promise.all(writers);
      const all = results.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      // A transaction's rows are consecutive: the head lock is held until commit.
      for (const seqs of results) expect(seqs[4]! - seqs[0]!).toBe(4);
      const v = await verifyAudit(database.db);
      expect(v).toMatchObject({ ok: true, rows: 120, problems: [] });
      expect((await auditHead(database.db)).seq).toBe(120);
    });
  });
}
