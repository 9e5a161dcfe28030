/** Two tread replicas on one PostgreSQL ingesting the same keys at once: one open alert per key, every event counted, one card per group. */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows, type Database } from '../../db/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { createPgDatabase } from '../helpers/db.js';
import { GENERIC_TOKEN, pdEvent, START, startEventTread } from '../workflows/event/event.fakes.js';

describe.skipIf(!process.env.DATABASE_URL)('event ingestion on two replicas (postgres)', () => {
  let drop: () => Promise<void>;
  let a: Awaited<ReturnType<typeof startEventTread>>;
  let b: Awaited<ReturnType<typeof startEventTread>>;
  const databases: Database[] = [];

  beforeAll(async () => {
    const pg = await createPgDatabase();
    drop = pg.drop;
    databases.push(await openDatabase({ url: pg.url }), await openDatabase({ url: pg.url }));
    const clock = new ManualClock(new Date(START));
    a = await startEventTread(databases[0]!, { clock });
    b = await startEventTread(databases[1]!, { clock });
  });
  afterAll(async () => {
    await a?.tread.stop({ closeDatabase: false });
    await b?.tread.stop({ closeDatabase: false });
    for (const d of databases) await d.close();
    await drop?.();
  });

  it('deduplicates across replicas under concurrent load', async () => {
    const keys = 40;
    const perKey = 10;
    const requests: Promise<{ status: number }>[] = [];
    for (let i = 0; i < keys * perKey; i++) {
      const replica = i % 2 === 0 ? a : b;
      requests.push(replica.call('POST', '/v2/enqueue', { body: pdEvent('trigger', `rk-${i % keys}`) }));
      requests.push(replica.call('POST', '/hooks/generic', {
        body: { summary: `storm ${i % keys}`, severity: 'warning', source: `s${i % keys}`, labels: { service: (i % keys) % 3 === 0 ? 'db' : 'checkout', alertname: 'Storm' } },
        headers: { authorization: `Bearer ${GENERIC_TOKEN}` },
      }));
    }
    const answers = await Promise.all(requests);
    expect(answers.filter((r) => r.status >= 300)).toEqual([]);
    // what was answered `queued` is applied by the lanes in order; both replicas drain the shared intake
    await Promise.all([a.settle(), b.settle()]);
    const rows = await queryRows<{ integration: string; dedup_key: string; open: number; total: number; events: number }>(a.tread.app.db, sql`
      select integration, dedup_key, count(*) filter (where state <> 'resolved')::int as open, count(*)::int as total, sum(count)::int as events
      from alerts group by integration, dedup_key`);
    const pdRows = rows.filter((r) => r.integration === 'legacy-monitor');
    const genRows = rows.filter((r) => r.integration === 'scripts');
    expect(pdRows).toHaveLength(keys);
    expect(genRows).toHaveLength(keys);
    for (const r of rows) expect([r.open, r.total, r.events]).toEqual([1, 1, perKey]);
    const history = (await queryRows<{ n: number }>(a.tread.app.db, sql`select count(*)::int as n from alert_events`))[0]!.n;
    // each key's events are identical: its first trigger is in the history, the resends are counted on the alert
    expect(Number(history)).toBe(keys * 2);
    // one group per key of correlation, and each group's card was posted once across both replicas
    const groups = await queryRows<{ id: number; group_key: string }>(a.tread.app.db, sql`select id, group_key from alert_groups`);
    expect(new Set(groups.map((g) => g.group_key)).size).toBe(groups.length);
    const posts = [...a.port.calls, ...b.port.calls].filter((c) => c.method === 'post' && c.message?.subject?.startsWith('GRP-'));
    const perGroup = new Map<string, number>();
    for (const p of posts) perGroup.set(p.message!.subject!, (perGroup.get(p.message!.subject!) ?? 0) + 1);
    expect([...perGroup.values()].every((n) => n === 1)).toBe(true);
    expect(perGroup.size).toBe(groups.length);
  });

  it('runs a heartbeat deadline once when both replicas tick at the same time', async () => {
    const ping = await a.call('POST', '/hooks/heartbeat/nightly-backup');
    expect(ping.status).toBe(200);
    a.clock.advance(27 * 3_600_000); // the replicas share this clock
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    const rows = await queryRows<{ count: number; state: string }>(a.tread.app.db, sql`
      select count, state from alerts where integration = 'heartbeat' and dedup_key = 'nightly-backup'`);
    expect(rows).toEqual([{ count: 1, state: 'firing' }]);
  });
});
