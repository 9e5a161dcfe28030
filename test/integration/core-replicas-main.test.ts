/**
 * Replicas as they really run: two tread processes (src/main.ts) on one PostgreSQL database, each with its real node-cron
 * tick (TREAD_TICK_SECONDS=1) and its wake-ups at the next due timer, no manual clock. Incidents opened through both
 * replicas' REST APIs start escalations whose later steps are timers a few seconds out; both schedulers race for them.
 * Every step pages once, every timer runs once, and each replica ran some of them (its own `tread_timers_run_total`).
 * Needs a real PostgreSQL (DATABASE_URL); skipped otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { createPgDatabase } from '../helpers/db.js';
import { SpawnedTread } from '../helpers/spawned.js';

const TOKEN = 'replica-test-api-token-0123456789';
const SLOW = 120_000;
/** Incidents opened through each replica. */
const PER_REPLICA = 15;
const CONFIG = `organisation: Replica test
timezone: UTC
people:
  - { id: alice, name: Alice, roles: [admin, responder] }
  - { id: bob, name: Bob, roles: [responder] }
services:
  - { name: checkout, owners: [alice], escalationPolicy: fast }
escalationPolicies:
  - name: fast
    steps:
      - { person: alice, wait: 2s }
      - { person: bob, wait: 2s }
`;

/** One tread process; its log lines (pino JSON on stderr) are kept. */
class Replica extends SpawnedTread {
  /** The console chat is the only platform: its stdin is closed at once, so it stops reading and tread keeps serving. */
  constructor(readonly name: string, env: Record<string, string>) {
    super({ TREAD_API_TOKEN: TOKEN, TREAD_TICK_SECONDS: '1', ...env });
  }

  /** Opens an incident through this replica's REST API. */
  async open(title: string): Promise<string> {
    const res = await fetch(`${this.url}/api/v1/incidents`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ title, service: 'checkout' }) });
    const body = await res.json() as { id: string };
    if (res.status !== 201) throw new Error(`replica ${this.name}: ${res.status} ${JSON.stringify(body)}`);
    return body.id;
  }
}

describe.skipIf(!process.env.DATABASE_URL)('two tread processes on one PostgreSQL with the real tick', () => {
  let dir: string;
  let drop = async () => {};
  let db: Database;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tread-replicas-'));
    writeFileSync(join(dir, 'tread.yaml'), CONFIG);
    const pg = await createPgDatabase();
    drop = pg.drop;
    // Migrated here: this file is about the schedulers; replicas migrating side by side is another test's subject.
    db = await openDatabase({ url: pg.url, poolSize: 2 });
    for (const name of ['A', 'B']) replicas.push(new Replica(name, { DATABASE_URL: pg.url, TREAD_CONFIG: join(dir, 'tread.yaml'), TREAD_DATA_DIR: join(dir, `unused-${name}`) }));
    await Promise.all(replicas.map((r) => r.ready()));
  }, SLOW);
  afterAll(async () => {
    const codes = await Promise.all(replicas.map((r) => r.stop()));
    await db?.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual(replicas.map(() => 0));
  }, SLOW);

  it('runs every escalation step once across both schedulers, and each replica ran some of the timers', async () => {
    const [a, b] = replicas as [Replica, Replica];
    // Opened through both replicas at once: each escalation pages alice now, bob 2 s later, and ends 2 s after that.
    const subjects = await Promise.all(Array.from({ length: PER_REPLICA * 2 }, (_, i) => (i % 2 ? a : b).open(`Checkout errors ${i + 1}`)));
    expect(new Set(subjects).size).toBe(PER_REPLICA * 2);

    // Wait (on the database, not a clock) until every escalation ran out and no escalation timer is left.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [row] = await db.rows<{ active: number; timers: number }>(sql`select
        (select count(*)::int from escalations where state = 'active') as active,
        (select count(*)::int from timers where kind = 'oncall.escalate') as timers`);
      if (Number(row!.active) === 0 && Number(row!.timers) === 0) break;
      if (Date.now() > deadline) throw new Error(`escalations still running: ${JSON.stringify(row)}\nA:\n${a.stderr}\nB:\n${b.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const states = await db.rows<{ state: string; n: number }>(sql`select state, count(*)::int as n from escalations group by state`);
    expect(states.map((s) => ({ state: s.state, n: Number(s.n) }))).toEqual([{ state: 'exhausted', n: subjects.length }]);
    // Every incident was paged exactly twice (alice, then bob): no step ran twice, none was skipped.
    const pages = await db.rows<{ subject: string; n: number }>(sql`select subject, count(*)::int as n from timeline where kind = 'page' group by subject`);
    expect(pages.map((p) => p.subject).sort()).toEqual([...subjects].sort());
    expect(pages.every((p) => Number(p.n) === 2), JSON.stringify(pages)).toBe(true);
    // Each escalation step the scheduler took is in the audit chain once.
    const steps = await db.rows<{ subject: string; level: string; n: number }>(sql`select subject, data->>'level' as level, count(*)::int as n from audit_log where action = 'oncall.escalated' group by subject, data->>'level'`);
    expect(steps.length).toBeGreaterThanOrEqual(subjects.length);
    expect(steps.every((s) => Number(s.n) === 1), JSON.stringify(steps.filter((s) => Number(s.n) !== 1))).toBe(true);
    // Each page was handed to chat once: two DMs per incident, all sent.
    const dms = await db.rows<{ n: number; sent: number }>(sql`select count(*)::int as n, count(*) filter (where status = 'sent')::int as sent from outbox where kind = 'dm'`);
    expect({ n: Number(dms[0]!.n), sent: Number(dms[0]!.sent) }).toEqual({ n: subjects.length * 2, sent: subjects.length * 2 });

    // Both schedulers did part of the work, and nothing failed.
    const ran = { A: await a.metric('tread_timers_run_total', 'outcome="ran"'), B: await b.metric('tread_timers_run_total', 'outcome="ran"') };
    const failed = await a.metric('tread_timers_run_total', 'outcome="failed"') + await b.metric('tread_timers_run_total', 'outcome="failed"');
    expect(failed).toBe(0);
    expect(ran.A, JSON.stringify(ran)).toBeGreaterThan(0);
    expect(ran.B, JSON.stringify(ran)).toBeGreaterThan(0);
    // At least the two later steps of every escalation ran, through one replica or the other.
    expect(ran.A + ran.B).toBeGreaterThanOrEqual(subjects.length * 2);
  }, SLOW);
});
