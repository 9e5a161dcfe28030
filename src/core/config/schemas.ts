/** zod pieces every section of the organisation file uses: ids, times of day, time zones. */
import { z } from 'zod';

/** A lower-case id or name (`checkout`, `web-primary`). */
export const idSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'use lower-case letters, digits, ".", "_" or "-"');

/** A time of day, `HH:MM` on a 24-hour clock. */
export const timeOfDaySchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'write a time as HH:MM (24-hour)');

/** True for an IANA time zone name this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone (`Europe/Berlin`). */
export const timezoneSchema = z.string().refine(isTimeZone, 'not an IANA time zone (like Europe/Berlin)');
