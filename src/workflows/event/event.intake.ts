/**
 * The intake: events accepted while their lane is busy. A request that finds its lane applying an earlier batch is not
 * made to wait for it: its events are written as one `event_intake` row (durable, group-committed with the requests that
 * arrive meanwhile) and answered; the lane applies intake rows before anything newer, in the order they were stored, and
 * deletes them in the same transaction. Every replica's lane takes the lane's advisory lock first, so one lane's events
 * are applied by one replica at a time and in order.
 *
 * A safety-net timer per lane (`event.intake:<lane>`) wakes the lane of whichever replica runs it while rows remain: a
 * replica that stopped after answering leaves nothing behind.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Db, type Tx } from '../../../db/client.js';
import type { IncomingEvent } from './event.parse.js';

/** The timer kind of the safety net. */
export const INTAKE_TIMER = 'event.intake';

/** How long after an intake write the safety net looks (and again while rows remain). */
export const INTAKE_CHECK_MS = 5000;

/** Advisory lock key of a lane (a constant prefix keeps it clear of other users of advisory locks). */
const laneLock = (lane: number) => 0x74726561_00 + lane;

/** The events of one request as stored. */
export function encodeEvents(events: IncomingEvent[]): string {
  return JSON.stringify(events);
}

/** Stored events back (dates revived). */
export function decodeEvents(text: string): IncomingEvent[] {
  const events = JSON.parse(text) as IncomingEvent[];
  for (const e of events) if (e.startsAt !== null) e.startsAt = new Date(e.startsAt as unknown as string);
  return events;
}

/** Stores the events of several requests for a lane in one statement (committed on return), with the safety-net timer. */
export async function storeIntake(db: Db, lane: number, bodies: { events: number; body: string }[], now: Date): Promise<void> {
  const rows = sql.join(bodies.map((b) => sql`(${lane}, ${b.events}, ${b.body})`), sql`, `);
  const due = new Date(now.getTime() + INTAKE_CHECK_MS).toISOString();
  await db.execute(sql`with t as (
      insert into timers (due_at, kind, subject, key, payload)
      values (${due}::timestamptz, ${INTAKE_TIMER}, 'alerts', ${`${INTAKE_TIMER}:${lane}`}, jsonb_build_object('lane', ${lane}::int))
      on conflict (key) do nothing
    )
    insert into event_intake (lane, events, body) values ${rows}`);
}

/** One claimed intake row. */
export interface IntakeRow {
  id: number;
  events: IncomingEvent[];
}

/**
 * Takes the lane's lock for this transaction, then claims (deletes, returning) its oldest rows up to about `maxEvents`
 * events, oldest first. `more` is true when rows were left.
 */
export async function claimIntake(tx: Tx, lane: number, maxEvents: number, maxRows = 1000): Promise<{ rows: IntakeRow[]; more: boolean }> {
  await tx.execute(sql`select pg_advisory_xact_lock(${laneLock(lane)})`);
  const got = await queryRows<{ id: number; body: string; picked: number }>(tx, sql`with pick as (
      select id, sum(events) over (order by id) as upto, row_number() over (order by id) as n
      from event_intake where lane = ${lane} and failed is null order by id limit ${maxRows}
    ), del as (
      delete from event_intake i using pick
      where i.lane = ${lane} and i.id = pick.id and (pick.upto <= ${maxEvents} or pick.n = 1)
      returning i.id, i.body
    )
    select id, body, (select count(*) from pick)::int as picked from del order by id`);
  const picked = Number(got[0]?.picked ?? 0);
  return { rows: got.map((r) => ({ id: Number(r.id), events: decodeEvents(r.body) })), more: got.length < picked || picked === maxRows };
}

/** Keeps a row that fails on its own, with its error, out of the lane's way. */
export async function failIntake(db: Db, lane: number, id: number, error: string): Promise<void> {
  await db.execute(sql`update event_intake set failed = ${error.slice(0, 2000) || 'failed'} where lane = ${lane} and id = ${id}`);
}

/** Events waiting in the intake (all replicas), and rows kept after failing. */
export async function intakeBacklog(db: Db): Promise<{ events: number; failed: number }> {
  const [r] = await queryRows<{ events: number; failed: number }>(db, sql`select coalesce(sum(events) filter (where failed is null), 0)::int as events,
    count(*) filter (where failed is not null)::int as failed from event_intake`);
  return { events: Number(r?.events ?? 0), failed: Number(r?.failed ?? 0) };
}

/** True while the lane has rows to apply. */
export async function intakeLeft(tx: Tx, lane: number): Promise<boolean> {
  const [left] = await queryRows<{ any: boolean }>(tx, sql`select exists (select 1 from event_intake where lane = ${lane} and failed is null) as any`);
  return Boolean(left?.any);
}
