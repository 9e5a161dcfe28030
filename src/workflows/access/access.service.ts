/**
 * Grants: one transaction per action — request (validated once for chat, forms and REST; separation of duties; an
 * approval through the seam), transitions with their effects (connectors after commit, expiry clocks, removal), extend,
 * revoke, cancel, break-glass — with audit, timeline, the grantee's one live card and the security channel.
 */
import { and, desc, eq, inArray, lt, ne, sql } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { channelWheres } from '../../core/channels.js';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { badInput, conflict, DomainError, forbidden, notFound } from '../../core/errors.js';
import { actorFromRef, directoryOf, hasRole, personName, SCHEDULER_ACTOR, type Actor, type Person } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { auditRefusal, PolicyRefusal } from '../../core/refusals.js';
import { addTimeline, readTimeline } from '../../core/timeline.js';
import { cancelTimer, schedule } from '../../core/timers.js';
import { formatTime } from '../../core/time-zone.js';
import { WEBHOOK_TIMER } from '../../core/webhooks.js';
import type { RecordEvents } from '../../core/workflow.js';
import { unavailableReason, type ResourceConfig, type RoleConfig } from './access.config.js';
import {
  checkDuration, conflictsWith, extensionCheck, HOLDING_STATES, loginFor, needsSecondStep, STATE_WORDS, transition, type GrantEvent, type GrantState,
} from './access.machine.js';
import { grantCard, grantSubject, grantWhat, taskSubject, type ApprovalLine, type GrantRow, type GrantView } from './access.messages.js';
import { cancelTasks, openTask, tasksOfGrant } from './access.tasks.js';
import { webhookKey } from './connectors/webhook.js';

export type { GrantRow };

/** Timer kinds of access management. */
export const ACCESS_TIMER = {
  provision: 'access.provision',
  deprovision: 'access.deprovision',
  warn: 'access.warn',
  expire: 'access.expire',
  reconcile: 'access.reconcile',
  reviewDue: 'access.review_due',
  reviewRemind: 'access.review_remind',
  reviewDeadline: 'access.review_deadline',
  taskRemind: 'access.task_remind',
} as const;

/** The key of the reminder timer of a task. */
export const taskRemindKey = (taskId: number) => `${ACCESS_TIMER.taskRemind}:${taskSubject(taskId)}`;

/** The key of a grant's timer of a kind (one of each per grant). */
export const grantTimerKey = (kind: string, grantId: number) => `${kind}:${grantSubject(grantId)}`;

/** The integration of alerts access management raises (a reserved name of event management). */
export const ALERT_INTEGRATION = 'tread.access';

// ---------------------------------------------------------------------------------------------------------------- lookups

/** A configured resource by name; a coded error listing the resources otherwise. */
export function resourceNamed(app: AppContext, name: string): ResourceConfig {
  const r = app.config.resources.find((x) => x.name === name.trim().toLowerCase());
  if (r) return r;
  throw badInput('access.unknown_resource', `There is no resource "${name}". Resources: ${app.config.resources.map((x) => x.name).join(', ') || 'none'}.`, [{ path: 'resource', message: `unknown resource "${name}" (resources: ${app.config.resources.map((x) => x.name).join(', ') || 'none'})` }]);
}

/** A role of a resource by name; a coded error listing its roles otherwise. */
export function roleNamed(r: ResourceConfig, name: string): RoleConfig {
  const role = r.roles.find((x) => x.name === name.trim().toLowerCase());
  if (role) return role;
  const list = r.roles.map((x) => x.name).join(', ');
  throw badInput('access.unknown_role', `${r.name} has no role "${name}". Roles: ${list}.`, [{ path: 'role', message: `unknown role "${name}" (roles of ${r.name}: ${list})` }]);
}

/** The configured resource of a stored grant (it may have been removed from the config since). */
export function resourceOf(app: AppContext, g: GrantRow): ResourceConfig | undefined {
  return app.config.resources.find((r) => r.name === g.resource);
}

