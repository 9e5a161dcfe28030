/** The chat surface of requests: `/request …`, the catalog's buttons and item forms, task and requester card buttons. */
import { Args, parseRecordId } from '../../core/commands.js';
import { badInput } from '../../core/errors.js';
import { validateFields, type RawValues } from '../../core/forms.js';
import { hasRole, personName } from '../../core/identity.js';
import type { ActionInbound, CommandInbound, Reply } from '../../core/inbound.js';
import type { Button } from '../../core/message.js';
import { requirePermission } from '../../core/permissions.js';
import { inTransaction } from '../../core/refusals.js';
import type { ActionSpec, CommandSpec, HandlerContext } from '../../core/workflow.js';
import { RESERVED_WORDS, type CatalogItem } from './request.config.js';
import { OPEN_STATES } from './request.machine.js';
import { cancelForm, cannotForm, catalogMessage, commentForm, itemForm, listLine, requestSubject, taskSubject } from './request.messages.js';
import { cardFor, changeRequest, getRequest, itemFor, listRequests, personResolver, requireView, submitRequest, visibleItems, type RequestCommand } from './request.service.js';
import { requestStats, statsMessage } from './request.stats.js';
import { getTask, taskAction, taskCardFor, tasksOf, type TaskAction } from './request.tasks.js';

/** Usage lines for `/request help`. */
export const REQUEST_USAGE = [
  '/request   (the catalog, with a button per item)',
  '/request <item> [field:value …]   (submits; a missing or bad field opens the form)',
  '/request list [open|mine|all] [item:<name>]',
  '/request show REQ-n',
  '/request cancel REQ-n <reason>',
  '/request comment REQ-n <text>',
  '/request complete REQ-n fulfilled|incomplete <note>   (admins: a fulfilment reported by hand)',
  '/request stats [7d|30d|90d]',
];

/** Words that are subcommands, not catalog items (`access` is the access workflow's, through its alias). */
const RESERVED = new Set(RESERVED_WORDS);

function actorOf(ctx: HandlerContext) {
  return { person: ctx.person, source: ctx.source };
}

/**
 * Field values typed after the item: `id:value` (a value runs to the next `id:` of a field of the item; "quotes" are
 * removed). Text before the first field goes to the item's first text field that was not given, else it is a problem.
 */
export function parseFieldText(item: CatalogItem, text: string): { raw: Record<string, string>; issues: { path: string; message: string }[] } {
  const ids = item.fields.map((f) => f.id);
  const raw: Record<string, string> = {};
  const issues: { path: string; message: string }[] = [];
  const marker = ids.length ? new RegExp(`(^|\\s)(${ids.map((i) => i.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}):`, 'g') : undefined;
  const marks = marker ? [...text.matchAll(marker)].map((m) => ({ id: m[2]!, start: m.index! + m[1]!.length, valueStart: m.index! + m[0].length })) : [];
  const lead = (marks.length ? text.slice(0, marks[0]!.start) : text).trim();
  marks.forEach((m, i) => {
    const value = text.slice(m.valueStart, marks[i + 1]?.start ?? text.length).trim().replace(/^"([\s\S]*)"$/, '$1');
    if (m.id in raw) issues.push({ path: m.id, message: `${m.id} is given twice` });
    raw[m.id] = value;
  });
  if (lead) {
    const unknown = /^([a-z][a-z0-9_]*):/i.exec(lead);
    const free = item.fields.find((f) => (f.type === 'text' || f.type === 'multiline') && !(f.id in raw));
    if (unknown) issues.push({ path: unknown[1]!, message: `there is no field "${unknown[1]}" (fields: ${ids.join(', ') || 'none'})` });
    else if (free) raw[free.id] = lead.replace(/^"([\s\S]*)"$/, '$1');
    else issues.push({ path: 'text', message: `I don't know which field "${lead}" is for; write it as field:value (fields: ${ids.join(', ') || 'none'})` });
  }
  return { raw, issues };
}

async function submit(ctx: HandlerContext, item: CatalogItem, values: RawValues): Promise<Reply> {
  const now = ctx.clock.now();
  const row = await inTransaction(ctx, (tx) => submitRequest(tx, ctx, { item: item.name, values }, actorOf(ctx), now));
  const next = row.state === 'awaiting_approval' ? 'It waits for approval now' : 'It is with the fulfilment team now';
  return { kind: 'ephemeral', message: { text: `${requestSubject(row.id)} submitted: ${item.title}. ${next}; your card in a direct message shows where it stands.`, tone: 'good' } };
}

