/**
 * The seam between workflows (src/core/seam.ts), with two small workflows on real databases: record events with inline
 * and after-commit subscribers (started once the reply is out), operations, and card contributions.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, queryRows, type Database, type Tx } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { SCHEDULER_ACTOR } from '../../src/core/identity.js';
import { withCardParts } from '../../src/core/seam.js';
import { on, type OpContext, type Workflow } from '../../src/core/workflow.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { createPgDatabase, drivers, openTestDatabase } from '../helpers/db.js';

declare module '../../src/core/workflow.js' {
  interface RecordEvents {
    'demo.made': { subject: string; n: number };
  }
  interface Operations {
    'demo.make': (op: OpContext, input: { n: number }) => Promise<{ subject: string }>;
  }
}

const config = parseOrganisation('organisation: Test', 'test', {});
const T0 = new Date('2026-01-05T09:00:00Z');

/** Shared state of the demo subscribers (reset per test). */
const seen = { inline: [] as number[], after: [] as number[], failAfter: 0, failInline: false };

/** `demo` announces `demo.made` when it makes a record and offers `demo.make`. */
const demo: Workflow = {
  name: 'demo',
  provides: {
    'demo.make': async ({ tx, app, now }, { n }) => {
      await tx.execute(sql`insert into demo_records (n) values (${n})`);
      await app.seam.announce(tx, app, 'demo.made', { subject: `DEMO-${n}`, n }, now);
      return { subject: `DEMO-${n}` };
    },
  },
  contributes: [{ prefix: 'DEMO-', async contribute(_db, _app, subject) { return { fields: [{ label: 'Seen by', value: `listener of ${subject}` }], buttons: [{ actionId: 'x.y', label: 'Y', value: subject }] }; } }],
};

/** `listener` subscribes both ways; its after-commit handler records in a table, so replicas share what ran. */
const listener: Workflow = {
  name: 'listener',
  // a part that only later changes can give (it reads nothing while the record is being opened)
  contributes: [{ prefix: 'DEMO-', atOpening: false, async contribute(_db, _app, subject) { return { lines: [`${subject} was linked later`] }; } }],
  subscribes: [
    on('demo.made', 'inline', 'count', async (tx: Tx, _app, e) => {
      if (seen.failInline) throw new Error('inline subscriber failed');
      seen.inline.push(e.n);
      await tx.execute(sql`insert into demo_links (n, mode) values (${e.n}, 'inline')`);
    }),
    on('demo.made', 'after', 'slow-work', async (tx: Tx, _app, e) => {
      if (seen.failAfter > 0) { seen.failAfter--; throw new Error('connector unreachable'); }
      seen.after.push(e.n);
      await tx.execute(sql`insert into demo_links (n, mode) values (${e.n}, 'after')`);
    }),
  ],
};

async function prepare(database: Database): Promise<void> {
  await database.db.execute(sql`create table if not exists demo_records (n int not null)`);
  await database.db.execute(sql`create table if not exists demo_links (n int not null, mode text not null)`);
}

async function make(t: Tread, n: number): Promise<{ subject: string }> {
  const { app } = t;
  return app.db.transaction((tx) => app.seam.call('demo.make', { tx, app, now: app.clock.now(), actor: SCHEDULER_ACTOR }, { n }));
}

