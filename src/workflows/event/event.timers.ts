/** Event management's timers: card redraws, the end of silences and maintenance windows, missed heartbeats. */
import { eq, sql } from 'drizzle-orm';
import { schema } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import type { TimerHandler } from '../../core/timers.js';
import { EVENT_TIMERS, groupCards, tsParam, type EventCtx } from './event.groups.js';
import { applyEvents } from './event.ingest.js';
import { INTAKE_CHECK_MS, INTAKE_TIMER, intakeLeft } from './event.intake.js';
import { groupSubject } from './event.messages.js';
import type { RouteDecision } from './event.routing.js';
import { heartbeatEvent, liftSuppressions } from './event.service.js';
import { writerOf } from './event.writer.js';

/**
 * Redraws a group's card: its counters, at most every `correlation.cards.refresh` (the many changes in between become
 * one update, of low priority: a card whose state changed goes first), or, for a card held back in a storm until its
 * group settled, its first post.
 */
const cardTimer: TimerHandler = async (tx, timer, app, now) => {
  const payload = timer.payload as { groupId?: unknown; post?: unknown };
  const id = Number(payload.groupId);
  if (!Number.isInteger(id)) return;
  const [g] = await tx.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, id));
  const route = g?.route as unknown as RouteDecision | undefined;
  if (!g || !route?.notify) return;
  const card = (await groupCards(tx, app, [id], now)).get(id);
  if (!card) return;
  if (payload.post === true) {
    for (const where of route.channels) await enqueue(tx, { kind: 'post', where, message: card, subject: groupSubject(id) });
    return;
  }
  await enqueue(tx, { kind: 'update', subject: groupSubject(id), message: card }, { priority: 'low' });
};

/** Lifts silences and maintenance windows that have ended. */
const unsuppressTimer: TimerHandler = async (tx, _timer, app, now) => {
  const rows = await tx.select().from(schema.alerts)
    .where(sql`${schema.alerts.suppressedBy} is not null and ${schema.alerts.state} <> 'resolved' and ${schema.alerts.suppressedUntil} <= ${tsParam(now)}`)
    .orderBy(schema.alerts.integration, schema.alerts.dedupKey).limit(5000).for('update');
  const ctx: EventCtx = { app, tx, now, actor: SCHEDULER_ACTOR, by: SCHEDULER_ACTOR.person.id, outbox: false };
  const lifted = await liftSuppressions(ctx, rows);
  if (lifted) app.log.info({ lifted }, 'silences ended: alerts notify again');
  if (rows.length === 5000) return { rescheduleAt: now };
};

/** A heartbeat's deadline passed: raise its alert unless a ping came meanwhile. */
const heartbeatTimer: TimerHandler = async (tx, timer, app, now) => {
  const name = String((timer.payload as { name?: unknown }).name ?? '');
  const hb = app.config.heartbeats.find((h) => h.name === name);
  if (!hb) return;
  const [row] = await tx.select().from(schema.heartbeats).where(eq(schema.heartbeats.name, name));
  const since = row?.lastPingAt ?? new Date(String((timer.payload as { since?: unknown }).since ?? now.toISOString()));
  const deadline = new Date(since.getTime() + hb.timeout);
  if (deadline > now) return { rescheduleAt: deadline, payload: timer.payload };
  const summary = hb.summary ?? `Heartbeat ${name} missed: no ping for ${formatDuration(now.getTime() - since.getTime())}${row ? '' : ' (never pinged)'}`;
  await applyEvents(tx, app, [heartbeatEvent(hb, 'trigger', summary)], now, SCHEDULER_ACTOR);
};

/** The intake's safety net: while a lane has rows, wake this replica's lane and look again later. */
const intakeTimer: TimerHandler = async (tx, timer, app, now) => {
  const lane = Number((timer.payload as { lane?: unknown }).lane);
  if (!Number.isInteger(lane) || !(await intakeLeft(tx, lane))) return;
  writerOf(app)?.wake(lane);
  return { rescheduleAt: new Date(now.getTime() + INTAKE_CHECK_MS), payload: timer.payload };
};

/** The event workflow's timers by kind. */
export const eventTimers: Record<string, TimerHandler> = {
  [EVENT_TIMERS.card]: cardTimer,
  [EVENT_TIMERS.unsuppress]: unsuppressTimer,
  [EVENT_TIMERS.heartbeat]: heartbeatTimer,
  [INTAKE_TIMER]: intakeTimer,
};
