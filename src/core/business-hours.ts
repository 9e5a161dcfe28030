/** SLA time: wall-clock time, or only the business hours of the organisation (days, start–end, holidays, time zone). */
import type { BusinessHours } from './config/org.js';
import { zonedParts, zonedTime } from './time-zone.js';

const DAY_KEYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** The business-hours windows [start, end) of the local day containing `at`, or undefined on a closed day. */
function windowOfDay(at: Date, bh: BusinessHours, tz: string): { start: Date; end: Date } | undefined {
  const p = zonedParts(at, tz);
  const iso = `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
  if (!bh.days.includes(DAY_KEYS[p.weekday] as (typeof bh.days)[number]) || bh.holidays.includes(iso)) return undefined;
  const [sh, sm] = bh.start.split(':').map(Number) as [number, number];
  const [eh, em] = bh.end.split(':').map(Number) as [number, number];
  return { start: zonedTime(p.year, p.month, p.day, sh, sm, tz), end: zonedTime(p.year, p.month, p.day, eh, em, tz) };
}

/** Midnight of the next local day. */
function nextDay(at: Date, tz: string): Date {
  const p = zonedParts(at, tz);
  const noon = zonedTime(p.year, p.month, p.day, 12, 0, tz);
  const q = zonedParts(new Date(noon.getTime() + 86_400_000), tz);
  return zonedTime(q.year, q.month, q.day, 0, 0, tz);
}

/** Adds `ms` of SLA time to `start`. Without business hours, plain addition. */
export function addSlaTime(start: Date, ms: number, bh: BusinessHours | undefined, orgTz: string): Date {
  if (!bh) return new Date(start.getTime() + ms);
  const tz = bh.timezone ?? orgTz;
  let cursor = start;
  let left = ms;
  for (let guard = 0; guard < 3700; guard++) {
    const w = windowOfDay(cursor, bh, tz);
    if (w && cursor < w.end) {
      const from = cursor < w.start ? w.start : cursor;
      const available = w.end.getTime() - from.getTime();
      if (left <= available) return new Date(from.getTime() + left);
      left -= available;
    }
    cursor = nextDay(cursor, tz);
  }
  return new Date(start.getTime() + ms); // no business day within ten years: fall back to wall-clock time
}

/** SLA time elapsed between two instants. */
export function slaTimeBetween(from: Date, to: Date, bh: BusinessHours | undefined, orgTz: string): number {
  if (to <= from) return 0;
  if (!bh) return to.getTime() - from.getTime();
  const tz = bh.timezone ?? orgTz;
  let total = 0;
  let cursor = from;
  for (let guard = 0; guard < 3700 && cursor < to; guard++) {
    const w = windowOfDay(cursor, bh, tz);
    if (w) {
      const a = Math.max(cursor.getTime(), w.start.getTime());
      const b = Math.min(to.getTime(), w.end.getTime());
      if (b > a) total += b - a;
    }
    cursor = nextDay(cursor, tz);
  }
  return total;
}

/**
 * The SLA budget of a target in business time: whole days (`3d`) mean business days, the rest stays as written.
 * `3d` on a 09:00–17:00 schedule is 24 business hours (three working days), not 72.
 */
export function slaBudgetMs(ms: number, bh: BusinessHours | undefined): number {
  if (!bh) return ms;
  const [sh, sm] = bh.start.split(':').map(Number) as [number, number];
  const [eh, em] = bh.end.split(':').map(Number) as [number, number];
  const dayMs = ((eh * 60 + em) - (sh * 60 + sm)) * 60_000;
  const days = Math.floor(ms / 86_400_000);
  return days * dayMs + (ms - days * 86_400_000);
}
