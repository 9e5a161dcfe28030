/**
 * Timers: runDue runs what is due once, reschedules on request, retries failures without blocking others;
 * and two runtimes on one PostgreSQL run each of 200 timers exactly once.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schema, type Database } from '../../db/client.js';
import type { AppContext } from '../../src/core/app.js';
import { ManualClock } from '../../src/core/clock.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { Permissions } from '../../src/core/permissions.js';
import { CallStats } from '../../src/core/delivery/metrics.js';
import { DatabaseHealth } from '../../src/core/errors.js';
import { Seam } from '../../src/core/seam.js';
import { Webhooks } from '../../src/core/webhooks.js';
import { cancelTimer, cancelTimers, runDue, schedule, timerLagSeconds, timersOf, type TimerHandler, type TimerRow } from '../../src/core/timers.js';
import { createPgDatabase, drivers, openTestDatabase } from '../helpers/db.js';

const T0 = new Date('2026-01-05T09:00:00Z');
const S = 1000;
const config = parseOrganisation('', 'test', {});

function appOf(database: Database, clock = new ManualClock(T0)): AppContext {
  return { database, db: database.db, config, clock, log: silentLogger, platforms: new Set(), seam: new Seam([]), permissions: new Permissions([]), webhooks: new Webhooks([]), chatCalls: new CallStats(), health: new DatabaseHealth() };
}

interface TimerState {
  id: number;
  kind: string;
  subject: string;
  due: string;
  attempts: number;
  lastError: string | null;
  payload: Record<string, unknown>;
}

for (const driver of drivers) {
  describe(`runDue (${driver})`, () => {
    let database: Database;
    let app: AppContext;
    const ran: { kind: string; subject: string; at: string }[] = [];
    const record: TimerHandler = async (_tx, t, _app, now) => {
      ran.push({ kind: t.kind, subject: t.subject, at: now.toISOString() });
    };

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      app = appOf(database);
      await database.db.execute(sql`create table side_effects (subject text not null)`);
    });
    afterAll(async () => {
      await database?.close();
    });
    beforeEach(async () => {
      ran.length = 0;
      await database.db.execute(sql`delete from timers`);
      await database.db.execute(sql`delete from side_effects`);
    });

    async function state(): Promise<TimerState[]> {
      const rows = await database.db.select().from(schema.timers).orderBy(schema.timers.dueAt, schema.timers.id);
      return rows.map((r) => ({ id: r.id, kind: r.kind, subject: r.subject, due: r.dueAt.toISOString(), attempts: r.attempts, lastError: r.lastError, payload: r.payload }));
    }

    it('runs due timers once, in due order, deletes them, and leaves the rest', async () => {
      await schedule(app.db, { kind: 'test.a', subject: 'X-2', dueAt: new Date(T0.getTime() - 1 * S) });
      await schedule(app.db, { kind: 'test.a', subject: 'X-1', dueAt: new Date(T0.getTime() - 5 * S) });
      await schedule(app.db, { kind: 'test.a', subject: 'X-3', dueAt: T0 });
      await schedule(app.db, { kind: 'test.a', subject: 'X-4', dueAt: new Date(T0.getTime() + 1) });
      expect(await runDue(app, { 'test.a': record }, T0)).toEqual({ ran: 3, failed: 0 });
      expect(ran.map((r) => r.subject)).toEqual(['X-1', 'X-2', 'X-3']);
      expect((await state()).map((t) => t.subject)).toEqual(['X-4']);
      expect(await runDue(app, { 'test.a': record }, T0)).toEqual({ ran: 0, failed: 0 });
      expect(ran).toHaveLength(3);
      expect(await runDue(app, { 'test.a': record }, new Date(T0.getTime() + 1))).toEqual({ ran: 1, failed: 0 });
      expect(await state()).toEqual([]);
    });

    it('the handler runs inside the claiming transaction: its writes commit with the deletion', async () => {
      await schedule(app.db, { kind: 'test.write', subject: 'W-1', dueAt: T0 });
      await runDue(app, { 'test.write': async (tx, t) => { await tx.execute(sql`insert into side_effects values (${t.subject})`); } }, T0);
      expect(await database.rows(sql`select subject from side_effects`)).toEqual([{ subject: 'W-1' }]);
      expect(await state()).toEqual([]);
    });

    it('reschedules when the handler asks, with a new payload and attempts reset', async () => {
      await schedule(app.db, { kind: 'test.repeat', subject: 'R-1', dueAt: T0, payload: { n: 1 } });
      const repeat: TimerHandler = async (_tx, t, _app, now) => {
        ran.push({ kind: t.kind, subject: t.subject, at: now.toISOString() });
        const n = Number(t.payload.n);
        return n < 3 ? { rescheduleAt: new Date(now.getTime() + 60 * S), payload: { n: n + 1 } } : undefined;
      };
      expect(await runDue(app, { 'test.repeat': repeat }, T0)).toEqual({ ran: 1, failed: 0 });
      expect(await state()).toMatchObject([{ subject: 'R-1', due: '2026-01-05T09:01:00.000Z', payload: { n: 2 }, attempts: 0 }]);
      expect(await runDue(app, { 'test.repeat': repeat }, new Date(T0.getTime() + 59 * S))).toEqual({ ran: 0, failed: 0 });
      expect(await runDue(app, { 'test.repeat': repeat }, new Date(T0.getTime() + 60 * S))).toEqual({ ran: 1, failed: 0 });
      expect(await runDue(app, { 'test.repeat': repeat }, new Date(T0.getTime() + 120 * S))).toEqual({ ran: 1, failed: 0 });
      expect(ran.map((r) => r.at)).toEqual(['2026-01-05T09:00:00.000Z', '2026-01-05T09:01:00.000Z', '2026-01-05T09:02:00.000Z']);
      expect(await state()).toEqual([]);
    });

    it('a timer rescheduled into the past does not loop within one run', async () => {
      await schedule(app.db, { kind: 'test.past', subject: 'P-1', dueAt: T0 });
      await schedule(app.db, { kind: 'test.a', subject: 'A-behind', dueAt: T0 });
      let calls = 0;
      const handlers = { 'test.a': record, 'test.past': async () => { calls++; return { rescheduleAt: new Date(T0.getTime() - 1000) }; } };
      // Once per run, well under the limit, and the timer behind it still runs in the same run.
      expect(await runDue(app, handlers, T0, 5)).toEqual({ ran: 2, failed: 0 });
      expect(calls).toBe(1);
      expect(ran.map((r) => r.subject)).toEqual(['A-behind']);
      // It stays due (in the past) and runs once more in the next run.
      expect(await state()).toMatchObject([{ subject: 'P-1', due: '2026-01-05T08:59:59.000Z' }]);
      expect(await runDue(app, handlers, T0, 5)).toEqual({ ran: 1, failed: 0 });
      expect(calls).toBe(2);
    });

    it('a failing handler is retried later with attempts counted, its writes rolled back, and does not block other timers', async () => {
      let broken = true;
      const flaky: TimerHandler = async (tx, t) => {
        await tx.execute(sql`insert into side_effects values (${t.subject})`);
        if (broken) throw new Error(`cannot reach the pager for ${t.subject}`);
        ran.push({ kind: t.kind, subject: t.subject, at: '' });
      };
      await schedule(app.db, { kind: 'test.flaky', subject: 'F-1', dueAt: new Date(T0.getTime() - 10 * S) }); // first in line
      await schedule(app.db, { kind: 'test.a', subject: 'OK-1', dueAt: new Date(T0.getTime() - 5 * S) });
      await schedule(app.db, { kind: 'test.a', subject: 'OK-2', dueAt: T0 });
      const handlers = { 'test.a': record, 'test.flaky': flaky };

      expect(await runDue(app, handlers, T0)).toEqual({ ran: 2, failed: 1 });
      expect(ran.map((r) => r.subject)).toEqual(['OK-1', 'OK-2']);
      expect(await database.rows(sql`select subject from side_effects`)).toEqual([]); // rolled back
      expect(await state()).toMatchObject([{ subject: 'F-1', attempts: 1, lastError: 'cannot reach the pager for F-1', due: '2026-01-05T09:00:05.000Z' }]);

      // Not due again before its backoff (5 s), then 10 s after the second failure.
      expect(await runDue(app, handlers, new Date(T0.getTime() + 4 * S))).toEqual({ ran: 0, failed: 0 });
      expect(await runDue(app, handlers, new Date(T0.getTime() + 5 * S))).toEqual({ ran: 0, failed: 1 });
      expect(await state()).toMatchObject([{ attempts: 2, due: '2026-01-05T09:00:15.000Z' }]);

      broken = false;
      expect(await runDue(app, handlers, new Date(T0.getTime() + 15 * S))).toEqual({ ran: 1, failed: 0 });
      expect(ran.map((r) => r.subject)).toEqual(['OK-1', 'OK-2', 'F-1']);
      expect(await database.rows(sql`select subject from side_effects`)).toEqual([{ subject: 'F-1' }]);
      expect(await state()).toEqual([]);
    });

    it('several failing timers are each tried once per run, and the good ones behind them still run', async () => {
      const boom: TimerHandler = async () => { throw new Error('boom'); };
      for (let i = 0; i < 5; i++) await schedule(app.db, { kind: 'test.boom', subject: `B-${i}`, dueAt: new Date(T0.getTime() - 60 * S + i) });
      for (let i = 0; i < 3; i++) await schedule(app.db, { kind: 'test.a', subject: `G-${i}`, dueAt: T0 });
      expect(await runDue(app, { 'test.a': record, 'test.boom': boom }, T0)).toEqual({ ran: 3, failed: 5 });
      expect((await state()).every((t) => t.kind === 'test.boom' && t.attempts === 1)).toBe(true);
    });

    it('backoff after failures grows and is capped at 10 minutes', async () => {
      await schedule(app.db, { kind: 'test.boom', subject: 'B-cap', dueAt: T0 });
      const boom: TimerHandler = async () => { throw new Error('boom'); };
      let now = T0;
      const waits: number[] = [];
      for (let i = 0; i < 10; i++) {
        await runDue(app, { 'test.boom': boom }, now);
        const [t] = await state();
        waits.push((Date.parse(t!.due) - now.getTime()) / S);
        now = new Date(t!.due);
      }
      expect(waits).toEqual([5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
    });

    it('drops a timer whose kind has no handler, without failing the run', async () => {
      await schedule(app.db, { kind: 'gone.workflow', subject: 'G-1', dueAt: T0 });
      await schedule(app.db, { kind: 'test.a', subject: 'A-1', dueAt: T0 });
      expect(await runDue(app, { 'test.a': record }, T0)).toEqual({ ran: 2, failed: 0 });
      expect(await state()).toEqual([]);
    });

    it('respects the limit', async () => {
      for (let i = 0; i < 7; i++) await schedule(app.db, { kind: 'test.a', subject: `L-${i}`, dueAt: T0 });
      expect(await runDue(app, { 'test.a': record }, T0, 3)).toEqual({ ran: 3, failed: 0 });
      expect(await state()).toHaveLength(4);
    });

    it('a keyed timer replaces the earlier one; cancelling by key, subject and kind prefix', async () => {
      await schedule(app.db, { kind: 'incident.sla', subject: 'INC-1', key: 'INC-1:response:warn', dueAt: T0, payload: { v: 1 } });
      await schedule(app.db, { kind: 'incident.sla', subject: 'INC-1', key: 'INC-1:response:warn', dueAt: new Date(T0.getTime() + S), payload: { v: 2 } });
      await schedule(app.db, { kind: 'incident.autoclose', subject: 'INC-1', dueAt: T0 });
      await schedule(app.db, { kind: 'incident.sla', subject: 'INC-2', dueAt: T0 });
      expect((await timersOf(app.db, 'INC-1')).map((t: TimerRow) => [t.kind, t.payload])).toEqual([['incident.autoclose', {}], ['incident.sla', { v: 2 }]]);
      await cancelTimer(app.db, 'INC-1:response:warn');
      expect((await timersOf(app.db, 'INC-1')).map((t) => t.kind)).toEqual(['incident.autoclose']);
      await cancelTimers(app.db, 'INC-1', 'incident.sla');
      expect(await timersOf(app.db, 'INC-1')).toHaveLength(1);
      await cancelTimers(app.db, 'INC-1');
      expect(await timersOf(app.db, 'INC-1')).toHaveLength(0);
      expect(await timersOf(app.db, 'INC-2')).toHaveLength(1);
    });

    it('timer lag is how long the oldest due timer has waited', async () => {
      expect(await timerLagSeconds(app, T0)).toBe(0);
      await schedule(app.db, { kind: 'test.a', subject: 'LAG', dueAt: new Date(T0.getTime() - 42 * S) });
      expect(await timerLagSeconds(app, T0)).toBe(42);
      expect(await timerLagSeconds(app, new Date(T0.getTime() - 60 * S))).toBe(0);
    });
  });
}

describe.skipIf(!process.env.DATABASE_URL)('two runtimes on one PostgreSQL', () => {
  let drop: () => Promise<void>;
  let dbA: Database;
  let dbB: Database;

  beforeAll(async () => {
    const created = await createPgDatabase();
    drop = created.drop;
    dbA = await openDatabase({ url: created.url, poolSize: 4 });
    dbB = await openDatabase({ url: created.url, poolSize: 4, migrate: false });
    await dbA.db.execute(sql`create table timer_runs (timer_id bigint not null, runner text not null)`);
  });
  afterAll(async () => {
    await dbA?.close();
    await dbB?.close();
    await drop?.();
  });

  it('each of 200 due timers runs exactly once, with both runtimes claiming concurrently (and some handlers failing once)', async () => {
    const N = 200;
    const now = T0;
    await dbA.db.transaction(async (tx) => {
      for (let i = 0; i < N; i++) await schedule(tx, { kind: 'test.race', subject: `RACE-${i}`, dueAt: new Date(now.getTime() - (i % 17) * S), payload: { i } });
    });
    const completed = new Map<number, number>();
    const failedOnce = new Set<number>();
    const runnerOf = new Map<number, string>();
    const handler = (runner: string): TimerHandler => async (tx, t) => {
      await tx.execute(sql`insert into timer_runs values (${t.id}, ${runner})`);
      await new Promise((r) => setTimeout(r, Math.random() * 3)); // hold the row a little, so claims overlap
      if (Number(t.payload.i) % 10 === 0 && !failedOnce.has(t.id)) {
        failedOnce.add(t.id);
        throw new Error('first attempt fails');
      }
      completed.set(t.id, (completed.get(t.id) ?? 0) + 1);
      runnerOf.set(t.id, runner);
    };
    const a = appOf(dbA);
    const b = appOf(dbB);
    const loop = async (app: AppContext, runner: string, at: Date) => {
      const total = { ran: 0, failed: 0 };
      for (;;) {
        const r = await runDue(app, { 'test.race': handler(runner) }, at, 25);
        total.ran += r.ran;
        total.failed += r.failed;
        if (r.ran + r.failed === 0) return total;
      }
    };
    // Two loops per runtime, as overlapping ticks and several processes would run them.
    const first = await Promise.all([loop(a, 'A1', now), loop(a, 'A2', now), loop(b, 'B1', now), loop(b, 'B2', now)]);
    expect(first.reduce((n, r) => n + r.failed, 0)).toBe(N / 10);
    expect(first.reduce((n, r) => n + r.ran, 0)).toBe(N - N / 10);
    // A failure is recorded while the row is still locked: no other runner retries it before its backoff.
    const waiting = await dbA.rows<{ attempts: number; due_at: Date | string }>(sql`select attempts, due_at from timers`);
    expect(waiting).toHaveLength(N / 10);
    expect(waiting.every((t) => Number(t.attempts) === 1 && new Date(t.due_at).getTime() === now.getTime() + 5 * S)).toBe(true);
    // The failed ones come back after their backoff.
    const later = new Date(now.getTime() + 5 * S);
    const second = await Promise.all([loop(a, 'A1', later), loop(b, 'B1', later)]);
    expect(second.reduce((n, r) => n + r.ran, 0)).toBe(N / 10);

    expect(completed.size).toBe(N);
    expect([...completed.values()].every((n) => n === 1)).toBe(true);
    const committed = await dbA.rows<{ timer_id: string; n: number }>(sql`select timer_id, count(*)::int as n from timer_runs group by timer_id`);
    expect(committed).toHaveLength(N);
    expect(committed.every((r) => Number(r.n) === 1)).toBe(true); // failed attempts were rolled back
    const left = await dbA.rows<{ n: number }>(sql`select count(*)::int as n from timers`);
    expect(Number(left[0]!.n)).toBe(0);
    // Both runtimes did part of the work: SKIP LOCKED shares the due timers, it does not hand them all to the first claimer.
    const byRuntime = { A: [...runnerOf.values()].filter((r) => r.startsWith('A')).length, B: [...runnerOf.values()].filter((r) => r.startsWith('B')).length };
    expect(byRuntime.A + byRuntime.B).toBe(N);
    expect(byRuntime.A, JSON.stringify(byRuntime)).toBeGreaterThan(0);
    expect(byRuntime.B, JSON.stringify(byRuntime)).toBeGreaterThan(0);
  });
});
