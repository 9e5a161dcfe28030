import { describe, expect, it } from 'vitest';
import { scheduleSchema } from '../../../src/workflows/oncall/oncall.config.js';
import { nextOnCall, shiftsBetween, toSchedule, whoIsOnCall, type Override, type Schedule } from '../../../src/workflows/oncall/oncall.schedule.js';

/** A schedule from config-shaped input. */
function schedule(input: Record<string, unknown>, orgZone = 'UTC'): Schedule {
  return toSchedule(scheduleSchema.parse({ name: 'primary', ...input }), orgZone);
}

const at = (iso: string) => new Date(iso);
const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;
const who = (s: Schedule, when: string, overrides: Override[] = []) => {
  const r = whoIsOnCall(s, overrides, at(when));
  return { person: r.person, until: iso(r.until) };
};

describe('weekly rotation (UTC)', () => {
  const s = schedule({ layers: [{ people: ['alice', 'bob', 'carol'], start: '2026-01-05', handoff: '09:00', length: 'weekly' }] });

  it('starts with the first person at the handoff on the start date', () => {
    expect(who(s, '2026-01-05T09:00:00Z')).toEqual({ person: 'alice', until: '2026-01-12T09:00:00.000Z' });
  });

  it('hands off exactly at the handoff time', () => {
    expect(who(s, '2026-01-12T08:59:59Z').person).toBe('alice');
    expect(who(s, '2026-01-12T09:00:00Z')).toEqual({ person: 'bob', until: '2026-01-19T09:00:00.000Z' });
    expect(who(s, '2026-01-19T09:00:00Z').person).toBe('carol');
  });

  it('wraps around to the first person', () => {
    expect(who(s, '2026-01-26T09:00:00Z')).toEqual({ person: 'alice', until: '2026-02-02T09:00:00.000Z' });
    expect(who(s, '2027-01-04T09:00:00Z').person).toBe(['alice', 'bob', 'carol'][52 % 3]);
  });

  it('has nobody before the first shift, until it starts', () => {
    expect(who(s, '2026-01-05T08:00:00Z')).toEqual({ person: null, until: '2026-01-05T09:00:00.000Z' });
  });

  it('says who is next', () => {
    const next = nextOnCall(s, [], at('2026-01-07T12:00:00Z'));
    expect(next).toEqual({ person: 'bob', from: at('2026-01-12T09:00:00Z'), until: at('2026-01-19T09:00:00Z') });
  });

  it('has no handoff ahead when one person is on the rotation', () => {
    const solo = schedule({ layers: [{ people: ['alice'], start: '2026-01-05', length: 'daily' }] });
    expect(who(solo, '2026-03-01T00:00:00Z')).toEqual({ person: 'alice', until: null });
    expect(nextOnCall(solo, [], at('2026-03-01T00:00:00Z'))).toBeUndefined();
  });
});

describe('daily rotation across DST (Europe/Berlin, handoff 09:00 local)', () => {
  const s = schedule({ timezone: 'Europe/Berlin', layers: [{ people: ['alice', 'bob'], start: '2026-03-27', handoff: '09:00', length: 'daily' }] });

  it('keeps the wall-clock handoff when clocks go forward (a 23-hour shift)', () => {
    // 27 Mar 09:00 CET = 08:00Z alice; 28 Mar 08:00Z bob; 29 Mar (CEST from 02:00) 09:00 = 07:00Z alice.
    expect(who(s, '2026-03-28T08:00:00Z')).toEqual({ person: 'bob', until: '2026-03-29T07:00:00.000Z' });
    expect(who(s, '2026-03-29T06:59:00Z').person).toBe('bob');
    expect(who(s, '2026-03-29T07:00:00Z')).toEqual({ person: 'alice', until: '2026-03-30T07:00:00.000Z' });
  });

  it('keeps the wall-clock handoff when clocks go back (a 25-hour shift)', () => {
    // 24 Oct 2026 09:00 CEST = 07:00Z; 25 Oct (CET from 03:00) 09:00 = 08:00Z.
    const r = whoIsOnCall(s, [], at('2026-10-24T07:00:00Z'));
    expect(iso(r.until)).toBe('2026-10-25T08:00:00.000Z');
    expect(who(s, '2026-10-25T07:59:00Z').person).toBe(r.person);
    expect(who(s, '2026-10-25T08:00:00Z').person).not.toBe(r.person);
  });

  it('moves a handoff that falls into the spring-forward gap to just after it', () => {
    const night = schedule({ timezone: 'Europe/Berlin', layers: [{ people: ['alice', 'bob'], start: '2026-03-27', handoff: '02:30', length: 'daily' }] });
    // 29 Mar 02:30 does not exist in Berlin: the handoff happens at 03:30 CEST = 01:30Z.
    expect(who(night, '2026-03-29T01:29:00Z').until).toBe('2026-03-29T01:30:00.000Z');
    expect(who(night, '2026-03-29T01:30:00Z').until).toBe('2026-03-30T00:30:00.000Z');
  });

  it('takes the first of two 02:30s when clocks go back', () => {
    const night = schedule({ timezone: 'Europe/Berlin', layers: [{ people: ['alice', 'bob'], start: '2026-10-23', handoff: '02:30', length: 'daily' }] });
    // 25 Oct 02:30 happens twice: first at 00:30Z (CEST).
    expect(who(night, '2026-10-25T00:29:00Z').until).toBe('2026-10-25T00:30:00.000Z');
  });
});

