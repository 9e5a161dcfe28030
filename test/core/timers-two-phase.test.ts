/**
 * Two-phase timers: the call runs with no transaction open while the timer is leased (no other run claims it, the
 * database answers, other due timers run), its result is settled only while the lease is still its own (not after a
 * cancel, a replacement, or a re-claim once the lease ran out), and a timer runs at most once per run. PGlite and
 * PostgreSQL.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import type { AppContext } from '../../src/core/app.js';
import { ManualClock } from '../../src/core/clock.js';
import { CallStats } from '../../src/core/delivery/metrics.js';
import { DatabaseHealth } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { Permissions } from '../../src/core/permissions.js';
import { Seam } from '../../src/core/seam.js';
import { cancelTimer, runDue, schedule, timersOf, type TimerHandler, type TimerRow, type TwoPhaseTimerHandler } from '../../src/core/timers.js';
import { Webhooks } from '../../src/core/webhooks.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../helpers/db.js';

const T0 = new Date('2026-01-05T09:00:00Z');
const LEASE = 60_000;
const config = parseOrganisation('', 'test', {});

function appOf(database: Database): AppContext {
  return { database, db: database.db, config, clock: new ManualClock(T0), log: silentLogger, platforms: new Set(), seam: new Seam([]), permissions: new Permissions([]), webhooks: new Webhooks([]), chatCalls: new CallStats(), health: new DatabaseHealth() };
}

/** Polls until `check` holds (it may query the database), or fails after 5 s. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise the test resolves. */
function gate<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((r) => { open = r; });
  return { promise, open };
}

/**
 * A two-phase handler whose calls wait for the test: each call is recorded and waits for its gate; settle writes a side
 * effect (so a rolled-back settle is visible) and returns what `outcome` says.
 */
function outsideCall(options: { outcome?: (timer: TimerRow) => Awaited<ReturnType<TimerHandler>>; settleThrows?: boolean } = {}) {
  const calls: { timer: TimerRow; gate: ReturnType<typeof gate<string>> }[] = [];
  const settled: { subject: string; result: string }[] = [];
  const handler: TwoPhaseTimerHandler<string> = {
    leaseMs: LEASE,
    call: (timer) => {
      const g = gate<string>();
      calls.push({ timer, gate: g });
      return g.promise;
    },
    settle: async (tx, timer, _app, _now, result) => {
      await tx.execute(sql`insert into side_effects values (${timer.subject})`);
      if (options.settleThrows) throw new Error('settle failed');
      settled.push({ subject: timer.subject, result });
      return options.outcome?.(timer);
    },
  };
  return { handler, calls, settled };
}

