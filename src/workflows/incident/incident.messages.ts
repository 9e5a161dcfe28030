/** Cards and sentences for incidents. Pure: records in, Messages out. */
import type { Button, Message, Tone } from '../../core/message.js';
import { formatDuration } from '../../core/duration.js';
import { formatTime } from '../../core/time-zone.js';
import { HOLD_REASONS, LEVELS, STATE_WORDS, type IncidentState } from './incident.machine.js';
import type { schema } from '../../../db/client.js';

/** A stored incident. */
export type IncidentRow = typeof schema.incidents.$inferSelect;

/** `INC-7`. */
export function incidentSubject(id: number): string {
  return `INC-${id}`;
}

/** Names the card needs besides the row. */
export interface CardContext {
  assigneeName?: string;
  now: Date;
  timeZone: string;
  /** Alerts linked to the incident (`ALR-3`). */
  alerts?: string[];
}

const TONE: Record<IncidentState, Tone> = {
  new: 'danger', acknowledged: 'warning', in_progress: 'warning', on_hold: 'info', resolved: 'good', closed: 'neutral', cancelled: 'neutral',
};

/** The one-line summary: `INC-1 · P3 · new · Checkout returns 502`. */
export function incidentHeadline(i: IncidentRow): string {
  return `${incidentSubject(i.id)} · P${i.priority}${i.major ? ' · MAJOR' : ''} · ${STATE_WORDS[i.state as IncidentState]} · ${i.title}`;
}

function dueText(label: string, due: Date | null, breached: boolean, ctx: CardContext): string | undefined {
  if (breached) return `${label} SLA breached`;
  if (!due) return undefined;
  const left = due.getTime() - ctx.now.getTime();
  return `${label} due ${formatTime(due, ctx.timeZone, ctx.now)} (${left >= 0 ? formatDuration(left) : `${formatDuration(-left)} ago`})`;
}

/** The buttons for the incident's state (the common actions; everything else is a command). */
export function incidentButtons(i: IncidentRow): Button[] {
  const v = incidentSubject(i.id);
  const ack: Button = { actionId: 'incident.ack', label: 'Acknowledge', value: v, style: 'primary' };
  const prio: Button = { actionId: 'incident.priority.form', label: 'Set priority', value: v };
  const mine: Button = { actionId: 'incident.assign_me', label: 'Assign to me', value: v };
  const resolve: Button = { actionId: 'incident.resolve.form', label: 'Resolve', value: v };
  const start: Button = { actionId: 'incident.start', label: 'Start work', value: v, style: 'primary' };
  switch (i.state as IncidentState) {
    case 'new': return [ack, prio, mine, resolve];
    case 'acknowledged': return [start, prio, mine, resolve];
    case 'in_progress': return [resolve, prio, mine, { actionId: 'incident.hold.form', label: 'Put on hold', value: v }];
    case 'on_hold': return [{ ...start, label: 'Resume work' }, resolve];
    case 'resolved': return [{ actionId: 'incident.reopen', label: 'Reopen', value: v }, { actionId: 'incident.close', label: 'Close', value: v, style: 'danger', confirm: `Close ${v}? A closed incident cannot be reopened.` }];
    default: return [];
  }
}