describe('weekly rotation across DST (America/New_York)', () => {
  it('hands off at 09:00 local on both sides of the change', () => {
    const s = schedule({ layers: [{ people: ['alice', 'bob'], start: '2026-03-02', handoff: '09:00', length: 'weekly', timezone: 'America/New_York' }] });
    expect(who(s, '2026-03-02T14:00:00Z')).toEqual({ person: 'alice', until: '2026-03-09T13:00:00.000Z' }); // EST -> EDT
    expect(who(s, '2026-11-02T14:00:00Z').until).toBe('2026-11-09T14:00:00.000Z'); // EST again
  });
});

describe('custom lengths', () => {
  it('rotates every 12 hours of elapsed time', () => {
    const s = schedule({ layers: [{ people: ['alice', 'bob'], start: '2026-01-05', handoff: '08:00', length: '12h' }] });
    expect(who(s, '2026-01-05T08:00:00Z')).toEqual({ person: 'alice', until: '2026-01-05T20:00:00.000Z' });
    expect(who(s, '2026-01-05T20:00:00Z')).toEqual({ person: 'bob', until: '2026-01-06T08:00:00.000Z' });
    expect(who(s, '2026-01-10T21:00:00Z').person).toBe('bob');
  });

  it('counts hour lengths in elapsed time across DST, whole days in calendar days', () => {
    const hours = schedule({ timezone: 'Europe/Berlin', layers: [{ people: ['alice', 'bob'], start: '2026-03-28', handoff: '08:00', length: '12h' }] });
    // 28 Mar 08:00 CET = 07:00Z; every 12 h after that, whatever the clocks say.
    expect(who(hours, '2026-03-29T07:00:00Z').until).toBe('2026-03-29T19:00:00.000Z');
    const days = schedule({ timezone: 'Europe/Berlin', layers: [{ people: ['alice', 'bob'], start: '2026-03-27', handoff: '08:00', length: '2d' }] });
    expect(who(days, '2026-03-27T07:00:00Z')).toEqual({ person: 'alice', until: '2026-03-29T06:00:00.000Z' });
    expect(who(days, '2026-03-29T06:00:00Z')).toEqual({ person: 'bob', until: '2026-03-31T06:00:00.000Z' });
  });
});

describe('layers and restrictions', () => {
  const s = schedule({
    layers: [
      { name: 'day', people: ['alice', 'bob'], start: '2026-01-05', handoff: '09:00', length: 'weekly' },
      { name: 'nights', people: ['carol', 'dave'], start: '2026-01-05', handoff: '18:00', length: 'weekly', restrictions: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '18:00', to: '08:00' }] },
    ],
  });

  it('lets a later layer win where it has coverage', () => {
    const r = whoIsOnCall(s, [], at('2026-01-06T20:00:00Z'));
    expect(r).toMatchObject({ person: 'carol', via: 'nights' });
    expect(iso(r.until)).toBe('2026-01-07T08:00:00.000Z');
  });

  it('falls back to the earlier layer outside the restriction', () => {
    const r = whoIsOnCall(s, [], at('2026-01-06T10:00:00Z'));
    expect(r).toMatchObject({ person: 'alice', via: 'day' });
    expect(iso(r.until)).toBe('2026-01-06T18:00:00.000Z');
  });

  it('covers Friday night into Saturday morning, then weekends by the base layer', () => {
    expect(who(s, '2026-01-10T07:00:00Z').person).toBe('carol'); // Sat 07:00, Fri window runs to 08:00
    expect(who(s, '2026-01-10T08:00:00Z')).toEqual({ person: 'alice', until: '2026-01-12T09:00:00.000Z' });
  });

  it('lists shifts between two times', () => {
    const shifts = shiftsBetween(s, [], at('2026-01-06T09:00:00Z'), at('2026-01-07T09:00:00Z'));
    expect(shifts.map((x) => [x.person, iso(x.from)])).toEqual([
      ['alice', '2026-01-06T09:00:00.000Z'], ['carol', '2026-01-06T18:00:00.000Z'], ['alice', '2026-01-07T08:00:00.000Z'],
    ]);
  });

  it('supports whole-day restrictions with 24:00', () => {
    const weekend = schedule({
      layers: [
        { people: ['alice'], start: '2026-01-05', length: 'weekly' },
        { people: ['erin'], start: '2026-01-05', length: 'weekly', restrictions: [{ days: ['sat', 'sun'], from: '00:00', to: '24:00' }] },
      ],
    });
    expect(who(weekend, '2026-01-10T12:00:00Z')).toEqual({ person: 'erin', until: '2026-01-12T00:00:00.000Z' });
    expect(who(weekend, '2026-01-12T00:00:00Z')).toEqual({ person: 'alice', until: '2026-01-17T00:00:00.000Z' });
  });

  it('has nobody when only a restricted layer exists outside its windows', () => {
    const office = schedule({ layers: [{ people: ['alice'], start: '2026-01-05', restrictions: [{ from: '09:00', to: '17:00' }] }] });
    expect(who(office, '2026-01-06T20:00:00Z')).toEqual({ person: null, until: '2026-01-07T09:00:00.000Z' });
    expect(nextOnCall(office, [], at('2026-01-06T10:00:00Z'))).toEqual({ person: 'alice', from: at('2026-01-07T09:00:00Z'), until: at('2026-01-07T17:00:00Z') });
  });
});

