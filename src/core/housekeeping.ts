/** Housekeeping: forgets old delivery ids, sent outbox rows and ended Retry-After windows, on a recurring timer. */
import { and, inArray, lt } from 'drizzle-orm';
import { schema } from '../../db/client.js';
import { schedule, type TimerHandler } from './timers.js';
import type { Workflow } from './workflow.js';

const KIND = 'core.housekeeping';
const EVERY_MS = 3_600_000;
/** Platforms retry deliveries within minutes; a day is plenty. */
const DELIVERY_TTL_MS = 86_400_000;
/** Sent rows stay a week for debugging; dead letters stay until someone looks. */
const OUTBOX_TTL_MS = 7 * 86_400_000;

const run: TimerHandler = async (tx, _timer, _app, now) => {
  await tx.delete(schema.deliveries).where(lt(schema.deliveries.seenAt, new Date(now.getTime() - DELIVERY_TTL_MS)));
  await tx.delete(schema.outbox).where(and(inArray(schema.outbox.status, ['sent', 'superseded']), lt(schema.outbox.createdAt, new Date(now.getTime() - OUTBOX_TTL_MS))));
  await tx.delete(schema.deliveryBlocks).where(lt(schema.deliveryBlocks.blockedUntil, now));
  return { rescheduleAt: new Date(now.getTime() + EVERY_MS) };
};

/** The housekeeping "workflow": no commands, one recurring timer. */
export const housekeeping: Workflow = {
  name: 'housekeeping',
  commands: [],
  actions: {},
  timers: { [KIND]: run },
  async start(app) {
    await app.db.transaction(async (tx) => {
      const existing = await tx.select({ id: schema.timers.id }).from(schema.timers).where(inArray(schema.timers.key, [KIND]));
      if (existing.length === 0) await schedule(tx, { kind: KIND, subject: 'tread', key: KIND, dueAt: new Date(app.clock.now().getTime() + EVERY_MS) });
    });
  },
};
