/** The chat surface of incidents: `/incident …` subcommands, buttons and forms -> service calls -> Replies. */
import { Args, extractOptions, parseRecordId } from '../../core/commands.js';
import { subjectsAt } from '../../core/delivery/cards.js';
import { badInput } from '../../core/errors.js';
import { personName, resolvePersonToken, type Actor } from '../../core/identity.js';
import type { ActionInbound, CommandInbound, Reply, Where } from '../../core/inbound.js';
import { requirePermission } from '../../core/permissions.js';
import { readTimeline } from '../../core/timeline.js';
import { formatTime } from '../../core/time-zone.js';
import type { ActionSpec, CommandSpec, HandlerContext } from '../../core/workflow.js';
import { LEVELS } from './incident.machine.js';
import { createForm, holdForm, incidentSubject, listLine, priorityForm, resolveForm } from './incident.messages.js';
import { listFilter, parseHoldReason, parseLevel, RESOLUTION_CODES, serviceNames, validateNewIncident, type IncidentCommand, type ResolutionCode } from './incident.inputs.js';
import { applyIncidentCommand, cardFor, createIncident, getIncident, listIncidents } from './incident.service.js';
import { incidentStats, statsMessage } from './incident.stats.js';

/** Usage lines for `/incident help`. */
export const INCIDENT_USAGE = [
  '/incident <title> [impact:high|medium|low] [urgency:high|medium|low] [priority:P1..P5] [service:<name>]',
  '/incident new <title> …   (for titles that start with a reserved word)',
  '/incident   (no title: opens the form)',
  '/incident list [open|mine|all] [P1..P5] [service:<name>]',
  '/incident show INC-n',
  '/incident ack [INC-n]',
  '/incident assign INC-n <person>',
  '/incident start [INC-n]',
  '/incident hold INC-n <caller|change|problem|vendor> <reason>',
  '/incident note INC-n <text>',
  '/incident priority INC-n <P1..P5 | impact:… urgency:…>',
  '/incident service INC-n <name>',
  '/incident major INC-n [off]',
  '/incident edit INC-n title:"…" description:"…"',
  '/incident resolve INC-n [code:fixed|workaround|no_fault|duplicate] <resolution notes>',
  '/incident reopen|close|cancel [INC-n] [note]',
  '/incident timeline INC-n',
  '/incident stats [7d|30d|90d]',
];

const RESERVED = new Set(['new', 'list', 'show', 'ack', 'acknowledge', 'assign', 'start', 'hold', 'note', 'priority', 'service', 'major', 'edit', 'resolve', 'reopen', 'close', 'cancel', 'timeline', 'stats', 'help']);

function actorOf(ctx: HandlerContext): Actor {
  return { person: ctx.person, source: ctx.source };
}

/** Takes `INC-n` from the args, or finds the incident of the conversation the command was typed in. */
async function takeId(args: Args, ctx: HandlerContext, where: Where, usage: string): Promise<number> {
  const explicit = parseRecordId('INC', args.peek());
  if (explicit !== undefined) {
    args.next();
    return explicit;
  }
  const here = await subjectsAt(ctx, where, 'INC-');
  if (here.length === 1) return parseRecordId('INC', here[0])!;
  const given = args.peek();
  throw badInput('incident.id_required', `${given && /^inc/i.test(given) ? `"${given}" is not an incident id. ` : 'Which incident? '}Write it like this: ${usage}`);
}

async function change(ctx: HandlerContext, id: number, cmd: IncidentCommand): Promise<Reply> {
  const { announcement } = await applyIncidentCommand(ctx, id, cmd, actorOf(ctx));
  return { kind: 'ephemeral', message: { text: announcement, tone: 'good' } };
}

async function create(inbound: CommandInbound, ctx: HandlerContext, text: string): Promise<Reply> {
  const { rest, options } = extractOptions(text, ['impact', 'urgency', 'priority', 'service']);
  const valid = validateNewIncident(ctx, { title: rest, ...options });
  await createIncident(ctx, { ...valid, origin: inbound.where }, actorOf(ctx));
  return { kind: 'none' }; // the card is posted to the conversation through the outbox
}

