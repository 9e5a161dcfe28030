/**
 * Two tread replicas on one PostgreSQL: every approval reminder, escalation and expiry happens once, whichever replica's
 * scheduler claims it. Needs a real PostgreSQL (DATABASE_URL); skipped otherwise.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { runDue } from '../../src/core/timers.js';
import { createPgDatabase } from '../helpers/db.js';
import { HOUR, rulesConfig, START, startRequestTread } from '../workflows/request/request.fakes.js';

const REQUESTS = 20;

describe.skipIf(!process.env.DATABASE_URL)('approvals on two replicas sharing PostgreSQL', () => {
  let drop: () => Promise<void>;
  let dbA: Database;
  let dbB: Database;
  let a: Awaited<ReturnType<typeof startRequestTread>>;
  let b: Awaited<ReturnType<typeof startRequestTread>>;
  const clock = new ManualClock(new Date(START));

  beforeAll(async () => {
    const created = await createPgDatabase();
    drop = created.drop;
    dbA = await openDatabase({ url: created.url, poolSize: 4 });
    dbB = await openDatabase({ url: created.url, poolSize: 4, migrate: false });
    a = await startRequestTread(dbA, { clock, config: rulesConfig() });
    b = await startRequestTread(dbB, { clock, config: rulesConfig() });
  });
  afterAll(async () => {
    await a?.tread.stop({ closeDatabase: false });
    await b?.tread.stop({ closeDatabase: false });
    await dbA?.close();
    await dbB?.close();
    await drop?.();
  });

  it('reminds, escalates and expires each approval exactly once with both schedulers racing', async () => {
    // 20 requests of "slow" (escalating: reminders at 2h then every 5h, escalation at 8h, expiry at 2d), half through each replica
    for (let i = 0; i < REQUESTS; i++) await (i % 2 ? a : b).command('dave', '/request slow');
    const handlersA = Object.assign({}, ...a.tread.workflows.map((w) => w.timers), { 'core.record_event': a.tread.app.seam.timer });
    const handlersB = Object.assign({}, ...b.tread.workflows.map((w) => w.timers), { 'core.record_event': b.tread.app.seam.timer });
    // every hour for two days and a bit, each replica running two scheduler loops at once
    const ran = { a: 0, b: 0 };
    for (let hour = 1; hour <= 50; hour++) {
      clock.advance(HOUR);
      const now = clock.now();
      const results = await Promise.all([runDue(a.tread.app, handlersA, now, 7), runDue(b.tread.app, handlersB, now, 7), runDue(a.tread.app, handlersA, now), runDue(b.tread.app, handlersB, now)]);
      expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
      ran.a += results[0]!.ran + results[2]!.ran;
      ran.b += results[1]!.ran + results[3]!.ran;
      await Promise.all([a.tread.dispatcher.flush(), b.tread.dispatcher.flush()]);
    }
    // Both replicas claimed some of the reminders, escalations and expiries.
    expect(ran.a, JSON.stringify(ran)).toBeGreaterThan(0);
    expect(ran.b, JSON.stringify(ran)).toBeGreaterThan(0);
    // reminders at 2h, 7h, 12h, … 47h (the one at 52h would be after the expiry at 48h): 10 per approval
    const reminded = await dbA.rows<{ subject: string; n: number }>(sql`select subject, count(*)::int as n from audit_log where action = 'approval.reminded' group by subject`);
    expect(reminded).toHaveLength(REQUESTS);
    expect(reminded.every((r) => Number(r.n) === 10)).toBe(true);
    const once = await dbA.rows<{ action: string; n: number }>(sql`select action, count(*)::int as n from audit_log where action in ('approval.escalated', 'approval.expired', 'request.reject') group by action order by action`);
    expect(once).toEqual([{ action: 'approval.escalated', n: REQUESTS }, { action: 'approval.expired', n: REQUESTS }, { action: 'request.reject', n: REQUESTS }]);
    // each reminder reached chat once, through one replica or the other: frank 10 times, gina (escalated to at 8h) from 12h on: 8 times
    const dms = [...a.port.dms(), ...b.port.dms()].filter((d) => String(d.message?.text).startsWith('⏰ Reminder'));
    expect(dms.filter((d) => d.user === 'frank')).toHaveLength(REQUESTS * 10);
    expect(dms.filter((d) => d.user === 'gina')).toHaveLength(REQUESTS * 8);
    expect(dms).toHaveLength(REQUESTS * 18);
    const states = await dbA.rows<{ state: string; n: number }>(sql`select state, count(*)::int as n from requests group by state`);
    expect(states).toEqual([{ state: 'rejected', n: REQUESTS }]);
  }, 120_000); // 4–5 s alone; several times that on a loaded 2-core machine

  it('a cancel and an approval of the same request at once, on different replicas: no deadlock, one consistent outcome', async () => {
    const ids: { id: number; apr: number }[] = [];
    for (let i = 0; i < 12; i++) {
      await a.command('dave', '/request any reason: race');
      const [row] = await dbA.rows<{ id: number; approval_id: number }>(sql`select id, approval_id from requests order by id desc limit 1`);
      ids.push({ id: Number(row!.id), apr: Number(row!.approval_id) });
    }
    const replies = await Promise.all(ids.flatMap(({ id, apr }, i) => [
      (i % 2 ? a : b).press('carol', 'approval.approve', `APR-${apr}`),
      (i % 2 ? b : a).command('dave', `/request cancel REQ-${id} changed my mind`),
    ]));
    const texts = replies.map((r) => (r.kind === 'ephemeral' ? r.message.text ?? '' : r.kind));
    expect(texts.filter((t) => /went wrong/.test(t))).toEqual([]);
    for (const { id, apr } of ids) {
      const [req] = await dbA.rows<{ state: string }>(sql`select state from requests where id = ${id}`);
      const [apv] = await dbA.rows<{ state: string }>(sql`select state from approvals where id = ${apr}`);
      expect(req!.state).toBe('cancelled');
      expect(['cancelled', 'approved']).toContain(apv!.state);
      const open = await dbA.rows<{ n: number }>(sql`select count(*)::int as n from request_tasks where request_id = ${id} and state not in ('cancelled')`);
      expect(Number(open[0]!.n)).toBe(0);
    }
  });
});
