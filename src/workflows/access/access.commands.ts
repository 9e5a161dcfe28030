/**
 * The chat surface of access management: `/access …` (and `/request access …`, the same command through its alias),
 * the request form, the grant card's buttons, task cards, the second step's code, and review cards.
 */
import type { Tx } from '../../../db/client.js';
import { Args, extractOptions, parseRecordId } from '../../core/commands.js';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { badInput, isDomainError } from '../../core/errors.js';
import { hasRole, personName, resolvePersonToken } from '../../core/identity.js';
import type { ActionInbound, CommandInbound, Reply } from '../../core/inbound.js';
import type { Button } from '../../core/message.js';
import { requirePermission } from '../../core/permissions.js';
import { formatTime } from '../../core/time-zone.js';
import { auditRefusal, inTransaction } from '../../core/refusals.js';
import type { ActionSpec, CommandSpec, HandlerContext } from '../../core/workflow.js';
import { auditMessage, auditTrail, requireAuditView, type AuditTarget } from './access.audit.js';
import { ACCESS_WORDS, unavailableReason } from './access.config.js';
import { HOLDING_STATES } from './access.machine.js';
import { codeForm, grantForm, grantSubject, listLine, requestForm, resourcesMessage, reviewRevokeForm, reviewSubject } from './access.messages.js';
import { completeTask } from './access.provisioning.js';
import { driftWords, openDrift } from './access.reconcile.js';
import { decideItem, reviewStatus, startReview } from './access.reviews.js';
import { confirmCode, type SecondStepResult } from './access.second-step.js';
import {
  breakGlass, cardFor, changeGrant, getGrant, listGrants, requestGrant, requireView, resourceNamed, validateSubmitted, type GrantCommand, type RawGrantRequest,
} from './access.service.js';
import { getTask, taskCardFor } from './access.tasks.js';

/** Usage lines for `/access help`. */
export const ACCESS_USAGE = [
  '/access   (the resources you can request, with a button each)',
  '/access request <resource> <role> [for <duration>] <reason> [ticket:X]   (also /request access …)',
  '/access list [mine|<resource>|all]',
  '/access show GRT-n',
  '/access revoke GRT-n <reason>',
  '/access cancel GRT-n <reason>',
  '/access extend GRT-n <duration> <reason>',
  '/access breakglass <resource> <role> <reason> [incident:INC-n]',
  '/access confirm GRT-n <code>   (the second step of a high-sensitivity approval; without a code: a new one)',
  '/access audit <person|resource> [30d]',
  '/access review start <resource>',
  '/access review status REV-n',
  '/access drift',
];

function actorOf(ctx: HandlerContext) {
  return { person: ctx.person, source: ctx.source };
}

function ok(text: string): Reply {
  return { kind: 'ephemeral', message: { text, tone: 'good' } };
}

/** The words of `/access request` (and the alias): `<resource> <role> [for <duration>] <reason> [ticket:X]`. */
export function parseRequestText(text: string): RawGrantRequest {
  const { rest, options } = extractOptions(text, ['ticket']);
  const args = new Args(rest);
  const raw: RawGrantRequest = { resource: args.next(), role: args.next() };
  if (args.peek()?.toLowerCase() === 'for') {
    args.next();
    raw.duration = args.next();
  }
  const reason = args.rest();
  if (reason) raw.reason = reason;
  if (options.ticket) raw.ticket = options.ticket;
  return raw;
}

async function submit(ctx: HandlerContext, raw: RawGrantRequest): Promise<Reply> {
  const now = ctx.clock.now();
  const req = await validateSubmitted(ctx, raw, actorOf(ctx));
  const row = await inTransaction(ctx, (tx) => requestGrant(tx, ctx, req, actorOf(ctx), now));
  return ok(`${grantSubject(row.id)} requested: ${req.role.name} on ${req.resource.name} for ${formatDuration(req.durationMs)} once active. It waits for approval now; your card in a direct message shows where it stands.`);
}

/**
 * `/access request …`: without a resource, the list; without a role, the resource's form; otherwise it is submitted,
 * and a refusal is a sentence naming each problem (and a row in the audit log).
 */
