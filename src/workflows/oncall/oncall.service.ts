/** On-call operations: schedules from the config, overrides in the database, who is on call now and next. */
import { and, asc, eq, gt, isNull } from 'drizzle-orm';
import { schema, type DbOrTx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { appendAudit } from '../../core/audit.js';
import { formatDuration } from '../../core/duration.js';
import { badInput, conflict, notFound } from '../../core/errors.js';
import type { Actor, Person } from '../../core/identity.js';
import { requirePermission } from '../../core/permissions.js';
import { nextOnCall, toSchedule, whoIsOnCall, type OnCall, type Override, type Schedule, type Shift } from './oncall.schedule.js';

/** The longest override accepted. */
export const MAX_OVERRIDE_MS = 90 * 86_400_000;

export type OverrideRow = typeof schema.oncallOverrides.$inferSelect;

const scheduleCache = new WeakMap<AppContext['config'], Map<string, Schedule>>();

/** Every configured schedule, evaluable, in config order. */
export function schedulesOf(app: Pick<AppContext, 'config'>): Schedule[] {
  let cached = scheduleCache.get(app.config);
  if (!cached) {
    cached = new Map(app.config.schedules.map((s) => [s.name, toSchedule(s, app.config.timezone)]));
    scheduleCache.set(app.config, cached);
  }
  return [...cached.values()];
}

/** A schedule by name (case-insensitive), or undefined. */
export function findSchedule(app: Pick<AppContext, 'config'>, name: string): Schedule | undefined {
  const wanted = name.trim().toLowerCase();
  return schedulesOf(app).find((s) => s.name === wanted);
}

/** A schedule by name; a coded error listing the known ones otherwise. */
export function requireSchedule(app: Pick<AppContext, 'config'>, name: string): Schedule {
  const found = findSchedule(app, name);
  if (found) return found;
  const known = schedulesOf(app).map((s) => s.name);
  throw notFound('oncall.unknown_schedule', known.length
    ? `There is no schedule "${name}". Schedules: ${known.join(', ')}.`
    : `There is no schedule "${name}": the config defines no on-call schedules yet.`);
}

/** Overrides of a schedule that are not removed and end after `after`, oldest first (so later ones win). */
export async function activeOverrides(db: DbOrTx, schedule: string, after: Date): Promise<OverrideRow[]> {
  return db.select().from(schema.oncallOverrides)
    .where(and(eq(schema.oncallOverrides.schedule, schedule), isNull(schema.oncallOverrides.removedAt), gt(schema.oncallOverrides.endsAt, after)))
    .orderBy(asc(schema.oncallOverrides.id));
}

/** Rows to the pure model. */
export function toOverrides(rows: readonly OverrideRow[]): Override[] {
  return rows.map((r) => ({ id: r.id, person: r.person, from: r.startsAt, to: r.endsAt }));
}

/** Who is on call for one schedule now, and who is next. */
export interface OnCallNow {
  schedule: Schedule;
  current: OnCall;
  next?: Shift;
}

/** Who is on call at `at` for a schedule, with the overrides from the database. */
export async function onCallAt(db: DbOrTx, schedule: Schedule, at: Date): Promise<OnCallNow> {
  const overrides = toOverrides(await activeOverrides(db, schedule.name, at));
  return { schedule, current: whoIsOnCall(schedule, overrides, at), next: nextOnCall(schedule, overrides, at) };
}

/** Input of a new override. */
export interface NewOverride {
  schedule: string;
  person: Person;
  from: Date;
  to: Date;
}

/** Records an override (responder role). Timeline and audit under the subject `oncall:<schedule>`. */
export async function createOverride(tx: DbOrTx, app: AppContext, input: NewOverride, actor: Actor, now: Date): Promise<OverrideRow> {
  requirePermission(app, actor.person, 'oncall.override');
  const schedule = requireSchedule(app, input.schedule);
  if (!input.person.known) throw badInput('oncall.unknown_person', `${input.person.name} is not in the config's people, so they cannot be put on call.`, [{ path: 'person', message: 'not a configured person' }]);
  if (input.to.getTime() <= input.from.getTime()) throw badInput('oncall.bad_range', 'The override must end after it starts.', [{ path: 'to', message: 'must be after from' }]);
  if (input.to.getTime() <= now.getTime()) throw badInput('oncall.in_past', 'That override would end in the past; give an end time in the future.', [{ path: 'to', message: 'in the past' }]);
  if (input.to.getTime() - input.from.getTime() > MAX_OVERRIDE_MS) {
    throw badInput('oncall.too_long', `An override may last at most ${formatDuration(MAX_OVERRIDE_MS)}; for longer changes edit the schedule in the config.`, [{ path: 'to', message: 'too long' }]);
  }
  const [row] = await tx.insert(schema.oncallOverrides).values({
    schedule: schedule.name, person: input.person.id, startsAt: input.from, endsAt: input.to, createdBy: actor.person.id, source: actor.source, createdAt: now,
  }).returning();
  await appendAudit(tx, {
    at: now, actor: actor.person.id, source: actor.source, subject: `oncall:${schedule.name}`, action: 'oncall.override',
    data: { override: row!.id, person: input.person.id, from: input.from.toISOString(), to: input.to.toISOString() },
  });
  return row!;
}

/** Removes an override (responder role). */
export async function removeOverride(tx: DbOrTx, app: AppContext, schedule: string, id: number, actor: Actor, now: Date): Promise<OverrideRow> {
  requirePermission(app, actor.person, 'oncall.override', undefined, 'remove on-call overrides');
  const s = requireSchedule(app, schedule);
  const [row] = await tx.select().from(schema.oncallOverrides).where(and(eq(schema.oncallOverrides.id, id), eq(schema.oncallOverrides.schedule, s.name))).for('update');
  if (!row) throw notFound('oncall.unknown_override', `Schedule ${s.name} has no override #${id}. \`/oncall overrides ${s.name}\` lists them.`);
  if (row.removedAt) throw conflict('oncall.override_removed', `Override #${id} was already removed.`);
  const [updated] = await tx.update(schema.oncallOverrides).set({ removedAt: now, removedBy: actor.person.id }).where(eq(schema.oncallOverrides.id, id)).returning();
  await appendAudit(tx, { at: now, actor: actor.person.id, source: actor.source, subject: `oncall:${s.name}`, action: 'oncall.override_removed', data: { override: id } });
  return updated!;
}

/** Overrides in force or upcoming for a schedule (removed ones left out), oldest first. */
export async function listOverrides(db: DbOrTx, schedule: string, now: Date): Promise<OverrideRow[]> {
  return activeOverrides(db, schedule, now);
}