/** `/request <item> …`: submits when every field is fine, else opens the form with the errors on their fields. */
async function typed(ctx: HandlerContext, itemName: string, rest: string): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'request.create');
  const item = itemFor(ctx, itemName, ctx.person);
  if (!rest.trim() && item.fields.length > 0) return { kind: 'form', form: itemForm(item) };
  const { raw, issues: parseIssues } = parseFieldText(item, rest);
  const { issues } = validateFields(item.fields, raw, personResolver(ctx));
  const all = [...parseIssues, ...issues.filter((i) => !parseIssues.some((p) => p.path === i.path))];
  if (all.length) return { kind: 'form', form: itemForm(item, raw, Object.fromEntries(all.map((i) => [i.path, i.message]))) };
  return submit(ctx, item, raw);
}

async function list(args: Args, ctx: HandlerContext): Promise<Reply> {
  let scope: 'open' | 'mine' | 'all' = 'open';
  let item: string | undefined;
  for (let word = args.next(); word !== undefined; word = args.next()) {
    const w = word.toLowerCase();
    if (w === 'open' || w === 'mine' || w === 'all') scope = w;
    else if (w.startsWith('item:')) item = w.slice(5);
    else throw badInput('request.bad_list_filter', `I don't understand "${word}". Write: /request list [open|mine|all] [item:<name>]`);
  }
  // requesters see their own requests; responders and admins see everyone's
  const everyone = hasRole(ctx.person, 'responder') && scope !== 'mine';
  const rows = await listRequests(ctx.db, { states: scope === 'all' || scope === 'mine' ? undefined : OPEN_STATES, item, requester: everyone ? undefined : ctx.person.id, limit: 26 });
  if (rows.length === 0) return { kind: 'ephemeral', message: { text: `No ${scope === 'open' ? 'open ' : ''}requests${everyone ? '' : ' of yours'}${item ? ` for ${item}` : ''}.` } };
  const shown = rows.slice(0, 25);
  const names = new Map(await Promise.all([...new Set(shown.map((r) => r.requester))].map(async (id) => [id, await personName(ctx, id)] as const)));
  const lines = shown.map((r) => `- ${listLine(r, names.get(r.requester) ?? r.requester)}`);
  if (rows.length > 25) lines.push('- … more: narrow the list with item:<name>');
  return { kind: 'ephemeral', message: { title: `Requests (${scope}${everyone ? '' : ', yours'})`, text: lines.join('\n') } };
}

function takeId(args: Args, usage: string): number {
  const word = args.next();
  const id = parseRecordId('REQ', word);
  if (id === undefined) throw badInput('request.id_required', `${word ? `"${word}" is not a request id. ` : 'Which request? '}Write it like this: ${usage}`);
  return id;
}

async function change(ctx: HandlerContext, id: number, cmd: RequestCommand): Promise<Reply> {
  const now = ctx.clock.now();
  const { sentence } = await inTransaction(ctx, (tx) => changeRequest(tx, ctx, id, cmd, actorOf(ctx), now));
  return { kind: 'ephemeral', message: { text: sentence, tone: 'good' } };
}

/** `/request …`. */
async function handleRequest(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
  const args = new Args(inbound.text);
  const sub = args.peek()?.toLowerCase();
  if (sub === undefined) {
    requirePermission(ctx, ctx.person, 'request.create');
    return { kind: 'ephemeral', message: catalogMessage(visibleItems(ctx, ctx.person)) };
  }
  if (!RESERVED.has(sub)) {
    args.next();
    return typed(ctx, sub, args.rest());
  }
  args.next();
  switch (sub) {
    case 'list': return list(args, ctx);
    case 'show': {
      const id = takeId(args, '/request show REQ-7');
      const now = ctx.clock.now();
      const card = await ctx.db.transaction(async (tx) => {
        const row = await getRequest(tx, id);
        await requireView(tx, ctx, row, ctx.person, now);
        const shown = await cardFor(tx, ctx, row, now);
        // an approver it waits for gets the approval's buttons here too; only the requester (or an admin) can cancel
        const status = row.state === 'awaiting_approval' ? await ctx.seam.call('approval.status', { tx, app: ctx, now, actor: actorOf(ctx) }, { subject: requestSubject(id) }) : undefined;
        const decide: Button[] = status?.waitingFor.includes(ctx.person.id) ? [
          { actionId: 'approval.approve', label: 'Approve', value: status.id, style: 'primary' },
          { actionId: 'approval.reject.form', label: 'Reject', value: status.id, style: 'danger' },
          { actionId: 'approval.ask.form', label: 'Ask a question', value: status.id },
        ] : [];
        const mayCancel = row.requester === ctx.person.id || hasRole(ctx.person, 'admin');
        return { ...shown, buttons: [...decide, ...(shown.buttons ?? []).filter((b) => mayCancel || b.actionId !== 'request.cancel.form')] };
      });
      return { kind: 'ephemeral', message: card };
    }
    case 'cancel': {
      const id = takeId(args, '/request cancel REQ-7 <reason>');
      return change(ctx, id, { action: 'cancel', reason: args.rest() });
    }
    case 'comment': {
      const id = takeId(args, '/request comment REQ-7 <text>');
      return change(ctx, id, { action: 'comment', text: args.rest() });
    }
    case 'complete': {
      const id = takeId(args, '/request complete REQ-7 fulfilled <note>');
      const status = args.next()?.toLowerCase();
      if (status !== 'fulfilled' && status !== 'incomplete') throw badInput('request.bad_status', 'Write fulfilled or incomplete, like: /request complete REQ-7 fulfilled licence key sent');
      return change(ctx, id, { action: 'complete', status, note: args.rest() || undefined });
    }
    case 'stats': {
      const w = (args.next() ?? '30d').toLowerCase();
      const days = { '7d': 7, '30d': 30, '90d': 90 }[w];
      if (!days) throw badInput('request.bad_window', 'Write the window as 7d, 30d or 90d, like: /request stats 30d');
      requirePermission(ctx, ctx.person, 'request.stats');
      return { kind: 'ephemeral', message: statsMessage(await requestStats(ctx.db, ctx.clock.now(), days)) };
    }
    case 'access': // `/request access …` is `/access request …` when access management runs (its alias takes it first)
      return { kind: 'ephemeral', message: { text: 'Access requests (/request access …) are not available in this tread yet. Type /request to see what you can request.', tone: 'info' } };
    default: return { kind: 'none' };
  }
}

