/** Times typed in on-call commands (`now`, `+2h`, `2026-12-01T09:00` in the reader's zone). Pure. */
import { parseLocalDate, zonedToUtc } from '../../core/time-zone.js';
import { badInput } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';

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