async function typedRequest(ctx: HandlerContext, text: string): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'access.request');
  const raw = parseRequestText(text);
  if (!raw.resource) return { kind: 'ephemeral', message: resourcesMessage(ctx.config.resources.map((r) => ({ resource: r, unavailable: unavailableReason(r) }))) };
  const resource = ctx.config.resources.find((r) => r.name === raw.resource!.toLowerCase());
  if (resource && !raw.role) return { kind: 'form', form: requestForm(resource) };
  try {
    return await submit(ctx, raw);
  } catch (e) {
    if (isDomainError(e) && e.issues?.length) throw badInput(e.code, `${e.message} Write it like: /access request ${resource?.name ?? '<resource>'} ${resource?.roles[0]?.name ?? '<role>'} for ${resource ? formatDuration(resource.defaultDuration).replace(/ /g, '') : '4h'} <reason>${resource?.requireTicket ? ' ticket:ABC-123' : ''}`);
    throw e;
  }
}

function takeGrant(args: Args, usage: string): number {
  const word = args.next();
  const id = parseRecordId('GRT', word);
  if (id === undefined) throw badInput('access.id_required', `${word ? `"${word}" is not a grant id. ` : 'Which grant? '}Write it like this: ${usage}`);
  return id;
}

async function change(ctx: HandlerContext, id: number, cmd: GrantCommand): Promise<Reply> {
  const now = ctx.clock.now();
  const { sentence } = await inTransaction(ctx, (tx) => changeGrant(tx, ctx, id, cmd, actorOf(ctx), now));
  return ok(sentence);
}

function extendCommand(durationText: string | undefined, reason: string): Extract<GrantCommand, { action: 'extend' }> {
  return { action: 'extend', durationMs: durationText ? parseDuration(durationText) ?? Number.NaN : undefined, durationText, reason };
}

/** A second step's result: counted, or the refusal audited on its own after the failure count committed. */
async function secondStepReply(ctx: HandlerContext, work: (tx: Tx) => Promise<SecondStepResult>): Promise<Reply> {
  const result = await inTransaction(ctx, work);
  if (!result.ok) {
    await auditRefusal(ctx, result.refusal);
    throw result.refusal;
  }
  return ok(result.sentence);
}

async function list(args: Args, ctx: HandlerContext): Promise<Reply> {
  const word = args.next()?.toLowerCase() ?? 'mine';
  const now = ctx.clock.now();
  const everyone = hasRole(ctx.person, 'responder');
  let filter: { person?: string; resource?: string; states: readonly string[] };
  let title: string;
  if (word === 'mine') { filter = { person: ctx.person.id, states: ['requested', ...HOLDING_STATES] }; title = 'Your access'; }
  else if (word === 'all') {
    if (!everyone) throw badInput('access.list_forbidden', 'Only responders and admins list everyone\'s access; try /access list mine.');
    filter = { states: HOLDING_STATES }; title = 'Active access';
  } else {
    const r = resourceNamed(ctx, word);
    const mayAll = everyone || r.owners.includes(ctx.person.id);
    filter = { resource: r.name, states: HOLDING_STATES, ...(mayAll ? {} : { person: ctx.person.id }) };
    title = `Access to ${r.name}${mayAll ? '' : ' (yours)'}`;
  }
  const rows = await listGrants(ctx.db, { ...filter, limit: 26 });
  if (rows.length === 0) return { kind: 'ephemeral', message: { title, text: 'No grants to show.' } };
  const shown = rows.slice(0, 25);
  const names = new Map(await Promise.all([...new Set(shown.map((r) => r.person))].map(async (id) => [id, await personName(ctx, id)] as const)));
  const name = (id: string) => names.get(id) ?? id;
  const lines = shown.map((g) => `- ${listLine(g, name, ctx.person.timezone ?? ctx.config.timezone, now)}`);
  if (rows.length > 25) lines.push('- … more: narrow the list with a resource');
  const buttons: Button[] = [];
  for (const g of shown.filter((x) => x.state === 'active' || x.state === 'expiring')) {
    if (g.person === ctx.person.id && g.kind !== 'breakglass' && !g.pendingExtensionMs) buttons.push({ actionId: 'access.extend.form', label: `Extend ${grantSubject(g.id)}`, value: grantSubject(g.id) });
    buttons.push({ actionId: 'access.revoke.form', label: `Revoke ${grantSubject(g.id)}`, value: grantSubject(g.id), style: 'danger' });
  }
  return { kind: 'ephemeral', message: { title, text: lines.join('\n'), buttons: buttons.slice(0, 24) } };
}