describe('overrides', () => {
  const s = schedule({ layers: [{ people: ['alice', 'bob'], start: '2026-01-05', handoff: '09:00', length: 'weekly' }] });

  it('puts the override person on call for its span, then the rotation resumes', () => {
    const o: Override[] = [{ person: 'zoe', from: at('2026-01-06T12:00:00Z'), to: at('2026-01-06T20:00:00Z') }];
    expect(who(s, '2026-01-06T11:59:00Z', o)).toEqual({ person: 'alice', until: '2026-01-06T12:00:00.000Z' });
    expect(whoIsOnCall(s, o, at('2026-01-06T12:00:00Z'))).toMatchObject({ person: 'zoe', via: 'override', until: at('2026-01-06T20:00:00Z') });
    expect(who(s, '2026-01-06T20:00:00Z', o)).toEqual({ person: 'alice', until: '2026-01-12T09:00:00.000Z' });
    expect(nextOnCall(s, o, at('2026-01-06T10:00:00Z'))).toEqual({ person: 'zoe', from: at('2026-01-06T12:00:00Z'), until: at('2026-01-06T20:00:00Z') });
  });

  it('lets the newest override win where two overlap', () => {
    const o: Override[] = [
      { id: 1, person: 'zoe', from: at('2026-01-06T12:00:00Z'), to: at('2026-01-06T20:00:00Z') },
      { id: 2, person: 'yan', from: at('2026-01-06T14:00:00Z'), to: at('2026-01-06T16:00:00Z') },
    ];
    expect(who(s, '2026-01-06T13:00:00Z', o)).toEqual({ person: 'zoe', until: '2026-01-06T14:00:00.000Z' });
    expect(who(s, '2026-01-06T15:00:00Z', o)).toEqual({ person: 'yan', until: '2026-01-06T16:00:00.000Z' });
    expect(who(s, '2026-01-06T16:00:00Z', o)).toEqual({ person: 'zoe', until: '2026-01-06T20:00:00.000Z' });
  });

  it('spans a handoff, and merges with the same person\'s own shift into one "until"', () => {
    const o: Override[] = [{ person: 'bob', from: at('2026-01-12T06:00:00Z'), to: at('2026-01-12T10:00:00Z') }];
    // bob covers from 06:00 through the 09:00 handoff, and his own week follows: one stretch until the next handoff.
    expect(who(s, '2026-01-12T06:00:00Z', o)).toEqual({ person: 'bob', until: '2026-01-19T09:00:00.000Z' });
  });

  it('ignores overrides that have ended or not begun', () => {
    const o: Override[] = [{ person: 'zoe', from: at('2026-01-01T00:00:00Z'), to: at('2026-01-02T00:00:00Z') }];
    expect(who(s, '2026-01-06T12:00:00Z', o).person).toBe('alice');
  });

  it('fills a gap where no layer covers', () => {
    const office = schedule({ layers: [{ people: ['alice'], start: '2026-01-05', restrictions: [{ from: '09:00', to: '17:00' }] }] });
    const o: Override[] = [{ person: 'zoe', from: at('2026-01-06T17:00:00Z'), to: at('2026-01-06T21:00:00Z') }];
    expect(who(office, '2026-01-06T16:00:00Z', o)).toEqual({ person: 'alice', until: '2026-01-06T17:00:00.000Z' });
    expect(who(office, '2026-01-06T18:00:00Z', o)).toEqual({ person: 'zoe', until: '2026-01-06T21:00:00.000Z' });
    expect(nextOnCall(office, o, at('2026-01-06T18:00:00Z'))).toEqual({ person: 'alice', from: at('2026-01-07T09:00:00Z'), until: at('2026-01-07T17:00:00Z') });
  });

  it('is fast enough to ask often', () => {
    const busy = schedule({
      timezone: 'Europe/Berlin',
      layers: [
        { people: ['a', 'b', 'c', 'd'], start: '2026-01-05', length: 'weekly' },
        { people: ['e', 'f'], start: '2026-01-05', length: 'daily', restrictions: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '18:00', to: '08:00' }] },
      ],
    });
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      const t = new Date(Date.parse('2026-03-01T00:00:00Z') + i * 3_600_000);
      whoIsOnCall(busy, [], t);
      nextOnCall(busy, [], t);
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
