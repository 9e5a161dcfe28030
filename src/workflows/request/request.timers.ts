/** Timer handlers of requests: SLA warnings and breaches, auto-close of completed requests, and re-indexing the knowledge folder. */
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { schema } from '../../../db/client.js';
import { appendAudit } from '../../core/audit.js';
import { channelWheres } from '../../core/channels.js';
import { formatDuration } from '../../core/duration.js';
import { SCHEDULER_ACTOR, SCHEDULER_PERSON } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import type { TimerHandler } from '../../core/timers.js';
import { formatTime } from '../../core/time-zone.js';
import { reindexKnowledge } from './request.knowledge.js';
import { requestSubject } from './request.messages.js';
import { applyTransition, itemOf, refreshCard, teamMembers } from './request.service.js';
import { REQUEST_TIMER } from './request.sla.js';
import { tasksOf } from './request.tasks.js';

const slaPayload = z.object({ id: z.number().int(), clock: z.enum(['response', 'resolution']), stage: z.enum(['warn', 'breach']) });
const idPayload = z.object({ id: z.number().int() });

const sla: TimerHandler = async (tx, timer, app, now) => {
  const p = slaPayload.parse(timer.payload);
  const [r] = await tx.select().from(schema.requests).where(eq(schema.requests.id, p.id)).for('update');
  if (!r || r.state !== 'in_fulfilment') return;
  if (p.clock === 'response' && r.respondedAt) return;
  const subject = requestSubject(r.id);
  const due = p.clock === 'response' ? r.responseDueAt : r.resolutionDueAt;
  const what = p.clock === 'response' ? 'response (first claim)' : 'resolution';
  const item = itemOf(app, r);
  const channel = item?.fulfilment.channel ?? app.config.request.announce;
  const wheres = channel ? channelWheres(channel, app.platforms) : [];
  const holders = (await tasksOf(tx, r.id)).filter((t) => t.state === 'claimed' && t.holder).map((t) => t.holder!);
  const tell = async (text: string, tone: 'warning' | 'danger') => {
    for (const where of wheres) await enqueue(tx, { kind: 'post', where, message: { text, tone } });
    const people = holders.length ? holders : wheres.length ? [] : teamMembers(app, r.team);
    for (const person of new Set(people)) await enqueue(tx, { kind: 'dm', person, message: { text, tone } }, { orderKey: subject });
  };
  if (p.stage === 'warn') {
    const left = due ? formatDuration(due.getTime() - now.getTime()) : 'little time';
    await tell(`⚠ ${subject} (${r.itemTitle}) ${what} SLA is ${Math.round(app.config.request.slaWarnAt * 100)}% used: due ${due ? formatTime(due, app.config.timezone, now) : 'soon'} (${left} left).`, 'warning');
    await addTimeline(tx, { subject, at: now, actor: SCHEDULER_PERSON.id, source: 'scheduler', kind: 'sla_warning', text: `${what} SLA warning sent` });
    return;
  }
  const [updated] = await tx.update(schema.requests).set(p.clock === 'response' ? { responseBreached: true, updatedAt: now } : { resolutionBreached: true, updatedAt: now })
    .where(eq(schema.requests.id, r.id)).returning();
  const text = `🚨 ${subject} (${r.itemTitle}) breached its ${what} SLA.`;
  await tell(text, 'danger');
  await addTimeline(tx, { subject, at: now, actor: SCHEDULER_PERSON.id, source: 'scheduler', kind: 'sla_breach', text: `${what} SLA breached` });
  await appendAudit(tx, { at: now, actor: SCHEDULER_PERSON.id, source: 'scheduler', subject, action: 'request.sla_breached', data: { clock: p.clock } });
  await refreshCard(tx, app, updated!, now);
};

const close: TimerHandler = async (tx, timer, app, now) => {
  const { id } = idPayload.parse(timer.payload);
  const [r] = await tx.select().from(schema.requests).where(eq(schema.requests.id, id)).for('update');
  if (!r || (r.state !== 'fulfilled' && r.state !== 'incomplete')) return;
  await applyTransition(tx, app, r, 'close', SCHEDULER_ACTOR, now, { sentence: `Closed ${formatDuration(app.config.request.closeAfter)} after completion` });
};

const reindex: TimerHandler = async (tx, _timer, app, now) => {
  if (!app.config.knowledge) return;
  await reindexKnowledge(app, now, tx);
  return { rescheduleAt: new Date(now.getTime() + app.config.knowledge.reindexEvery) };
};

/** The request workflow's timers by kind. */
export const requestTimers: Record<string, TimerHandler> = {
  [REQUEST_TIMER.sla]: sla,
  [REQUEST_TIMER.close]: close,
  [REQUEST_TIMER.reindex]: reindex,
};