/** Loads a grant or throws a 404-coded error. */
export async function getGrant(db: DbOrTx, id: number, lock = false): Promise<GrantRow> {
  const q = db.select().from(schema.accessGrants).where(eq(schema.accessGrants.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('access.not_found', `There is no grant GRT-${id}.`);
  return row;
}

/** The grant id of a `GRT-n` subject, or undefined. */
export function grantIdOf(subject: string): number | undefined {
  const m = /^GRT-(\d+)$/.exec(subject);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------------------- cards, notices

/** Everything the grantee's card shows. */
export async function viewFor(tx: Tx, app: AppContext, row: GrantRow, now: Date): Promise<GrantView> {
  const subject = grantSubject(row.id);
  const status = row.approvalId && app.seam.offers('approval.status') ? await app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject }) : undefined;
  const approval: ApprovalLine | undefined = status ? {
    id: status.id, state: status.state, stage: status.stage, stages: status.stages, waitingFor: status.waitingFor, since: status.since, expiresAt: status.expiresAt,
    secondStepFor: status.state === 'pending' ? status.decisions.filter((d) => !d.confirmed && d.stage === status.stage).map((d) => d.person) : [],
  } : undefined;
  const task = (await tasksOfGrant(tx, row.id)).filter((t) => t.state === 'open' && t.kind !== 'breakglass_review').at(-1);
  const history = (await readTimeline(tx, subject)).map((e) => ({ at: e.at, text: e.text }));
  const ids = new Set([row.person, ...(row.outcomeBy ? [row.outcomeBy] : []), ...(approval?.waitingFor ?? []), ...(approval?.secondStepFor ?? [])]);
  const names = new Map(await Promise.all([...ids].map(async (id) => [id, await personName(app, id, tx)] as const)));
  return { row, resource: resourceOf(app, row), approval, task, history, name: (id) => names.get(id) ?? id, timeZone: directoryOf(app.config).timeZoneOf(row.person), now };
}

/** The grantee's card of a grant. */
export async function cardFor(tx: Tx, app: AppContext, row: GrantRow, now: Date): Promise<Message> {
  return grantCard(await viewFor(tx, app, row, now));
}

/** Edits the grantee's card in place. */
export async function refreshCard(tx: Tx, app: AppContext, row: GrantRow, now: Date): Promise<void> {
  await enqueue(tx, { kind: 'update', subject: grantSubject(row.id), message: await cardFor(tx, app, row, now) });
}

/** Posts to the security channel (on the platforms that are on). */
export async function toSecurity(tx: Tx, app: AppContext, message: Message): Promise<void> {
  const channel = app.config.access.securityChannel;
  if (!channel) return;
  for (const where of channelWheres(channel, app.platforms)) await enqueue(tx, { kind: 'post', where, message });
}

/** An alert of access management in the security channel, through event management (deduplicated by key; resolved later). */
export async function accessAlert(tx: Tx, app: AppContext, input: { key: string; action: 'trigger' | 'resolve'; summary: string; severity: 'error' | 'warning'; details?: Record<string, unknown> }, now: Date): Promise<void> {
  if (app.seam.offers('event.raise')) {
    await app.seam.call('event.raise', { tx, app, now, actor: SCHEDULER_ACTOR }, {
      integration: ALERT_INTEGRATION, dedupKey: input.key, action: input.action, summary: input.summary, severity: input.severity,
      labels: { alertname: input.key.startsWith('drift:') ? 'AccessDrift' : 'AccessRemovalFailed' }, details: input.details ?? {},
      ...(app.config.access.securityChannel ? { channel: app.config.access.securityChannel } : {}),
    });
    return;
  }
  // without event management, the security channel still hears it
  await toSecurity(tx, app, { text: `${input.action === 'trigger' ? '🚨' : '✓'} ${input.summary}`, tone: input.action === 'trigger' ? 'danger' : 'good' });
}

// ---------------------------------------------------------------------------------------------------------- the request

/** A request as typed, submitted or sent (one validation for all three). */
export interface RawGrantRequest {
  resource?: string;
  role?: string;
  /** `4h`, `2d` (the resource's default when left out). */
  duration?: string;
  reason?: string;
  ticket?: string;
}

/** A request that passed validation. */
export interface GrantRequest {
  resource: ResourceConfig;
  role: RoleConfig;
  durationMs: number;
  reason: string | null;
  ticket: string | null;
  login: string;
}

/** One problem of a request: the field, what is wrong, and its code. */
interface RequestIssue {
  path: string;
  message: string;
  code: string;
}

/**
 * Validates a request for a person: every problem named by its field (resource, role, duration, reason, ticket). The
 * error's code is the first problem's (`access.unknown_resource`, `access.unknown_role`, `access.duration_too_long`,
 * `access.reason_required`, `access.ticket_required`, …).
 */
export function validateGrantRequest(app: AppContext, raw: RawGrantRequest, person: Person): GrantRequest {
  const issues: RequestIssue[] = [];
  const names = app.config.resources.map((x) => x.name).join(', ') || 'none';
  const resource = raw.resource?.trim() ? app.config.resources.find((x) => x.name === raw.resource!.trim().toLowerCase()) : undefined;
  if (!raw.resource?.trim()) issues.push({ path: 'resource', code: 'access.resource_required', message: `required (resources: ${names})` });
  else if (!resource) issues.push({ path: 'resource', code: 'access.unknown_resource', message: `unknown resource "${raw.resource}" (resources: ${names})` });
  let role: RoleConfig | undefined;
  let durationMs = 0;
  let login: string | undefined;
  if (resource) {
    const roles = resource.roles.map((x) => x.name).join(', ');
    role = raw.role?.trim() ? resource.roles.find((x) => x.name === raw.role!.trim().toLowerCase()) : undefined;
    if (!raw.role?.trim()) issues.push({ path: 'role', code: 'access.role_required', message: `required (roles of ${resource.name}: ${roles})` });
    else if (!role) issues.push({ path: 'role', code: 'access.unknown_role', message: `unknown role "${raw.role}" (roles of ${resource.name}: ${roles})` });
    const asked = raw.duration?.trim() ? parseDuration(raw.duration) ?? Number.NaN : undefined;
    const d = checkDuration(asked, resource);
    if ('problem' in d) {
      issues.push(Number.isNaN(asked)
        ? { path: 'duration', code: 'access.bad_duration', message: `"${raw.duration}" is not a duration: write it like 30m, 4h or 2d` }
        : { path: 'duration', code: 'access.duration_too_long', message: d.problem });
    } else durationMs = d.ms;
    if (resource.requireReason && !raw.reason?.trim()) issues.push({ path: 'reason', code: 'access.reason_required', message: 'required: say why you need it (the approvers and the audit log read it)' });
    if (resource.requireTicket && !raw.ticket?.trim()) issues.push({ path: 'ticket', code: 'access.ticket_required', message: `required for ${resource.name}: give the ticket this access is for (ticket:ABC-123)` });
    const template = resource.connector.kind === 'postgres' ? resource.connector.login : '{person}';
    login = loginFor(template, person);
    if (!login) issues.push({ path: 'person', code: 'access.no_login', message: `${person.name} has no email in the config, and ${resource.name} logs people in as ${template}` });
  }
  if (raw.reason && raw.reason.length > 1000) issues.push({ path: 'reason', code: 'access.reason_too_long', message: 'at most 1000 characters' });
  if (raw.ticket && raw.ticket.length > 100) issues.push({ path: 'ticket', code: 'access.ticket_too_long', message: 'at most 100 characters' });
  if (issues.length) {
    throw badInput(issues[0]!.code, `That request cannot go ahead: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`, issues.map(({ path, message }) => ({ path, message })));
  }
  return { resource: resource!, role: role!, durationMs, reason: raw.reason?.trim() || null, ticket: raw.ticket?.trim() || null, login: login! };
}

/** Validates a submitted request; a refused one is written to the audit log (on its own) before the error goes on. */
export async function validateSubmitted(app: AppContext, raw: RawGrantRequest, actor: Actor): Promise<GrantRequest> {
  try {
    return validateGrantRequest(app, raw, actor.person);
  } catch (e) {
    if (e instanceof DomainError) {
      const resource = app.config.resources.find((r) => r.name === raw.resource?.trim().toLowerCase());
      await auditRefusal(app, new PolicyRefusal(e.code, e.message, {
        actor, subject: resource ? `access:${resource.name}` : 'access',
        data: { resource: raw.resource ?? null, role: raw.role ?? null, duration: raw.duration ?? null, person: actor.person.id, issues: e.issues ?? [] },
      }));
    }
    throw e;
  }
}

/** Serialises requests and approvals of one person (separation of duties is checked against a stable picture). */
async function lockPerson(tx: Tx, person: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`access:${person}`}))`);
}

/** The grants of a person on a resource that hold (or are about to hold) access, other than one. */
async function holdingGrants(tx: DbOrTx, person: string, resource: string, except?: number): Promise<GrantRow[]> {
  const t = schema.accessGrants;
  return tx.select().from(t).where(and(eq(t.person, person), eq(t.resource, resource), inArray(t.state, [...HOLDING_STATES]), except ? ne(t.id, except) : undefined));
}

/** Separation of duties: refused (and audited) when the role conflicts with a role the person holds on the resource. */
async function checkSeparation(tx: Tx, app: AppContext, input: { person: string; resource: ResourceConfig; role: string; except?: number; attempt: { actor: Actor; subject: string }; what: string }): Promise<void> {
  const held = await holdingGrants(tx, input.person, input.resource.name, input.except);
  const conflicting = conflictsWith(input.role, held.map((g) => g.role), input.resource.conflicts);
  if (!conflicting.length) return;
  const holders = held.filter((g) => conflicting.includes(g.role)).map((g) => `${g.role} (${grantSubject(g.id)}, ${STATE_WORDS[g.state as GrantState]})`);
  const who = await personName(app, input.person, tx);
  throw new PolicyRefusal('access.sod_conflict', `${input.what} ${who} ${input.role} on ${input.resource.name} while they hold ${holders.join(' and ')}: the roles conflict (separation of duties). Revoke the other grant first.`, {
    actor: input.attempt.actor, subject: input.attempt.subject,
    data: { resource: input.resource.name, role: input.role, person: input.person, conflictsWith: conflicting, grants: held.filter((g) => conflicting.includes(g.role)).map((g) => grantSubject(g.id)) },
  });
}

/** The approval policy of a role (its own, else the resource's). */
export function policyFor(r: ResourceConfig, role: RoleConfig): string {
  return role.approvalPolicy ?? r.approvalPolicy;
}

/** Requests a grant inside the caller's transaction: checked, stored, sent for approval; the requester gets the live card. */
export async function requestGrant(tx: Tx, app: AppContext, req: GrantRequest, actor: Actor, now: Date): Promise<GrantRow> {
  requirePermission(app, actor.person, 'access.request');
  const { resource, role } = req;
  const unavailable = unavailableReason(resource);
  if (unavailable) throw new DomainError('access.resource_unavailable', `${resource.name} cannot be requested in this tread: ${unavailable}.`, 409);
  const person = actor.person.id;
  await lockPerson(tx, person);
  await checkSeparation(tx, app, { person, resource, role: role.name, attempt: { actor, subject: `access:${resource.name}` }, what: 'Granting' });
  const same = (await holdingGrants(tx, person, resource.name)).find((g) => g.role === role.name)
    ?? (await tx.select().from(schema.accessGrants).where(and(eq(schema.accessGrants.person, person), eq(schema.accessGrants.resource, resource.name), eq(schema.accessGrants.role, role.name), eq(schema.accessGrants.state, 'requested'))))[0];
  if (same) throw conflict('access.duplicate', `You already have ${grantSubject(same.id)} for ${role.name} on ${resource.name} (${STATE_WORDS[same.state as GrantState]}).${same.state === 'active' || same.state === 'expiring' ? ` Extend it instead: /access extend ${grantSubject(same.id)} <duration> <reason>` : ''}`);
  const [inserted] = await tx.insert(schema.accessGrants).values({
    resource: resource.name, role: role.name, person, login: req.login, kind: 'request', sensitivity: role.sensitivity, connector: resource.connector.kind,
    state: 'requested', reason: req.reason, ticket: req.ticket, source: actor.source, durationMs: req.durationMs, requestedAt: now, updatedAt: now,
  }).returning();
  let row = inserted!;
  const subject = grantSubject(row.id);
  await addTimeline(tx, { subject, at: now, actor: person, source: actor.source, kind: 'requested', text: `Requested by ${actor.person.name} for ${formatDuration(req.durationMs)}` });
  await auditActor(tx, actor, { at: now, subject, action: 'access.requested', data: { resource: resource.name, role: role.name, person, sensitivity: role.sensitivity, durationMs: req.durationMs, reason: req.reason, ticket: req.ticket } });
  if (!app.seam.offers('approval.start')) throw new DomainError('access.no_approvals', 'Approvals are not available in this tread, so access cannot be requested.', 503);
  const started = await app.seam.call('approval.start', { tx, app, now, actor }, {
    subject, owner: 'access', policy: policyFor(resource, role), requester: person, title: `Access: ${resource.title} · ${role.title} for ${formatDuration(req.durationMs)}`,
    details: [
      { label: 'For', value: actor.person.name },
      { label: 'Resource', value: `${resource.title} (${resource.name})` },
      { label: 'Role', value: `${role.name} · ${role.sensitivity} sensitivity${needsSecondStep(role.sensitivity) ? ' (approving needs a second step)' : ''}` },
      { label: 'Duration', value: formatDuration(req.durationMs) },
      ...(req.ticket ? [{ label: 'Ticket', value: req.ticket }] : []),
    ],
    reason: req.reason ?? undefined, owners: resource.owners, secondStep: needsSecondStep(role.sensitivity), selfApprovalCode: 'access.self_approval',
  });
  [row] = (await tx.update(schema.accessGrants).set({ approvalId: started.approvalId }).where(eq(schema.accessGrants.id, row.id)).returning()) as [GrantRow];
  await enqueue(tx, { kind: 'dm', person, message: await cardFor(tx, app, row, now), subject });
  return row;
}

// ------------------------------------------------------------------------------------------------------------ transitions

/** Options of a transition. */
export interface TransitionOptions {
  /** Why (a denial, a cancellation, a revocation, a failure) — or the end's cause for an expiry. */
  reason?: string | null;
  /** A timeline sentence instead of the default. */
  sentence?: string;
  /** The card is not edited and the grantee not told (it is about to be, or another transition follows). */
  quiet?: boolean;
  /** The card is not edited: the caller edits it (the grantee is still told). */
  cardLater?: boolean;
  /** The caller removes the access itself, in this transaction (a timer): no removal timer is scheduled. */
  removeNow?: boolean;
  /** An extension: how much longer. */
  extensionMs?: number;
}

function sentenceFor(event: GrantEvent, who: string, reason: string | null | undefined, extra: string): string {
  const why = reason ? `: ${reason}` : '';
  switch (event) {
    case 'approve': return `Approved by ${who}`;
    case 'deny': return `Denied by ${who}${why}`;
    case 'cancel': return `Cancelled by ${who}${why}`;
    case 'provision': return 'Provisioning started';
    case 'activate': return `Active${extra}`;
    case 'fail': return `Provisioning failed${why}`;
    case 'warn': return `Expiry warning sent${extra}`;
    case 'extend': return `Extended by ${extra}${why}`;
    case 'expire': return `Expired${why}`;
    case 'revoke': return `Revoked by ${who}${why}`;
  }
}

/** Cancels the approval still running for a grant, before the grant is locked (the order a decision takes its locks in). */
export async function cancelRunningApproval(tx: Tx, app: AppContext, subject: string, reason: string | undefined, actor: Actor, now: Date): Promise<void> {
  if (app.seam.offers('approval.cancel')) await app.seam.call('approval.cancel', { tx, app, now, actor }, { subject, reason });
}

/** Applies a state event with its effects inside the caller's transaction (the grant locked by the caller). */
export async function applyTransition(tx: Tx, app: AppContext, before: GrantRow, event: GrantEvent, actor: Actor, now: Date, options: TransitionOptions = {}): Promise<GrantRow> {
  const result = transition(before.state as GrantState, event);
  if (result instanceof DomainError) throw result;
  const subject = grantSubject(before.id);
  const resource = resourceOf(app, before);
  const reason = options.reason?.trim() || null;
  const patch: Partial<GrantRow> = { state: result.next, updatedAt: now, version: before.version + 1 };
  const endsAt = (): Date => (before.kind === 'breakglass' && before.endsAt ? before.endsAt : new Date(now.getTime() + before.durationMs));
  let extra = '';
  for (const effect of result.effects) {
    switch (effect) {
      case 'record_approval': patch.approvedAt = now; break;
      case 'connector_grant':
        await schedule(tx, { kind: ACCESS_TIMER.provision, subject, key: grantTimerKey(ACCESS_TIMER.provision, before.id), dueAt: now, payload: { id: before.id } });
        app.seam.noteScheduled();
        break;
      case 'cancel_provisioning':
        // The provision timer stays: it finds the grant ended and does nothing, unless an outside connector's call is
        // running (with no transaction open) and grants after all, which its settling then removes again.
        await cancelTimer(tx, `${WEBHOOK_TIMER}:${webhookKey(before.id, 'grant')}`);
        await cancelTasks(tx, app, before, ['grant'], `${subject} ${event === 'revoke' ? 'was revoked' : 'expired'} before it was provisioned`, now);
        break;
      case 'record_activation': patch.activatedAt = now; patch.endsAt = endsAt(); extra = ` until ${formatTime(patch.endsAt, app.config.timezone, now)}`; break;
      case 'record_extension': {
        const ms = options.extensionMs ?? before.pendingExtensionMs ?? 0;
        patch.durationMs = before.durationMs + ms;
        patch.endsAt = new Date((before.endsAt ?? now).getTime() + ms);
        patch.extensions = before.extensions + 1;
        patch.pendingExtensionMs = null;
        patch.pendingExtensionReason = null;
        extra = `${formatDuration(ms)}, now until ${formatTime(patch.endsAt, app.config.timezone, now)}`;
        break;
      }
      case 'schedule_expiry': {
        const end = patch.endsAt!;
        await schedule(tx, { kind: ACCESS_TIMER.expire, subject, key: grantTimerKey(ACCESS_TIMER.expire, before.id), dueAt: end, payload: { id: before.id } });
        const warnAt = new Date(end.getTime() - app.config.access.expiryWarning);
        if (warnAt > now) await schedule(tx, { kind: ACCESS_TIMER.warn, subject, key: grantTimerKey(ACCESS_TIMER.warn, before.id), dueAt: warnAt, payload: { id: before.id } });
        else await cancelTimer(tx, grantTimerKey(ACCESS_TIMER.warn, before.id));
        break;
      }
      case 'cancel_expiry': await cancelTimer(tx, [grantTimerKey(ACCESS_TIMER.warn, before.id), grantTimerKey(ACCESS_TIMER.expire, before.id)]); break;
      case 'cancel_approval':
        if (before.state === 'requested' || before.pendingExtensionMs) await cancelRunningApproval(tx, app, subject, reason ?? undefined, actor, now);
        patch.pendingExtensionMs = null;
        patch.pendingExtensionReason = null;
        break;
      case 'record_end': patch.endedAt = now; patch.outcome = reason; patch.outcomeBy = actor.person.id; break;
      case 'record_outcome':
        patch.outcome = reason; patch.outcomeBy = actor.person.id;
        if (result.next !== 'approved') patch.endedAt = now;
        break;
      case 'connector_revoke': {
        // a manual grant whose task was never done granted nothing: there is nothing to remove
        const nothing = before.state === 'provisioning' && before.connector === 'manual';
        patch.removal = nothing ? 'done' : 'pending';
        patch.removalAttempts = 0;
        if (nothing) patch.removedAt = now;
        else if (!options.removeNow) {
          await schedule(tx, { kind: ACCESS_TIMER.deprovision, subject, key: grantTimerKey(ACCESS_TIMER.deprovision, before.id), dueAt: now, payload: { id: before.id } });
          app.seam.noteScheduled();
        }
        break;
      }
      case 'notify_expiring': {
        const end = before.endsAt!;
        extra = ` (ends ${formatTime(end, app.config.timezone, now)})`;
        const canExtend = before.kind !== 'breakglass' && !before.pendingExtensionMs;
        await enqueue(tx, {
          kind: 'dm', person: before.person, message: {
            text: `⏳ ${subject} (${grantWhat(before)}) ends ${formatTime(end, directoryOf(app.config).timeZoneOf(before.person), now)}, in ${formatDuration(end.getTime() - now.getTime())}.${canExtend ? ` Still need it? Extend it: /access extend ${subject} <duration> <reason>` : ''}`,
            tone: 'warning', ...(canExtend ? { buttons: [{ actionId: 'access.extend.form', label: 'Extend', value: subject, style: 'primary' as const }] } : {}),
          },
        }, { orderKey: subject });
        break;
      }
      case 'notify_failure': {
        const text = `✗ ${subject} (${grantWhat(before)} for ${await personName(app, before.person, tx)}) could not be provisioned: ${reason ?? 'no reason given'}.`;
        for (const owner of new Set(resource?.owners ?? [])) await enqueue(tx, { kind: 'dm', person: owner, message: { text, tone: 'danger' } }, { orderKey: subject });
        await toSecurity(tx, app, { text, tone: 'danger', subject });
        break;
      }
    }
  }
  const [after] = await tx.update(schema.accessGrants).set(patch).where(eq(schema.accessGrants.id, before.id)).returning();
  const row = after!;
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: event, text: options.sentence ?? sentenceFor(event, actor.person.name, reason, extra) });
  if (!options.quiet) {
    if (!options.cardLater) await refreshCard(tx, app, row, now);
    await notifyGrantee(tx, app, row, event, actor, reason, now);
  }
  // last: the audit chain's head stays locked from here until commit
  await auditActor(tx, actor, {
    at: now, subject, action: `access.${event}`,
    data: { resource: before.resource, role: before.role, person: before.person, from: before.state, to: row.state, ...(reason ? { reason } : {}), ...(event === 'extend' ? { extendedByMs: row.durationMs - before.durationMs, endsAt: row.endsAt?.toISOString() } : {}), ...(event === 'activate' ? { endsAt: row.endsAt?.toISOString() } : {}) },
  });
  return row;
}

/** A short DM besides the card when something the grantee must know happened (an edited card does not notify). */
async function notifyGrantee(tx: Tx, app: AppContext, row: GrantRow, event: GrantEvent, actor: Actor, reason: string | null, now: Date): Promise<void> {
  const subject = grantSubject(row.id);
  if (actor.person.id === row.person && event !== 'activate') return;
  const texts: Partial<Record<GrantEvent, string>> = {
    deny: `✗ ${subject} (${grantWhat(row)}) was denied${reason ? `: ${reason}` : ''}.`,
    activate: `✓ ${subject} (${grantWhat(row)}) is active until ${row.endsAt ? formatTime(row.endsAt, directoryOf(app.config).timeZoneOf(row.person), now) : '—'}.`,
    fail: `✗ ${subject} (${grantWhat(row)}) could not be provisioned${reason ? `: ${reason}` : ''}.`,
    revoke: `${subject} (${grantWhat(row)}) was revoked by ${actor.person.name}${reason ? `: ${reason}` : ''}.`,
    cancel: `${subject} (${grantWhat(row)}) was cancelled by ${actor.person.name}${reason ? `: ${reason}` : ''}.`,
    expire: `${subject} (${grantWhat(row)}) has ended${reason ? `: ${reason}` : ''}.`,
  };
  const text = texts[event];
  if (text) await enqueue(tx, { kind: 'dm', person: row.person, message: { text, tone: event === 'activate' ? 'good' : 'warning' } }, { orderKey: subject });
}

// ------------------------------------------------------------------------------------------------------------- what people do

/** Who may end a grant early: the grantee (giving it up), the resource's owners, admins. */
function mayEnd(app: AppContext, g: GrantRow, person: Person): boolean {
  return g.person === person.id || hasRole(person, 'admin') || (resourceOf(app, g)?.owners ?? []).includes(person.id);
}

/** A change a person asks for on a grant. */
export type GrantCommand =
  | { action: 'revoke'; reason: string }
  | { action: 'cancel'; reason: string }
  | { action: 'extend'; durationMs: number | undefined; durationText?: string; reason: string };

/** Applies a person's change inside the caller's transaction; returns the grant and a sentence for them. */
export async function changeGrant(tx: Tx, app: AppContext, id: number, cmd: GrantCommand, actor: Actor, now: Date): Promise<{ row: GrantRow; sentence: string }> {
  const subject = grantSubject(id);
  const peek = await getGrant(tx, id);
  const reason = cmd.reason.trim();
  const usage = { revoke: `/access revoke ${subject} <reason>`, cancel: `/access cancel ${subject} <reason>`, extend: `/access extend ${subject} <duration> <reason>` }[cmd.action];
  if (!reason) throw badInput('access.reason_required', `Say why: ${usage}.`, [{ path: 'reason', message: `required to ${cmd.action}` }]);
  requirePermission(app, actor.person, `access.${cmd.action}`, subject);
  switch (cmd.action) {
    case 'revoke': {
      if (!mayEnd(app, peek, actor.person)) throw forbidden('access.not_yours', `Only ${await personName(app, peek.person, tx)} (who holds it), the owners of ${peek.resource} or an admin may revoke ${subject}.`);
      if (peek.pendingExtensionMs) await cancelRunningApproval(tx, app, subject, reason, actor, now);
      const row = await getGrant(tx, id, true);
      const after = await applyTransition(tx, app, row, 'revoke', actor, now, { reason });
      return { row: after, sentence: `${subject} revoked; access is being removed at ${after.resource}.` };
    }
    case 'cancel': {
      if (peek.person !== actor.person.id && !hasRole(actor.person, 'admin')) throw forbidden('access.not_yours', `Only ${await personName(app, peek.person, tx)} (who asked for it) or an admin may cancel ${subject}.`);
      if (peek.state === 'requested') await cancelRunningApproval(tx, app, subject, reason, actor, now);
      const row = await getGrant(tx, id, true);
      const after = await applyTransition(tx, app, row, 'cancel', actor, now, { reason });
      return { row: after, sentence: `${subject} cancelled.` };
    }
    case 'extend': return extend(tx, app, peek, cmd, actor, now);
  }
}

async function extend(tx: Tx, app: AppContext, peek: GrantRow, cmd: Extract<GrantCommand, { action: 'extend' }>, actor: Actor, now: Date): Promise<{ row: GrantRow; sentence: string }> {
  const subject = grantSubject(peek.id);
  if (peek.person !== actor.person.id) throw forbidden('access.not_yours', `Only ${await personName(app, peek.person, tx)} (who holds it) may extend ${subject}; they ask, the approvers decide.`);
  if (peek.kind === 'breakglass') throw conflict('access.breakglass_fixed', `${subject} is a break-glass grant: it ends at ${formatDuration(app.config.access.breakGlassMax)} or with its incident. Request access the usual way if you need more time.`);
  const row = await getGrant(tx, peek.id, true);
  if (row.state !== 'active' && row.state !== 'expiring') throw conflict('access.not_active', `${subject} is ${STATE_WORDS[row.state as GrantState]}; only active grants can be extended.`);
  if (row.pendingExtensionMs) throw conflict('access.extension_pending', `An extension of ${subject} by ${formatDuration(row.pendingExtensionMs)} already waits for approval.`);
  const resource = resourceOf(app, row);
  if (!resource) throw conflict('access.resource_gone', `${row.resource} is no longer in the config; ${subject} cannot be extended.`);
  if (cmd.durationMs === undefined || Number.isNaN(cmd.durationMs)) throw badInput('access.bad_duration', `${cmd.durationText ? `"${cmd.durationText}" is not a duration. ` : ''}Write how much longer, like: /access extend ${subject} 2h still debugging`, [{ path: 'duration', message: 'write how much longer, like 1h or 2d' }]);
  const check = extensionCheck(row.durationMs, cmd.durationMs, resource);
  if (check.kind === 'refused') throw badInput('access.duration_too_long', `${subject} cannot be extended so far: ${check.problem}.`, [{ path: 'duration', message: check.problem }]);
  if (check.kind === 'self') {
    const after = await applyTransition(tx, app, row, 'extend', actor, now, { reason: cmd.reason, extensionMs: cmd.durationMs });
    return { row: after, sentence: `${subject} extended by ${formatDuration(cmd.durationMs)}: now until ${formatTime(after.endsAt!, directoryOf(app.config).timeZoneOf(after.person), now)}.` };
  }
  const role = resource.roles.find((r) => r.name === row.role);
  if (!role) throw conflict('access.role_gone', `${row.resource} no longer has the role ${row.role}; ${subject} cannot be extended.`);
  const [pending] = await tx.update(schema.accessGrants).set({ pendingExtensionMs: cmd.durationMs, pendingExtensionReason: cmd.reason, updatedAt: now, version: row.version + 1 })
    .where(eq(schema.accessGrants.id, row.id)).returning();
  const started = await app.seam.call('approval.start', { tx, app, now, actor }, {
    subject, owner: 'access', policy: policyFor(resource, role), requester: row.person,
    title: `Extend access: ${resource.title} · ${role.title} by ${formatDuration(cmd.durationMs)} (${formatDuration(check.totalMs)} in total)`,
    details: [
      { label: 'For', value: actor.person.name }, { label: 'Grant', value: subject }, { label: 'Role', value: `${role.name} · ${role.sensitivity} sensitivity` },
      { label: 'Ends now', value: formatTime(row.endsAt!, app.config.timezone, now) }, { label: 'Extension', value: formatDuration(cmd.durationMs) },
    ],
    reason: cmd.reason, owners: resource.owners, secondStep: needsSecondStep(role.sensitivity), selfApprovalCode: 'access.self_approval',
  });
  const [after] = await tx.update(schema.accessGrants).set({ approvalId: started.approvalId }).where(eq(schema.accessGrants.id, row.id)).returning();
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'extension_requested', text: `Extension by ${formatDuration(cmd.durationMs)} requested: ${cmd.reason}` });
  await auditActor(tx, actor, { at: now, subject, action: 'access.extension_requested', data: { resource: row.resource, role: row.role, person: row.person, extendByMs: cmd.durationMs, reason: cmd.reason, approval: started.id } });
  await refreshCard(tx, app, after ?? pending!, now);
  return { row: after ?? pending!, sentence: `The extension of ${subject} by ${formatDuration(cmd.durationMs)} went to the approvers (${started.id}); the grant stays as it is until they decide.` };
}

// ----------------------------------------------------------------------------------------------------------- break-glass

/** What a break-glass asks for. */
export interface BreakGlassInput {
  resource: string;
  role: string;
  reason: string;
  /** `INC-7`, when given. */
  incident?: string;
}

/** Break-glass: granted at once for at most `breakGlassMax`, announced to security, reviewed by the owners afterwards. */
export async function breakGlass(tx: Tx, app: AppContext, input: BreakGlassInput, actor: Actor, now: Date): Promise<GrantRow> {
  requirePermission(app, actor.person, 'access.breakglass');
  const resource = resourceNamed(app, input.resource);
  const role = roleNamed(resource, input.role);
  const reason = input.reason.trim();
  if (!reason) throw badInput('access.reason_required', 'Say why you break the glass: /access breakglass <resource> <role> <reason> [incident:INC-n]', [{ path: 'reason', message: 'required for break-glass' }]);
  const incident = input.incident?.trim().toUpperCase();
  if (incident !== undefined && !/^INC-\d+$/.test(incident)) throw badInput('access.bad_incident', `"${input.incident}" is not an incident id; write it like incident:INC-7.`, [{ path: 'incident', message: 'write it like INC-7' }]);
  const unavailable = unavailableReason(resource);
  if (unavailable) throw new DomainError('access.resource_unavailable', `${resource.name} cannot be granted in this tread: ${unavailable}.`, 409);
  const template = resource.connector.kind === 'postgres' ? resource.connector.login : '{person}';
  const login = loginFor(template, actor.person);
  if (!login) throw badInput('access.no_login', `${actor.person.name} has no email in the config, and ${resource.name} logs people in as ${template}.`, [{ path: 'person', message: 'no email' }]);
  const person = actor.person.id;
  await lockPerson(tx, person);
  await checkSeparation(tx, app, { person, resource, role: role.name, attempt: { actor, subject: `access:${resource.name}` }, what: 'Breaking the glass would give' });
  const same = (await holdingGrants(tx, person, resource.name)).find((g) => g.role === role.name);
  if (same) throw conflict('access.duplicate', `You already hold ${role.name} on ${resource.name} (${grantSubject(same.id)}, ${STATE_WORDS[same.state as GrantState]}).`);
  const max = app.config.access.breakGlassMax;
  const endsAt = new Date(now.getTime() + max);
  const [inserted] = await tx.insert(schema.accessGrants).values({
    resource: resource.name, role: role.name, person, login, kind: 'breakglass', sensitivity: role.sensitivity, connector: resource.connector.kind,
    state: 'approved', reason, incident: incident ?? null, source: actor.source, durationMs: max, requestedAt: now, approvedAt: now, endsAt, updatedAt: now,
  }).returning();
  const g = inserted!;
  const subject = grantSubject(g.id);
  await addTimeline(tx, { subject, at: now, actor: person, source: actor.source, kind: 'breakglass', text: `🔓 Break-glass by ${actor.person.name} for at most ${formatDuration(max)}${incident ? ` (${incident})` : ''}: ${reason}` });
  await auditActor(tx, actor, { at: now, subject, action: 'access.breakglass', data: { resource: resource.name, role: role.name, person, sensitivity: role.sensitivity, durationMs: max, reason, incident: incident ?? null } });
  // the time limit holds from now, however long provisioning takes
  await schedule(tx, { kind: ACCESS_TIMER.expire, subject, key: grantTimerKey(ACCESS_TIMER.expire, g.id), dueAt: endsAt, payload: { id: g.id } });
  const row = await applyTransition(tx, app, g, 'provision', actor, now, { quiet: true });
  await toSecurity(tx, app, {
    title: `🔓 Break-glass: ${subject}`, subject, tone: 'danger',
    text: `${actor.person.name} broke the glass for *${role.name}* on *${resource.name}* (${role.sensitivity} sensitivity), until ${formatTime(endsAt, app.config.timezone, now)} at the latest${incident ? `, for ${incident} (revoked when it is resolved)` : ''}.\nReason: ${reason}`,
  });
  const review = await openTask(tx, app, row, resource, 'breakglass_review', now);
  // the review stays open until an owner presses Reviewed: they are reminded until then
  await schedule(tx, { kind: ACCESS_TIMER.taskRemind, subject: taskSubject(review.id), key: taskRemindKey(review.id), dueAt: new Date(now.getTime() + app.config.access.breakGlassRemindAfter), payload: { id: review.id } });
  await enqueue(tx, { kind: 'dm', person, message: await cardFor(tx, app, row, now), subject });
  return row;
}

// ------------------------------------------------------------------------------------------------ hearing the approval

/** The owner's side of `approval.decided`: a request is approved (provisioning starts) or denied; an extension applies or not. */
export async function onApprovalDecided(tx: Tx, app: AppContext, e: RecordEvents['approval.decided'], now: Date): Promise<void> {
  if (e.owner !== 'access') return;
  const id = grantIdOf(e.subject);
  if (id === undefined) return;
  const row = await getGrant(tx, id, true);
  const actor = actorFromRef(e.by);
  const why = e.outcome === 'expired' ? `the approval expired (${e.reason ?? 'no decision in time'})` : e.reason ?? 'no reason given';
  if (row.state === 'requested') {
    if (e.outcome === 'approved') {
      const approved = await applyTransition(tx, app, row, 'approve', actor, now, { quiet: true });
      await applyTransition(tx, app, approved, 'provision', actor, now);
      return;
    }
    await applyTransition(tx, app, row, 'deny', actor, now, { reason: why, sentence: e.outcome === 'expired' ? `Denied: ${why}` : `Denied by ${e.by.name}: ${why}` });
    return;
  }
  if (row.pendingExtensionMs && (row.state === 'active' || row.state === 'expiring')) {
    if (e.outcome === 'approved') {
      await applyTransition(tx, app, row, 'extend', actor, now, { reason: row.pendingExtensionReason, sentence: `Extension by ${formatDuration(row.pendingExtensionMs)} approved by ${e.by.name}` });
      return;
    }
    const [cleared] = await tx.update(schema.accessGrants).set({ pendingExtensionMs: null, pendingExtensionReason: null, updatedAt: now }).where(eq(schema.accessGrants.id, id)).returning();
    await addTimeline(tx, { subject: e.subject, at: now, actor: e.by.id, source: e.by.source, kind: 'extension_denied', text: `Extension not approved: ${why}` });
    await auditActor(tx, actor, { at: now, subject: e.subject, action: 'access.extension_denied', data: { resource: row.resource, role: row.role, person: row.person, reason: why } });
    await enqueue(tx, { kind: 'dm', person: row.person, message: { text: `✗ The extension of ${e.subject} (${grantWhat(row)}) was not approved: ${why}. It still ends ${formatTime(row.endsAt!, directoryOf(app.config).timeZoneOf(row.person), now)}.`, tone: 'warning' } }, { orderKey: e.subject });
    await refreshCard(tx, app, cleared!, now);
  }
}

/** The owner's side of `approval.changed`: the step goes on the grant's timeline and card. */
export async function onApprovalChanged(tx: Tx, app: AppContext, e: RecordEvents['approval.changed'], now: Date): Promise<void> {
  if (e.owner !== 'access') return;
  const id = grantIdOf(e.subject);
  if (id === undefined) return;
  const [row] = await tx.select().from(schema.accessGrants).where(eq(schema.accessGrants.id, id));
  if (!row) return;
  await addTimeline(tx, { subject: e.subject, at: now, actor: e.actor.id, source: e.actor.source, kind: `approval.${e.what}`, text: e.text });
  if (e.what !== 'started') await refreshCard(tx, app, row, now);
}

/** `approval.deciding`: an approval that would create a separation-of-duties conflict is vetoed (refused and audited). */
export async function onApprovalDeciding(tx: Tx, app: AppContext, e: RecordEvents['approval.deciding']): Promise<void> {
  if (e.owner !== 'access' || e.decision !== 'approve') return;
  const id = grantIdOf(e.subject);
  if (id === undefined) return;
  const g = await getGrant(tx, id);
  if (g.state !== 'requested') return;
  const resource = resourceOf(app, g);
  if (!resource) return;
  await lockPerson(tx, g.person);
  await checkSeparation(tx, app, { person: g.person, resource, role: g.role, except: g.id, attempt: { actor: actorFromRef(e.actor), subject: e.subject }, what: `Approving ${e.subject} would give` });
}

// ----------------------------------------------------------------------------------------------------------------- lists

/** What a list of grants asks for (chat and REST). */
export interface GrantFilter {
  states?: readonly string[];
  person?: string;
  resource?: string;
  beforeId?: number;
  limit: number;
}

/** Grants matching a filter, newest first. */
export async function listGrants(db: DbOrTx, f: GrantFilter): Promise<GrantRow[]> {
  const t = schema.accessGrants;
  return db.select().from(t).where(and(
    f.states ? inArray(t.state, [...f.states]) : undefined,
    f.person !== undefined ? eq(t.person, f.person) : undefined,
    f.resource !== undefined ? eq(t.resource, f.resource) : undefined,
    f.beforeId !== undefined ? lt(t.id, f.beforeId) : undefined,
  )).orderBy(desc(t.id)).limit(f.limit);
}

/** Who may see a grant: the grantee, the resource's owners and team, responders and admins, its approvers. */
export async function requireView(tx: Tx, app: AppContext, g: GrantRow, person: Person, now: Date): Promise<void> {
  const r = resourceOf(app, g);
  if (g.person === person.id || hasRole(person, 'responder') || (r?.owners ?? []).includes(person.id)) return;
  if (r?.team && (directoryOf(app.config).teamMembers(r.team) ?? []).includes(person.id)) return;
  if (g.approvalId && app.seam.offers('approval.status')) {
    const s = await app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject: grantSubject(g.id) });
    if (s && (s.waitingFor.includes(person.id) || s.decisions.some((d) => d.person === person.id))) return;
  }
  throw forbidden('access.not_yours', `${grantSubject(g.id)} is not yours to see: only its grantee, its approvers, the owners of ${g.resource} and responders see it.`);
}
