/** The chat surface of problems: `/problem …` subcommands, the card's buttons and forms, hint feedback -> service calls -> Replies. */
import { Args, extractOptions, parseRecordId } from '../../core/commands.js';
import { subjectsAt } from '../../core/delivery/cards.js';
import { badInput, DomainError } from '../../core/errors.js';
import { personName, resolvePersonToken, type Actor } from '../../core/identity.js';
import type { ActionInbound, CommandInbound, Reply, Where } from '../../core/inbound.js';
import { requirePermission } from '../../core/permissions.js';
import { parseLevel } from '../../core/priority.js';
import { formatTime } from '../../core/time-zone.js';
import type { ActionSpec, CommandSpec, HandlerContext } from '../../core/workflow.js';
import { giveFeedback, hintOfButton, kedbStats, searchForPeople, type Feedback } from './problem.kedb.js';
import { editKnownError, publishKnownError } from './problem.known-errors.js';
import { listFilter, parsePriority, parseResolveCode, type ProblemCommand } from './problem.inputs.js';
import { OPEN_STATES, RESOLVE_CODES, resolveCodes, transition, type ProblemState } from './problem.machine.js';
import { duplicateForm, fixForm, knownErrorCard, knownErrorSubject, listLine, problemSubject, rcaForm, resolveForm, workaroundForm } from './problem.messages.js';
import { recurringCommand, recurringActions } from './problem.recurrence.js';
import { applyProblemCommand, cardFor, createProblem, getProblem, listProblems } from './problem.service.js';
import { getKnownError, versionsOf } from './problem.versions.js';

/** Usage lines for `/problem help`. */
export const PROBLEM_USAGE = [
  '/problem new <title> [service:<name>] [impact:…] [urgency:…] [priority:P1..P5] [statement:"…"]',
  '/problem from INC-n [INC-m …] [title:"…"]   (links them; copies service, description and key timeline entries)',
  '/problem link PRB-n INC-m [INC-k …]',
  '/problem unlink PRB-n INC-m',
  '/problem list [open|mine|all] [service:<name>]',
  '/problem show PRB-n',
  '/problem assess PRB-n',
  '/problem assign PRB-n <person|me>',
  '/problem note PRB-n <text>',
  '/problem priority PRB-n <P1..P5 | impact:… urgency:…> <why>',
  '/problem rca PRB-n <root cause>',
  '/problem workaround PRB-n <text>   (posted to every open linked incident; their pages stop)',
  '/problem fix PRB-n <change reference> <notes>',
  '/problem resolve PRB-n code:fix_applied|risk_accepted <notes>',
  '/problem duplicate PRB-n PRB-m   (PRB-n duplicates PRB-m; its incidents move there)',
  '/problem close PRB-n',
  '/problem known-error PRB-n [title:"…"] [symptoms:"…"] [codes:A,B] [services:x,y] [workaround:"…"]',
  '/problem known-error KE-n [edit field:"…" … | history | retire <why> | publish]',
  '/problem kedb <words> [service:<name>]',
  '/problem kedb stats',
  '/problem recurring',
];

const KE_FIELDS = ['title', 'symptoms', 'codes', 'services', 'workaround', 'rootcause'] as const;

function actorOf(ctx: HandlerContext): Actor {
  return { person: ctx.person, source: ctx.source };
}

/** Takes `PRB-n` from the args, or finds the problem of the conversation the command was typed in. */
async function takeId(args: Args, ctx: HandlerContext, where: Where, usage: string): Promise<number> {
  const explicit = parseRecordId('PRB', args.peek());
  if (explicit !== undefined && !/^inc-/i.test(args.peek() ?? '')) {
    args.next();
    return explicit;
  }
  const here = await subjectsAt(ctx, where, 'PRB-');
  if (here.length === 1) return parseRecordId('PRB', here[0])!;
  const given = args.peek();
  throw badInput('problem.id_required', `${given && /^prb/i.test(given) ? `"${given}" is not a problem id. ` : 'Which problem? '}Write it like this: ${usage}`);
}

