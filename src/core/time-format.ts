/** Times shown to people: in their time zone (else the organisation's), with the zone named. */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One cached formatter per zone and style (building Intl formatters is expensive). */
function formatter(timeZone: string, style: 'day' | 'time' | 'full'): Intl.DateTimeFormat {
  const key = `${timeZone}|${style}`;
  let f = formatters.get(key);
  if (!f) {
    const opts: Intl.DateTimeFormatOptions = style === 'day'
      ? { timeZone, dateStyle: 'short' }
      : style === 'time'
        ? { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }
        : { timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' };
    f = new Intl.DateTimeFormat(style === 'day' ? 'en-CA' : 'en-GB', opts);
    formatters.set(key, f);
  }
  return f;
}

/** `14:32 UTC` today, `Tue 3 Mar 14:32 CET` otherwise. */
export function formatTime(at: Date, timeZone: string, now?: Date): string {
  const day = formatter(timeZone, 'day');
  const sameDay = now !== undefined && day.format(at) === day.format(now);
  return formatter(timeZone, sameDay ? 'time' : 'full').format(at).replace(',', '');
}
