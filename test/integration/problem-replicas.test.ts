/**
 * Two tread replicas on one PostgreSQL: the known error search after each new incident runs once, whichever replica's
 * scheduler claims it, so each incident gets its hint once and its card is edited once. Needs a real PostgreSQL
 * (DATABASE_URL); skipped otherwise.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { SCHEDULER_ACTOR } from '../../src/core/identity.js';
import { runDue } from '../../src/core/timers.js';
import { createPgDatabase } from '../helpers/db.js';
import { START, startProblemTread, type ProblemTestTread } from '../workflows/problem/problem.fakes.js';

const INCIDENTS = 20;

describe.skipIf(!process.env.DATABASE_URL)('known error hints on two replicas sharing PostgreSQL', () => {
  let drop: () => Promise<void>;
  let dbA: Database;
  let dbB: Database;
  let a: ProblemTestTread;
  let b: ProblemTestTread;
  const clock = new ManualClock(new Date(START));

  beforeAll(async () => {
    const created = await createPgDatabase();
    drop = created.drop;
    dbA = await openDatabase({ url: created.url, poolSize: 4 });
    dbB = await openDatabase({ url: created.url, poolSize: 4, migrate: false });
    a = await startProblemTread(dbA, { clock });
    b = await startProblemTread(dbB, { clock });
  });
  afterAll(async () => {
    await a?.tread.stop({ closeDatabase: false });
    await b?.tread.stop({ closeDatabase: false });
    await dbA?.close();
    await dbB?.close();
    await drop?.();
  });

  it('each new incident is searched once and gets one hint, with both schedulers racing', async () => {
    await a.command('bob', '/problem new Checkout pods crash on deploy service:checkout');
    await a.command('bob', '/problem known-error PRB-1 symptoms:"checkout pods crash during deploy" workaround:"Deploy one zone at a time"');
    // incidents opened on both replicas (as alerts would: inside a transaction, nothing kicked), half through each
    for (let i = 0; i < INCIDENTS; i++) {
      const t = i % 2 ? a : b;
      await t.tread.app.db.transaction((tx) => t.tread.app.seam.call('incident.open', { tx, app: t.tread.app, now: clock.now(), actor: SCHEDULER_ACTOR }, { title: `Checkout pods crash on deploy ${i}`, service: 'checkout' }));
    }
    const handlers = (t: ProblemTestTread) => Object.assign({}, ...t.tread.workflows.map((w) => w.timers), { 'core.record_event': t.tread.app.seam.timer });
    const results = await Promise.all([runDue(a.tread.app, handlers(a), clock.now(), 3), runDue(b.tread.app, handlers(b), clock.now(), 3), runDue(a.tread.app, handlers(a), clock.now()), runDue(b.tread.app, handlers(b), clock.now())]);
    expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
    // Both replicas claimed some of the searches.
    const ran = { a: results[0]!.ran + results[2]!.ran, b: results[1]!.ran + results[3]!.ran };
    expect(ran.a, JSON.stringify(ran)).toBeGreaterThan(0);
    expect(ran.b, JSON.stringify(ran)).toBeGreaterThan(0);
    await Promise.all([a.tread.dispatcher.flush(), b.tread.dispatcher.flush()]);
    const hints = await dbA.rows<{ incident_id: number; n: number }>(sql`select incident_id, count(*)::int as n from kedb_hints group by incident_id`);
    expect(hints).toHaveLength(INCIDENTS);
    expect(hints.every((h) => Number(h.n) === 1)).toBe(true);
    // the hint edited each incident's card once (the only update of a card that was just posted)
    const updates = await dbA.rows<{ order_key: string; n: number }>(sql`select order_key, count(*)::int as n from outbox where kind = 'update' and order_key like 'INC-%' group by order_key`);
    expect(updates).toHaveLength(INCIDENTS);
    expect(updates.every((u) => Number(u.n) === 1)).toBe(true);
    const left = await dbA.rows<{ n: number }>(sql`select count(*)::int as n from timers where kind = 'core.record_event'`);
    expect(Number(left[0]!.n)).toBe(0);
  });
});