/** Incident ids (`INC-7`) from the rest of the words; anything else is named. */
function incidentIds(args: Args, usage: string): number[] {
  const ids: number[] = [];
  for (let w = args.next(); w !== undefined; w = args.next()) {
    const id = /^inc-\d+$/i.test(w) ? parseRecordId('INC', w) : undefined;
    if (id === undefined) throw badInput('problem.bad_incident', `"${w}" is not an incident id. Write: ${usage}`, [{ path: 'incident', message: `not an incident id: ${w}` }]);
    ids.push(id);
  }
  if (ids.length === 0) throw badInput('problem.incident_required', `Name the incidents: ${usage}`, [{ path: 'incident', message: 'required' }]);
  return ids;
}

async function change(ctx: HandlerContext, id: number, cmd: ProblemCommand): Promise<Reply> {
  const { sentence } = await applyProblemCommand(ctx, id, cmd, actorOf(ctx));
  return { kind: 'ephemeral', message: { text: sentence, tone: 'good' } };
}

async function create(inbound: CommandInbound, ctx: HandlerContext, text: string): Promise<Reply> {
  const { rest, options } = extractOptions(text, ['service', 'impact', 'urgency', 'priority', 'statement']);
  const row = await createProblem(ctx, { title: rest, ...options, origin: inbound.where }, actorOf(ctx));
  return { kind: 'ephemeral', message: { text: `${problemSubject(row.id)} opened: ${row.title}`, tone: 'good' } };
}

async function fromIncidents(inbound: CommandInbound, ctx: HandlerContext, text: string): Promise<Reply> {
  const { rest, options } = extractOptions(text, ['title', 'service', 'impact', 'urgency', 'priority', 'statement']);
  const ids = incidentIds(new Args(rest), '/problem from INC-3 INC-5 [title:"…"]');
  const row = await createProblem(ctx, { ...options, origin: inbound.where, incidents: ids, via: 'from' }, actorOf(ctx));
  return { kind: 'ephemeral', message: { text: `${problemSubject(row.id)} opened from ${ids.map((i) => `INC-${i}`).join(', ')}: ${row.title}`, tone: 'good' } };
}

async function list(args: Args, ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'problem.view');
  let scope: 'open' | 'mine' | 'all' = 'open';
  let service: string | undefined;
  for (let word = args.next(); word !== undefined; word = args.next()) {
    const w = word.toLowerCase();
    if (w === 'open' || w === 'mine' || w === 'all') scope = w;
    else if (w.startsWith('service:')) service = w.slice(8);
    else throw badInput('problem.bad_list_filter', `I don't understand "${word}". Write: /problem list [open|mine|all] [service:<name>]`);
  }
  const filter = listFilter(ctx, { states: scope === 'all' ? undefined : ['open'], service });
  const rows = await listProblems(ctx.db, { ...filter, assignee: scope === 'mine' ? ctx.person.id : undefined, limit: 26 });
  if (rows.length === 0) return { kind: 'ephemeral', message: { text: `No ${scope === 'all' ? '' : 'open '}problems${scope === 'mine' ? ' assigned to you' : ''}${service ? ` for ${service}` : ''}.` } };
  const shown = rows.slice(0, 25);
  const names = new Map(await Promise.all([...new Set(shown.flatMap((r) => (r.assignee ? [r.assignee] : [])))].map(async (id) => [id, await personName(ctx, id)] as const)));
  const lines = shown.map((r) => `- ${listLine(r, r.assignee ? names.get(r.assignee) : undefined, r.incidentCount)}`);
  if (rows.length > 25) lines.push('- … more: narrow the list with service:<name>');
  return { kind: 'ephemeral', message: { title: `Problems (${scope})`, text: lines.join('\n') } };
}

