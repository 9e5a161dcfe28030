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
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Db, type Tx } from '../../../db/client.js';
import { parseJsonText } from '../../core/json.js';
import type { IntegrationConfig } from './event.config.js';
import { parseAlertmanager, parseGrafana, type IncomingEvent, type ParseResult } from './event.parse.js';

/** The timer kind of the safety net. */
export const INTAKE_TIMER = 'event.intake';

/** How long after an intake write the safety net looks (and again while rows remain). */
export const INTAKE_CHECK_MS = 5000;

/** Advisory lock key of a lane (a constant prefix keeps it clear of other users of advisory locks). */
const laneLock = (lane: number) => 0x74726561_00 + lane;

/** The parsers of batch bodies the intake keeps as received (the `source` column). */
const STORED_PARSERS = { alertmanager: parseAlertmanager, grafana: parseGrafana } satisfies Record<string, (body: unknown, i: IntegrationConfig) => ParseResult>;

/** A parser whose bodies the intake keeps as received. */
export type StoredSource = keyof typeof STORED_PARSERS;

/**
 * A batch body as received (already validated): stored as it came, it costs no re-encoding on the answer's path and is
 * parsed again, with its integration's settings, when applied.
 */
export interface ReceivedBody {
  source: StoredSource;
  integration: string;
  body: Buffer;
}

/** One request's events as an intake row holds them. */
export interface IntakeBody {
  events: number;
  body: string;
  source: StoredSource | null;
  integration: string | null;
}

/** The events of one request as stored (parsed events), or its body as received when there is one. */
export function intakeBody(events: IncomingEvent[], received?: ReceivedBody): IntakeBody {
  return received
    ? { events: events.length, body: received.body.toString('utf8'), source: received.source, integration: received.integration }
    : { events: events.length, body: JSON.stringify(events), source: null, integration: null };
}

/** Stored events back (dates revived). */
export function decodeEvents(text: string): IncomingEvent[] {
  const events = JSON.parse(text) as IncomingEvent[];
  for (const e of events) if (e.startsAt !== null) e.startsAt = new Date(e.startsAt as unknown as string);
  return events;
}

/**
 * An intake row's events: parsed events as stored, or its body parsed again with its integration's current settings (an
 * integration removed since keeps its name and kind). A body that no longer parses is an error: the row is set aside.
 */
export function decodeIntake(row: { body: string; source: string | null; integration: string | null }, integrations: readonly IntegrationConfig[]): IncomingEvent[] {
  if (row.source === null) return decodeEvents(row.body);
  const parse = STORED_PARSERS[row.source as StoredSource];
  if (!parse) throw new Error(`an intake row has an unknown source "${row.source}"`);
  const name = row.integration ?? row.source;
  const integration = integrations.find((i) => i.name === name && i.kind === row.source) ?? ({ name, kind: row.source } as IntegrationConfig);
  const r = parse(parseJsonText(row.body), integration);
  if (!r.ok) throw new Error(`a stored ${row.source} body no longer parses: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return r.events;
}

/**
 * Stores the events of several requests for a lane in one statement (committed on return). With `arm`, the statement also
 * makes sure the lane's safety-net timer is due within INTAKE_CHECK_MS: a lane arms it once per half of that interval
 * (`armDue`), not with every write, so concurrent writes do not queue behind the timer's row.
 */
export async function storeIntake(db: Db, lane: number, bodies: IntakeBody[], now: Date, arm = true): Promise<void> {
  const rows = intakeRows(lane, bodies);
  if (!arm) {
    await db.execute(sql`insert into event_intake (lane, events, body, source, integration) ${rows}`);
    return;
  }
  const due = new Date(now.getTime() + INTAKE_CHECK_MS).toISOString();
  await db.execute(sql`with t as (
      insert into timers (due_at, kind, subject, key, payload)
      values (${due}::timestamptz, ${INTAKE_TIMER}, 'alerts', ${`${INTAKE_TIMER}:${lane}`}, jsonb_build_object('lane', ${lane}::int))
      on conflict (key) do update set due_at = least(timers.due_at, excluded.due_at)
    )
    insert into event_intake (lane, events, body, source, integration) ${rows}`);
}

/** Bodies up to this many characters go in one JSON parameter; a write with a longer one binds each row's values. */
const SMALL_BODY = 4096;

/**
 * The rows of an intake write. Small bodies (single events) go as one JSON parameter: one statement shape whatever the
 * number of rows, no SQL to build per row (102 us of CPU for a 4-row write, against 195 us binding five parameters per
 * row). A large body (an Alertmanager batch, tens of KB) goes as a parameter of its own: wrapping it in JSON escapes
 * every quote and makes the server parse it (a 39 KB body: 0.25-0.35 ms of CPU and 0.5-0.67 ms to commit as a
 * parameter, 0.34-0.42 ms and 0.85-1.0 ms as JSON; on PGlite 0.93-1.24 ms against 1.3-1.5 ms).
 */
function intakeRows(lane: number, bodies: IntakeBody[]): SQL {
  if (bodies.every((b) => b.body.length <= SMALL_BODY)) {
    return sql`select ${lane}::int, events, body, source, integration
      from json_to_recordset(${JSON.stringify(bodies)}::json) as x(events int, body text, source text, integration text)`;
  }
  return sql`values ${sql.join(bodies.map((b) => sql`(${lane}::int, ${b.events}::int, ${b.body}, ${b.source}, ${b.integration})`), sql`, `)}`;
}

/**
 * True when a lane that armed its timer at `armedAt` must arm it again before storing at `now`. The timer, once armed, is
 * due at least INTAKE_CHECK_MS later and stays until it runs and finds the lane empty, so it is certainly there for
 * rows stored in the first half of that interval.
 */
export function armDue(armedAt: number, now: Date): boolean {
  return now.getTime() - armedAt >= INTAKE_CHECK_MS / 2 || now.getTime() < armedAt;
}

/** One claimed intake row, as stored (`decodeIntake` gives its events). */
export interface IntakeRow {
  id: number;
  body: string;
  source: string | null;
  integration: string | null;
}

/**
 * Takes the lane's lock for this transaction, then claims (deletes, returning) its oldest rows up to about `maxEvents`
 * events, oldest first. `more` is true when rows were left.
 */
export async function claimIntake(tx: Tx, lane: number, maxEvents: number, maxRows = 1000): Promise<{ rows: IntakeRow[]; more: boolean }> {
  await tx.execute(sql`select pg_advisory_xact_lock(${laneLock(lane)})`);
  const got = await queryRows<{ id: number; body: string; source: string | null; integration: string | null; picked: number }>(tx, sql`with pick as (
      select id, sum(events) over (order by id) as upto, row_number() over (order by id) as n
      from event_intake where lane = ${lane} and failed is null order by id limit ${maxRows}
    ), del as (
      delete from event_intake i using pick
      where i.lane = ${lane} and i.id = pick.id and (pick.upto <= ${maxEvents} or pick.n = 1)
      returning i.id, i.body, i.source, i.integration
    )
    select id, body, source, integration, (select count(*) from pick)::int as picked from del order by id`);
  const picked = Number(got[0]?.picked ?? 0);
  return { rows: got.map((r) => ({ id: Number(r.id), body: r.body, source: r.source, integration: r.integration })), more: got.length < picked || picked === maxRows };
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
