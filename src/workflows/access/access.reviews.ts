/**
 * Reviews (recertification): a campaign `REV-n` per resource, on the resource's `review.every` schedule or started in
 * chat. Each reviewer gets one card per active grant with Keep / Revoke (with a reason); reminders go out until the
 * deadline; at the deadline the grants nobody reviewed are escalated to the owners and, with `revokeUnreviewed`,
 * revoked. The campaign's result is in the audit log and the security channel.
 */
import { and, asc, eq, inArray } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { formatDuration } from '../../core/duration.js';
import { badInput, conflict, forbidden, notFound } from '../../core/errors.js';
import type { PersonTarget } from '../../core/config/targets.js';
import { hasRole, personName, SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { PolicyRefusal } from '../../core/refusals.js';
import { cancelTimers, schedule, type TimerHandler } from '../../core/timers.js';
import { formatTime } from '../../core/time-zone.js';
import type { OpContext } from '../../core/workflow.js';
import type { ResourceConfig } from './access.config.js';
import { ACTIVE_STATES, tallyReview } from './access.machine.js';
import {
  grantSubject, reviewItemCard, reviewItemSubject, reviewStatusMessage, reviewSubject, type GrantRow, type ReviewItemRow, type ReviewRow,
} from './access.messages.js';
import { ACCESS_TIMER, applyTransition, cancelRunningApproval, getGrant, resourceNamed, toSecurity } from './access.service.js';

/**
 * The reviewers of each grant of a campaign, resolved to person ids now the way approvers are (`approval.resolve`):
 * people, teams' members, whoever is on call, the owners (the same for every grant), and with `{manager: true}` each
 * grantee's manager. Nobody reviews their own access; a grant left with nobody (no manager in the config, nobody on
 * call) goes to the resource's owners.
 */
export async function reviewersByGrant(op: OpContext, r: ResourceConfig, grants: readonly GrantRow[]): Promise<Map<number, string[]>> {
  const targets = r.review?.reviewers ?? [{ kind: 'owners' as const }];
  const resolve = (some: readonly PersonTarget[], requester?: string) => op.app.seam.call('approval.resolve', op, { targets: some, owners: r.owners, ...(requester ? { requester } : {}) });
  const shared = targets.filter((t) => t.kind !== 'manager');
  const common = shared.length ? await resolve(shared) : [];
  const managers = new Map<string, string[]>();
  const out = new Map<number, string[]>();
  for (const g of grants) {
    let manager = managers.get(g.person);
    if (!manager) managers.set(g.person, (manager = targets.some((t) => t.kind === 'manager') ? await resolve([{ kind: 'manager' }], g.person) : []));
    const people = [...new Set([...common, ...manager])].filter((p) => p !== g.person);
    out.set(g.id, people.length ? people : r.owners.filter((p) => p !== g.person));
  }
  return out;
}

/** Who may review one grant of a campaign (campaigns from before per-grant reviewers: the campaign's, but the grantee). */
export function itemReviewers(r: ReviewRow, item: ReviewItemRow, g: GrantRow): string[] {
  return item.reviewers ?? r.reviewers.filter((p) => p !== g.person);
}

/** Loads a campaign or throws a 404-coded error. */
export async function getReview(db: DbOrTx, id: number, lock = false): Promise<ReviewRow> {
  const q = db.select().from(schema.accessReviews).where(eq(schema.accessReviews.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('access.review_not_found', `There is no review REV-${id}.`);
  return row;
}

/** The items of a campaign with their grants, in grant order. */
export async function itemsOf(db: DbOrTx, reviewId: number): Promise<{ item: ReviewItemRow; grant: GrantRow }[]> {
  const rows = await db.select().from(schema.accessReviewItems).innerJoin(schema.accessGrants, eq(schema.accessGrants.id, schema.accessReviewItems.grantId))
    .where(eq(schema.accessReviewItems.reviewId, reviewId)).orderBy(asc(schema.accessReviewItems.grantId));
  return rows.map((r) => ({ item: r.access_review_items, grant: r.access_grants }));
}

async function names(db: DbOrTx, app: AppContext, ids: Iterable<string>): Promise<(id: string) => string> {
  const map = new Map(await Promise.all([...new Set(ids)].map(async (id) => [id, await personName(app, id, db)] as const)));
  return (id) => map.get(id) ?? id;
}

/** Edits every reviewer's card of one item. */
async function refreshItem(tx: Tx, app: AppContext, r: ReviewRow, item: ReviewItemRow, g: GrantRow, now: Date): Promise<void> {
  const name = await names(tx, app, [g.person, ...(item.decidedBy ? [item.decidedBy] : [])]);
  await enqueue(tx, { kind: 'update', subject: reviewItemSubject(r.id, g.id), message: reviewItemCard(r, item, g, name, app.config.timezone, now) });
}

/** Starts a campaign for a resource: one card per active grant to each reviewer, reminders and the deadline set. */
export async function startReview(tx: Tx, app: AppContext, resourceName: string, actor: Actor, now: Date): Promise<{ review: ReviewRow; grants: number }> {
  const resource = resourceNamed(app, resourceName);
  if (actor.person.id !== SCHEDULER_ACTOR.person.id) {
    requirePermission(app, actor.person, 'access.review', resource.name);
    if (!hasRole(actor.person, 'admin') && !resource.owners.includes(actor.person.id)) throw forbidden('access.not_owner', `Only the owners of ${resource.name} or an admin start its reviews.`);
  }
  const [running] = await tx.select().from(schema.accessReviews).where(and(eq(schema.accessReviews.resource, resource.name), eq(schema.accessReviews.state, 'open'))).for('update');
  if (running) throw conflict('access.review_running', `${reviewSubject(running.id)} already reviews ${resource.name} (deadline ${formatTime(running.deadline, app.config.timezone, now)}): /access review status ${reviewSubject(running.id)}`);
  const deadlineMs = resource.review?.deadline ?? 14 * 86_400_000;
  const grants = await tx.select().from(schema.accessGrants).where(and(eq(schema.accessGrants.resource, resource.name), inArray(schema.accessGrants.state, [...ACTIVE_STATES]))).orderBy(asc(schema.accessGrants.id));
  const byGrant = await reviewersByGrant({ tx, app, now, actor }, resource, grants);
  const reviewers = [...new Set([...byGrant.values()].flat())];
  if (reviewers.length === 0 && grants.length > 0) throw badInput('access.no_reviewers', `Nobody can review the grants of ${resource.name}: its reviewers resolve to nobody but the grantees; fix review.reviewers in the config.`);
  const [review] = await tx.insert(schema.accessReviews).values({
    resource: resource.name, state: 'open', reviewers, startedBy: actor.person.id, startedAt: now, deadline: new Date(now.getTime() + deadlineMs),
    revokeUnreviewed: resource.review?.revokeUnreviewed ?? false,
  }).returning();
  const r = review!;
  const subject = reviewSubject(r.id);
  if (grants.length) await tx.insert(schema.accessReviewItems).values(grants.map((g) => ({ reviewId: r.id, grantId: g.id, reviewers: byGrant.get(g.id)! })));
  const items = await itemsOf(tx, r.id);
  const name = await names(tx, app, grants.map((g) => g.person));
  for (const { item, grant } of items) {
    const card = reviewItemCard(r, item, grant, name, app.config.timezone, now);
    for (const person of itemReviewers(r, item, grant)) await enqueue(tx, { kind: 'dm', person, message: card, subject: reviewItemSubject(r.id, grant.id) }, { orderKey: subject });
  }
  await auditActor(tx, actor, {
    at: now, subject, action: 'access.review_started',
    data: { resource: resource.name, grants: grants.map((g) => grantSubject(g.id)), reviewers, reviewersByGrant: Object.fromEntries(grants.map((g) => [grantSubject(g.id), byGrant.get(g.id)!])), deadline: r.deadline.toISOString() },
  });
  if (items.length === 0) {
    await closeReview(tx, app, r, actor, now);
    return { review: await getReview(tx, r.id), grants: 0 };
  }
  const remindEvery = resource.review?.remindEvery ?? 86_400_000;
  if (now.getTime() + remindEvery < r.deadline.getTime()) await schedule(tx, { kind: ACCESS_TIMER.reviewRemind, subject, key: `${ACCESS_TIMER.reviewRemind}:${subject}`, dueAt: new Date(now.getTime() + remindEvery), payload: { id: r.id } });
  await schedule(tx, { kind: ACCESS_TIMER.reviewDeadline, subject, key: `${ACCESS_TIMER.reviewDeadline}:${subject}`, dueAt: r.deadline, payload: { id: r.id } });
  return { review: r, grants: items.length };
}

/** A reviewer's Keep or Revoke on one grant of a campaign. */
export async function decideItem(tx: Tx, app: AppContext, reviewId: number, grantId: number, decision: 'keep' | 'revoke', reason: string | undefined, actor: Actor, now: Date): Promise<string> {
  requirePermission(app, actor.person, 'access.review', reviewSubject(reviewId));
  const why = reason?.trim();
  if (decision === 'revoke' && !why) throw badInput('access.reason_required', 'Say why it is revoked: the grantee reads it.', [{ path: 'reason', message: 'required to revoke' }]);
  const peek = await getGrant(tx, grantId);
  if (decision === 'revoke' && peek.pendingExtensionMs) await cancelRunningApproval(tx, app, grantSubject(grantId), why, actor, now);
  const r = await getReview(tx, reviewId, true);
  const subject = reviewSubject(r.id);
  const [item] = await tx.select().from(schema.accessReviewItems).where(and(eq(schema.accessReviewItems.reviewId, r.id), eq(schema.accessReviewItems.grantId, grantId))).for('update');
  if (!item) throw notFound('access.review_item_not_found', `${grantSubject(grantId)} is not part of ${subject}.`);
  const attempt = { actor, subject, data: { resource: r.resource, grant: grantSubject(grantId), decision } };
  if (peek.person === actor.person.id) throw new PolicyRefusal('access.self_review', `${actor.person.name} holds ${grantSubject(grantId)} and may not review their own access.`, attempt);
  const eligible = itemReviewers(r, item, peek);
  if (!eligible.includes(actor.person.id)) throw new PolicyRefusal('access.not_reviewer', `${actor.person.name} is not a reviewer of ${grantSubject(grantId)} in ${subject}; its reviewers are ${(await Promise.all(eligible.map((p) => personName(app, p, tx)))).join(', ') || 'nobody'}.`, attempt);
  if (r.state !== 'open') throw conflict('access.review_closed', `${subject} is closed; decisions are no longer taken.`);
  if (item.decision) throw conflict('access.review_decided', `${grantSubject(grantId)} was already ${item.decision === 'keep' ? 'kept' : 'revoked'} in ${subject} by ${await personName(app, item.decidedBy, tx)}.`);
  const [decided] = await tx.update(schema.accessReviewItems).set({ decision, decidedBy: actor.person.id, reason: why ?? null, decidedAt: now }).where(eq(schema.accessReviewItems.id, item.id)).returning();
  await auditActor(tx, actor, { at: now, subject, action: `access.review_${decision}`, data: { resource: r.resource, grant: grantSubject(grantId), person: peek.person, role: peek.role, ...(why ? { reason: why } : {}) } });
  let g = await getGrant(tx, grantId, true);
  if (decision === 'revoke' && (ACTIVE_STATES as readonly string[]).includes(g.state)) {
    g = await applyTransition(tx, app, g, 'revoke', actor, now, { reason: `review ${subject}: ${why}` });
  }
  await refreshItem(tx, app, r, decided!, g, now);
  const items = await itemsOf(tx, r.id);
  if (items.every((i) => i.item.decision)) await closeReview(tx, app, r, actor, now);
  return decision === 'keep' ? `${grantSubject(grantId)} kept (${subject}).` : `${grantSubject(grantId)} revoked (${subject}); the grantee is told.`;
}

/** Closes a campaign: unreviewed grants escalated to the owners (and revoked with revokeUnreviewed); the result audited. */
async function closeReview(tx: Tx, app: AppContext, r: ReviewRow, actor: Actor, now: Date): Promise<void> {
  const subject = reviewSubject(r.id);
  const items = await itemsOf(tx, r.id);
  const tally = tallyReview(items.map((i) => i.item));
  const unreviewed = items.filter((i) => !i.item.decision);
  const revokedNow: string[] = [];
  if (unreviewed.length && r.revokeUnreviewed) {
    for (const { grant } of unreviewed) {
      if (grant.pendingExtensionMs) await cancelRunningApproval(tx, app, grantSubject(grant.id), `not reviewed in ${subject}`, actor, now);
      const g = await getGrant(tx, grant.id, true);
      if (!(ACTIVE_STATES as readonly string[]).includes(g.state)) continue;
      await applyTransition(tx, app, g, 'revoke', actor, now, { reason: `not reviewed in ${subject} by its deadline` });
      revokedNow.push(grantSubject(g.id));
    }
  }
  const result = { ...tally, unreviewedGrants: unreviewed.map((i) => grantSubject(i.grant.id)), revokedUnreviewed: revokedNow };
  const [closed] = await tx.update(schema.accessReviews).set({ state: 'closed', closedAt: now, result }).where(eq(schema.accessReviews.id, r.id)).returning();
  await cancelTimers(tx, subject, 'access.review_');
  await auditActor(tx, actor, { at: now, subject, action: 'access.review_closed', data: { resource: r.resource, ...result } });
  const name = await names(tx, app, items.flatMap((i) => [i.grant.person, ...(i.item.decidedBy ? [i.item.decidedBy] : [])]));
  for (const { item, grant } of unreviewed) await enqueue(tx, { kind: 'update', subject: reviewItemSubject(r.id, grant.id), message: reviewItemCard(closed!, item, grant, name, app.config.timezone, now) });
  const resource = app.config.resources.find((x) => x.name === r.resource);
  if (unreviewed.length) {
    const list = unreviewed.map((i) => `- ${grantSubject(i.grant.id)} ${name(i.grant.person)} ${i.grant.role}${revokedNow.includes(grantSubject(i.grant.id)) ? ' (revoked)' : ''}`).join('\n');
    for (const owner of resource?.owners ?? []) {
      await enqueue(tx, { kind: 'dm', person: owner, message: { title: `${subject}: ${unreviewed.length} grant${unreviewed.length === 1 ? '' : 's'} of ${r.resource} not reviewed`, text: `${list}\n${r.revokeUnreviewed ? 'They were revoked, as the review settings say.' : 'They stay; review them: /access list ' + r.resource}`, tone: 'warning' } }, { orderKey: subject });
    }
  }
  await toSecurity(tx, app, { text: `${subject} (review of ${r.resource}) closed: ${tally.kept} kept, ${tally.revoked} revoked, ${tally.unreviewed} not reviewed${revokedNow.length ? ` (${revokedNow.length} revoked at the deadline)` : ''}.`, tone: tally.unreviewed ? 'warning' : 'good' });
}

/** Progress of a campaign (`/access review status REV-n`). */
export async function reviewStatus(db: DbOrTx, app: AppContext, id: number, now: Date) {
  const r = await getReview(db, id);
  const items = await itemsOf(db, r.id);
  const name = await names(db, app, [r.startedBy, ...r.reviewers, ...items.flatMap((i) => [i.grant.person, ...(i.item.decidedBy ? [i.item.decidedBy] : [])])]);
  return reviewStatusMessage(r, items, name, app.config.timezone, now);
}

/** A resource's campaign is due (its `review.every`): started, and the next one scheduled. */
export const reviewDueTimer: TimerHandler = async (tx, timer, app, now) => {
  const name = String((timer.payload as { resource?: unknown }).resource ?? '');
  const resource = app.config.resources.find((r) => r.name === name);
  if (!resource?.review) return;
  const [running] = await tx.select().from(schema.accessReviews).where(and(eq(schema.accessReviews.resource, name), eq(schema.accessReviews.state, 'open')));
  if (!running) await startReview(tx, app, name, SCHEDULER_ACTOR, now);
  return { rescheduleAt: new Date(now.getTime() + resource.review.every), payload: timer.payload };
};

/** Reminds the reviewers who still have grants to review, until the deadline. */
export const reviewRemindTimer: TimerHandler = async (tx, timer, app, now) => {
  const r = await getReview(tx, Number((timer.payload as { id?: unknown }).id));
  if (r.state !== 'open') return;
  const open = (await itemsOf(tx, r.id)).filter((i) => !i.item.decision);
  for (const person of r.reviewers) {
    const mine = open.filter((i) => itemReviewers(r, i.item, i.grant).includes(person));
    if (!mine.length) continue;
    await enqueue(tx, { kind: 'dm', person, message: { text: `⏰ ${reviewSubject(r.id)} (review of ${r.resource}): ${mine.length} grant${mine.length === 1 ? ' waits' : 's wait'} for your Keep or Revoke, by ${formatTime(r.deadline, app.config.timezone, now)} (${formatDuration(r.deadline.getTime() - now.getTime())} left): ${mine.map((i) => grantSubject(i.grant.id)).join(', ')}.`, tone: 'warning' } }, { orderKey: reviewSubject(r.id) });
  }
  await auditActor(tx, SCHEDULER_ACTOR, { at: now, subject: reviewSubject(r.id), action: 'access.review_reminded', data: { resource: r.resource, open: open.length } });
  const every = app.config.resources.find((x) => x.name === r.resource)?.review?.remindEvery ?? 86_400_000;
  const next = new Date(now.getTime() + every);
  if (next < r.deadline) return { rescheduleAt: next, payload: timer.payload };
};

/** The deadline: the campaign closes. */
export const reviewDeadlineTimer: TimerHandler = async (tx, timer, app, now) => {
  const r = await getReview(tx, Number((timer.payload as { id?: unknown }).id), true);
  if (r.state !== 'open') return;
  await closeReview(tx, app, r, SCHEDULER_ACTOR, now);
};

/** Schedules each resource's campaigns at start-up (an existing schedule is kept). */
export async function armReviews(app: AppContext): Promise<void> {
  const now = app.clock.now();
  for (const r of app.config.resources) {
    if (!r.review) continue;
    await app.db.insert(schema.timers).values({ kind: ACCESS_TIMER.reviewDue, subject: `access:${r.name}`, key: `${ACCESS_TIMER.reviewDue}:${r.name}`, dueAt: new Date(now.getTime() + r.review.every), payload: { resource: r.name } })
      .onConflictDoNothing({ target: schema.timers.key });
  }
}
