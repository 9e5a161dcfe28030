/**
 * Time zones, the one module for them: IANA zone names, wall-clock time ↔ UTC (DST-aware, without a date library: Intl
 * knows the zone rules), local calendar dates, and times shown to people in their zone with the zone named. Pure.
 */

/** A local calendar date. `month` is 1-12. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** A local date and time of day. */
export interface LocalDateTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
}

/** A local date and time with its day of the week (0 = Sunday … 6 = Saturday, like `Date.getUTCDay`). */
export interface ZonedParts extends LocalDateTime {
  weekday: number;
}

/** True for an IANA time zone name this runtime knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}

// Building an Intl.DateTimeFormat costs far more than using one: keep one per zone and style.
const formatters = new Map<string, Intl.DateTimeFormat>();
function cached(key: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let f = formatters.get(key);
  if (!f) formatters.set(key, (f = make()));
  return f;
}

/** Local date parts from Intl (slow: a few microseconds each). */
function intlParts(at: Date, timeZone: string): ZonedParts {
  const parts = cached(`parts|${timeZone}`, () => new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', weekday: 'short',
  })).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '0';
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(get('weekday'));
  return { year: +get('year'), month: +get('month'), day: +get('day'), hour: +get('hour') % 24, minute: +get('minute'), second: +get('second'), weekday };
}

/** UTC offset (ms) of a zone at a whole second. */
function offsetAt(ms: number, timeZone: string): number {
  const p = intlParts(new Date(ms), timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - ms;
}

const QUARTER_HOUR = 900_000;
/** Offsets by zone and quarter hour (zones change offset on quarter hours); NaN where one changes inside the quarter. */
const offsets = new Map<string, number>();

/** The local wall-clock date and time of an instant in a zone (offsets cached per quarter hour). */
export function zonedParts(at: Date, timeZone: string): ZonedParts {
  const t = at.getTime();
  const quarter = Math.floor(t / QUARTER_HOUR);
  const key = `${timeZone}|${quarter}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    const first = offsetAt(quarter * QUARTER_HOUR, timeZone);
    offset = first === offsetAt(quarter * QUARTER_HOUR + QUARTER_HOUR - 1000, timeZone) ? first : Number.NaN;
    if (offsets.size >= 20_000) offsets.clear();
    offsets.set(key, offset);
  }
  if (Number.isNaN(offset)) return intlParts(at, timeZone);
  const d = new Date(t + offset);
  return {
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(), weekday: d.getUTCDay(),
  };
}

/** The zone's offset from UTC at an instant, in ms (Berlin in summer: +7 200 000). */
export function offsetMs(at: Date, timeZone: string): number {
  const p = zonedParts(at, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(at.getTime() / 1000) * 1000;
}

function sameWallTime(a: LocalDateTime, b: LocalDateTime): boolean {
  return a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute;
}

/** Schedules and business hours ask for the same wall-clock times over and over (zone rules do not change while running). */
const wallCache = new Map<string, number>();

/**
 * The instant a wall-clock time happens in a zone. A time skipped by a DST change (02:30 on a spring-forward night)
 * is moved forward by the gap (03:30); a time that happens twice (autumn) resolves to the first one. Out-of-range
 * fields roll over like `Date.UTC` (day 32 of January is 1 February).
 */
export function zonedToUtc(local: LocalDate & { hour?: number; minute?: number; second?: number }, timeZone: string): Date {
  const n = new Date(Date.UTC(local.year, local.month - 1, local.day, local.hour ?? 0, local.minute ?? 0, local.second ?? 0));
  const want: LocalDateTime = {
    year: n.getUTCFullYear(), month: n.getUTCMonth() + 1, day: n.getUTCDate(), hour: n.getUTCHours(), minute: n.getUTCMinutes(), second: n.getUTCSeconds(),
  };
  const key = `${timeZone}|${n.getTime()}`;
  const hit = wallCache.get(key);
  if (hit !== undefined) return new Date(hit);
  const guess = n.getTime();
  const before = offsetMs(new Date(guess - 86_400_000), timeZone);
  const after = offsetMs(new Date(guess + 86_400_000), timeZone);
  const candidates = [...new Set([guess - before, guess - after])]
    .filter((t) => sameWallTime(zonedParts(new Date(t), timeZone), want))
    .sort((a, b) => a - b);
  const result = candidates[0] ?? guess - before;
  if (wallCache.size >= 50_000) wallCache.clear();
  wallCache.set(key, result);
  return new Date(result);
}

/** `zonedToUtc` with positional fields. */
export function zonedTime(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): Date {
  return zonedToUtc({ year, month, day, hour, minute }, timeZone);
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

/** `2026-12-01` for a local date. */
export function formatLocalDate(date: LocalDate): string {
  return `${date.year}-${String(date.month).padStart(2, '0')}-${String(date.day).padStart(2, '0')}`;
}

/** `14:32 UTC` when `at` is on the same local day as `now`, `Tue 3 Mar 14:32 CET` otherwise. */
export function formatTime(at: Date, timeZone: string, now?: Date): string {
  const day = cached(`day|${timeZone}`, () => new Intl.DateTimeFormat('en-CA', { timeZone, dateStyle: 'short' }));
  const sameDay = now !== undefined && day.format(at) === day.format(now);
  const style = sameDay
    ? cached(`time|${timeZone}`, () => new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }))
    : fullFormatter(timeZone, false);
  return style.format(at).replace(',', '');
}

function fullFormatter(timeZone: string, withYear: boolean): Intl.DateTimeFormat {
  return cached(`full|${timeZone}|${withYear ? 'y' : ''}`, () => new Intl.DateTimeFormat('en-GB', {
    timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    ...(withYear ? { year: 'numeric' } : {}),
  }));
}

/** An instant for a reader in their zone, always with the date: `Tue 6 Jan 09:00 CET` (`withYear`: `Tue 6 Jan 2026 09:00 CET`). */
export function formatInZone(at: Date, timeZone: string, options: { withYear?: boolean } = {}): string {
  const parts = fullFormatter(timeZone, Boolean(options.withYear)).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const zone = get('timeZoneName');
  const date = `${get('weekday')} ${get('day')} ${get('month')}${options.withYear ? ` ${get('year')}` : ''}`;
  return `${date} ${get('hour')}:${get('minute')} ${zone === 'UTC' || zone === 'GMT' ? 'UTC' : zone}`;
}

/** A clock time to the second with the zone named, for log lines: `14:32:05 CET`. */
export function formatClock(at: Date, timeZone: string): string {
  const f = cached(`clock|${timeZone}`, () => new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }));
  return f.format(at).replace(/ GMT$/, ' UTC');
}
