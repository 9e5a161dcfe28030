import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../db/client.js';
import { incidentStats, quantile, statsMessage } from '../../../src/workflows/incident/incident.stats.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { incidentRow, lastIncidentId, replyText, startIncidentTread, type IncidentTestTread } from './incident.fakes.js';

const S = 1000;
const NOW = '2026-03-01T12:00:00Z';

describe('quantile (nearest rank)', () => {
  it('picks the value at rank ceil(q·n)', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([7], 0.9)).toBe(7);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9)).toBe(10);
  });
});

for (const driver of drivers) {
  describe(`incident stats on a known data set (${driver})`, () => {
    let database: Database;
    let t: IncidentTestTread;
    const ids: Record<string, number> = {};

    /** Opens an incident at a time and returns its number. */
    const openAt = async (name: string, when: string, line: string) => {
      t.clock.set(when);
      await t.command('alice', `/incident ${line}`);
      ids[name] = await lastIncidentId(t);
      return ids[name]!;
    };
    /** Runs a command `after` ms after the incident was opened. */
    const later = async (name: string, when: string, after: number, line: string) => {
      t.clock.set(new Date(new Date(when).getTime() + after));
      const reply = await t.command('bob', `/incident ${line.replace('#', `INC-${ids[name]}`)}`);
      expect(replyText(reply)).not.toMatch(/cannot|may not|Which incident/);
    };
    const tickAt = async (when: string, after: number) => {
      t.clock.set(new Date(new Date(when).getTime() + after));
      await t.tick();
    };

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      // Timers run only where this data set says (tickAt). Problem management searches the known error database after each
      // new incident, which runs the scheduler at once (closing or breaching what is due then): it is left out here.
      t = await startIncidentTread(database, { without: ['problem'] });
      // I: before every window.
      await openAt('I', '2025-11-01T09:00:00Z', 'Old one');
      await later('I', '2025-11-01T09:00:00Z', 30 * S, 'ack #');
      await later('I', '2025-11-01T09:00:00Z', 60 * S, 'resolve # done');
      // H: in 90d only.
      await openAt('H', '2026-01-05T09:00:00Z', 'January printer');
      await later('H', '2026-01-05T09:00:00Z', 90 * S, 'ack #');
      await later('H', '2026-01-05T09:00:00Z', 3000 * S, 'resolve # done');
      // G: in 30d and 90d.
      await openAt('G', '2026-02-10T09:00:00Z', 'February VPN');
      await later('G', '2026-02-10T09:00:00Z', 1200 * S, 'ack #');
      await later('G', '2026-02-10T09:00:00Z', 14_400 * S, 'resolve # done');
      // The last 7 days: A, B, C (P2), D (breaches both), E (P1, open), F (P5, cancelled), J (P4, untouched).
      await openAt('A', '2026-02-25T10:00:00Z', 'Checkout 502');
      await later('A', '2026-02-25T10:00:00Z', 120 * S, 'ack #');
      await later('A', '2026-02-25T10:00:00Z', 3600 * S, 'resolve # done');
      await openAt('B', '2026-02-26T10:00:00Z', 'Slow search');
      await later('B', '2026-02-26T10:00:00Z', 300 * S, 'ack #');
      await later('B', '2026-02-26T10:00:00Z', 10_800 * S, 'resolve # done');
      await openAt('C', '2026-02-26T14:00:00Z', 'Refunds fail impact:high');
      await later('C', '2026-02-26T14:00:00Z', 600 * S, 'ack #');
      await later('C', '2026-02-26T14:00:00Z', 7200 * S, 'resolve # done');
      await openAt('D', '2026-02-27T00:00:00Z', 'Night batch failed');
      await tickAt('2026-02-27T00:00:00Z', 31 * 60 * S); // response breached at 30m
      await later('D', '2026-02-27T00:00:00Z', 2400 * S, 'ack #');
      await tickAt('2026-02-27T00:00:00Z', 24 * 3600 * S + 60 * S); // resolution breached at 1d
      await later('D', '2026-02-27T00:00:00Z', 108_000 * S, 'resolve # done');
      await openAt('E', '2026-02-28T20:00:00Z', 'Site down impact:high urgency:high');
      await later('E', '2026-02-28T20:00:00Z', 60 * S, 'start #');
      await openAt('F', '2026-03-01T08:00:00Z', 'Typo impact:low urgency:low');
      await later('F', '2026-03-01T08:00:00Z', 600 * S, 'cancel # not ours');
      await openAt('J', '2026-03-01T11:00:00Z', 'Font looks odd impact:medium urgency:low');
      t.clock.set(NOW);
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    it('the data set is what the test meant to build', async () => {
      const state = async (n: string) => (await incidentRow(t, ids[n]!)).state;
      expect(await state('I')).toBe('closed'); // closed by the scheduler at the first tick
      expect(await state('H')).toBe('closed');
      expect(await state('G')).toBe('closed');
      expect(await state('A')).toBe('resolved');
      expect(await state('D')).toBe('resolved');
      expect(await incidentRow(t, ids.D!)).toMatchObject({ responseBreached: true, resolutionBreached: true });
      expect(await incidentRow(t, ids.E!)).toMatchObject({ priority: 1, state: 'in_progress' });
      expect(await incidentRow(t, ids.C!)).toMatchObject({ priority: 2 });
      expect(await incidentRow(t, ids.J!)).toMatchObject({ priority: 4, state: 'new' });
    });

    it('7 days: counts, MTTA and MTTR median and p90, SLA compliance (cancelled incidents excluded)', async () => {
      const s = await incidentStats(t.db, new Date(NOW), 7);
      expect(s.total).toBe(7);
      expect(s.byPriority).toEqual({ P1: 1, P2: 1, P3: 3, P4: 1, P5: 1 });
      expect(s.byState).toEqual({ new: 1, acknowledged: 0, in_progress: 1, on_hold: 0, resolved: 4, closed: 0, cancelled: 1 });
      // MTTA of A 120, B 300, C 600, D 2400, E 60 -> sorted 60 120 300 600 2400; mean 3480/5
      expect(s.mtta).toEqual({ count: 5, meanSeconds: 696, medianSeconds: 300, p90Seconds: 2400 });
      // MTTR of A 3600, B 10800, C 7200, D 108000 -> sorted 3600 7200 10800 108000; nearest rank: median rank 2, p90 rank 4
      expect(s.mttr).toEqual({ count: 4, meanSeconds: 32_400, medianSeconds: 7200, p90Seconds: 108_000 });
      // response: A B C E met, D breached; resolution: A B C met, D breached; J and E have not reached either
      expect(s.sla).toEqual({ responseMet: 4, responseBreached: 1, resolutionMet: 3, resolutionBreached: 1, responseCompliance: 80, resolutionCompliance: 75 });
    });

    it('30 days adds G', async () => {
      const s = await incidentStats(t.db, new Date(NOW), 30);
      expect(s.total).toBe(8);
      expect(s.byState).toMatchObject({ closed: 1, resolved: 4 });
      // 60 120 300 600 1200 2400: median rank 3, p90 rank 6; mean 4680/6
      expect(s.mtta).toEqual({ count: 6, meanSeconds: 780, medianSeconds: 300, p90Seconds: 2400 });
      // 3600 7200 10800 14400 108000: median rank 3, p90 rank 5; mean 144000/5
      expect(s.mttr).toEqual({ count: 5, meanSeconds: 28_800, medianSeconds: 10_800, p90Seconds: 108_000 });
      expect(s.sla).toMatchObject({ responseMet: 5, responseBreached: 1, responseCompliance: 83.3, resolutionMet: 4, resolutionBreached: 1, resolutionCompliance: 80 });
    });

    it('90 days adds H but not I', async () => {
      const s = await incidentStats(t.db, new Date(NOW), 90);
      expect(s.total).toBe(9);
      // 60 90 120 300 600 1200 2400: median rank 4, p90 rank 7; mean 4770/7 = 681.4
      expect(s.mtta).toEqual({ count: 7, meanSeconds: 681, medianSeconds: 300, p90Seconds: 2400 });
      // 3000 3600 7200 10800 14400 108000: median rank 3, p90 rank 6; mean 147000/6
      expect(s.mttr).toEqual({ count: 6, meanSeconds: 24_500, medianSeconds: 7200, p90Seconds: 108_000 });
      expect(s.sla).toMatchObject({ responseCompliance: 85.7, resolutionCompliance: 83.3 });
    });

    it('/incident stats shows the same figures in words', async () => {
      const text = replyText(await t.command('dave', '/incident stats 7d'));
      expect(text).toBe([
        'Incidents, last 7 days: 7',
        'By priority: P1 1 · P2 1 · P3 3 · P4 1 · P5 1',
        'By state: new 1 · in progress 1 · resolved 4 · cancelled 1',
        'MTTA: mean 11m 36s · median 5m · p90 40m (5 acknowledged)',
        'MTTR: mean 9h · median 2h · p90 1d 6h (4 resolved)',
        'SLA response: 80% met (4 met, 1 breached)',
        'SLA resolution: 75% met (3 met, 1 breached)',
        '2026-02-22 12:00 – 2026-03-01 12:00 UTC',
      ].join('\n'));
      expect(replyText(await t.command('dave', '/incident stats 90d'))).toContain('Incidents, last 90 days: 9');
    });

    it('a window without incidents shows dashes instead of dividing by zero', () => {
      const empty = {
        windowDays: 7, from: '2026-02-22T12:00:00.000Z', to: NOW, total: 0, byPriority: { P1: 0, P2: 0, P3: 0, P4: 0, P5: 0 }, byState: {},
        mtta: { count: 0, meanSeconds: null, medianSeconds: null, p90Seconds: null }, mttr: { count: 0, meanSeconds: null, medianSeconds: null, p90Seconds: null },
        sla: { responseMet: 0, responseBreached: 0, resolutionMet: 0, resolutionBreached: 0, responseCompliance: null, resolutionCompliance: null },
      };
      const text = replyText({ kind: 'ephemeral', message: statsMessage(empty) });
      expect(text).toContain('By priority: none');
      expect(text).toContain('MTTA: mean — · median — · p90 — (0 acknowledged)');
      expect(text).toContain('SLA response: —');
    });
  });
}
