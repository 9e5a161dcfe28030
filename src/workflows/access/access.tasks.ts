/**
 * Tasks (`TASK-n`): the manual connector's "grant it by hand" and "remove it by hand" for the resource's team, and the
 * review of a break-glass grant for its owners, which stays open until someone presses Reviewed. Each member gets the
 * task's card by direct message; pressing Done on any of them edits all of them.
 */
import { and, asc, eq, inArray } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { directoryOf, personName } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { notFound } from '../../core/errors.js';
import type { ResourceConfig } from './access.config.js';
import { taskCard, taskSubject, type AccessTaskRow, type GrantRow } from './access.messages.js';

/** The kinds of task. */
export type AccessTaskKind = 'grant' | 'revoke' | 'breakglass_review';

/** Who does a task: the team's members (grant, revoke) or the resource's owners (a review). */
export function taskPeople(app: AppContext, task: Pick<AccessTaskRow, 'team'>, resource: ResourceConfig | undefined): string[] {
  return task.team ? directoryOf(app.config).teamMembers(task.team) ?? [] : resource?.owners ?? [];
}

/** A task's card with names resolved. */
export async function taskCardFor(db: DbOrTx, app: AppContext, task: AccessTaskRow, grant: GrantRow, now: Date): Promise<Message> {
  const ids = [grant.person, ...(task.doneBy ? [task.doneBy] : [])];
  const names = new Map(await Promise.all(ids.map(async (id) => [id, await personName(app, id, db)] as const)));
  return taskCard(task, grant, (id) => names.get(id) ?? id, app.config.timezone, now);
}

/** Opens a task and sends its card to the people who do it. */
export async function openTask(tx: Tx, app: AppContext, grant: GrantRow, resource: ResourceConfig, kind: AccessTaskKind, now: Date): Promise<AccessTaskRow> {
  const team = kind === 'breakglass_review' ? null : resource.team ?? null;
  const title = kind === 'grant' ? `Grant ${grant.role} on ${grant.resource} to ${grant.login}` : kind === 'revoke' ? `Remove ${grant.role} on ${grant.resource} from ${grant.login}` : `Review break-glass use of ${grant.role} on ${grant.resource}`;
  const [task] = await tx.insert(schema.accessTasks).values({ grantId: grant.id, kind, title, team, state: 'open', createdAt: now }).returning();
  const card = await taskCardFor(tx, app, task!, grant, now);
  for (const person of new Set(taskPeople(app, task!, resource))) await enqueue(tx, { kind: 'dm', person, message: card, subject: taskSubject(task!.id) });
  return task!;
}

/** Loads a task or throws a 404-coded error. */
export async function getTask(db: DbOrTx, id: number, lock = false): Promise<AccessTaskRow> {
  const q = db.select().from(schema.accessTasks).where(eq(schema.accessTasks.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('access.task_not_found', `There is no access task TASK-${id}.`);
  return row;
}

/** The tasks of a grant, oldest first. */
export async function tasksOfGrant(db: DbOrTx, grantId: number): Promise<AccessTaskRow[]> {
  return db.select().from(schema.accessTasks).where(eq(schema.accessTasks.grantId, grantId)).orderBy(asc(schema.accessTasks.id));
}

/** Cancels the open tasks of some kinds of a grant (provisioning stopped, a removal no longer needed) and edits their cards. */
export async function cancelTasks(tx: Tx, app: AppContext, grant: GrantRow, kinds: AccessTaskKind[], note: string, now: Date): Promise<void> {
  const cancelled = await tx.update(schema.accessTasks).set({ state: 'cancelled', note, doneAt: now })
    .where(and(eq(schema.accessTasks.grantId, grant.id), eq(schema.accessTasks.state, 'open'), inArray(schema.accessTasks.kind, kinds))).returning();
  for (const t of cancelled) await enqueue(tx, { kind: 'update', subject: taskSubject(t.id), message: await taskCardFor(tx, app, t, grant, now) });
}
