/**
 * Two tread replicas on one PostgreSQL: each escalation step is paged exactly once, whichever replica's scheduler claims it.
 * Needs a real PostgreSQL (DATABASE_URL); skipped otherwise.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { runDue } from '../../src/core/timers.js';
import { startEscalation } from '../../src/workflows/oncall/escalation.service.js';
import { createPgDatabase } from '../helpers/db.js';
import { START, startTestTread } from '../workflows/oncall/fakes.js';

const MIN = 60_000;
const SUBJECTS = 40;

describe.skipIf(!process.env.DATABASE_URL)('two replicas on one PostgreSQL', () => {
  let drop: () => Promise<void>;
  let dbA: Database;
  let dbB: Database;
  let a: Awaited<ReturnType<typeof startTestTread>>;
  let b: Awaited<ReturnType<typeof startTestTread>>;
  const clock = new ManualClock(new Date(START));

  beforeAll(async () => {
    const created = await createPgDatabase();
    drop = created.drop;
    dbA = await openDatabase({ url: created.url, poolSize: 4 });
    dbB = await openDatabase({ url: created.url, poolSize: 4, migrate: false });
    a = await startTestTread(dbA, { clock });
    b = await startTestTread(dbB, { clock });
  });
  afterAll(async () => {
    await a?.tread.stop({ closeDatabase: false });
    await b?.tread.stop({ closeDatabase: false });
    await dbA?.close();
    await dbB?.close();
    await drop?.();
  });

  it('pages every step of every escalation once, with both schedulers racing', async () => {
    // 40 escalations on the "looping" policy: alice, bob, alice, bob, 5 minutes apart (4 pages each).
    const subjects = Array.from({ length: SUBJECTS }, (_, i) => `ALR-${i + 1}`);
    await a.tread.app.db.transaction(async (tx) => {
      for (const subject of subjects) await startEscalation(tx, a.tread.app, { subject, policy: 'looping', title: `alert ${subject}` }, clock.now());
    });
    const handlersA = Object.assign({}, ...a.tread.workflows.map((w) => w.timers));
    const handlersB = Object.assign({}, ...b.tread.workflows.map((w) => w.timers));
    const ran = { a: 0, b: 0 };
    for (let step = 0; step < 5; step++) {
      clock.advance(5 * MIN);
      const now = clock.now();
      // Each replica runs two scheduler loops at once, as overlapping ticks of several processes would.
      const results = await Promise.all([
        runDue(a.tread.app, handlersA, now, 10), runDue(b.tread.app, handlersB, now, 10),
        runDue(a.tread.app, handlersA, now), runDue(b.tread.app, handlersB, now),
      ]);
      ran.a += results[0].ran + results[2].ran;
      ran.b += results[1].ran + results[3].ran;
      expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
      await Promise.all([a.tread.dispatcher.flush(), b.tread.dispatcher.flush()]);
    }
    // Every step ran once: 3 later pages + 1 end-of-paging per escalation.
    expect(ran.a + ran.b).toBe(SUBJECTS * 4);

    const pages = await dbA.rows<{ subject: string; n: number }>(sql`select subject, count(*)::int as n from timeline where kind = 'page' group by subject`);
    expect(pages).toHaveLength(SUBJECTS);
    expect(pages.every((p) => Number(p.n) === 4)).toBe(true);
    const outbox = await dbA.rows<{ n: number; sent: number }>(sql`select count(*)::int as n, count(*) filter (where status = 'sent')::int as sent from outbox where kind = 'dm'`);
    expect(outbox[0]).toEqual({ n: SUBJECTS * 4, sent: SUBJECTS * 4 });

    // And each page reached chat once, through one replica or the other.
    const dms = [...a.port.dms(), ...b.port.dms()];
    expect(dms).toHaveLength(SUBJECTS * 4);
    for (const subject of subjects) {
      expect(dms.filter((d) => d.message?.subject === subject).map((d) => d.user).sort()).toEqual(['alice', 'alice', 'bob', 'bob']);
    }
    const states = await dbA.rows<{ state: string; n: number }>(sql`select state, count(*)::int as n from escalations group by state`);
    expect(states).toEqual([{ state: 'exhausted', n: SUBJECTS }]);
    const timers = await dbA.rows<{ n: number }>(sql`select count(*)::int as n from timers where kind = 'oncall.escalate'`);
    expect(Number(timers[0]!.n)).toBe(0);
    // Both replicas did part of the work: each ran escalation steps and each sent pages.
    const split = JSON.stringify({ timersRunByA: ran.a, timersRunByB: ran.b, dmsSentByA: a.port.dms().length, dmsSentByB: b.port.dms().length });
    expect(ran.a, split).toBeGreaterThan(0);
    expect(ran.b, split).toBeGreaterThan(0);
    expect(a.port.dms().length, split).toBeGreaterThan(0);
    expect(b.port.dms().length, split).toBeGreaterThan(0);
  });

  it('an acknowledgement racing the due step leaves exactly one outcome', async () => {
    // 20 subjects: the step is due at the same moment as the ack arrives through the other replica.
    const subjects = Array.from({ length: 20 }, (_, i) => `INC-${i + 1}`);
    await a.tread.app.db.transaction(async (tx) => {
      for (const subject of subjects) await startEscalation(tx, a.tread.app, { subject, policy: 'looping', title: subject }, clock.now());
    });
    clock.advance(5 * MIN);
    const now = clock.now();
    const { stopEscalation } = await import('../../src/workflows/oncall/escalation.service.js');
    const acker = { person: { id: 'alice', name: 'Alice', roles: new Set(['responder'] as const), known: true }, source: 'console' as const };
    const handlersA = Object.assign({}, ...a.tread.workflows.map((w) => w.timers));
    const [due] = await Promise.all([
      runDue(a.tread.app, handlersA, now),
      ...subjects.map((s) => b.tread.app.db.transaction((tx) => stopEscalation(tx, s, acker, now))),
    ]);
    expect(due.failed).toBe(0); // no deadlock between the step and the acknowledgement: both lock the timer first
    const rows = await dbA.rows<{ subject: string; state: string; pages: number }>(sql`select subject, state, pages from escalations where subject like 'INC-%'`);
    expect(rows).toHaveLength(20);
    expect(rows.every((r) => r.state === 'acknowledged')).toBe(true);
    const timers = await dbA.rows<{ n: number }>(sql`select count(*)::int as n from timers where subject like 'INC-%'`);
    expect(Number(timers[0]!.n)).toBe(0);
    // Each subject got its first page, and the second only if the step won the race before the ack: never twice.
    const pages = await dbA.rows<{ subject: string; n: number }>(sql`select subject, count(*)::int as n from timeline where kind = 'page' and subject like 'INC-%' group by subject`);
    expect(pages.every((p) => Number(p.n) === 1 || Number(p.n) === 2)).toBe(true);
    for (const r of rows) expect(Number(pages.find((p) => p.subject === r.subject)!.n)).toBe(Number(r.pages));
  });
});