async function show(args: Args, ctx: HandlerContext): Promise<Reply> {
  const id = takeGrant(args, '/access show GRT-7');
  const now = ctx.clock.now();
  const card = await ctx.db.transaction(async (tx) => {
    const row = await getGrant(tx, id);
    await requireView(tx, ctx, row, ctx.person, now);
    const shown = await cardFor(tx, ctx, row, now);
    // an approver it waits for gets the approval's buttons here too
    const status = row.approvalId ? await ctx.seam.call('approval.status', { tx, app: ctx, now, actor: actorOf(ctx) }, { subject: grantSubject(id) }) : undefined;
    const decide: Button[] = status?.state === 'pending' && status.waitingFor.includes(ctx.person.id) ? [
      { actionId: 'approval.approve', label: 'Approve', value: status.id, style: 'primary' },
      { actionId: 'approval.reject.form', label: 'Reject', value: status.id, style: 'danger' },
    ] : [];
    const mine = row.person === ctx.person.id;
    const buttons = (shown.buttons ?? []).filter((b) => mine || (b.actionId === 'access.revoke.form' && (hasRole(ctx.person, 'admin') || (ctx.config.resources.find((r) => r.name === row.resource)?.owners ?? []).includes(ctx.person.id))));
    return { ...shown, buttons: [...decide, ...buttons] };
  });
  return { kind: 'ephemeral', message: card };
}

async function breakglass(args: Args, ctx: HandlerContext): Promise<Reply> {
  const { rest, options } = extractOptions(args.rest(), ['incident']);
  const words = new Args(rest);
  const resource = words.next();
  const role = words.next();
  if (!resource || !role) throw badInput('access.usage', 'Write it like this: /access breakglass <resource> <role> <reason> [incident:INC-n]');
  const now = ctx.clock.now();
  const row = await inTransaction(ctx, (tx) => breakGlass(tx, ctx, { resource, role, reason: words.rest(), incident: options.incident }, actorOf(ctx), now));
  return ok(`🔓 ${grantSubject(row.id)}: break-glass ${row.role} on ${row.resource}, being provisioned now, for at most ${formatDuration(row.durationMs)}${row.incident ? ` or until ${row.incident} is resolved` : ''}. The security channel and the owners are told; the owners will review it.`);
}

async function audit(args: Args, ctx: HandlerContext): Promise<Reply> {
  const who = args.next();
  if (!who) throw badInput('access.usage', 'Whose access? Write it like this: /access audit @dave 30d, or /access audit prod-db');
  const windowWord = (args.next() ?? '30d').toLowerCase();
  const days = /^(\d{1,3})d$/.exec(windowWord)?.[1];
  if (!days || Number(days) < 1 || Number(days) > 366) throw badInput('access.bad_window', 'Write the window in days, like 7d, 30d or 90d (at most 366d).');
  const resource = ctx.config.resources.find((r) => r.name === who.toLowerCase());
  const target: AuditTarget = resource ? { kind: 'resource', name: resource.name } : { kind: 'person', id: (await resolvePersonToken(ctx, who, ctx.source === 'api' || ctx.source === 'scheduler' || ctx.source === 'webhook' ? undefined : ctx.source)).id };
  requirePermission(ctx, ctx.person, 'access.audit');
  requireAuditView(ctx, target, ctx.person);
  const now = ctx.clock.now();
  const lines = await auditTrail(ctx.db, target, new Date(now.getTime() - Number(days) * 86_400_000));
  return { kind: 'ephemeral', message: await auditMessage(ctx, target, Number(days), lines, now) };
}

async function review(args: Args, ctx: HandlerContext): Promise<Reply> {
  const sub = args.next()?.toLowerCase();
  const now = ctx.clock.now();
  if (sub === 'start') {
    const name = args.next();
    if (!name) throw badInput('access.usage', 'Which resource? /access review start <resource>');
    const { review: r, grants } = await inTransaction(ctx, (tx) => startReview(tx, ctx, name, actorOf(ctx), now));
    return ok(grants ? `${reviewSubject(r.id)} started: ${grants} active grant${grants === 1 ? '' : 's'} of ${r.resource} went to the reviewers, due ${r.deadline.toISOString().slice(0, 10)}. /access review status ${reviewSubject(r.id)}` : `${reviewSubject(r.id)}: ${r.resource} has no active grants, so there was nothing to review.`);
  }
  if (sub === 'status') {
    const id = parseRecordId('REV', args.next());
    if (id === undefined) throw badInput('access.usage', 'Which review? /access review status REV-2');
    requirePermission(ctx, ctx.person, 'access.review', reviewSubject(id));
    return { kind: 'ephemeral', message: await reviewStatus(ctx.db, ctx, id, now) };
  }
  throw badInput('access.usage', 'Write /access review start <resource> or /access review status REV-n');
}