for (const driver of drivers) {
  describe(`record events, operations and card parts (${driver})`, () => {
    let database: Database;
    let tread: Tread;
    const clock = new ManualClock(T0);
    beforeAll(async () => {
      database = await openTestDatabase(driver);
      await prepare(database);
      tread = await startTread({ database, config, clock, tickSeconds: 0, workflows: [demo, listener] });
    });
    afterAll(async () => {
      await tread?.stop({ closeDatabase: false });
      await database?.close();
    });
    beforeEach(async () => {
      Object.assign(seen, { inline: [], after: [], failAfter: 0, failInline: false });
      await database.db.execute(sql`delete from demo_records`);
      await database.db.execute(sql`delete from demo_links`);
      await database.db.execute(sql`delete from timers`);
    });

    it('an inline subscriber runs inside the announcing transaction; the after-commit one runs at the next tick', async () => {
      expect(await make(tread, 1)).toEqual({ subject: 'DEMO-1' });
      expect(seen).toMatchObject({ inline: [1], after: [] });
      expect(await queryRows(database.db, sql`select n, mode from demo_links`)).toEqual([{ n: 1, mode: 'inline' }]);
      // after commit: a timer due now, named by the subscriber
      const [timer] = await queryRows<{ kind: string; subject: string; payload: { subscriber: string } }>(database.db, sql`select kind, subject, payload from timers`);
      expect(timer).toMatchObject({ kind: 'core.record_event', subject: 'DEMO-1', payload: { subscriber: 'listener.slow-work' } });
      await tread.scheduler.tick();
      expect(seen.after).toEqual([1]);
      expect(await queryRows(database.db, sql`select n, mode from demo_links order by mode`)).toEqual([{ n: 1, mode: 'after' }, { n: 1, mode: 'inline' }]);
      expect(await queryRows(database.db, sql`select * from timers`)).toEqual([]);
    });

    it('a failing inline subscriber rolls the change back with it; nothing is scheduled', async () => {
      seen.failInline = true;
      await expect(make(tread, 2)).rejects.toThrow('inline subscriber failed');
      expect(await queryRows(database.db, sql`select * from demo_records`)).toEqual([]);
      expect(await queryRows(database.db, sql`select * from timers`)).toEqual([]);
    });

    it('a failing after-commit subscriber never undoes the change, and is retried with backoff until it succeeds', async () => {
      seen.failAfter = 1;
      await make(tread, 3);
      await tread.scheduler.tick();
      expect(await queryRows(database.db, sql`select n from demo_records`)).toEqual([{ n: 3 }]);
      const [waiting] = await queryRows<{ attempts: number; last_error: string }>(database.db, sql`select attempts, last_error from timers`);
      expect(waiting).toMatchObject({ attempts: 1, last_error: 'connector unreachable' });
      clock.advance(60_000);
      await tread.scheduler.tick();
      expect(seen.after).toEqual([3]);
      expect(await queryRows(database.db, sql`select * from timers`)).toEqual([]);
    });

    it('a card gets the parts other workflows contribute to its prefix; the card of a record being opened skips those that cannot have any yet', async () => {
      const parts = await tread.app.seam.cardParts(database.db, tread.app, 'DEMO-4', clock.now());
      expect(withCardParts({ title: 'x', text: 'Own text', fields: [{ label: 'Own', value: '1' }] }, parts)).toEqual({
        title: 'x', text: 'Own text\nDEMO-4 was linked later', fields: [{ label: 'Own', value: '1' }, { label: 'Seen by', value: 'listener of DEMO-4' }], buttons: [{ actionId: 'x.y', label: 'Y', value: 'DEMO-4' }],
      });
      const opening = await tread.app.seam.cardParts(database.db, tread.app, 'DEMO-4', clock.now(), { opening: true });
      expect(opening).toEqual([{ fields: [{ label: 'Seen by', value: 'listener of DEMO-4' }], buttons: [{ actionId: 'x.y', label: 'Y', value: 'DEMO-4' }] }]);
      expect(await tread.app.seam.cardParts(database.db, tread.app, 'INC-4', clock.now())).toEqual([]);
    });

    it("a change's after-commit work starts on the event loop's next turn, once its reply is out; kicks in one turn run it once", async () => {
      const run = vi.spyOn(tread.scheduler, 'run');
      try {
        await make(tread, 5);
        tread.router.afterHandle();
        tread.router.afterHandle();
        expect(run).not.toHaveBeenCalled();
        await new Promise((resolve) => setImmediate(resolve));
        expect(run).toHaveBeenCalledTimes(1);
        await run.mock.results[0]!.value;
        expect(seen.after).toEqual([5]);
      } finally {
        run.mockRestore();
      }
    });

    it('calling an operation nobody offers is a coded error, not a crash', async () => {
      const { app } = tread;
      await expect(app.db.transaction((tx) => app.seam.call('incident.open', { tx, app, now: clock.now(), actor: SCHEDULER_ACTOR }, { title: 'x' })))
        .rejects.toMatchObject({ code: 'seam.unavailable', status: 503 });
    });
  });
}

describe.skipIf(!process.env.DATABASE_URL)('after-commit subscribers with two replicas on one PostgreSQL', () => {
  let drop: () => Promise<void>;
  const dbs: Database[] = [];
  const treads: Tread[] = [];
  beforeAll(async () => {
    const created = await createPgDatabase();
    drop = created.drop;
    for (let i = 0; i < 2; i++) dbs.push(await openDatabase({ url: created.url }));
    await prepare(dbs[0]!);
    for (const d of dbs) treads.push(await startTread({ database: d, config, clock: new ManualClock(T0), tickSeconds: 0, workflows: [demo, listener] }));
  });
  afterAll(async () => {
    for (const t of treads) await t.stop();
    await drop?.();
  });

  it('each announced event runs its after-commit subscriber exactly once while both schedulers tick', async () => {
    Object.assign(seen, { inline: [], after: [], failAfter: 0, failInline: false });
    for (let n = 1; n <= 60; n++) await make(treads[n % 2]!, n);
    await Promise.all([treads[0]!.scheduler.tick(), treads[1]!.scheduler.tick(), treads[0]!.scheduler.tick(), treads[1]!.scheduler.tick()]);
    const rows = await queryRows<{ n: number; runs: number }>(dbs[0]!.db, sql`select n, count(*)::int as runs from demo_links where mode = 'after' group by n order by n`);
    expect(rows).toHaveLength(60);
    expect(rows.every((r) => Number(r.runs) === 1)).toBe(true);
    // Both schedulers ran some of the subscriber timers.
    const ran = treads.map((t) => t.scheduler.timersRun.ran);
    expect(ran[0], JSON.stringify(ran)).toBeGreaterThan(0);
    expect(ran[1], JSON.stringify(ran)).toBeGreaterThan(0);
  });
});