async function show(id: number, ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'problem.view');
  const now = ctx.clock.now();
  return { kind: 'ephemeral', message: await ctx.db.transaction(async (tx) => cardFor(tx, ctx, await getProblem(tx, id), now)) };
}

/** `/problem known-error PRB-n …` publishes; `/problem known-error KE-n [edit …|history|retire …|publish]` reads and changes. */
async function knownError(args: Args, ctx: HandlerContext): Promise<Reply> {
  const word = args.next();
  const now = ctx.clock.now();
  const usage = '/problem known-error PRB-n [symptoms:"…"] [codes:A,B] … | /problem known-error KE-n [edit …|history|retire <why>]';
  if (word && /^prb-\d+$/i.test(word)) {
    const problemId = parseRecordId('PRB', word)!;
    const { rest, options } = extractOptions(args.rest(), KE_FIELDS);
    if (rest) throw badInput('problem.bad_known_error', `I don't understand "${rest}". Write the fields as field:"value": ${KE_FIELDS.join(', ')}.`);
    const row = await ctx.db.transaction((tx) => publishKnownError(tx, ctx, problemId, keFields(options), actorOf(ctx), now));
    return { kind: 'ephemeral', message: { ...knownErrorCard(row, { now, timeZone: tz(ctx) }), title: `Published ${knownErrorSubject(row.id)} · ${row.title}` } };
  }
  const id = word && /^ke-\d+$/i.test(word) ? parseRecordId('KE', word) : undefined;
  if (id === undefined) throw badInput('problem.known_error_id_required', `${word ? `"${word}" is neither a problem nor a known error id. ` : ''}Write: ${usage}`);
  const sub = args.next()?.toLowerCase();
  if (sub === undefined) {
    requirePermission(ctx, ctx.person, 'problem.view');
    const row = await getKnownError(ctx.db, id);
    const [stats] = await kedbStats(ctx.db, id);
    return { kind: 'ephemeral', message: knownErrorCard(row, { now, timeZone: tz(ctx), stats: stats ?? { id, title: row.title, state: row.state, shown: 0, worked: 0, notRelated: 0 } }) };
  }
  if (sub === 'history') {
    requirePermission(ctx, ctx.person, 'problem.view');
    await getKnownError(ctx.db, id);
    const versions = await versionsOf(ctx.db, id);
    const names = new Map(await Promise.all([...new Set(versions.map((v) => v.changedBy))].map(async (p) => [p, await personName(ctx, p)] as const)));
    const lines = versions.map((v) => {
      const f = v.fields as { title?: string; workaround?: string | null; state?: string };
      return `- *v${v.version}* · ${formatTime(v.changedAt, tz(ctx), now)} · ${names.get(v.changedBy) ?? v.changedBy}: ${v.note ?? ''}\n  _${f.title ?? ''}_${f.workaround ? ` — workaround: ${f.workaround}` : ''}${f.state === 'retired' ? ' (retired)' : ''}`;
    });
    return { kind: 'ephemeral', message: { title: `History of ${knownErrorSubject(id)} (${versions.length} version${versions.length === 1 ? '' : 's'})`, text: lines.join('\n') } };
  }
  if (sub === 'edit' || sub === 'retire' || sub === 'publish') {
    let fields: Parameters<typeof editKnownError>[3];
    let note: string | undefined;
    if (sub === 'edit') {
      const { rest, options } = extractOptions(args.rest(), KE_FIELDS);
      if (rest || Object.keys(options).length === 0) throw badInput('problem.bad_known_error', `${rest ? `I don't understand "${rest}". ` : ''}Say what to change as field:"value" (${KE_FIELDS.join(', ')}), like: /problem known-error KE-${id} edit workaround:"restart the pool"`);
      fields = keFields(options);
    } else {
      fields = { state: sub === 'retire' ? 'retired' : 'published' };
      note = args.rest() || (sub === 'retire' ? 'retired' : 'published again');
    }
    const { row, changed } = await ctx.db.transaction((tx) => editKnownError(tx, ctx, id, fields, actorOf(ctx), now, note));
    const what = sub === 'retire' ? 'retired: it stays readable and no longer matches incidents' : sub === 'publish' ? 'published again' : `changed (${changed.join(', ')})`;
    return { kind: 'ephemeral', message: { text: `${knownErrorSubject(id)} ${what}; now version ${row.version}.`, tone: 'good' } };
  }
  throw badInput('problem.bad_known_error', `I don't understand "${sub}". Write: ${usage}`);
}

/** Known error fields from typed options (`codes:a,b`, `rootcause:"…"`). */
function keFields(options: Record<string, string>) {
  return {
    ...(options.title !== undefined ? { title: options.title } : {}),
    ...(options.symptoms !== undefined ? { symptoms: options.symptoms } : {}),
    ...(options.workaround !== undefined ? { workaround: options.workaround } : {}),
    ...(options.rootcause !== undefined ? { rootCause: options.rootcause } : {}),
    ...(options.codes !== undefined ? { errorCodes: options.codes } : {}),
    ...(options.services !== undefined ? { services: options.services } : {}),
  };
}

function tz(ctx: HandlerContext): string {
  return ctx.person.timezone ?? ctx.config.timezone;
}

async function kedb(args: Args, ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'problem.view');
  if (args.peek()?.toLowerCase() === 'stats' && args.rest().trim().toLowerCase() === 'stats') {
    const stats = await kedbStats(ctx.db);
    if (stats.length === 0) return { kind: 'ephemeral', message: { text: 'No known error was suggested on an incident yet.' } };
    const total = stats.reduce((a, s) => ({ shown: a.shown + s.shown, worked: a.worked + s.worked, notRelated: a.notRelated + s.notRelated }), { shown: 0, worked: 0, notRelated: 0 });
    const lines = stats.map((s) => `- *${knownErrorSubject(s.id)}* ${s.title}${s.state === 'retired' ? ' (retired)' : ''}: shown ${s.shown}, worked ${s.worked}, not related ${s.notRelated}`);
    return { kind: 'ephemeral', message: { title: 'Known error hints on incidents', text: [`Shown ${total.shown} times: worked ${total.worked}, not related ${total.notRelated}, no answer ${total.shown - total.worked - total.notRelated}.`, ...lines].join('\n') } };
  }
  const { rest, options } = extractOptions(args.rest(), ['service']);
  if (rest.trim().length < 2) throw badInput('problem.kedb_words_required', 'Say what to look for: /problem kedb <words> [service:<name>], like: /problem kedb snapshot too old');
  const service = options.service !== undefined ? listFilter(ctx, { service: options.service }).service : undefined;
  const hits = await searchForPeople(ctx.db, rest, service);
  if (hits.length === 0) return { kind: 'ephemeral', message: { text: `No known error matches “${rest}”${service ? ` for ${service}` : ''}.` } };
  const lines = hits.map((h) => `*${knownErrorSubject(h.id)} · ${h.title}*${h.partial ? ' _(some of the words)_' : ''}${h.services.length ? ` · ${h.services.join(', ')}` : ''}\n${h.snippet.replace(/\s+/g, ' ').trim()}${h.workaround ? `\n*Workaround:* ${h.workaround}` : ''}`);
  return { kind: 'ephemeral', message: { title: `Known errors for “${rest.length > 60 ? `${rest.slice(0, 59)}…` : rest}”`, text: lines.join('\n\n') } };
}