/** The `/request` command. */
export const requestCommand: CommandSpec = {
  name: 'request',
  summary: 'ask for something from the service catalog and follow it',
  usage: REQUEST_USAGE,
  handle: handleRequest,
};

function formValue(inbound: ActionInbound, id: string): string {
  return (inbound.formValues?.[id] ?? '').trim();
}

function requestId(inbound: ActionInbound): number {
  const id = parseRecordId('REQ', inbound.value);
  if (id === undefined) throw badInput('request.bad_button', 'That button does not name a request.');
  return id;
}

function taskId(inbound: ActionInbound): number {
  const id = parseRecordId('TASK', inbound.value);
  if (id === undefined) throw badInput('request.bad_button', 'That button does not name a task.');
  return id;
}

async function task(inbound: ActionInbound, ctx: HandlerContext, action: TaskAction, reason?: string): Promise<Reply> {
  const now = ctx.clock.now();
  const { card, sentence } = await inTransaction(ctx, async (tx) => {
    const r = await taskAction(tx, ctx, taskId(inbound), action, reason, actorOf(ctx), now);
    return { card: await taskCardFor(tx, ctx, r.task, r.request, await tasksOf(tx, r.request.id), now), sentence: r.sentence };
  });
  return { kind: 'card', message: card, notice: { text: sentence, tone: 'good' } };
}

/** Button and form handlers by action id. */
export const requestActions: Record<string, ActionSpec> = {
  'request.form': { permission: 'request.create', handle: async (i, ctx) => ({ kind: 'form', form: itemForm(itemFor(ctx, i.value, ctx.person)) }) },
  'request.submit': { permission: 'request.create', handle: async (i, ctx) => submit(ctx, itemFor(ctx, i.value, ctx.person), i.formValues ?? {}) },
  'request.cancel.form': { permission: 'request.cancel', handle: async (i) => ({ kind: 'form', form: cancelForm(requestSubject(requestId(i))) }) },
  'request.cancel.submit': { permission: 'request.cancel', handle: async (i, ctx) => {
    const reason = formValue(i, 'reason');
    if (!reason) throw badInput('request.reason_required', 'Say why you cancel it.', [{ path: 'reason', message: 'Say why you cancel it.' }]);
    return change(ctx, requestId(i), { action: 'cancel', reason });
  } },
  'request.comment.form': { permission: 'request.comment', handle: async (i) => ({ kind: 'form', form: commentForm(requestSubject(requestId(i))) }) },
  'request.comment.submit': { permission: 'request.comment', handle: async (i, ctx) => {
    const text = formValue(i, 'text');
    if (!text) throw badInput('request.comment_required', 'Write the comment.', [{ path: 'text', message: 'Write the comment.' }]);
    return change(ctx, requestId(i), { action: 'comment', text });
  } },
  'request.task.claim': { permission: 'request.task', handle: (i, ctx) => task(i, ctx, 'claim') },
  'request.task.done': { permission: 'request.task', handle: (i, ctx) => task(i, ctx, 'done') },
  'request.task.cannot.form': { permission: 'request.task', handle: async (i, ctx) => {
    await getTask(ctx.db, taskId(i));
    return { kind: 'form', form: cannotForm(taskSubject(taskId(i))) };
  } },
  'request.task.cannot.submit': { permission: 'request.task', handle: async (i, ctx) => {
    const reason = formValue(i, 'reason');
    if (!reason) throw badInput('request.reason_required', "Say why it can't be completed.", [{ path: 'reason', message: "Say why it can't be completed." }]);
    return task(i, ctx, 'cannot_complete', reason);
  } },
};
