/** On-call timers: the next step of an escalation is due. */
import { eq } from 'drizzle-orm';
import { schema } from '../../../db/client.js';
import { appendAudit } from '../../core/audit.js';
import { formatDuration } from '../../core/duration.js';
import { DomainError } from '../../core/errors.js';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import { addTimeline } from '../../core/timeline.js';
import type { TimerHandler } from '../../core/timers.js';
import { advance, ESCALATION_TIMER, readPolicy, stepWords, timerPayloadSchema } from './escalation.service.js';
import { nextPosition, transition, type EscalationState } from './oncall.machine.js';

/** The scheduler's handler for escalation steps: pages the step that is due, unless it was acknowledged meanwhile. */
const escalationTimer: TimerHandler = async (tx, timer, app, now) => {
  const parsed = timerPayloadSchema.safeParse(timer.payload);
  if (!parsed.success) {
    app.log.error({ timer: timer.id, subject: timer.subject }, 'escalation timer with a payload this version cannot read; dropping it');
    return;
  }
  const p = parsed.data;
  const [esc] = await tx.select().from(schema.escalations).where(eq(schema.escalations.id, p.escalationId)).for('update');
  if (!esc || esc.state !== 'active') return;
  const policy = readPolicy(esc);
  if ('final' in p) {
    const state = transition(esc.state as EscalationState, { type: 'exhaust' });
    if (state instanceof DomainError) return;
    await tx.update(schema.escalations).set({ state, endedAt: now, nextAt: null }).where(eq(schema.escalations.id, esc.id));
    const rounds = policy.repeat + 1;
    await addTimeline(tx, {
      subject: esc.subject, at: now, actor: SCHEDULER_ACTOR.person.id, source: 'scheduler', kind: 'escalation',
      text: `Nobody acknowledged: every step of policy ${policy.name} was paged${rounds > 1 ? ` ${rounds} times` : ''} (${esc.pages} page${esc.pages === 1 ? '' : 's'}); paging has ended`,
      data: { escalation: esc.id },
    });
    await appendAudit(tx, { at: now, actor: SCHEDULER_ACTOR.person.id, source: 'scheduler', subject: esc.subject, action: 'oncall.escalation_exhausted', data: { escalation: esc.id, pages: esc.pages } });
    return;
  }
  const expected = nextPosition(policy, esc);
  if (!expected || expected.level !== p.level || expected.pass !== p.pass) {
    app.log.warn({ subject: esc.subject, expected, got: p }, 'stale escalation timer; ignoring it');
    return;
  }
  const waited = esc.lastPagedAt ? formatDuration(now.getTime() - esc.lastPagedAt.getTime()) : undefined;
  await addTimeline(tx, {
    subject: esc.subject, at: now, actor: SCHEDULER_ACTOR.person.id, source: 'scheduler', kind: 'escalation',
    text: waited ? `No acknowledgement after ${waited}: escalating to ${stepWords(policy, expected)}` : `Paging starts: ${stepWords(policy, expected)}`,
    data: { escalation: esc.id, level: expected.level, pass: expected.pass },
  });
  await appendAudit(tx, { at: now, actor: SCHEDULER_ACTOR.person.id, source: 'scheduler', subject: esc.subject, action: 'oncall.escalated', data: { escalation: esc.id, level: expected.level, pass: expected.pass } });
  const next = await advance(tx, app, esc, policy, expected, now);
  return { rescheduleAt: next.dueAt, payload: next.payload };
};

/** The on-call workflow's timers by kind. */
export const oncallTimers: Record<string, TimerHandler> = { [ESCALATION_TIMER]: escalationTimer };