function parsePriorityArgs(rest: string, id: number): Extract<ProblemCommand, { action: 'priority' }> {
  const { rest: leftover, options } = extractOptions(rest, ['impact', 'urgency']);
  const words = leftover.split(/\s+/).filter(Boolean);
  const p = words[0] ? parsePriority(words[0]) : undefined;
  const impact = parseLevel(options.impact);
  const urgency = parseLevel(options.urgency);
  const usage = `like: /problem priority PRB-${id} P2 it hits every checkout`;
  if ((options.impact !== undefined && !impact) || (options.urgency !== undefined && !urgency)) throw badInput('problem.bad_priority', `Impact and urgency are high, medium or low, ${usage}`);
  if (p !== undefined) return { action: 'priority', priority: p, note: words.slice(1).join(' ') };
  if (impact || urgency) return { action: 'priority', impact, urgency, note: leftover };
  throw badInput('problem.bad_priority', `Write the priority as P1…P5 or as impact:high|medium|low urgency:high|medium|low, then why, ${usage}`);
}

/** `/problem …`. */
async function handleProblem(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
  const args = new Args(inbound.text);
  const sub = args.next()?.toLowerCase();
  const where = inbound.where;
  const id = (usage: string) => takeId(args, ctx, where, usage);
  switch (sub) {
    case undefined: return { kind: 'ephemeral', message: { title: '/problem', text: PROBLEM_USAGE.map((u) => `- \`${u}\``).join('\n') } };
    case 'new': return create(inbound, ctx, args.rest());
    case 'from': return fromIncidents(inbound, ctx, args.rest());
    case 'list': return list(args, ctx);
    case 'show': return show(await id('/problem show PRB-3'), ctx);
    case 'assess': return change(ctx, await id('/problem assess PRB-3'), { action: 'assess' });
    case 'close': return change(ctx, await id('/problem close PRB-3'), { action: 'close' });
    case 'link': case 'unlink': {
      const problem = await id(`/problem ${sub} PRB-3 INC-7`);
      return change(ctx, problem, { action: sub, incidents: incidentIds(args, `/problem ${sub} PRB-${problem} INC-7`) });
    }
    case 'assign': {
      const problem = await id('/problem assign PRB-3 @bob');
      const who = args.next();
      if (!who) throw badInput('problem.assignee_required', `Whom to assign it to? Write: /problem assign PRB-${problem} @bob (or "me")`);
      const person = who.toLowerCase() === 'me' ? ctx.person : await resolvePersonToken(ctx, who, where.platform);
      return change(ctx, problem, { action: 'assign', assignee: person.id });
    }
    case 'note': return change(ctx, await id('/problem note PRB-3 <text>'), { action: 'note', note: args.rest() });
    case 'rca': return change(ctx, await id('/problem rca PRB-3 <root cause>'), { action: 'rca', rootCause: args.rest() });
    case 'workaround': return change(ctx, await id('/problem workaround PRB-3 <text>'), { action: 'workaround', workaround: args.rest() });
    case 'priority': {
      const problem = await id('/problem priority PRB-3 P2 <why>');
      return change(ctx, problem, parsePriorityArgs(args.rest(), problem));
    }
    case 'fix': {
      const problem = await id('/problem fix PRB-3 CHG-1234 <notes>');
      const changeRef = args.next() ?? '';
      return change(ctx, problem, { action: 'fix', changeRef, notes: args.rest() });
    }
    case 'resolve': {
      const problem = await id('/problem resolve PRB-3 code:fix_applied <notes>');
      const { rest, options } = extractOptions(args.rest(), ['code']);
      const code = parseResolveCode(options.code);
      if (!code) throw badInput('problem.bad_code', `${options.code ? `code:${options.code} is not a resolution code. ` : ''}Say how it was resolved: /problem resolve PRB-${problem} code:fix_applied|risk_accepted <notes> (a duplicate: /problem duplicate PRB-${problem} PRB-m).`, [{ path: 'code', message: `one of ${RESOLVE_CODES.join(', ')}` }]);
      return change(ctx, problem, { action: 'resolve', code, notes: rest });
    }
    case 'duplicate': {
      const problem = await id('/problem duplicate PRB-3 PRB-2');
      const word = args.next();
      const of = word && /^(prb-)?\d+$/i.test(word) ? parseRecordId('PRB', word) : undefined;
      if (of === undefined) throw badInput('problem.original_required', `${word ? `"${word}" is not a problem id. ` : ''}Which problem does PRB-${problem} duplicate? Write: /problem duplicate PRB-${problem} PRB-2`, [{ path: 'of', message: 'a problem id' }]);
      return change(ctx, problem, { action: 'duplicate', of });
    }
    case 'known-error': case 'known_error': case 'ke': return knownError(args, ctx);
    case 'kedb': return kedb(args, ctx);
    case 'recurring': return recurringCommand(ctx);
    default: throw badInput('problem.unknown_subcommand', `I don't know "/problem ${sub}". Type /problem help for what it does.`);
  }
}

