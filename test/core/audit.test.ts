/** The tamper-evident audit chain on both drivers: appends verify; edits, deletions and a truncated tail are detected. */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { schema, type Database } from '../../db/client.js';
import { appendAudit, auditHash, auditHead, canonicalJson, GENESIS_HASH, parseRecordedHeads, verifyAudit, type AuditEntry } from '../../src/core/audit.js';
import type { AppContext } from '../../src/core/app.js';
import { housekeeping } from '../../src/core/housekeeping.js';
import type { TimerHandler, TimerRow } from '../../src/core/timers.js';
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

describe('parseRecordedHeads', () => {
  const hash = 'a'.repeat(64);
  it('reads what tread audit head prints, seq:hash and bare hashes; skips blanks and comments', () => {
    expect(parseRecordedHeads(`# heads\n12 ${hash}\n\n13:${'B'.repeat(64)}\n${'c'.repeat(64)}\n`)).toEqual([
      { seq: 12, hash }, { seq: 13, hash: 'b'.repeat(64) }, { hash: 'c'.repeat(64) },
    ]);
  });
  it('names the bad line', () => {
    expect(() => parseRecordedHeads(`12 ${hash}\n12 not-a-hash`)).toThrow('line 2: expected "<seq> <hash>" (as tread audit head prints) or a 64-character hash, not "12 not-a-hash"');
  });
});

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
      // …and against the head recorded before, the cut shows
      const against = await verifyAudit(database.db, { heads: [recorded] });
      expect(against.ok).toBe(false);
      expect(against.problems).toEqual([`the head recorded elsewhere (row 6), ${recorded.hash.slice(0, 12)}…, is beyond the chain's end (row 4): rows 5…6 were deleted`]);
      // a bare hash (no sequence number) that is not in the chain
      expect((await verifyAudit(database.db, { heads: [{ hash: recorded.hash }] })).problems).toEqual([`the head recorded elsewhere, ${recorded.hash.slice(0, 12)}…, is not in the chain: rows were deleted or rewritten`]);
    });

    it('once a day (midnight UTC) the head is logged, for operators to record outside tread', async () => {
      const appended = await append(3);
      const lines: { obj: Record<string, unknown>; msg: string }[] = [];
      const app = { log: { info: (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg }) } } as unknown as AppContext;
      const timer = housekeeping.timers!['core.audit_head'] as TimerHandler;
      const outcome = await database.db.transaction((tx) => timer(tx, {} as TimerRow, app, new Date('2026-01-05T00:00:03Z')));
      expect(outcome).toEqual({ rescheduleAt: new Date('2026-01-06T00:00:00Z') });
      expect(lines).toEqual([{ obj: { auditHead: `3 ${appended[2]!.hash}`, seq: 3, hash: appended[2]!.hash }, msg: expect.stringContaining('tread audit verify --head-file') }]);
      // the logged value is what --head-file reads
      expect(parseRecordedHeads(String(lines[0]!.obj.auditHead))).toEqual([{ seq: 3, hash: appended[2]!.hash }]);
    });

    it('heads recorded earlier that are still in the chain verify, with or without their sequence number', async () => {
      const appended = await append(5);
      const v = await verifyAudit(database.db, { heads: [{ seq: 2, hash: appended[1]!.hash }, { hash: appended[3]!.hash }, { seq: 5, hash: appended[4]!.hash }] });
      expect(v).toMatchObject({ ok: true, rows: 5, problems: [] });
      // the right hash at the wrong row is not accepted
      const moved = await verifyAudit(database.db, { heads: [{ seq: 3, hash: appended[1]!.hash }] });
      expect(moved.ok).toBe(false);
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