/** The live card of an incident. */
export function incidentCard(i: IncidentRow, ctx: CardContext): Message {
  const state = i.state as IncidentState;
  const lines = [
    `service: ${i.service ?? '—'} · assignee: ${ctx.assigneeName ?? '—'}`,
    dueText('response', i.acknowledgedAt ? null : i.responseDueAt, i.responseBreached && !i.acknowledgedAt, ctx),
    ['resolved', 'closed', 'cancelled'].includes(state) ? undefined : dueText('resolution', i.resolutionDueAt, i.resolutionBreached, ctx),
  ].filter(Boolean);
  const fields: { label: string; value: string }[] = [];
  if (state === 'on_hold' && i.holdReason) fields.push({ label: 'On hold', value: `${i.holdReason.replace('_', ' ')}${i.holdNote ? `: ${i.holdNote}` : ''}` });
  if (i.description) fields.push({ label: 'Description', value: i.description });
  if (i.resolutionNotes && (state === 'resolved' || state === 'closed')) fields.push({ label: 'Resolution', value: `${i.resolutionCode ? `[${i.resolutionCode}] ` : ''}${i.resolutionNotes}` });
  if (ctx.alerts?.length) fields.push({ label: 'Alerts', value: ctx.alerts.join(', ') });
  return {
    subject: incidentSubject(i.id),
    title: incidentHeadline(i),
    text: lines.join('\n'),
    fields,
    context: `impact ${i.impact} · urgency ${i.urgency} · opened ${formatTime(i.createdAt, ctx.timeZone, ctx.now)}${i.responseBreached ? ' · response SLA breached' : ''}${i.resolutionBreached ? ' · resolution SLA breached' : ''}`,
    buttons: incidentButtons(i),
    tone: i.major && state !== 'resolved' && state !== 'closed' ? 'danger' : TONE[state],
    fallback: incidentHeadline(i),
  };
}

const levelChoices = LEVELS.map((l) => ({ value: l, label: l }));

/** The creation form (`/incident` with no title). */
export function createForm(services: string[], initial: { title?: string } = {}): Message {
  return {
    title: 'Open an incident',
    inputs: [
      { id: 'title', label: 'Title', type: 'text', required: true, placeholder: 'What is broken, for whom?', initial: initial.title },
      { id: 'service', label: 'Service', type: 'select', choices: services.map((s) => ({ value: s, label: s })) },
      { id: 'impact', label: 'Impact', type: 'select', choices: levelChoices, initial: 'medium', hint: 'How many people or how much business is affected' },
      { id: 'urgency', label: 'Urgency', type: 'select', choices: levelChoices, initial: 'medium', hint: 'How fast it must be fixed' },
      { id: 'description', label: 'Description', type: 'multiline' },
    ],
    submit: { actionId: 'incident.create.submit', label: 'Open incident' },
  };
}

/** The resolve form (the Resolve button). */
export function resolveForm(subject: string): Message {
  return {
    title: `Resolve ${subject}`,
    inputs: [
      { id: 'notes', label: 'Resolution notes', type: 'multiline', required: true, placeholder: 'What restored the service?' },
      { id: 'code', label: 'Resolution code', type: 'select', initial: 'fixed', choices: ['fixed', 'workaround', 'no_fault', 'duplicate'].map((c) => ({ value: c, label: c.replace('_', ' ') })) },
    ],
    submit: { actionId: 'incident.resolve.submit', label: 'Resolve', value: subject },
  };
}

/** The priority form (the Set priority button). */
export function priorityForm(subject: string, current: { impact: string; urgency: string }): Message {
  return {
    title: `Set the priority of ${subject}`,
    inputs: [
      { id: 'impact', label: 'Impact', type: 'select', required: true, choices: levelChoices, initial: current.impact },
      { id: 'urgency', label: 'Urgency', type: 'select', required: true, choices: levelChoices, initial: current.urgency },
    ],
    submit: { actionId: 'incident.priority.submit', label: 'Set priority', value: subject },
  };
}

/** The hold form (the Put on hold button). */
export function holdForm(subject: string): Message {
  return {
    title: `Put ${subject} on hold`,
    inputs: [
      { id: 'reason', label: 'Waiting for', type: 'select', required: true, choices: HOLD_REASONS.map((r) => ({ value: r.replace('awaiting_', ''), label: r.replace('_', ' ') })) },
      { id: 'note', label: 'Note', type: 'text', required: true },
    ],
    submit: { actionId: 'incident.hold.submit', label: 'Put on hold', value: subject },
  };
}

/** A one-line list entry. */
export function listLine(i: IncidentRow, assigneeName: string | undefined): string {
  return `*${incidentSubject(i.id)}* · P${i.priority} · ${STATE_WORDS[i.state as IncidentState]} · ${i.title}${i.service ? ` · ${i.service}` : ''}${assigneeName ? ` · ${assigneeName}` : ''}`;
}
