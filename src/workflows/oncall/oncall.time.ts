/** Wall-clock time in IANA time zones (DST-aware), without a date library: Intl does the zone rules. Pure. */
import { zonedParts } from '../../core/business-hours.js';
import { badInput } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';

/** A local calendar date. `month` is 1-12. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** A local date and time of day (minutes precision is enough for schedules). */
export interface LocalDateTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
}

/** True for a time zone name Intl knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock date and time of an instant in a zone (offsets cached per quarter hour, see `zonedParts`). */
export function localParts(at: Date, timeZone: string): LocalDateTime {
  const { year, month, day, hour, minute, second } = zonedParts(at, timeZone);
  return { year, month, day, hour, minute, second };
}

/** The zone's offset from UTC at an instant, in ms (Berlin in summer: +7 200 000). */
export function offsetMs(at: Date, timeZone: string): number {
  const p = localParts(at, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

function sameWallTime(a: LocalDateTime, b: LocalDateTime): boolean {
  return a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute;
}

/**
 * The instant a wall-clock time happens in a zone. A time skipped by a DST change (02:30 on a spring-forward night)
 * is moved forward by the gap (03:30); a time that happens twice (autumn) resolves to the first one.
 */
export function zonedToUtc(local: LocalDate & { hour?: number; minute?: number; second?: number }, timeZone: string): Date {
  const want: LocalDateTime = { year: local.year, month: local.month, day: local.day, hour: local.hour ?? 0, minute: local.minute ?? 0, second: local.second ?? 0 };
  const key = `${timeZone}|${want.year}-${want.month}-${want.day} ${want.hour}:${want.minute}:${want.second}`;
  const cached = zonedCache.get(key);
  if (cached !== undefined) return new Date(cached);
  const result = zonedToUtcUncached(want, timeZone);
  if (zonedCache.size >= 50_000) zonedCache.clear();
  zonedCache.set(key, result.getTime());
  return result;
}

/** Schedules ask for the same handoffs over and over: remember the answers (zone rules do not change while running). */
const zonedCache = new Map<string, number>();

function zonedToUtcUncached(want: LocalDateTime, timeZone: string): Date {
  const guess = Date.UTC(want.year, want.month - 1, want.day, want.hour, want.minute, want.second);
  const before = offsetMs(new Date(guess - 86_400_000), timeZone);
  const after = offsetMs(new Date(guess + 86_400_000), timeZone);
  const candidates = [...new Set([guess - before, guess - after])]
    .filter((t) => sameWallTime(localParts(new Date(t), timeZone), want))
    .sort((a, b) => a - b);
  return new Date(candidates[0] ?? guess - before);
}

/** Days from one local date to another (calendar days, DST-free). */
export function daysBetween(from: LocalDate, to: LocalDate): number {
  return Math.round((Date.UTC(to.year, to.month - 1, to.day) - Date.UTC(from.year, from.month - 1, from.day)) / 86_400_000);
}

/** A local date moved by whole days. */
export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** Day of the week of a local date: 0 = Monday … 6 = Sunday. */
export function weekday(date: LocalDate): number {
  return (new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay() + 6) % 7;
}

/** Parses `HH:MM` into minutes after midnight. */
export function parseTimeOfDay(text: string): number | undefined {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** Parses `YYYY-MM-DD` into a local date (checks the day exists). */
export function parseLocalDate(text: string): LocalDate | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const check = addDays(date, 0);
  return check.year === date.year && check.month === date.month && check.day === date.day ? date : undefined;
}

const displayFormatters = new Map<string, Intl.DateTimeFormat>();

/** Formats an instant for a reader in their zone, naming the zone: `Tue 6 Jan 09:00 CET`. */
export function formatInZone(at: Date, timeZone: string, options: { withYear?: boolean } = {}): string {
  const key = `${timeZone}|${options.withYear ? 'y' : ''}`;
  let f = displayFormatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
      ...(options.withYear ? { year: 'numeric' } : {}),
    });
    displayFormatters.set(key, f);
  }
  const parts = f.formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const zone = get('timeZoneName');
  const date = `${get('weekday')} ${get('day')} ${get('month')}${options.withYear ? ` ${get('year')}` : ''}`;
  return `${date} ${get('hour')}:${get('minute')} ${zone === 'UTC' || zone === 'GMT' ? 'UTC' : zone}`;
}

/**
 * Parses a time written in a command: `now`, `+2h` (from `base`), `2026-12-01T09:00` or `2026-12-01` (in `timeZone`),
 * or an ISO time with `Z` or an offset. Throws a coded error with the accepted forms.
 */
export function parseWhen(text: string, options: { now: Date; base?: Date; timeZone: string; field: string }): Date {
  const t = text.trim();
  const fail = () => badInput('oncall.bad_time',
    `${options.field}: "${text}" is not a time I understand. Write \`now\`, \`+2h\` (a duration: 30m, 2h, 1d), ` +
    `\`2026-12-01T09:00\` (in ${options.timeZone}) or \`2026-12-01\`.`, [{ path: options.field, message: 'not a time' }]);
  if (/^now$/i.test(t)) return new Date(options.now);
  if (t.startsWith('+')) {
    const ms = parseDuration(t.slice(1));
    if (ms === undefined) throw fail();
    return new Date((options.base ?? options.now).getTime() + ms);
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
  if (!m) throw fail();
  const date = parseLocalDate(m[1]!);
  const hour = m[2] === undefined ? 0 : Number(m[2]);
  const minute = m[3] === undefined ? 0 : Number(m[3]);
  const second = m[4] === undefined ? 0 : Number(m[4]);
  if (!date || hour > 23 || minute > 59 || second > 59) throw fail();
  if (m[5]) {
    const zone = m[5].toUpperCase();
    const offset = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2))) * 60_000;
    return new Date(Date.UTC(date.year, date.month - 1, date.day, hour, minute, second) - offset);
  }
  return zonedToUtc({ ...date, hour, minute, second }, options.timeZone);
}
