/** Times shown to people: in their time zone (else the organisation's), with the zone named. */

/** `14:32 UTC` today, `Tue 3 Mar 14:32 CET` otherwise. */
export function formatTime(at: Date, timeZone: string, now?: Date): string {
  const sameDay = now && new Intl.DateTimeFormat('en-CA', { timeZone, dateStyle: 'short' }).format(at) === new Intl.DateTimeFormat('en-CA', { timeZone, dateStyle: 'short' }).format(now);
  const opts: Intl.DateTimeFormatOptions = sameDay
    ? { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }
    : { timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' };
  return new Intl.DateTimeFormat('en-GB', opts).format(at).replace(',', '');
}