async function drift(ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'access.drift');
  const rows = await openDrift(ctx.db);
  const now = ctx.clock.now();
  if (rows.length === 0) return { kind: 'ephemeral', message: { title: 'Access drift', text: 'No drift: every target shows exactly the active grants (as of the last reconciliation).', tone: 'good' } };
  return {
    kind: 'ephemeral', message: {
      title: `Access drift (${rows.length})`, tone: 'danger',
      text: rows.map((d) => `- ${driftWords(d.resource, { kind: d.kind as 'unexpected' | 'missing', login: d.login, role: d.role, grantId: d.grantId })} · since ${formatTime(d.firstSeen, ctx.config.timezone, now)}`).join('\n'),
    },
  };
}

/** `/access …`. */
async function handleAccess(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
  const args = new Args(inbound.text);
  const sub = args.next()?.toLowerCase();
  switch (sub) {
    case undefined:
      requirePermission(ctx, ctx.person, 'access.request');
      return { kind: 'ephemeral', message: resourcesMessage(ctx.config.resources.map((r) => ({ resource: r, unavailable: unavailableReason(r) }))) };
    case 'request': return typedRequest(ctx, args.rest());
    case 'list': case 'mine': return list(sub === 'mine' ? new Args('mine') : args, ctx);
    case 'show': return show(args, ctx);
    case 'revoke': { const id = takeGrant(args, '/access revoke GRT-7 <reason>'); return change(ctx, id, { action: 'revoke', reason: args.rest() }); }
    case 'cancel': { const id = takeGrant(args, '/access cancel GRT-7 <reason>'); return change(ctx, id, { action: 'cancel', reason: args.rest() }); }
    case 'extend': {
      const id = takeGrant(args, '/access extend GRT-7 2h <reason>');
      const duration = args.next();
      return change(ctx, id, extendCommand(duration, args.rest()));
    }
    case 'breakglass': return breakglass(args, ctx);
    case 'confirm': {
      const id = takeGrant(args, '/access confirm GRT-7 123456');
      const code = args.next();
      return secondStepReply(ctx, (tx) => confirmCode(tx, ctx, id, code, actorOf(ctx), ctx.clock.now()));
    }
    case 'audit': return audit(args, ctx);
    case 'review': return review(args, ctx);
    case 'drift': return drift(ctx);
    default:
      if (sub && !ACCESS_WORDS.includes(sub) && ctx.config.resources.some((r) => r.name === sub)) return typedRequest(ctx, inbound.text);
      throw badInput('access.unknown_subcommand', `I don't know "/access ${sub}". Type /access help for what it does.`);
  }
}

/** The `/access` command. */
export const accessCommand: CommandSpec = {
  name: 'access',
  summary: 'request time-bound access, approve it safely, and see who holds what',
  usage: ACCESS_USAGE,
  handle: handleAccess,
};

function formValue(inbound: ActionInbound, id: string): string {
  return (inbound.formValues?.[id] ?? '').trim();
}

function grantId(inbound: ActionInbound): number {
  const id = parseRecordId('GRT', inbound.value);
  if (id === undefined) throw badInput('access.bad_button', 'That button does not name a grant.');
  return id;
}

function reviewValue(inbound: ActionInbound): { reviewId: number; grantId: number } {
  const [rev, grt] = inbound.value.split('/');
  const reviewId = parseRecordId('REV', rev);
  const id = parseRecordId('GRT', grt);
  if (reviewId === undefined || id === undefined) throw badInput('access.bad_button', 'That button does not name a review item.');
  return { reviewId, grantId: id };
}

function reasonOf(inbound: ActionInbound, what: string): string {
  const reason = formValue(inbound, 'reason');
  if (!reason) throw badInput('access.reason_required', `Say why you ${what}.`, [{ path: 'reason', message: `Say why you ${what}.` }]);
  return reason;
}

