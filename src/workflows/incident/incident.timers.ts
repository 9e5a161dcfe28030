/** Timer handlers: SLA warnings and breaches, auto-close, major-incident status-update reminders. */
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { schema } from '../../../db/client.js';
import { appendAudit } from '../../core/audit.js';
import { formatDuration } from '../../core/duration.js';
import { findPerson, SCHEDULER_PERSON } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import type { TimerHandler } from '../../core/timers.js';
import { formatTime } from '../../core/time-zone.js';
import { isOpen, type IncidentState } from './incident.machine.js';
import { incidentSubject } from './incident.messages.js';
import { cardFor, changeIncident } from './incident.service.js';
import { TIMER } from './incident.sla.js';

const slaPayload = z.object({ id: z.number().int(), clock: z.enum(['response', 'resolution']), stage: z.enum(['warn', 'breach']) });
const idPayload = z.object({ id: z.number().int() });

const sla: TimerHandler = async (tx, timer, app, now) => {
  const p = slaPayload.parse(timer.payload);
  const [i] = await tx.select().from(schema.incidents).where(eq(schema.incidents.id, p.id)).for('update');
  if (!i || !isOpen(i.state as IncidentState)) return;
  if (p.clock === 'response' && i.acknowledgedAt) return;
  if (p.clock === 'resolution' && (i.state === 'on_hold' || !i.resolutionClockStartedAt)) return;
  const subject = incidentSubject(i.id);
  const due = p.clock === 'response' ? i.responseDueAt : i.resolutionDueAt;
  const what = p.clock === 'response' ? 'response (acknowledgement)' : 'resolution';
  if (p.stage === 'warn') {
    const left = due ? formatDuration(due.getTime() - now.getTime()) : 'little time';
    // a direct message shows the time in the assignee's own zone; an announcement in the organisation's
    const zone = (i.assignee ? (await findPerson(app, i.assignee, tx))?.timezone : undefined) ?? app.config.timezone;
    const text = `⚠ ${subject} ${what} SLA is ${Math.round(app.config.incident.slaWarnAt * 100)}% used: due ${due ? formatTime(due, zone, now) : 'soon'} (${left} left). ${i.title}`;
    if (i.assignee) await enqueue(tx, { kind: 'dm', person: i.assignee, message: { text, subject, tone: 'warning' } }, { orderKey: subject });
    else await enqueue(tx, { kind: 'announce', subject, message: { text, subject, tone: 'warning' } });
    await addTimeline(tx, { subject, at: now, actor: SCHEDULER_PERSON.id, source: 'scheduler', kind: 'sla_warning', text: `${what} SLA warning sent` });
    return;
  }
  const [updated] = await tx.update(schema.incidents)
    .set(p.clock === 'response' ? { responseBreached: true, updatedAt: now } : { resolutionBreached: true, updatedAt: now })
    .where(eq(schema.incidents.id, i.id)).returning();
  const text = `🚨 ${subject} breached its ${what} SLA (P${i.priority}). ${i.title}`;
  await addTimeline(tx, { subject, at: now, actor: SCHEDULER_PERSON.id, source: 'scheduler', kind: 'sla_breach', text });
  await appendAudit(tx, { at: now, actor: SCHEDULER_PERSON.id, source: 'scheduler', subject, action: `incident.sla_breached`, data: { clock: p.clock, priority: i.priority } });
  await enqueue(tx, { kind: 'update', subject, message: await cardFor(tx, app, updated!, now) });
  await enqueue(tx, { kind: 'announce', subject, message: { text, subject, tone: 'danger' } });
  if (i.assignee) await enqueue(tx, { kind: 'dm', person: i.assignee, message: { text, subject, tone: 'danger' } }, { orderKey: subject });
};

const autoClose: TimerHandler = async (tx, timer, app, now) => {
  const { id } = idPayload.parse(timer.payload);
  const [i] = await tx.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  if (!i || i.state !== 'resolved') return;
  await changeIncident(tx, app, id, { action: 'close' }, { person: SCHEDULER_PERSON, source: 'scheduler' }, now);
};

const statusUpdate: TimerHandler = async (tx, timer, app, now) => {
  const { id } = idPayload.parse(timer.payload);
  const [i] = await tx.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  if (!i || !i.major || !isOpen(i.state as IncidentState)) return;
  const subject = incidentSubject(i.id);
  const every = app.config.incident.statusUpdateEvery;
  await enqueue(tx, { kind: 'announce', subject, message: { text: `⏰ Time for a status update on ${subject}: what do we know, what are we doing, when is the next update? (reminder every ${formatDuration(every)} until resolved; post it with /incident note ${subject} <update>)`, subject, tone: 'info' } });
  return { rescheduleAt: new Date(now.getTime() + every) };
};

/** The incident workflow's timers by kind. */
export const incidentTimers: Record<string, TimerHandler> = {
  [TIMER.sla]: sla,
  [TIMER.autoClose]: autoClose,
  [TIMER.statusUpdate]: statusUpdate,
};