async function list(args: Args, ctx: HandlerContext): Promise<Reply> {
  let scope: 'open' | 'mine' | 'all' = 'open';
  let priority: string | undefined;
  let service: string | undefined;
  for (let word = args.next(); word !== undefined; word = args.next()) {
    const w = word.toLowerCase();
    if (w === 'open' || w === 'mine' || w === 'all') scope = w;
    else if (/^p\d$/.test(w)) priority = w;
    else if (w.startsWith('service:')) service = w.slice(8);
    else throw badInput('incident.bad_list_filter', `I don't understand "${word}". Write: /incident list [open|mine|all] [P1..P5] [service:<name>]`);
  }
  const filter = listFilter(ctx, { states: scope === 'all' ? undefined : ['open'], priority, service });
  const rows = await listIncidents(ctx.db, { ...filter, assignee: scope === 'mine' ? ctx.person.id : undefined, limit: 26, order: 'priority' });
  if (rows.length === 0) return { kind: 'ephemeral', message: { text: `No ${scope === 'all' ? '' : 'open '}incidents${scope === 'mine' ? ' assigned to you' : ''} match.` } };
  const shown = rows.slice(0, 25);
  const names = new Map(await Promise.all([...new Set(shown.flatMap((r) => (r.assignee ? [r.assignee] : [])))].map(async (id) => [id, await personName(ctx, id)] as const)));
  const lines = shown.map((r) => `- ${listLine(r, r.assignee ? names.get(r.assignee) : undefined)}`);
  if (rows.length > 25) lines.push('- … more: narrow the list with a priority or service:<name>');
  return { kind: 'ephemeral', message: { title: `Incidents (${scope})`, text: lines.join('\n') } };
}

async function show(id: number, ctx: HandlerContext): Promise<Reply> {
  const row = await getIncident(ctx.db, id);
  return { kind: 'ephemeral', message: await cardFor(ctx.db, ctx, row, ctx.clock.now()) };
}

async function timeline(id: number, ctx: HandlerContext): Promise<Reply> {
  await getIncident(ctx.db, id);
  const tz = ctx.person.timezone ?? ctx.config.timezone;
  const entries = await readTimeline(ctx.db, incidentSubject(id));
  const now = ctx.clock.now();
  const lines = entries.slice(-40).map((e) => `- ${formatTime(e.at, tz, now)} · ${e.text} _(${e.source})_`);
  if (entries.length > 40) lines.unshift(`- … ${entries.length - 40} earlier entries (GET /api/v1/incidents/INC-${id} has them all)`);
  return { kind: 'ephemeral', message: { title: `Timeline of INC-${id}`, text: lines.join('\n') } };
}

function parsePriorityArgs(rest: string): Extract<IncidentCommand, { action: 'priority' }> {
  const { rest: leftover, options } = extractOptions(rest, ['impact', 'urgency']);
  const p = /^p([1-5])$/i.exec(leftover.trim());
  if (p) return { action: 'priority', priority: Number(p[1]) };
  const impact = parseLevel(options.impact);
  const urgency = parseLevel(options.urgency);
  if (leftover.trim() === '' && (impact || urgency) && (options.impact === undefined || impact) && (options.urgency === undefined || urgency)) {
    return { action: 'priority', impact, urgency };
  }
  throw badInput('incident.bad_priority', 'Write the priority as P1…P5 or as impact:high|medium|low urgency:high|medium|low, like: /incident priority INC-7 P2');
}

