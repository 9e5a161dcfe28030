/**
 * The event intake: batch bodies kept as received and parsed again when applied (exactly what parsing gave at the
 * request), rows of the earlier format still applied, rows that no longer parse set aside; the safety-net timer armed
 * once per half interval; and a lane that, while requests keep arriving, stores them first and applies them together
 * after the burst (at the latest after its maximum delay).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, type Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { IntegrationConfig } from '../../../src/workflows/event/event.config.js';
import { armDue, decodeIntake, INTAKE_CHECK_MS, INTAKE_TIMER, intakeBody, storeIntake } from '../../../src/workflows/event/event.intake.js';
import { parseAlertmanager, parsePagerDuty, type IncomingEvent } from '../../../src/workflows/event/event.parse.js';
import { EventWriter } from '../../../src/workflows/event/event.writer.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { amBody, pdEvent, PROM_TOKEN, START, startEventTread } from './event.fakes.js';

const prometheus = { name: 'prometheus', kind: 'alertmanager', token: PROM_TOKEN, service: 'checkout' } as IntegrationConfig;

function firing(n: number, from = 0, alertname = 'DiskFull') {
  return amBody('firing', Array.from({ length: n }, (_, i) => ({ labels: { alertname, instance: `i-${from + i}` }, fingerprint: `fp-${alertname}-${from + i}` })));
}

describe('intake rows (pure)', () => {
  it('keeps a batch body as received and parses it again into exactly the events the request gave', () => {
    const text = JSON.stringify(firing(3));
    const parsed = parseAlertmanager(JSON.parse(text), prometheus);
    if (!parsed.ok) throw new Error('fixture');
    const row = intakeBody(parsed.events, { source: 'alertmanager', integration: 'prometheus', body: Buffer.from(text) });
    expect(row).toEqual({ events: 3, body: text, source: 'alertmanager', integration: 'prometheus' });
    expect(decodeIntake(row, [prometheus])).toEqual(parsed.events);
  });

  it('parses a stored body with the integration\'s current settings, and with its name and kind once it was removed', () => {
    const text = JSON.stringify(firing(1));
    const row = { body: text, source: 'alertmanager', integration: 'prometheus' };
    expect(decodeIntake(row, [{ ...prometheus, service: 'db' }])[0]!.service).toBe('db');
    const orphan = decodeIntake(row, []);
    expect(orphan[0]).toMatchObject({ integration: 'prometheus', service: null, dedupKey: 'fp-DiskFull-0' });
  });

  it('decodes rows of the earlier format (parsed events as JSON) with their dates', () => {
    const pd = parsePagerDuty(pdEvent('trigger', 'k1', { payload: { summary: 's', source: 'x', severity: 'error', timestamp: '2026-01-05T09:00:00Z' } }));
    if (!pd.ok) throw new Error('fixture');
    const event: IncomingEvent = { ...pd.event, integration: 'legacy-monitor', service: 'payments' };
    const row = intakeBody([event]);
    expect(row.source).toBeNull();
    const [back] = decodeIntake(row, []);
    expect(back!.startsAt).toEqual(new Date('2026-01-05T09:00:00Z'));
    expect(back).toEqual(event);
  });

  it('refuses a stored body that no longer parses, and an unknown source, with a sentence', () => {
    expect(() => decodeIntake({ body: '{"alerts": 5}', source: 'alertmanager', integration: 'prometheus' }, [prometheus])).toThrow(/stored alertmanager body no longer parses: alerts:/);
    expect(() => decodeIntake({ body: '{}', source: 'zabbix', integration: 'z' }, [])).toThrow(/unknown source "zabbix"/);
  });

  it('arms the safety-net timer again only after half its interval (or when the clock went back)', () => {
    const at = Date.parse(START);
    expect(armDue(-Infinity, new Date(at))).toBe(true);
    expect(armDue(at, new Date(at + INTAKE_CHECK_MS / 2 - 1))).toBe(false);
    expect(armDue(at, new Date(at + INTAKE_CHECK_MS / 2))).toBe(true);
    expect(armDue(at, new Date(at - 1))).toBe(true);
  });
});

for (const driver of drivers) {
  describe(`the intake (${driver})`, () => {
    let database: Database;
    let t: Awaited<ReturnType<typeof startEventTread>>;
    const clock = new ManualClock(new Date(START));

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startEventTread(database, { clock });
    });
    afterAll(async () => {
      await t?.tread.stop();
    });

    const timerDue = async (lane: number) => {
      const [row] = await queryRows<{ due_at: string }>(database.db, sql`select due_at::text from timers where key = ${`${INTAKE_TIMER}:${lane}`}`);
      return row ? new Date(row.due_at.replace(' ', 'T').replace(/\+00$/, 'Z')).getTime() : undefined;
    };

    it('stores rows with or without arming the timer; arming pulls a later due time in and keeps an earlier one', async () => {
      const lane = 7;
      const body = intakeBody([], { source: 'alertmanager', integration: 'prometheus', body: Buffer.from(JSON.stringify(firing(0))) });
      const now = clock.now();
      await storeIntake(database.db, lane, [body], now, false);
      expect(await timerDue(lane)).toBeUndefined();
      await storeIntake(database.db, lane, [body], now, true);
      expect(await timerDue(lane)).toBe(now.getTime() + INTAKE_CHECK_MS);
      await storeIntake(database.db, lane, [body], new Date(now.getTime() + 60_000), true);
      expect(await timerDue(lane)).toBe(now.getTime() + INTAKE_CHECK_MS);
      await database.db.execute(sql`update timers set due_at = due_at + interval '1 hour' where key = ${`${INTAKE_TIMER}:${lane}`}`);
      await storeIntake(database.db, lane, [body], now, true);
      expect(await timerDue(lane)).toBe(now.getTime() + INTAKE_CHECK_MS);
      const [rows] = await queryRows<{ n: number; raw: number }>(database.db, sql`select count(*)::int as n, count(*) filter (where source = 'alertmanager' and integration = 'prometheus')::int as raw from event_intake where lane = ${lane}`);
      expect(rows).toEqual({ n: 4, raw: 4 });
      await database.db.execute(sql`delete from event_intake where lane = ${lane}`);
      await database.db.execute(sql`delete from timers where key = ${`${INTAKE_TIMER}:${lane}`}`);
    });

    it('applies Alertmanager bodies stored as received exactly like bodies applied at once, and sets aside a row that no longer parses', async () => {
      // two bodies through the intake: the lane of a fresh writer is due at start, so both are stored, then applied
      const writer = new EventWriter(t.tread.app, () => {}, { lanes: 1, lullMs: 5 });
      const bodies = [firing(3, 0, 'IntakeA'), firing(2, 0, 'IntakeB')].map((b) => Buffer.from(JSON.stringify(b)));
      const answers = await Promise.all(bodies.map((b) => {
        const parsed = parseAlertmanager(JSON.parse(b.toString()), prometheus);
        if (!parsed.ok) throw new Error('fixture');
        return writer.submit(parsed.events, { received: { source: 'alertmanager', integration: 'prometheus', body: b } });
      }));
      expect(answers.flat().map((o) => o.outcome)).toEqual(['queued', 'queued', 'queued', 'queued', 'queued']);
      // a row that no longer parses waits between them: it is set aside with its error, the others are applied
      await database.db.execute(sql`insert into event_intake (lane, events, body, source, integration) values (0, 1, '{"alerts": 5}', 'alertmanager', 'prometheus')`);
      await writer.settled();
      writer.wakeAll();
      await writer.settled();
      const alerts = await queryRows<{ k: string; service: string; g: number }>(database.db, sql`select dedup_key as k, service, group_id as g from alerts where dedup_key like 'fp-Intake%' order by dedup_key`);
      expect(alerts.map((a) => a.k)).toEqual(['fp-IntakeA-0', 'fp-IntakeA-1', 'fp-IntakeA-2', 'fp-IntakeB-0', 'fp-IntakeB-1']);
      expect(new Set(alerts.map((a) => a.service))).toEqual(new Set(['checkout']));
      expect(new Set(alerts.slice(0, 3).map((a) => a.g)).size).toBe(1);
      expect(alerts[3]!.g).not.toBe(alerts[0]!.g);
      const left = await queryRows<{ failed: string | null }>(database.db, sql`select failed from event_intake`);
      expect(left).toHaveLength(1);
      expect(left[0]!.failed).toMatch(/no longer parses/);
      expect(writer.stats.failed).toBe(1);
      await database.db.execute(sql`delete from event_intake`);
      // the same alerts sent again through the hook are deduplicated onto them
      const again = await t.hook('/hooks/alertmanager', firing(3, 0, 'IntakeA'), PROM_TOKEN);
      expect(again.status).toBe(200);
      const [counts] = await queryRows<{ n: number; total: number }>(database.db, sql`select count(*)::int as n, sum(count)::int as total from alerts where dedup_key like 'fp-IntakeA-%'`);
      expect(counts).toEqual({ n: 3, total: 6 });
    });

    it('stores every body byte for byte, whatever characters it holds, several rows in one statement (small bodies as JSON, large ones bound)', async () => {
      const lane = 9;
      const small = ['{"a":"quote \\" backslash \\\\ slash / \\u0000 escaped nul"}', '{"ü":"Grüße 🚨 \\ud83d\\udea8","nl":"a\\nb\\tc"}', '[]'];
      for (const texts of [small, [...small, 'x'.repeat(200_000)]]) {
        const bodies = texts.map((t, i) => ({ events: i + 1, body: t, source: i % 2 ? ('alertmanager' as const) : null, integration: i % 2 ? `int-${i}` : null }));
        await storeIntake(database.db, lane, bodies, clock.now(), texts.length === 3);
        const back = await queryRows<{ events: number; body: string; source: string | null; integration: string | null }>(database.db, sql`select events, body, source, integration from event_intake where lane = ${lane} order by id`);
        expect(back).toEqual(bodies);
        await database.db.execute(sql`delete from event_intake where lane = ${lane}`);
      }
      await database.db.execute(sql`delete from timers where key = ${`${INTAKE_TIMER}:${lane}`}`);
    });

    it('keeps a row whose transaction lost its connection (it is not set aside as bad) and applies it on the next wake', async () => {
      // tread's database drops the connection at the end of the next two transactions (the batch, then the row on its own)
      const app = t.tread.app;
      let drops = 2;
      const db = new Proxy(app.db, {
        get(target, key) {
          if (key !== 'transaction') return Reflect.get(target, key) as unknown;
          return (work: (tx: unknown) => Promise<unknown>) => target.transaction(async (tx) => {
            const r = await work(tx);
            if (drops > 0) {
              drops--;
              throw Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' });
            }
            return r;
          });
        },
      });
      const faulty = Object.create(app, { db: { value: db } }) as typeof app;
      const writer = new EventWriter(faulty, () => {}, { lanes: 1, lullMs: 5 });
      await writer.settled();
      drops = 2;
      await storeIntake(database.db, 0, [intakeBody([], { source: 'alertmanager', integration: 'prometheus', body: Buffer.from(JSON.stringify(firing(2, 0, 'Dropped'))) })], clock.now(), false);
      writer.wakeAll();
      await writer.settled();
      expect(drops).toBe(0);
      expect(writer.stats.failed).toBe(0);
      const kept = await queryRows<{ failed: string | null }>(database.db, sql`select failed from event_intake where lane = 0`);
      expect(kept).toEqual([{ failed: null }]);
      // the safety-net timer (or the next request) wakes the lane: the row is applied
      writer.wakeAll();
      await writer.settled();
      expect(await queryRows(database.db, sql`select id from event_intake`)).toEqual([]);
      const alerts = await queryRows<{ k: string }>(database.db, sql`select dedup_key as k from alerts where dedup_key like 'fp-Dropped-%' order by dedup_key`);
      expect(alerts.map((a) => a.k)).toEqual(['fp-Dropped-0', 'fp-Dropped-1']);
    });

    it('stores a burst first and applies it after the burst (or after the maximum delay)', async () => {
      const event = (i: number): IncomingEvent[] => {
        const parsed = parseAlertmanager(firing(1, i, 'Burst'), prometheus);
        if (!parsed.ok) throw new Error('fixture');
        return parsed.events;
      };
      const burst = async (writer: EventWriter, ms: number) => {
        const sent: Promise<unknown>[] = [];
        const until = performance.now() + ms;
        for (let i = 0; performance.now() < until; i++) {
          sent.push(writer.submit(event(i)));
          await new Promise((r) => setTimeout(r, 40));
        }
        await Promise.all(sent);
        return sent.length;
      };
      // A new writer's lane is due at start (a stopped process may have left rows), so the first requests go to the
      // intake; arrivals every 40 ms then keep a lull of 600 ms from starting: nothing is applied until the burst ends.
      const patient = new EventWriter(t.tread.app, () => {}, { lanes: 1, lullMs: 600, maxDelayMs: 30_000 });
      const n = await burst(patient, 800);
      expect(n).toBeGreaterThan(5);
      expect(patient.stats.queued).toBe(n);
      expect(patient.stats.batches).toBe(0);
      await patient.settled();
      expect(patient.stats.batches).toBeGreaterThan(0);
      expect(patient.stats.events).toBe(n);
      // with a maximum delay shorter than the burst, the lane applies while requests still arrive
      const bounded = new EventWriter(t.tread.app, () => {}, { lanes: 1, lullMs: 600, maxDelayMs: 150 });
      await burst(bounded, 1200);
      expect(bounded.stats.batches).toBeGreaterThan(1);
      await bounded.settled();
      await t.settle();
    });
  });
}