/** The `/problem` command. */
export const problemCommand: CommandSpec = {
  name: 'problem',
  summary: 'find root causes; the known error database',
  usage: PROBLEM_USAGE,
  handle: handleProblem,
};

/** The problem a button carries. */
function idFromValue(inbound: ActionInbound): number {
  const id = /^prb-\d+$/i.test(inbound.value.trim()) ? parseRecordId('PRB', inbound.value) : undefined;
  if (id === undefined) throw badInput('problem.bad_button', 'That button does not name a problem.');
  return id;
}

async function buttonChange(inbound: ActionInbound, ctx: HandlerContext, cmd: ProblemCommand): Promise<Reply> {
  const { problem, sentence } = await applyProblemCommand(ctx, idFromValue(inbound), cmd, actorOf(ctx));
  const now = ctx.clock.now();
  return { kind: 'card', message: await ctx.db.transaction((tx) => cardFor(tx, ctx, problem, now)), notice: { text: sentence } };
}

function formValue(inbound: ActionInbound, id: string): string {
  return (inbound.formValues?.[id] ?? '').trim();
}

async function feedback(inbound: ActionInbound, ctx: HandlerContext, kind: Feedback): Promise<Reply> {
  const { incident, knownError: ke } = hintOfButton(inbound.value);
  const now = ctx.clock.now();
  const text = await ctx.db.transaction((tx) => giveFeedback(tx, ctx, incident, ke, kind, actorOf(ctx), now));
  return { kind: 'ephemeral', message: { text, tone: 'good' } };
}