/** `/incident …`. */
async function handleIncident(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
  const args = new Args(inbound.text);
  const sub = args.peek()?.toLowerCase();
  if (sub === undefined) {
    requirePermission(ctx, ctx.person, 'incident.create');
    return { kind: 'form', form: createForm(serviceNames(ctx)) };
  }
  if (!RESERVED.has(sub)) return create(inbound, ctx, args.text);
  args.next();
  const where = inbound.where;
  switch (sub) {
    case 'new': {
      if (args.done) return { kind: 'form', form: createForm(serviceNames(ctx)) };
      return create(inbound, ctx, args.rest());
    }
    case 'list': return list(args, ctx);
    case 'show': return show(await takeId(args, ctx, where, '/incident show INC-7'), ctx);
    case 'timeline': return timeline(await takeId(args, ctx, where, '/incident timeline INC-7'), ctx);
    case 'stats': {
      const w = (args.next() ?? '7d').toLowerCase();
      const days = { '7d': 7, '30d': 30, '90d': 90 }[w];
      if (!days) throw badInput('incident.bad_window', `Write the window as 7d, 30d or 90d, like: /incident stats 30d`);
    requirePermission(ctx, ctx.person, 'incident.stats');
      return { kind: 'ephemeral', message: statsMessage(await incidentStats(ctx.db, ctx.clock.now(), days)) };
    }
    case 'ack': case 'acknowledge': case 'start': case 'reopen': case 'close': case 'cancel': {
      const id = await takeId(args, ctx, where, `/incident ${sub} INC-7`);
      const action = sub === 'acknowledge' ? 'ack' : (sub as 'ack' | 'start' | 'reopen' | 'close' | 'cancel');
      return change(ctx, id, { action, note: args.rest() || undefined });
    }
    case 'assign': {
      const id = await takeId(args, ctx, where, '/incident assign INC-7 @bob');
      const who = args.next();
      if (!who) throw badInput('incident.assignee_required', 'Whom to assign it to? Write: /incident assign INC-7 @bob (or "me")');
      const person = who.toLowerCase() === 'me' ? ctx.person : await resolvePersonToken(ctx, who, where.platform);
      return change(ctx, id, { action: 'assign', assignee: person.id });
    }
    case 'hold': {
      const id = await takeId(args, ctx, where, '/incident hold INC-7 vendor waiting for the ISP');
      const reasonWord = args.next();
      const reason = parseHoldReason(reasonWord);
      if (!reason) throw badInput('incident.bad_hold_reason', `${reasonWord ? `"${reasonWord}" is not a hold reason. ` : ''}Write what it waits for: caller, change, problem or vendor, then why, like: /incident hold INC-7 vendor ISP ticket 4411`);
      return change(ctx, id, { action: 'hold', reason, note: args.rest() });
    }
    case 'note': {
      const id = await takeId(args, ctx, where, '/incident note INC-7 <text>');
      return change(ctx, id, { action: 'note', note: args.rest() });
    }
    case 'priority': {
      const id = await takeId(args, ctx, where, '/incident priority INC-7 P2');
      return change(ctx, id, parsePriorityArgs(args.rest()));
    }
    case 'service': {
      const id = await takeId(args, ctx, where, '/incident service INC-7 checkout');
      const name = args.next();
      if (!name) throw badInput('incident.service_required', `Name the service: /incident service INC-7 <name>. Known: ${serviceNames(ctx).join(', ') || 'none'}.`);
      return change(ctx, id, { action: 'service', service: name });
    }
    case 'major': {
      const id = await takeId(args, ctx, where, '/incident major INC-7 [off]');
      const word = args.next()?.toLowerCase();
      if (word !== undefined && word !== 'on' && word !== 'off') throw badInput('incident.bad_major', `Write /incident major INC-${id} to declare it major, or /incident major INC-${id} off to undo it.`);
      return change(ctx, id, { action: 'major', off: word === 'off' });
    }
    case 'edit': {
      const id = await takeId(args, ctx, where, '/incident edit INC-7 title:"…" description:"…"');
      const { rest, options } = extractOptions(args.rest(), ['title', 'description']);
      if (rest) throw badInput('incident.bad_edit', `I don't understand "${rest}". Write: /incident edit INC-${id} title:"new title" description:"what is known"`);
      return change(ctx, id, { action: 'edit', title: options.title, description: options.description });
    }
    case 'resolve': {
      const id = await takeId(args, ctx, where, '/incident resolve INC-7 restarted the pods');
      const { rest, options } = extractOptions(args.rest(), ['code']);
      const code = options.code?.toLowerCase() as ResolutionCode | undefined;
      if (code !== undefined && !RESOLUTION_CODES.includes(code)) throw badInput('incident.bad_code', `code:${options.code} is not a resolution code; use one of ${RESOLUTION_CODES.join(', ')}.`);
      return change(ctx, id, { action: 'resolve', note: rest, code });
    }
    default: return { kind: 'none' };
  }
}

/** The `/incident` command. */
export const incidentCommand: CommandSpec = {
  name: 'incident',
  summary: 'open and work incidents',
  usage: INCIDENT_USAGE,
  handle: handleIncident,
};

/** The record id a button carries. */
function idFromValue(inbound: ActionInbound): number {
  const id = parseRecordId('INC', inbound.value);
  if (id === undefined) throw badInput('incident.bad_button', 'That button does not name an incident.');
  return id;
}

async function buttonChange(inbound: ActionInbound, ctx: HandlerContext, cmd: IncidentCommand): Promise<Reply> {
  const { card, announcement } = await applyIncidentCommand(ctx, idFromValue(inbound), cmd, actorOf(ctx));
  return { kind: 'card', message: card, notice: { text: announcement } };
}

function formValue(inbound: ActionInbound, id: string): string {
  return (inbound.formValues?.[id] ?? '').trim();
}

