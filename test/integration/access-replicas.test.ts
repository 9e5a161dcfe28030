/**
 * Two tread replicas on one PostgreSQL, each with two scheduler loops racing: every grant expiring in the same minute
 * expires once and is removed once — one removal task per manual grant, one REVOKE confirmed per postgres grant.
 * Needs a real PostgreSQL (DATABASE_URL); skipped otherwise.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { runDue } from '../../src/core/timers.js';
import { closePostgresConnectors, quoteIdent } from '../../src/workflows/access/connectors/postgres.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { createPgDatabase } from '../helpers/db.js';
import { HOUR, START, startRequestTread } from '../workflows/request/request.fakes.js';

const PEOPLE = Array.from({ length: 12 }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);

describe.skipIf(!process.env.DATABASE_URL)('access on two replicas sharing PostgreSQL', () => {
  const prefix = `r${randomBytes(3).toString('hex')}_`;
  let drop: () => Promise<void>;
  let target: { url: string; drop: () => Promise<void> };
  let admin: ReturnType<typeof postgres>;
  let dbA: Database;
  let dbB: Database;
  let a: Awaited<ReturnType<typeof startRequestTread>>;
  let b: Awaited<ReturnType<typeof startRequestTread>>;
  const clock = new ManualClock(new Date(START));

  beforeAll(async () => {
    target = await createPgDatabase();
    admin = postgres(target.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create role ${quoteIdent(`${prefix}r`)} nologin`);
    for (const p of PEOPLE) await admin.unsafe(`create role ${quoteIdent(`${prefix}${p}`)} login`);
    const config = parseOrganisation(`
organisation: Replicas
timezone: UTC
people:
  - { id: own, name: Owner }
${PEOPLE.map((p) => `  - { id: ${p}, name: Person ${p} }`).join('\n')}
teams: [{ id: ops, members: [own] }]
approvalPolicies: [{ name: owners, stages: [{ approvers: [{ owners: true }] }] }]
resources:
  - { name: m, title: Manual, team: ops, owners: [own], roles: [{ name: r, title: R, sensitivity: low }], approvalPolicy: owners, requireReason: false, connector: { kind: manual } }
  - { name: pg, title: Postgres, owners: [own], roles: [{ name: "${prefix}r", title: R, sensitivity: low }], approvalPolicy: owners, requireReason: false, connector: { kind: postgres, connectionString: "${target.url}", login: "${prefix}{person}" } }
access: { securityChannel: { console: security } }
`, 'replicas.yaml', {});
    const created = await createPgDatabase();
    drop = created.drop;
    dbA = await openDatabase({ url: created.url, poolSize: 4 });
    dbB = await openDatabase({ url: created.url, poolSize: 4, migrate: false });
    a = await startRequestTread(dbA, { clock, config });
    b = await startRequestTread(dbB, { clock, config });
  });
  afterAll(async () => {
    await a?.tread.stop({ closeDatabase: false });
    await b?.tread.stop({ closeDatabase: false });
    await dbA?.close();
    await dbB?.close();
    await drop?.();
    await closePostgresConnectors();
    for (const p of [...PEOPLE, 'r']) await admin?.unsafe(`drop role if exists ${quoteIdent(`${prefix}${p}`)}`);
    await admin?.end();
    await target?.drop();
  });

  it('grants expiring in the same minute are each expired and removed once, whichever replica claims them', async () => {
    for (const [i, p] of PEOPLE.entries()) {
      const t = i % 2 ? a : b;
      await t.command(p, '/access request m r for 1h');
      await t.command(p, `/access request pg ${prefix}r for 1h`);
    }
    const approvals = await dbA.rows<{ id: number }>(sql`select approval_id as id from access_grants order by id`);
    for (const [i, { id }] of approvals.entries()) await (i % 2 ? b : a).press('own', 'approval.approve', `APR-${id}`);
    const tasks = await dbA.rows<{ id: number }>(sql`select id from access_tasks where kind = 'grant' order by id`);
    for (const [i, { id }] of tasks.entries()) await (i % 2 ? a : b).press('own', 'access.task.done', `TASK-${id}`);
    const active = await dbA.rows<{ n: number }>(sql`select count(*)::int as n from access_grants where state = 'active'`);
    expect(Number(active[0]!.n)).toBe(PEOPLE.length * 2);
    const members = async () => Number((await admin`select count(*)::int as n from pg_auth_members am join pg_roles r on r.oid = am.roleid where r.rolname = ${`${prefix}r`}`)[0]!.n);
    expect(await members()).toBe(PEOPLE.length);

    const handlers = (t: typeof a) => Object.assign({}, ...t.tread.workflows.map((w) => w.timers), { 'core.record_event': t.tread.app.seam.timer, 'core.webhook': t.tread.app.webhooks.timer });
    clock.advance(HOUR);
    const now = clock.now();
    const ran = { a: 0, b: 0 };
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all([runDue(a.tread.app, handlers(a), now, 5), runDue(b.tread.app, handlers(b), now, 5), runDue(a.tread.app, handlers(a), now), runDue(b.tread.app, handlers(b), now)]);
      expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
      ran.a += results[0]!.ran + results[2]!.ran;
      ran.b += results[1]!.ran + results[3]!.ran;
    }
    // Both replicas claimed some of the timers.
    expect(ran.a, JSON.stringify(ran)).toBeGreaterThan(0);
    expect(ran.b, JSON.stringify(ran)).toBeGreaterThan(0);
    await Promise.all([a.tread.dispatcher.flush(), b.tread.dispatcher.flush()]);
    const expired = await dbA.rows<{ subject: string; n: number }>(sql`select subject, count(*)::int as n from audit_log where action = 'access.expire' group by subject`);
    expect(expired).toHaveLength(PEOPLE.length * 2);
    expect(expired.every((r) => Number(r.n) === 1)).toBe(true);
    const removals = await dbA.rows<{ grant_id: number; n: number }>(sql`select grant_id, count(*)::int as n from access_tasks where kind = 'revoke' group by grant_id`);
    expect(removals).toHaveLength(PEOPLE.length);
    expect(removals.every((r) => Number(r.n) === 1)).toBe(true);
    const removed = await dbA.rows<{ subject: string; n: number }>(sql`select subject, count(*)::int as n from audit_log where action = 'access.removed' group by subject`);
    expect(removed).toHaveLength(PEOPLE.length);
    expect(removed.every((r) => Number(r.n) === 1)).toBe(true);
    expect(await members()).toBe(0);
    // each removal task reached its team once, through one replica or the other
    const taskDms = [...a.port.dms('own'), ...b.port.dms('own')].filter((d) => String(d.message?.title).includes('Remove r on m'));
    expect(taskDms).toHaveLength(PEOPLE.length);
  });

  it('survives a restart: a grant requested through one process expires through the other after the first stopped', async () => {
    await a.command('p01', '/access request m r for 2h');
    const [g] = await dbA.rows<{ id: number; approval_id: number }>(sql`select id, approval_id from access_grants order by id desc limit 1`);
    await a.press('own', 'approval.approve', `APR-${g!.approval_id}`);
    const [task] = await dbA.rows<{ id: number }>(sql`select id from access_tasks where grant_id = ${g!.id} and kind = 'grant'`);
    await a.press('own', 'access.task.done', `TASK-${task!.id}`);
    await a.tread.stop({ closeDatabase: false });
    clock.advance(2 * HOUR);
    await b.tick();
    const [after] = await dbB.rows<{ state: string; removal: string }>(sql`select state, removal from access_grants where id = ${g!.id}`);
    expect(after).toEqual({ state: 'expired', removal: 'pending' });
    const removal = await dbB.rows<{ n: number }>(sql`select count(*)::int as n from access_tasks where grant_id = ${g!.id} and kind = 'revoke'`);
    expect(Number(removal[0]!.n)).toBe(1);
  });
});
