import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/core/errors.js';
import { formatInZone, zonedToUtc } from '../../../src/core/time-zone.js';
import { parseWhen } from '../../../src/workflows/oncall/oncall.time.js';

const now = new Date('2026-03-10T12:00:00Z');

describe('parseWhen', () => {
  const opts = { now, timeZone: 'Europe/Berlin', field: 'from' };

  it('reads now and +durations', () => {
    expect(parseWhen('now', opts)).toEqual(now);
    expect(parseWhen('NOW', opts)).toEqual(now);
    expect(parseWhen('+2h', opts).toISOString()).toBe('2026-03-10T14:00:00.000Z');
    expect(parseWhen('+1d12h', opts).toISOString()).toBe('2026-03-12T00:00:00.000Z');
    expect(parseWhen('+8h', { ...opts, base: new Date('2026-03-11T00:00:00Z') }).toISOString()).toBe('2026-03-11T08:00:00.000Z');
  });

  it('reads local times in the given zone', () => {
    expect(parseWhen('2026-12-01T09:00', opts).toISOString()).toBe('2026-12-01T08:00:00.000Z'); // CET
    expect(parseWhen('2026-07-01T09:00', opts).toISOString()).toBe('2026-07-01T07:00:00.000Z'); // CEST
    expect(parseWhen('2026-12-01', opts).toISOString()).toBe('2026-11-30T23:00:00.000Z');
    expect(parseWhen('2026-12-01T09:00', { ...opts, timeZone: 'America/New_York' }).toISOString()).toBe('2026-12-01T14:00:00.000Z');
  });

  it('honours an explicit offset', () => {
    expect(parseWhen('2026-12-01T09:00Z', opts).toISOString()).toBe('2026-12-01T09:00:00.000Z');
    expect(parseWhen('2026-12-01T09:00+05:30', opts).toISOString()).toBe('2026-12-01T03:30:00.000Z');
  });

  it.each(['tomorrow', '+', '+2x', '2026-13-01T09:00', '2026-02-30', '2026-12-01T25:00', '09:00', ''])('rejects %j with a coded error naming the field', (text) => {
    try {
      parseWhen(text, opts);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DomainError);
      expect((e as DomainError).code).toBe('oncall.bad_time');
      expect((e as DomainError).message).toMatch(/^from: /);
    }
  });
});

describe('zonedToUtc and formatInZone', () => {
  it('converts wall-clock times with DST', () => {
    expect(zonedToUtc({ year: 2026, month: 1, day: 5, hour: 9 }, 'Europe/Berlin').toISOString()).toBe('2026-01-05T08:00:00.000Z');
    expect(zonedToUtc({ year: 2026, month: 6, day: 5, hour: 9 }, 'Europe/Berlin').toISOString()).toBe('2026-06-05T07:00:00.000Z');
    expect(zonedToUtc({ year: 2026, month: 6, day: 5, hour: 9 }, 'Asia/Kolkata').toISOString()).toBe('2026-06-05T03:30:00.000Z');
    expect(zonedToUtc({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, 'America/New_York').toISOString()).toBe('2026-03-08T07:30:00.000Z'); // gap -> 03:30 EDT
  });

  it('names the zone', () => {
    expect(formatInZone(new Date('2026-01-06T08:00:00Z'), 'Europe/Berlin')).toBe('Tue 6 Jan 09:00 CET');
    expect(formatInZone(new Date('2026-01-06T08:00:00Z'), 'UTC')).toBe('Tue 6 Jan 08:00 UTC');
  });
});
