/** Messages of the on-call module: who is on call, override lists, pages. Pure. */
import type { Button, Message } from '../../core/message.js';
import { formatInZone } from '../../core/time-zone.js';
import type { OnCallNow, OverrideRow } from './oncall.service.js';

/** Names of people by id (falls back to the id). */
export type NameOf = (personId: string) => string;

/** One line per schedule: `*Alice* until Tue 6 Jan 09:00 CET · next: Bob until …`. */
export function onCallLine(entry: OnCallNow, nameOf: NameOf, timeZone: string): string {
  const { current, next } = entry;
  const until = (d: Date | null) => (d ? `until ${formatInZone(d, timeZone)}` : 'with no handoff ahead');
  const now = current.person
    ? `*${nameOf(current.person)}*${current.via === 'override' ? ' (override)' : ''} ${until(current.until)}`
    : `_nobody_${current.until ? ` until ${formatInZone(current.until, timeZone)}` : ''}`;
  const after = next
    ? `next: ${nameOf(next.person)}${next.from.getTime() !== current.until?.getTime() ? ` from ${formatInZone(next.from, timeZone)}` : ''} ${until(next.until)}`
    : current.person ? 'nobody after that' : '';
  return after ? `${now} · ${after}` : now;
}

/** The answer to `/oncall`: one field per schedule. */
export function onCallMessage(entries: OnCallNow[], nameOf: NameOf, timeZone: string, heading: string): Message {
  if (entries.length === 0) return { text: 'No on-call schedules match.', tone: 'info' };
  return {
    title: heading,
    fields: entries.map((e) => ({ label: e.schedule.title === e.schedule.name ? e.schedule.name : `${e.schedule.title} (${e.schedule.name})`, value: onCallLine(e, nameOf, timeZone) })),
    context: `Times in ${timeZone}.`,
  };
}

/** The answer to `/oncall overrides <schedule>`. */
export function overridesMessage(schedule: string, rows: OverrideRow[], nameOf: NameOf, timeZone: string): Message {
  if (rows.length === 0) return { text: `Schedule *${schedule}* has no current or upcoming overrides.`, tone: 'info' };
  return {
    title: `Overrides of ${schedule}`,
    text: rows.map((r) => `- #${r.id} *${nameOf(r.person)}* from ${formatInZone(r.startsAt, timeZone)} to ${formatInZone(r.endsAt, timeZone)} (by ${nameOf(r.createdBy)})`).join('\n'),
    context: `Times in ${timeZone}. Remove one with /oncall override remove ${schedule} <#>.`,
  };
}

/** The ack action of a record: `incident.ack` for `INC-n`, `event.ack` for `ALR-n` and alert groups `GRP-n`, else `<prefix>.ack`. */
export function ackActionFor(subject: string): string {
  const prefix = subject.split('-')[0]!.toUpperCase();
  if (prefix === 'INC') return 'incident.ack';
  if (prefix === 'ALR' || prefix === 'GRP') return 'event.ack';
  return `${prefix.toLowerCase()}.ack`;
}

const PAGE_MARK = 'Paging';

/** A page: the record's card with an Acknowledge button first and a line saying why this person is paged. */
export function pageMessage(card: Message | undefined, input: { subject: string; title: string; service?: string | null; reason: string }): Message {
  const base: Message = card ?? {
    title: `${input.subject}: ${input.title}`,
    fields: input.service ? [{ label: 'Service', value: input.service }] : undefined,
  };
  const ack: Button = { actionId: ackActionFor(input.subject), label: 'Acknowledge', value: input.subject, style: 'primary' };
  const context = base.context && !base.context.startsWith(PAGE_MARK) ? `${PAGE_MARK}: ${input.reason} · ${base.context}` : `${PAGE_MARK}: ${input.reason}`;
  return {
    title: base.title ?? `${input.subject}: ${input.title}`,
    ...(base.text ? { text: base.text } : {}),
    ...(base.fields?.length ? { fields: base.fields } : {}),
    context,
    buttons: [ack, ...(base.buttons ?? []).filter((b) => b.actionId !== ack.actionId)],
    subject: input.subject,
    tone: 'danger',
    fallback: `Page: ${input.subject} ${input.title}`,
  };
}
