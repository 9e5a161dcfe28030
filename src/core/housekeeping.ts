/**
 * Housekeeping: forgets old delivery ids, sent outbox rows and ended Retry-After windows, on a recurring timer; and
 * logs the audit chain's head once a day (at midnight UTC), for operators to record outside tread.
 */
import { and, inArray, lt } from 'drizzle-orm';
import { schema } from '../../db/client.js';
import { auditHead } from './audit.js';
import { schedule, type TimerHandler } from './timers.js';
import type { Workflow } from './workflow.js';

const KIND = 'core.housekeeping';
const AUDIT_HEAD = 'core.audit_head';
const DAY_MS = 86_400_000;
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

/** The next midnight UTC after `now`. */
function nextMidnight(now: Date): Date {
  return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS);
}

/**
 * The audit head in the log, once a day: a log shipped elsewhere then holds a head a day, which `tread audit verify
 * --head-file` checks (deleting the newest rows and rewriting the head table shows against them).
 */
const logAuditHead: TimerHandler = async (tx, _timer, app, now) => {
  const head = await auditHead(tx);
  app.log.info({ auditHead: `${head.seq} ${head.hash}`, seq: head.seq, hash: head.hash }, 'audit head: record it outside tread (tread audit verify --head-file checks it)');
  return { rescheduleAt: nextMidnight(now) };
};

/** The housekeeping "workflow": no commands, two recurring timers. */
export const housekeeping: Workflow = {
  name: 'housekeeping',
  commands: [],
  actions: {},
  timers: { [KIND]: run, [AUDIT_HEAD]: logAuditHead },
  async start(app) {
    await app.db.transaction(async (tx) => {
      const existing = new Set((await tx.select({ key: schema.timers.key }).from(schema.timers).where(inArray(schema.timers.key, [KIND, AUDIT_HEAD]))).map((r) => r.key));
      const now = app.clock.now();
      if (!existing.has(KIND)) await schedule(tx, { kind: KIND, subject: 'tread', key: KIND, dueAt: new Date(now.getTime() + EVERY_MS) });
      if (!existing.has(AUDIT_HEAD)) await schedule(tx, { kind: AUDIT_HEAD, subject: 'tread', key: AUDIT_HEAD, dueAt: nextMidnight(now) });
    });
  },
};