/** The Resolve button's form, with the codes the problem's state allows (else why it cannot be resolved now). */
async function openResolveForm(i: ActionInbound, ctx: HandlerContext): Promise<Reply> {
  const row = await getProblem(ctx.db, idFromValue(i));
  const codes = resolveCodes(row.state as ProblemState);
  const refused = codes.length === 0 ? transition(row.state as ProblemState, { type: 'resolve', code: 'risk_accepted' }) : undefined;
  if (refused instanceof DomainError) throw refused;
  return { kind: 'form', form: resolveForm(problemSubject(row.id), codes) };
}

/** The Duplicate button's form; open problems of the same service are named as likely originals. */
async function openDuplicateForm(i: ActionInbound, ctx: HandlerContext): Promise<Reply> {
  const row = await getProblem(ctx.db, idFromValue(i));
  const others = row.service ? await listProblems(ctx.db, { states: OPEN_STATES, service: row.service, limit: 4 }) : [];
  return { kind: 'form', form: duplicateForm(problemSubject(row.id), others.filter((o) => o.id !== row.id).slice(0, 3)) };
}

/** Every empty field of a submitted form, named (a form reports them all at once). */
function requireFields(i: ActionInbound, fields: Record<string, string>): void {
  const issues = Object.entries(fields).filter(([id]) => !formValue(i, id)).map(([path, message]) => ({ path, message }));
  if (issues.length) throw badInput('problem.bad_form', issues.length === 1 ? issues[0]!.message : 'Some fields need a fix.', issues);
}