/** Button and form handlers by action id. */
export const incidentActions: Record<string, ActionSpec> = {
  'incident.ack': { permission: 'incident.ack', handle: (i, ctx) => buttonChange(i, ctx, { action: 'ack' }) },
  'incident.start': { permission: 'incident.start', handle: (i, ctx) => buttonChange(i, ctx, { action: 'start' }) },
  'incident.reopen': { permission: 'incident.reopen', handle: (i, ctx) => buttonChange(i, ctx, { action: 'reopen' }) },
  'incident.close': { permission: 'incident.close', handle: (i, ctx) => buttonChange(i, ctx, { action: 'close' }) },
  'incident.cancel': { permission: 'incident.cancel', handle: (i, ctx) => buttonChange(i, ctx, { action: 'cancel' }) },
  'incident.assign_me': { permission: 'incident.assign', handle: (i, ctx) => buttonChange(i, ctx, { action: 'assign', assignee: ctx.person.id }) },
  'incident.resolve.form': { permission: 'incident.resolve', handle: async (i) => ({ kind: 'form', form: resolveForm(incidentSubject(idFromValue(i))) }) },
  'incident.priority.form': { permission: 'incident.priority', handle: async (i, ctx) => {
    const row = await getIncident(ctx.db, idFromValue(i));
    return { kind: 'form', form: priorityForm(incidentSubject(row.id), row) };
  } },
  'incident.hold.form': { permission: 'incident.hold', handle: async (i) => ({ kind: 'form', form: holdForm(incidentSubject(idFromValue(i))) }) },
  'incident.resolve.submit': { permission: 'incident.resolve', handle: async (i, ctx) => {
    const notes = formValue(i, 'notes');
    const code = (formValue(i, 'code') || 'fixed') as ResolutionCode;
    if (!notes) throw badInput('incident.resolution_required', 'Say what restored the service.', [{ path: 'notes', message: 'Say what restored the service.' }]);
    if (!RESOLUTION_CODES.includes(code)) throw badInput('incident.bad_code', 'Pick a resolution code.', [{ path: 'code', message: `one of ${RESOLUTION_CODES.join(', ')}` }]);
    return buttonChange(i, ctx, { action: 'resolve', note: notes, code });
  } },
  'incident.priority.submit': { permission: 'incident.priority', handle: async (i, ctx) => {
    const impact = parseLevel(formValue(i, 'impact'));
    const urgency = parseLevel(formValue(i, 'urgency'));
    const issues = [...(impact ? [] : [{ path: 'impact', message: `pick one of ${LEVELS.join(', ')}` }]), ...(urgency ? [] : [{ path: 'urgency', message: `pick one of ${LEVELS.join(', ')}` }])];
    if (issues.length) throw badInput('incident.bad_priority', 'Pick an impact and an urgency.', issues);
    return buttonChange(i, ctx, { action: 'priority', impact, urgency });
  } },
  'incident.hold.submit': { permission: 'incident.hold', handle: async (i, ctx) => {
    const reason = parseHoldReason(formValue(i, 'reason'));
    const note = formValue(i, 'note');
    const issues = [...(reason ? [] : [{ path: 'reason', message: 'pick what it waits for' }]), ...(note ? [] : [{ path: 'note', message: 'say why it is on hold' }])];
    if (issues.length || !reason) throw badInput('incident.bad_hold', 'Say what the incident waits for and why.', issues);
    return buttonChange(i, ctx, { action: 'hold', reason, note });
  } },
  'incident.create.submit': { permission: 'incident.create', handle: async (i, ctx) => {
    const title = formValue(i, 'title');
    const impactText = formValue(i, 'impact');
    const urgencyText = formValue(i, 'urgency');
    const serviceText = formValue(i, 'service');
    const issues: { path: string; message: string }[] = [];
    if (title.length < 3) issues.push({ path: 'title', message: 'Give the incident a title of at least 3 characters.' });
    if (title.length > 200) issues.push({ path: 'title', message: 'The title can be at most 200 characters.' });
    const impact = impactText ? parseLevel(impactText) : undefined;
    const urgency = urgencyText ? parseLevel(urgencyText) : undefined;
    if (impactText && !impact) issues.push({ path: 'impact', message: 'Pick high, medium or low.' });
    if (urgencyText && !urgency) issues.push({ path: 'urgency', message: 'Pick high, medium or low.' });
    if (serviceText && !serviceNames(ctx).includes(serviceText.toLowerCase())) issues.push({ path: 'service', message: `Unknown service; pick one of ${serviceNames(ctx).join(', ') || 'none'}.` });
    if (issues.length) throw badInput('incident.bad_form', 'Some fields need a fix.', issues);
    const incident = await createIncident(ctx, { title, impact, urgency, service: serviceText || undefined, description: formValue(i, 'description') || undefined, origin: { ...i.where, thread: undefined, messageId: undefined } }, actorOf(ctx));
    return { kind: 'ephemeral', message: { text: `${incidentSubject(incident.id)} opened: ${incident.title}`, tone: 'good' } };
  } },
};
