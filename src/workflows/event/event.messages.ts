/** Cards and lists for alerts and alert groups. Pure: records in, Messages out. */
import type { schema } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import type { Button, Message, Tone } from '../../core/message.js';
import { formatTime } from '../../core/time-zone.js';
import type { AlertState, GroupState } from './event.machine.js';
import { formatMatchers, type Matcher } from './event.match.js';

/** A stored alert. */
export type AlertRow = typeof schema.alerts.$inferSelect;
/** A stored alert group. */
export type GroupRow = typeof schema.alertGroups.$inferSelect;
/** A stored silence. */
export type SilenceRow = typeof schema.silences.$inferSelect;

/** `ALR-3`. */
export const alertSubject = (id: number) => `ALR-${id}`;
/** `GRP-3`. */
export const groupSubject = (id: number) => `GRP-${id}`;
/** `SIL-3`. */
export const silenceSubject = (id: number) => `SIL-${id}`;
/** `INC-3`. */
export const incidentRef = (id: number) => `INC-${id}`;

const GROUP_TONE: Record<GroupState, Tone> = { firing: 'danger', acknowledged: 'warning', silenced: 'neutral', resolved: 'good' };
const STATE_WORD: Record<AlertState, string> = { firing: 'firing', acknowledged: 'acknowledged', silenced: 'silenced', flapping: 'flapping', resolved: 'resolved' };

/** Figures about a group's alerts, computed when the card is drawn. */
export interface GroupStats {
  events: number;
  lastSeen: Date;
  firing: number;
  flapping: number;
  acknowledged: number;
  silenced: number;
  resolved: number;
}

/** Everything a group card shows. */
export interface GroupView {
  group: GroupRow;
  stats: GroupStats;
  /** Up to ten members, open ones first. */
  members: AlertRow[];
  now: Date;
  timeZone: string;
  /** Names of who acknowledged or resolved (person ids → names). */
  names?: Record<string, string>;
}

function countWords(s: GroupStats, total: number): string {
  const parts = [
    s.firing - s.flapping > 0 ? `${s.firing - s.flapping} firing` : '',
    s.flapping ? `${s.flapping} flapping` : '',
    s.acknowledged ? `${s.acknowledged} acknowledged` : '',
    s.silenced ? `${s.silenced} silenced` : '',
    s.resolved ? `${s.resolved} resolved` : '',
  ].filter(Boolean);
  return `*${total} alert${total === 1 ? '' : 's'}*${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** One line per alert: `ALR-3 firing · Primary database down · db-1:5432 · ×4`. */
export function alertLine(a: AlertRow): string {
  return `${alertSubject(a.id)} ${STATE_WORD[a.state as AlertState] ?? a.state} · ${a.summary}${a.source ? ` · ${a.source}` : ''}${a.count > 1 ? ` · ×${a.count}` : ''}`;
}

/** The buttons of a group card for its state. */
export function groupButtons(g: GroupRow): Button[] {
  const v = groupSubject(g.id);
  if (g.state === 'resolved') return [];
  const out: Button[] = [];
  if (g.state !== 'acknowledged') out.push({ actionId: 'event.ack', label: 'Acknowledge', value: v, style: 'primary' });
  out.push({ actionId: 'event.resolve', label: 'Resolve', value: v });
  if (g.state !== 'silenced') out.push({ actionId: 'event.silence', label: 'Silence 1h', value: v });
  if (!g.incidentId) out.push({ actionId: 'event.incident', label: 'Open incident', value: v });
  out.push({ actionId: 'event.escalate', label: 'Escalate now', value: v, style: 'danger', confirm: `Page the next escalation step for ${v} now?` });
  return out;
}

/** The headline: `GRP-2 · firing · critical · DBDown: Primary database down`. */
export function groupHeadline(g: GroupRow): string {
  return `${groupSubject(g.id)} · ${g.state} · ${g.severity} · ${g.title}`;
}

/** The live card of an alert group, updated in place. */
export function groupCard(v: GroupView): Message {
  const { group: g, stats: s } = v;
  const total = g.alertCount || v.members.length;
  const name = (id: string | null) => (id ? v.names?.[id] ?? id : '—');
  const lines = [
    `${countWords(s, total)} · ${s.events} event${s.events === 1 ? '' : 's'} · service ${g.service ?? '—'}`,
    `_Grouped: ${g.reason}_`,
    ...v.members.slice(0, 10).map((a) => `- ${alertLine(a)}`),
  ];
  if (total > v.members.length) lines.push(`- …and ${total - v.members.length} more (\`/event show ${groupSubject(g.id)}\`)`);
  const fields = [
    { label: 'State', value: g.state },
    { label: 'Severity', value: g.severity },
  ];
  if (g.incidentId) fields.push({ label: 'Incident', value: incidentRef(g.incidentId) });
  if (g.escalationSubject) fields.push({ label: 'Paging', value: g.escalationSubject === groupSubject(g.id) ? 'on-call paged' : `on-call paged for ${g.escalationSubject}` });
  if (g.acknowledgedAt) fields.push({ label: 'Acknowledged', value: `${name(g.acknowledgedBy)}, ${formatTime(g.acknowledgedAt, v.timeZone, v.now)}` });
  if (g.resolvedAt) fields.push({ label: 'Resolved', value: `${name(g.resolvedBy)}, ${formatTime(g.resolvedAt, v.timeZone, v.now)}` });
  if (s.flapping) fields.push({ label: 'Flapping', value: 'state changes too often; not re-notifying' });
  const open = g.resolvedAt ? formatDuration(g.resolvedAt.getTime() - g.firstSeen.getTime()) : formatDuration(v.now.getTime() - g.firstSeen.getTime());
  return {
    subject: groupSubject(g.id),
    title: groupHeadline(g),
    text: lines.join('\n'),
    fields,
    context: `first seen ${formatTime(g.firstSeen, v.timeZone, v.now)} · last ${formatTime(s.lastSeen, v.timeZone, v.now)} · ${g.resolvedAt ? 'lasted' : 'open'} ${open} · via ${g.integration}`,
    buttons: groupButtons(g),
    tone: GROUP_TONE[g.state as GroupState] ?? 'neutral',
    fallback: groupHeadline(g),
  };
}