async function submitFix(i: ActionInbound, ctx: HandlerContext): Promise<Reply> {
  requireFields(i, { changeRef: 'Name the change, like CHG-1234.', notes: 'Say what the fix does.' });
  return buttonChange(i, ctx, { action: 'fix', changeRef: formValue(i, 'changeRef'), notes: formValue(i, 'notes') });
}

async function submitResolve(i: ActionInbound, ctx: HandlerContext): Promise<Reply> {
  const code = parseResolveCode(formValue(i, 'code'));
  const issues = [
    ...(code ? [] : [{ path: 'code', message: `Pick one of ${RESOLVE_CODES.join(', ')}.` }]),
    ...(formValue(i, 'notes') ? [] : [{ path: 'notes', message: 'Say how it was resolved.' }]),
  ];
  if (issues.length || !code) throw badInput('problem.bad_form', issues.length === 1 ? issues[0]!.message : 'Some fields need a fix.', issues);
  return buttonChange(i, ctx, { action: 'resolve', code, notes: formValue(i, 'notes') });
}

async function submitDuplicate(i: ActionInbound, ctx: HandlerContext): Promise<Reply> {
  const typed = formValue(i, 'of');
  const of = /^(prb-)?\d+$/i.test(typed) ? parseRecordId('PRB', typed) : undefined;
  if (of === undefined) throw badInput('problem.original_required', typed ? `"${typed}" is not a problem id; write it like PRB-2.` : 'Name the problem it duplicates, like PRB-2.', [{ path: 'of', message: typed ? `not a problem id: ${typed}` : 'required' }]);
  return buttonChange(i, ctx, { action: 'duplicate', of });
}

/** Button and form handlers by action id. */
export const problemActions: Record<string, ActionSpec> = {
  'problem.assess': { permission: 'problem.assess', handle: (i, ctx) => buttonChange(i, ctx, { action: 'assess' }) },
  'problem.close': { permission: 'problem.close', handle: (i, ctx) => buttonChange(i, ctx, { action: 'close' }) },
  'problem.assign_me': { permission: 'problem.assign', handle: (i, ctx) => buttonChange(i, ctx, { action: 'assign', assignee: ctx.person.id }) },
  'problem.rca.form': { permission: 'problem.rca', handle: async (i, ctx) => ({ kind: 'form', form: rcaForm(problemSubject(idFromValue(i)), (await getProblem(ctx.db, idFromValue(i))).rootCause) }) },
  'problem.workaround.form': { permission: 'problem.workaround', handle: async (i, ctx) => ({ kind: 'form', form: workaroundForm(problemSubject(idFromValue(i)), (await getProblem(ctx.db, idFromValue(i))).workaround) }) },
  'problem.rca.submit': { permission: 'problem.rca', handle: (i, ctx) => buttonChange(i, ctx, { action: 'rca', rootCause: formValue(i, 'rootCause') }) },
  'problem.workaround.submit': { permission: 'problem.workaround', handle: (i, ctx) => buttonChange(i, ctx, { action: 'workaround', workaround: formValue(i, 'workaround') }) },
  'problem.fix.form': { permission: 'problem.fix', handle: async (i, ctx) => {
    const row = await getProblem(ctx.db, idFromValue(i));
    return { kind: 'form', form: fixForm(problemSubject(row.id), row) };
  } },
  'problem.resolve.form': { permission: 'problem.resolve', handle: openResolveForm },
  'problem.duplicate.form': { permission: 'problem.duplicate', handle: openDuplicateForm },
  'problem.fix.submit': { permission: 'problem.fix', handle: submitFix },
  'problem.resolve.submit': { permission: 'problem.resolve', handle: submitResolve },
  'problem.duplicate.submit': { permission: 'problem.duplicate', handle: submitDuplicate },
  'problem.kedb.worked': { permission: 'problem.feedback', handle: (i, ctx) => feedback(i, ctx, 'worked') },
  'problem.kedb.unrelated': { permission: 'problem.feedback', handle: (i, ctx) => feedback(i, ctx, 'not_related') },
  ...recurringActions,
};