async function reviewDecision(inbound: ActionInbound, ctx: HandlerContext, decision: 'keep' | 'revoke', reason?: string): Promise<Reply> {
  const { reviewId, grantId: id } = reviewValue(inbound);
  const now = ctx.clock.now();
  const sentence = await inTransaction(ctx, (tx) => decideItem(tx, ctx, reviewId, id, decision, reason, actorOf(ctx), now));
  return ok(sentence);
}

/** Button and form handlers by action id. */
export const accessActions: Record<string, ActionSpec> = {
  'access.form': { permission: 'access.request', handle: async (i, ctx) => ({ kind: 'form', form: requestForm(resourceNamed(ctx, i.value)) }) },
  'access.submit': { permission: 'access.request', handle: async (i, ctx) => submit(ctx, {
    resource: i.value, role: formValue(i, 'role'), duration: formValue(i, 'duration') || undefined, reason: formValue(i, 'reason') || undefined, ticket: formValue(i, 'ticket') || undefined,
  }) },
  'access.cancel.form': { permission: 'access.cancel', handle: async (i) => ({ kind: 'form', form: grantForm('cancel', grantSubject(grantId(i))) }) },
  'access.cancel.submit': { permission: 'access.cancel', handle: async (i, ctx) => change(ctx, grantId(i), { action: 'cancel', reason: reasonOf(i, 'cancel it') }) },
  'access.revoke.form': { permission: 'access.revoke', handle: async (i) => ({ kind: 'form', form: grantForm('revoke', grantSubject(grantId(i))) }) },
  'access.revoke.submit': { permission: 'access.revoke', handle: async (i, ctx) => change(ctx, grantId(i), { action: 'revoke', reason: reasonOf(i, 'revoke it') }) },
  'access.extend.form': { permission: 'access.extend', handle: async (i) => ({ kind: 'form', form: grantForm('extend', grantSubject(grantId(i))) }) },
  'access.extend.submit': { permission: 'access.extend', handle: async (i, ctx) => {
    const duration = formValue(i, 'duration');
    if (!duration) throw badInput('access.bad_duration', 'Say how much longer, like 2h.', [{ path: 'duration', message: 'Say how much longer, like 2h.' }]);
    if (parseDuration(duration) === undefined) throw badInput('access.bad_duration', `"${duration}" is not a duration.`, [{ path: 'duration', message: 'write it like 30m, 2h or 1d' }]);
    return change(ctx, grantId(i), extendCommand(duration, reasonOf(i, 'need it longer')));
  } },
  'access.code.form': { permission: 'access.confirm', handle: async (i) => ({ kind: 'form', form: codeForm(grantSubject(grantId(i))) }) },
  'access.code.submit': { permission: 'access.confirm', handle: async (i, ctx) => {
    const code = formValue(i, 'code');
    if (!code) throw badInput('access.code_required', 'Type the code from your direct messages.', [{ path: 'code', message: 'Type the code from your direct messages.' }]);
    return secondStepReply(ctx, (tx) => confirmCode(tx, ctx, grantId(i), code, actorOf(ctx), ctx.clock.now()));
  } },
  'access.task.done': { permission: 'access.task', handle: async (i, ctx) => {
    const id = parseRecordId('TASK', i.value);
    if (id === undefined) throw badInput('access.bad_button', 'That button does not name a task.');
    const now = ctx.clock.now();
    const { card, sentence } = await inTransaction(ctx, async (tx) => {
      const r = await completeTask(tx, ctx, id, actorOf(ctx), now);
      const task = await getTask(tx, r.taskId);
      return { card: await taskCardFor(tx, ctx, task, await getGrant(tx, task.grantId), now), sentence: r.sentence };
    });
    return { kind: 'card', message: card, notice: { text: sentence, tone: 'good' } };
  } },
  'access.review.keep': { permission: 'access.review', handle: (i, ctx) => reviewDecision(i, ctx, 'keep') },
  'access.review.revoke.form': { permission: 'access.review', handle: async (i) => { reviewValue(i); return { kind: 'form', form: reviewRevokeForm(i.value) }; } },
  'access.review.revoke.submit': { permission: 'access.review', handle: (i, ctx) => reviewDecision(i, ctx, 'revoke', reasonOf(i, 'revoke it')) },
};