for (const driver of drivers) {
  describe(`two-phase timers (${driver})`, () => {
    let database: Database;
    let app: AppContext;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      app = appOf(database);
      await database.db.execute(sql`create table side_effects (subject text not null)`);
    });
    afterAll(async () => {
      await database?.close();
    });
    beforeEach(async () => {
      await database.db.execute(sql`delete from timers`);
      await database.db.execute(sql`delete from side_effects`);
    });

    const sideEffects = async () => (await database.rows<{ subject: string }>(sql`select subject from side_effects order by subject`)).map((r) => r.subject);

    it('leases the timer during the call: the database answers, a second run does not claim it; the result is settled once', async () => {
      const h = outsideCall();
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: T0, key: 'hook-1' });
      const run = runDue(app, { 'test.call': h.handler }, T0);
      await until(() => h.calls.length === 1, 'the call');
      // No transaction is open while the call runs: on PGlite (one connection) this query would wait for it otherwise.
      const [leased] = await timersOf(app.db, 'HOOK-1');
      expect(leased!.dueAt.getTime()).toBe(T0.getTime() + LEASE);
      // Another runner at the same time finds nothing due.
      expect(await runDue(app, { 'test.call': h.handler }, T0)).toEqual({ ran: 0, failed: 0 });
      expect(h.calls).toHaveLength(1);
      expect(h.settled).toEqual([]);

      h.calls[0]!.gate.open('200 OK');
      expect(await run).toEqual({ ran: 1, failed: 0 });
      expect(h.settled).toEqual([{ subject: 'HOOK-1', result: '200 OK' }]);
      expect(await timersOf(app.db, 'HOOK-1')).toEqual([]);
      expect(await sideEffects()).toEqual(['HOOK-1']);
    });

    it('other due timers run, and commit, while a call is open', async () => {
      const h = outsideCall();
      const plain: string[] = [];
      const record: TimerHandler = async (_tx, t) => { plain.push(t.subject); };
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: new Date(T0.getTime() - 1000) });
      await schedule(app.db, { kind: 'test.plain', subject: 'SLA-1', dueAt: T0 });
      await schedule(app.db, { kind: 'test.plain', subject: 'SLA-2', dueAt: T0 });
      const run = runDue(app, { 'test.call': h.handler, 'test.plain': record }, T0);
      await until(() => h.calls.length === 1, 'the call');
      // The hook was claimed first (due earlier); the others ran and committed while its call is still open.
      await until(async () => (await timersOf(app.db, 'SLA-1')).length === 0 && (await timersOf(app.db, 'SLA-2')).length === 0, 'the other timers');
      expect(plain).toEqual(['SLA-1', 'SLA-2']);
      expect(h.settled).toEqual([]);
      h.calls[0]!.gate.open('ok');
      expect(await run).toEqual({ ran: 3, failed: 0 });
      expect(h.settled).toHaveLength(1);
    });

    it('a timer cancelled during its call is not settled; one replaced (same key) is not settled and its replacement stays', async () => {
      const h = outsideCall();
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: T0, key: 'hook-1' });
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-2', dueAt: T0, key: 'hook-2', payload: { v: 1 } });
      const run = runDue(app, { 'test.call': h.handler }, T0);
      await until(() => h.calls.length === 2, 'both calls');
      await cancelTimer(app.db, 'hook-1');
      const later = new Date(T0.getTime() + 5000);
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-2', dueAt: later, key: 'hook-2', payload: { v: 2 } });
      for (const c of h.calls) c.gate.open('ok');
      expect(await run).toEqual({ ran: 0, failed: 0 });
      expect(h.settled).toEqual([]);
      expect(await sideEffects()).toEqual([]);
      expect(await timersOf(app.db, 'HOOK-1')).toEqual([]);
      expect(await timersOf(app.db, 'HOOK-2')).toMatchObject([{ dueAt: later, payload: { v: 2 }, attempts: 0 }]);
    });

    it('a run that dies during its call: the lease runs out, another run retries it, and the dead run\'s late result is dropped', async () => {
      const h = outsideCall();
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: T0, key: 'hook-1' });
      const dead = runDue(app, { 'test.call': h.handler }, T0);
      await until(() => h.calls.length === 1, 'the first call');
      // Before the lease ends nobody takes it over; once it has, another runner (another replica, or this process
      // restarted) claims it again.
      expect(await runDue(appOf(database), { 'test.call': h.handler }, new Date(T0.getTime() + LEASE - 1))).toEqual({ ran: 0, failed: 0 });
      const retry = runDue(appOf(database), { 'test.call': h.handler }, new Date(T0.getTime() + LEASE));
      await until(() => h.calls.length === 2, 'the retried call');
      h.calls[1]!.gate.open('second');
      expect(await retry).toEqual({ ran: 1, failed: 0 });
      h.calls[0]!.gate.open('first, too late');
      expect(await dead).toEqual({ ran: 0, failed: 0 });
      expect(h.settled).toEqual([{ subject: 'HOOK-1', result: 'second' }]);
      expect(await sideEffects()).toEqual(['HOOK-1']);
      expect(await timersOf(app.db, 'HOOK-1')).toEqual([]);
    });

    it('runs a timer at most once per run, even when settle reschedules it to a time already passed', async () => {
      const h = outsideCall({ outcome: () => ({ rescheduleAt: T0 }) });
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: T0, key: 'hook-1' });
      const opener = setInterval(() => { for (const c of h.calls) c.gate.open('ok'); }, 5);
      try {
        expect(await runDue(app, { 'test.call': h.handler }, T0)).toEqual({ ran: 1, failed: 0 });
        expect(h.calls).toHaveLength(1);
        expect(await timersOf(app.db, 'HOOK-1')).toMatchObject([{ dueAt: T0, attempts: 0 }]);
        expect(await runDue(app, { 'test.call': h.handler }, T0)).toEqual({ ran: 1, failed: 0 });
        expect(h.calls).toHaveLength(2);
      } finally {
        clearInterval(opener);
      }
    });

    it('a detached run returns with its calls open and hands them over; at the call limit it leaves two-phase timers due and runs the plain ones', async () => {
      const h = outsideCall();
      const plain: string[] = [];
      const record: TimerHandler = async (_tx, t) => { plain.push(t.subject); };
      const handlers = { 'test.call': h.handler, 'test.plain': record };
      for (let i = 1; i <= 3; i++) await schedule(app.db, { kind: 'test.call', subject: `HOOK-${i}`, dueAt: new Date(T0.getTime() - 1000 * (4 - i)) });
      await schedule(app.db, { kind: 'test.plain', subject: 'ESC-1', dueAt: T0 });
      const handed: { settling: Promise<{ ran: number; failed: number }>; calls: number }[] = [];
      // 6 calls are in flight elsewhere: this run may start 2 of its 3
      const result = await runDue(app, handlers, T0, 200, { detach: (settling, calls) => { handed.push({ settling, calls }); }, callsElsewhere: () => 6 });
      expect(result).toEqual({ ran: 1, failed: 0 });
      expect(plain).toEqual(['ESC-1']);
      expect(h.calls.map((c) => c.timer.subject)).toEqual(['HOOK-1', 'HOOK-2']);
      expect(handed.map((x) => x.calls)).toEqual([2]);
      // the third is still due, not leased: a later run takes it
      expect((await timersOf(app.db, 'HOOK-3'))[0]!.dueAt).toEqual(new Date(T0.getTime() - 1000));
      for (const c of h.calls) c.gate.open('ok');
      expect(await handed[0]!.settling).toEqual({ ran: 2, failed: 0 });
      expect(h.settled.map((x) => x.subject).sort()).toEqual(['HOOK-1', 'HOOK-2']);
      const later = runDue(app, handlers, T0);
      await until(() => h.calls.length === 3, 'the third call');
      h.calls[2]!.gate.open('ok');
      expect(await later).toEqual({ ran: 1, failed: 0 });
      expect(await sideEffects()).toEqual(['HOOK-1', 'HOOK-2', 'HOOK-3']);
    });

    it('the scheduler\'s background runs do not wait for a call that hangs: a timer that comes due meanwhile runs; stop() waits for the call', async () => {
      const h = outsideCall();
      const plain: string[] = [];
      const record: TimerHandler = async (_tx, t) => { plain.push(t.subject); };
      const clock = app.clock as ManualClock;
      const scheduler = new Scheduler(app, { 'test.call': h.handler, 'test.plain': record }, undefined, 3600);
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: clock.now(), key: 'hook-1' });
      await scheduler.run();
      await until(() => h.calls.length === 1, 'the call');
      // an escalation comes due while the webhook's call hangs: the next background run takes it at once
      await schedule(app.db, { kind: 'test.plain', subject: 'ESC-1', dueAt: clock.now() });
      await scheduler.run();
      expect(plain).toEqual(['ESC-1']);
      expect(h.settled).toEqual([]);
      let stopped = false;
      const stopping = scheduler.stop().then(() => { stopped = true; });
      await new Promise((r) => setTimeout(r, 50));
      expect(stopped).toBe(false);
      h.calls[0]!.gate.open('ok');
      await stopping;
      expect(h.settled.map((x) => x.subject)).toEqual(['HOOK-1']);
      expect(scheduler.timersRun).toEqual({ ran: 2, failed: 0 });
    });

    it('a settle that throws, or a call that throws, is a failed attempt: settle\'s writes undone, the timer backs off', async () => {
      const h = outsideCall({ settleThrows: true });
      const throwing: TwoPhaseTimerHandler<string> = { leaseMs: LEASE, call: async () => { throw new Error('call threw'); }, settle: async () => undefined };
      await schedule(app.db, { kind: 'test.call', subject: 'HOOK-1', dueAt: T0, key: 'hook-1' });
      await schedule(app.db, { kind: 'test.throw', subject: 'HOOK-2', dueAt: T0, key: 'hook-2' });
      const opener = setInterval(() => { for (const c of h.calls) c.gate.open('ok'); }, 5);
      try {
        expect(await runDue(app, { 'test.call': h.handler, 'test.throw': throwing }, T0)).toEqual({ ran: 0, failed: 2 });
      } finally {
        clearInterval(opener);
      }
      expect(await sideEffects()).toEqual([]);
      const backoff = new Date(T0.getTime() + 5000);
      expect(await timersOf(app.db, 'HOOK-1')).toMatchObject([{ attempts: 1, lastError: 'settle failed', dueAt: backoff }]);
      expect(await timersOf(app.db, 'HOOK-2')).toMatchObject([{ attempts: 1, lastError: 'call threw', dueAt: backoff }]);
    });
  });
}