/** The detail of one alert (`/event show ALR-n`). */
export function alertDetail(a: AlertRow, history: { at: Date; action: string; actor: string | null }[], now: Date, timeZone: string): Message {
  const fields = [
    { label: 'State', value: a.state },
    { label: 'Severity', value: a.severity },
    { label: 'Service', value: a.service ?? '—' },
    { label: 'Integration', value: `${a.integration} (key ${a.dedupKey})` },
    { label: 'Events', value: String(a.count) },
  ];
  if (a.groupId) fields.push({ label: 'Group', value: groupSubject(a.groupId) });
  if (a.incidentId) fields.push({ label: 'Incident', value: incidentRef(a.incidentId) });
  if (a.suppressedBy) fields.push({ label: 'Silenced by', value: `${a.suppressedBy}${a.suppressedUntil ? ` until ${formatTime(a.suppressedUntil, timeZone, now)}` : ''}` });
  const labels = Object.entries(a.labels).map(([k, val]) => `${k}=${val}`).join(' ');
  const links = a.links.map((l) => `<${l.href}|${l.text ?? l.kind ?? 'link'}>`).join(' · ');
  const lines = [
    labels ? `\`${labels}\`` : '',
    links,
    history.length ? `History:\n${history.slice(-10).map((h) => `- ${formatTime(h.at, timeZone, now)} ${h.action}${h.actor ? ` (${h.actor})` : ''}`).join('\n')}` : '',
  ].filter(Boolean);
  return {
    subject: alertSubject(a.id),
    title: `${alertSubject(a.id)} · ${a.state} · ${a.severity} · ${a.summary}`,
    text: lines.join('\n'),
    fields,
    context: `first seen ${formatTime(a.firstSeen, timeZone, now)} · last ${formatTime(a.lastSeen, timeZone, now)}`,
    tone: a.state === 'resolved' ? 'good' : a.state === 'firing' || a.state === 'flapping' ? 'danger' : 'warning',
  };
}

/** `/event list`: one line per alert. */
export function alertList(rows: AlertRow[], heading: string, more: boolean): Message {
  if (rows.length === 0) return { text: `${heading}: none.`, tone: 'good' };
  return {
    title: heading,
    text: rows.map((a) => `- ${alertLine(a)}${a.service ? ` · ${a.service}` : ''}${a.groupId ? ` · ${groupSubject(a.groupId)}` : ''}`).join('\n') + (more ? '\n- … more: narrow it with a service or state' : ''),
  };
}

/** One line per silence. */
export function silenceLine(s: SilenceRow, now: Date, timeZone: string): string {
  return `${silenceSubject(s.id)} \`${formatMatchers(s.matchers as Matcher[])}\` until ${formatTime(s.endsAt, timeZone, now)}: ${s.reason} (by ${s.createdBy})`;
}
