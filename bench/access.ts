/**
 * Benchmark: 10 000 active grants of a postgres resource expiring in the same minute, on PostgreSQL (tread's database
 * and the target on DATABASE_URL's server, each a throw-away database; roles and logins with a per-run prefix). From
 * the minute's end, the time until every grant is expired, its REVOKE ran and was verified in pg_auth_members (removal
 * done), with the outbox dispatched alongside as in production. Prints one JSON line.
 * Run: DATABASE_URL=postgres://… npx tsx bench/access.ts   (npm run bench:access)
 * Knobs: BENCH_GRANTS=10000 (split over 10 roles), BENCH_LOOPS=4 (scheduler loops racing, as replicas would).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { openDatabase } from '../db/client.js';
import { ManualClock } from '../src/core/clock.js';
import { runDue, type AnyTimerHandler } from '../src/core/timers.js';
import { startTread } from '../src/runtime.js';
import { closePostgresConnectors, quoteIdent } from '../src/workflows/access/connectors/postgres.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { createPgDatabase } from '../test/helpers/db.js';
import { CountingPort } from './counting-port.js';
import { requireChecks } from './util.js';

const N = Number(process.env.BENCH_GRANTS ?? 10_000);
const LOOPS = Number(process.env.BENCH_LOOPS ?? 4);
const ROLES = 10;
const PEOPLE = Math.ceil(N / ROLES);

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) {
    console.log(JSON.stringify({ bench: 'access-expiry', skipped: 'set DATABASE_URL to a PostgreSQL server (tread and the target both live there)' }));
    return;
  }
  const prefix = `b${randomBytes(3).toString('hex')}_`;
  const roles = Array.from({ length: ROLES }, (_, i) => `${prefix}r${i}`);
  const people = Array.from({ length: PEOPLE }, (_, i) => `p${i + 1}`);
  const target = await createPgDatabase();
  const admin = postgres(target.url, { max: 2, onnotice: () => {} });
  const treadDb = await createPgDatabase();
  const database = await openDatabase({ url: treadDb.url, poolSize: LOOPS + 4 });
  try {
    for (const r of roles) await admin.unsafe(`create role ${quoteIdent(r)} nologin`);
    await admin.unsafe(`do $$ begin for i in 1..${PEOPLE} loop execute format('create role %I login', '${prefix}p' || i); end loop; end $$`);
    const config = parseOrganisation(`
organisation: Bench
timezone: UTC
people:
  - { id: owner, name: Owner }
${people.map((p) => `  - { id: ${p}, name: Person ${p} }`).join('\n')}
approvalPolicies: [{ name: owners, stages: [{ approvers: [{ owners: true }] }] }]
resources:
  - name: db
    title: Database
    owners: [owner]
    roles: [${roles.map((r) => `{ name: "${r}", title: ${r}, sensitivity: low }`).join(', ')}]
    approvalPolicy: owners
    maxDuration: 7d
    connector: { kind: postgres, connectionString: "${target.url}", login: "${prefix}{person}" }
access: { securityChannel: { console: security }, reconcileEvery: 1d }
`, 'bench.yaml', {});
    const clock = new ManualClock(new Date('2026-01-05T09:00:00Z'));
    const port = new CountingPort();
    const tread = await startTread({ database, config, clock, tickSeconds: 0, platforms: () => [{ platform: 'console', port }] });
    const handlers: Record<string, AnyTimerHandler> = Object.assign({}, ...tread.workflows.map((w) => w.timers), { 'core.record_event': tread.app.seam.timer, 'core.webhook': tread.app.webhooks.timer });

    // 10 000 active grants, ending within one minute; their memberships granted on the target
    const minute = new Date('2026-01-05T10:00:00Z');
    await database.rows(sql`insert into access_grants (resource, role, person, login, kind, sensitivity, connector, state, reason, source, duration_ms, requested_at, approved_at, activated_at, ends_at, updated_at)
      select 'db', ${prefix} || 'r' || ((g - 1) % ${ROLES}), 'p' || ((g - 1) / ${ROLES} + 1), ${prefix} || 'p' || ((g - 1) / ${ROLES} + 1), 'request', 'low', 'postgres', 'active', 'bench', 'api', 3600000,
        ${'2026-01-05T09:00:00Z'}::timestamptz, ${'2026-01-05T09:00:00Z'}::timestamptz, ${'2026-01-05T09:00:00Z'}::timestamptz,
        ${minute.toISOString()}::timestamptz + ((g % 60) || ' seconds')::interval, ${'2026-01-05T09:00:00Z'}::timestamptz
      from generate_series(1, ${N}) g`);
    await database.rows(sql`insert into timers (due_at, kind, subject, key, payload)
      select ends_at, 'access.expire', 'GRT-' || id, 'access.expire:GRT-' || id, jsonb_build_object('id', id) from access_grants`);
    for (const [k, r] of roles.entries()) {
      const logins = people.filter((_, i) => i * ROLES + k < N).map((p) => quoteIdent(`${prefix}${p}`));
      for (let i = 0; i < logins.length; i += 500) await admin.unsafe(`grant ${quoteIdent(r)} to ${logins.slice(i, i + 500).join(', ')}`);
    }
    const members = async () => Number((await admin`select count(*)::int as n from pg_auth_members am join pg_roles r on r.oid = am.roleid where r.rolname = any(${roles})`)[0]!.n);
    const before = await members();

    clock.set(new Date(minute.getTime() + 60_000));
    const now = clock.now();
    const started = performance.now();
    let dispatching = true;
    const dispatcher = (async () => { while (dispatching) { await tread.dispatcher.flush(); await new Promise((r) => setTimeout(r, 50)); } })();
    let failed = 0;
    for (;;) {
      const results = await Promise.all(Array.from({ length: LOOPS }, () => runDue(tread.app, handlers, now, 1000)));
      failed += results.reduce((n, r) => n + r.failed, 0);
      const [left] = await database.rows<{ n: number }>(sql`select count(*)::int as n from access_grants where removal is distinct from 'done'`);
      if (Number(left!.n) === 0) break;
      if (results.every((r) => r.ran === 0 && r.failed === 0)) throw new Error(`${left!.n} grants are not removed and no timer is due`);
    }
    const seconds = (performance.now() - started) / 1000;
    dispatching = false;
    await dispatcher;
    const after = await members();
    const [expiredOnce] = await database.rows<{ n: number; max: number }>(sql`select count(*)::int as n, coalesce(max(c), 0)::int as max from (select subject, count(*) as c from audit_log where action = 'access.expire' group by subject) x`);
    console.log(JSON.stringify({
      bench: 'access-expiry', driver: 'postgres', grants: N, loops: LOOPS, membershipsBefore: before, membershipsAfter: after,
      expired: Number(expiredOnce!.n), expiredAtMostOnce: Number(expiredOnce!.max) === 1, failedTimerRuns: failed,
      secondsUntilAllRevokedAndVerified: Number(seconds.toFixed(2)), grantsPerSecond: Number((N / seconds).toFixed(1)), cardUpdates: port.updates,
    }));
    requireChecks('bench:access', { everyGrantExpired: Number(expiredOnce!.n) === N, expiredAtMostOnce: Number(expiredOnce!.max) === 1, everyMembershipRevoked: after === 0 });
    await tread.stop({ closeDatabase: false });
  } finally {
    await closePostgresConnectors();
    await database.close();
    await treadDb.drop();
    for (const r of roles) await admin.unsafe(`drop role if exists ${quoteIdent(r)}`).catch(() => undefined);
    await admin.unsafe(`do $$ begin for i in 1..${PEOPLE} loop execute format('drop role if exists %I', '${prefix}p' || i); end loop; end $$`).catch(() => undefined);
    await admin.end();
    await target.drop();
  }
}

await main();
