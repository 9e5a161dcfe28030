/**
 * Problems: one transaction per action — load, transition, persist, timeline, audit, outbox — and what a change does to
 * the linked incidents, through the operations incidents and on-call offer on the seam (the workaround goes to every open
 * linked incident and stops its pages; a fix resolves those on hold awaiting the problem; a duplicate's links move).
 */
import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { queryRows, schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { channelWheres } from '../../core/channels.js';
import { badInput, conflict, DomainError, notFound } from '../../core/errors.js';
import { findPerson, personName, SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import type { Where } from '../../core/inbound.js';
import type { Message } from '../../core/message.js';
import { enqueue, type OutboxPayload } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { levelsForPriority, priorityOf, type Level } from '../../core/priority.js';
import { addTimeline } from '../../core/timeline.js';
import type { OpContext, OpOutput } from '../../core/workflow.js';
import { requiredText, validateNewProblem, type NewProblem, type ProblemCommand, type ProblemFilter } from './problem.inputs.js';
import { transition, type ProblemEvent, type ProblemState } from './problem.machine.js';
import { problemCard, problemSubject, type LinkedIncident, type ProblemRow } from './problem.messages.js';
import { knownErrorOf, reviseKnownError } from './problem.versions.js';

export type { ProblemRow };

/** An incident as the incident workflow shows it on the seam. */
export type IncidentView = NonNullable<OpOutput<'incident.get'>>;

/** The operation context of a unit of work. */
export function opOf(tx: Tx, app: AppContext, now: Date, actor: Actor): OpContext {
  return { tx, app, now, actor };
}

/** An incident read through the seam, or a coded error naming it. */
export async function incidentFor(op: OpContext, id: number, timeline = false): Promise<IncidentView> {
  const view = await op.app.seam.call('incident.get', op, { id, timeline });
  if (!view) throw notFound('problem.unknown_incident', `There is no incident INC-${id}.`);
  return view;
}

/** Loads a problem or throws a 404-coded error. */
export async function getProblem(db: DbOrTx, id: number, lock = false): Promise<ProblemRow> {
  const q = db.select().from(schema.problems).where(eq(schema.problems.id, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('problem.not_found', `There is no problem PRB-${id}.`);
  return row;
}

/** The incident ids linked to a problem, ascending. */
export async function linkedIds(db: DbOrTx, problemId: number): Promise<number[]> {
  const rows = await db.select({ id: schema.problemIncidents.incidentId }).from(schema.problemIncidents)
    .where(eq(schema.problemIncidents.problemId, problemId)).orderBy(asc(schema.problemIncidents.incidentId));
  return rows.map((r) => r.id);
}

/** The problem an incident is linked to, if any. */
export async function problemOfIncident(db: DbOrTx, incidentId: number): Promise<ProblemRow | undefined> {
  const [row] = await db.select({ p: schema.problems }).from(schema.problemIncidents)
    .innerJoin(schema.problems, eq(schema.problems.id, schema.problemIncidents.problemId))
    .where(eq(schema.problemIncidents.incidentId, incidentId));
  return row?.p;
}

/** The card of a problem, with names, linked incidents (read through the seam) and its known error. */
export async function cardFor(tx: Tx, app: AppContext, row: ProblemRow, now: Date): Promise<Message> {
  const op = opOf(tx, app, now, SCHEDULER_ACTOR);
  const incidents: LinkedIncident[] = [];
  for (const id of await linkedIds(tx, row.id)) {
    const view = await app.seam.call('incident.get', op, { id });
    if (view) incidents.push({ subject: view.subject, state: view.state, title: view.title });
  }
  const ke = await knownErrorOf(tx, row.id);
  return problemCard(row, {
    assigneeName: row.assignee ? await personName(app, row.assignee, tx) : undefined, incidents, now, timeZone: app.config.timezone,
    ...(ke ? { knownError: { id: ke.id, state: ke.state, version: ke.version } } : {}),
  });
}

/** Edits every card of the problem in place. */
export async function refreshProblemCard(tx: Tx, app: AppContext, row: ProblemRow, now: Date): Promise<void> {
  await enqueue(tx, { kind: 'update', subject: problemSubject(row.id), message: await cardFor(tx, app, row, now) });
}

/** Where a service's problem cards and proposals go: its channels on the platforms that are on, else `problem.announce`. */
export function problemChannels(app: AppContext, service: string | null | undefined): Where[] {
  const s = service ? app.config.services.find((x) => x.name === service) : undefined;
  const own = s ? channelWheres({ slack: s.slack?.channel, teams: s.teams, console: s.console?.channel }, app.platforms) : [];
  if (own.length) return own;
  return app.config.problem.announce ? channelWheres(app.config.problem.announce, app.platforms) : [];
}

function sameConversation(a: Where, b: Where): boolean {
  return a.platform === b.platform && a.channel === b.channel;
}

/**
 * Links incidents to a problem: each must exist and be linked to no other problem. Returns the incidents linked now
 * (already linked ones are skipped); the caller refreshes their cards once the problem's row is final.
 */
export async function linkIncidents(op: OpContext, problem: ProblemRow, ids: readonly number[], via: string, options: { timeline?: boolean } = {}): Promise<IncidentView[]> {
  const { tx, now, actor } = op;
  const linked: IncidentView[] = [];
  for (const id of [...new Set(ids)]) {
    const view = await incidentFor(op, id);
    const current = await problemOfIncident(tx, id);
    if (current?.id === problem.id) continue;
    if (current) throw conflict('problem.incident_linked_elsewhere', `${view.subject} is linked to ${problemSubject(current.id)} already; unlink it there first: /problem unlink ${problemSubject(current.id)} ${view.subject}`);
    await tx.insert(schema.problemIncidents).values({ problemId: problem.id, incidentId: id, via, linkedBy: actor.person.id, linkedAt: now });
    linked.push(view);
  }
  if (linked.length && options.timeline !== false) {
    await addTimeline(tx, { subject: problemSubject(problem.id), at: now, actor: actor.person.id, source: actor.source, kind: 'link', text: `${linked.map((v) => v.subject).join(', ')} linked by ${actor.person.name}`, data: { incidents: linked.map((v) => v.id), via } });
  }
  return linked;
}

/** Refreshes the cards of incidents (what problem management adds to them changed). */
export async function refreshIncidentCards(op: OpContext, ids: readonly number[]): Promise<void> {
  for (const id of ids) await op.app.seam.call('incident.refresh_card', op, { id });
}

/** Opens a problem inside the caller's transaction (from incidents when given: linked, with what they know copied). */
export async function openProblem(tx: Tx, app: AppContext, input: NewProblem, actor: Actor, now: Date): Promise<ProblemRow> {
  requirePermission(app, actor.person, 'problem.create');
  const op = opOf(tx, app, now, actor);
  const sources = input.incidents?.length ? await Promise.all([...new Set(input.incidents)].map((id) => incidentFor(op, id, true))) : [];
  const firstService = sources.find((s) => s.service)?.service ?? undefined;
  const statement = input.statement ?? (sources.some((s) => s.description) ? sources.filter((s) => s.description).map((s) => `${s.subject}: ${s.description}`).join('\n') : undefined);
  const valid = validateNewProblem(app, { ...input, title: input.title ?? sources[0]?.title, statement, service: input.service ?? firstService });
  const impact: Level = valid.impact ?? 'medium';
  const urgency: Level = valid.urgency ?? 'medium';
  const [inserted] = await tx.insert(schema.problems).values({
    title: valid.title, statement: valid.statement ?? null, state: 'new', impact, urgency, priority: priorityOf(impact, urgency), service: valid.service ?? null,
    reporter: actor.person.id, source: actor.source, origin: (input.origin ?? null) as Record<string, unknown> | null, createdAt: now, updatedAt: now,
  }).returning();
  const row = inserted!;
  const subject = problemSubject(row.id);
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'created', text: `Opened by ${actor.person.name}: ${row.title} (P${row.priority})${sources.length ? ` from ${sources.map((s) => s.subject).join(', ')}` : ''}` });
  // what the incidents' timelines knew, on the problem's timeline (with their own times)
  for (const s of sources) {
    for (const e of s.timeline ?? []) {
      await addTimeline(tx, { subject, at: new Date(e.at), actor: actor.person.id, source: actor.source, kind: 'incident_history', text: `${s.subject}: ${e.text}`, data: { incident: s.id, kind: e.kind } });
    }
  }
  const linked = sources.length ? await linkIncidents(op, row, sources.map((s) => s.id), input.via ?? 'from', { timeline: false }) : [];
  await auditActor(tx, actor, { at: now, subject, action: 'problem.created', data: { title: row.title, service: row.service, priority: row.priority, incidents: linked.map((v) => v.subject) } });
  const card = await cardFor(tx, app, row, now);
  const targets: Where[] = input.origin ? [{ ...input.origin, thread: undefined, messageId: undefined }] : [];
  for (const w of problemChannels(app, row.service)) if (!targets.some((t) => sameConversation(t, w))) targets.push(w);
  if (app.platforms.has('console') && !targets.some((w) => w.platform === 'console')) targets.push({ platform: 'console', channel: 'console', name: 'console' });
  for (const where of targets) await enqueue(tx, { kind: 'post', where, message: card, subject });
  if (!targets.some((w) => app.platforms.has(w.platform))) await enqueue(tx, { kind: 'dm', person: actor.person.id, message: card, subject });
  await refreshIncidentCards(op, linked.map((v) => v.id));
  return row;
}

/** Opens a problem in its own transaction. */
export async function createProblem(app: AppContext, input: NewProblem, actor: Actor): Promise<ProblemRow> {
  const now = app.clock.now();
  return app.db.transaction((tx) => openProblem(tx, app, input, actor, now));
}

/** Problems matching a filter, newest first, with the number of incidents linked to each. */
export async function listProblems(db: DbOrTx, f: ProblemFilter): Promise<(ProblemRow & { incidentCount: number })[]> {
  const t = schema.problems;
  const rows = await db.select().from(t).where(and(
    f.states ? inArray(t.state, [...f.states]) : undefined,
    f.service !== undefined ? eq(t.service, f.service) : undefined,
    f.assignee !== undefined ? eq(t.assignee, f.assignee) : undefined,
    f.beforeId !== undefined ? lt(t.id, f.beforeId) : undefined,
  )).orderBy(desc(t.id)).limit(f.limit);
  const counts = rows.length
    ? await queryRows<{ id: number; n: number }>(db, sql`select problem_id as id, count(*)::int as n from problem_incidents where problem_id in ${rows.map((r) => r.id)} group by problem_id`)
    : [];
  const byId = new Map(counts.map((c) => [Number(c.id), Number(c.n)]));
  return rows.map((r) => ({ ...r, incidentCount: byId.get(r.id) ?? 0 }));
}

/** The result of a change: the new row and the sentence that announces it. */
export interface ChangeResult {
  problem: ProblemRow;
  sentence: string;
}

function eventOf(cmd: ProblemCommand): ProblemEvent {
  return cmd.action === 'resolve' ? { type: 'resolve', code: cmd.code } : { type: cmd.action };
}

/** Applies a change inside the caller's transaction. */
export async function changeProblem(tx: Tx, app: AppContext, id: number, cmd: ProblemCommand, actor: Actor, now: Date): Promise<ChangeResult> {
  const before = await getProblem(tx, id, true);
  const subject = problemSubject(id);
  requirePermission(app, actor.person, `problem.${cmd.action}`, subject);
  const result = transition(before.state as ProblemState, eventOf(cmd));
  if (result instanceof DomainError) throw result;
  const op = opOf(tx, app, now, actor);
  const who = actor.person.name;
  const by = actor.person.id;
  const patch: Partial<ProblemRow> = { state: result.next };
  const audit: Record<string, unknown> = before.state !== result.next ? { from: before.state, to: result.next } : {};
  let sentence = '';
  /** Work on the linked incidents, once the problem's row is written (their cards read it). */
  const afterWrite: ((row: ProblemRow) => Promise<void>)[] = [];
  let refreshIncidents = before.state !== result.next;

  switch (cmd.action) {
    case 'assess':
      sentence = `${subject} is being assessed (${who})`;
      break;
    case 'rca': {
      const rootCause = requiredText(cmd.rootCause, 'rootCause', `Write the root cause after the id: /problem rca ${subject} <root cause>.`);
      Object.assign(patch, { rootCause, rootCauseAt: now, rootCauseBy: by });
      audit.rootCause = rootCause;
      sentence = `${subject} root cause ${before.rootCause ? 'updated' : 'found'} by ${who}: ${rootCause}`;
      afterWrite.push(() => syncKnownError(tx, id, { rootCause }, by, now));
      break;
    }
    case 'workaround': {
      const workaround = requiredText(cmd.workaround, 'workaround', `Write the workaround after the id: /problem workaround ${subject} <what to do>.`);
      Object.assign(patch, { workaround, workaroundAt: now, workaroundBy: by });
      audit.workaround = workaround;
      sentence = `${subject} workaround from ${who}: ${workaround}`;
      refreshIncidents = false; // the note on each open incident refreshes its card
      afterWrite.push(async (row) => {
        const told = await communicateWorkaround(op, row, workaround);
        audit.communicatedTo = told;
        await syncKnownError(tx, id, { workaround }, by, now);
      });
      break;
    }
    case 'fix': {
      const changeRef = requiredText(cmd.changeRef, 'changeRef', `Name the change and say what it does: /problem fix ${subject} CHG-1234 <notes>.`);
      const notes = requiredText(cmd.notes, 'notes', `Say what the fix does after the change reference: /problem fix ${subject} ${changeRef} <notes>.`);
      Object.assign(patch, { changeRef, fixNotes: notes, fixedAt: now, fixedBy: by });
      Object.assign(audit, { changeRef, notes });
      sentence = `${subject} fix in progress with change ${changeRef} (${who}): ${notes}`;
      break;
    }
    case 'resolve': {
      const notes = requiredText(cmd.notes, 'notes', `Say how it was resolved: /problem resolve ${subject} code:${cmd.code} <notes>.`);
      Object.assign(patch, { resolution: cmd.code, resolutionNotes: notes, resolvedAt: now, resolvedBy: by });
      Object.assign(audit, { code: cmd.code, notes });
      sentence = `${subject} resolved (${cmd.code.replace('_', ' ')}) by ${who}: ${notes}`;
      if (cmd.code === 'fix_applied') afterWrite.push(async (row) => { audit.resolvedIncidents = await resolveWaitingIncidents(op, row, notes); });
      break;
    }
    case 'duplicate': {
      if (cmd.of === id) throw badInput('problem.duplicate_of_itself', `${subject} cannot be a duplicate of itself.`, [{ path: 'of', message: 'another problem' }]);
      const original = await getProblem(tx, cmd.of, true);
      if (original.resolution === 'duplicate') throw conflict('problem.duplicate_of_duplicate', `${problemSubject(original.id)} is itself a duplicate of ${problemSubject(original.duplicateOf ?? 0)}; mark ${subject} a duplicate of that one.`);
      if (original.state === 'closed') throw conflict('problem.duplicate_of_closed', `${problemSubject(original.id)} is closed; open problems and resolved ones may take duplicates.`);
      Object.assign(patch, { resolution: 'duplicate', duplicateOf: original.id, resolutionNotes: `Duplicate of ${problemSubject(original.id)}`, resolvedAt: now, resolvedBy: by });
      audit.duplicateOf = problemSubject(original.id);
      sentence = `${subject} is a duplicate of ${problemSubject(original.id)} (${who})`;
      afterWrite.push(async () => { audit.moved = await moveLinks(op, id, original); });
      break;
    }
    case 'close':
      Object.assign(patch, { closedAt: now, closedBy: by });
      sentence = `${subject} closed by ${who}`;
      break;
    case 'assign': {
      const person = await findPerson(app, cmd.assignee, tx);
      if (!person) throw badInput('person.unknown', `I don't know "${cmd.assignee}".`, [{ path: 'assignee', message: 'unknown person' }]);
      patch.assignee = person.id;
      Object.assign(audit, { from: before.assignee, to: person.id });
      sentence = `${subject} assigned to ${person.name} by ${who}`;
      if (person.id !== by) await enqueue(tx, { kind: 'dm', person: person.id, message: { text: `${who} assigned problem ${subject} to you: ${before.title}`, subject } }, { orderKey: subject });
      break;
    }
    case 'note': {
      const note = requiredText(cmd.note, 'note', `Write the note after the id: /problem note ${subject} <text>.`);
      audit.note = note;
      sentence = `${who} noted on ${subject}: ${note}`;
      break;
    }
    case 'link': case 'unlink': {
      if (cmd.incidents.length === 0) throw badInput('problem.incident_required', `Name the incident: /problem ${cmd.action} ${subject} INC-7.`, [{ path: 'incident', message: 'required' }]);
      if (cmd.action === 'link') {
        if (before.resolution === 'duplicate') throw conflict('problem.link_duplicate', `${subject} is a duplicate of ${problemSubject(before.duplicateOf ?? 0)}; link incidents there.`);
        const linked = await linkIncidents(op, before, cmd.incidents, 'link', { timeline: false });
        if (linked.length === 0) throw conflict('problem.already_linked', `${cmd.incidents.map((i) => `INC-${i}`).join(', ')} ${cmd.incidents.length === 1 ? 'is' : 'are'} linked to ${subject} already.`);
        audit.incidents = linked.map((v) => v.subject);
        sentence = `${linked.map((v) => v.subject).join(', ')} linked to ${subject} by ${who}`;
        afterWrite.push(() => refreshIncidentCards(op, linked.map((v) => v.id)));
      } else {
        const current = new Set(await linkedIds(tx, id));
        const missing = cmd.incidents.filter((i) => !current.has(i));
        if (missing.length) throw conflict('problem.not_linked', `${missing.map((i) => `INC-${i}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not linked to ${subject}.`);
        await tx.delete(schema.problemIncidents).where(and(eq(schema.problemIncidents.problemId, id), inArray(schema.problemIncidents.incidentId, cmd.incidents)));
        audit.incidents = cmd.incidents.map((i) => `INC-${i}`);
        sentence = `${cmd.incidents.map((i) => `INC-${i}`).join(', ')} unlinked from ${subject} by ${who}`;
        afterWrite.push(() => refreshIncidentCards(op, cmd.incidents));
      }
      break;
    }
    case 'priority': {
      let impact = cmd.impact ?? (before.impact as Level);
      let urgency = cmd.urgency ?? (before.urgency as Level);
      if (cmd.priority !== undefined) ({ impact, urgency } = levelsForPriority(cmd.priority));
      const note = requiredText(cmd.note, 'note', `Say why the priority changes: /problem priority ${subject} P2 <why>.`);
      const priority = priorityOf(impact, urgency);
      Object.assign(patch, { impact, urgency, priority });
      Object.assign(audit, { from: before.priority, to: priority, impact, urgency, note });
      sentence = `${subject} priority P${before.priority} → P${priority} (impact ${impact}, urgency ${urgency}) by ${who}: ${note}`;
      break;
    }
  }
  for (const effect of result.effects) {
    if (effect === 'record_confirmation' && !before.confirmedAt) Object.assign(patch, { confirmedAt: now, confirmedBy: by });
  }
  const [written] = await tx.update(schema.problems).set({ ...patch, updatedAt: now, version: before.version + 1 }).where(eq(schema.problems.id, id)).returning();
  const row = written!;
  for (const work of afterWrite) await work(row);
  if (refreshIncidents) await refreshIncidentCards(op, await linkedIds(tx, id));
  await addTimeline(tx, { subject, at: now, actor: by, source: actor.source, kind: cmd.action, text: sentence, data: audit });
  await auditActor(tx, actor, { at: now, subject, action: `problem.${cmd.action}`, data: audit });
  const out: OutboxPayload[] = [{ kind: 'update', subject, message: await cardFor(tx, app, row, now) }, { kind: 'announce', subject, message: { text: sentence, subject } }];
  for (const p of out) await enqueue(tx, p);
  return { problem: row, sentence };
}

/** Runs a change in its own transaction. */
export async function applyProblemCommand(app: AppContext, id: number, cmd: ProblemCommand, actor: Actor): Promise<ChangeResult> {
  const now = app.clock.now();
  return app.db.transaction((tx) => changeProblem(tx, app, id, cmd, actor, now));
}

const CLOSED_INCIDENT_STATES = new Set(['resolved', 'closed', 'cancelled']);

/**
 * The workaround to every open linked incident: a note on its timeline and thread (its card shows the workaround), and its
 * pending pages stop with the reason `workaround`. Returns the incidents told.
 */
async function communicateWorkaround(op: OpContext, problem: ProblemRow, workaround: string): Promise<string[]> {
  const told: string[] = [];
  for (const id of await linkedIds(op.tx, problem.id)) {
    const view = await op.app.seam.call('incident.get', op, { id });
    if (!view || CLOSED_INCIDENT_STATES.has(view.state)) continue;
    await op.app.seam.call('incident.note', op, { id, note: `Workaround from ${problemSubject(problem.id)} (${problem.title}): ${workaround}` });
    if (op.app.seam.offers('oncall.stop')) await op.app.seam.call('oncall.stop', op, { subject: view.subject, reason: 'workaround' });
    told.push(view.subject);
  }
  return told;
}

/** A fix applied: linked incidents on hold awaiting the problem are resolved with a note naming it, and their assignees told. */
async function resolveWaitingIncidents(op: OpContext, problem: ProblemRow, notes: string): Promise<string[]> {
  const resolved: string[] = [];
  const subject = problemSubject(problem.id);
  for (const id of await linkedIds(op.tx, problem.id)) {
    const view = await op.app.seam.call('incident.get', op, { id });
    if (!view || view.state !== 'on_hold' || view.holdReason !== 'awaiting_problem') continue;
    await op.app.seam.call('incident.resolve', op, { id, note: `Fixed by problem ${subject}${problem.changeRef ? ` (change ${problem.changeRef})` : ''}: ${notes}` });
    await op.app.seam.call('incident.tell_assignee', op, { id, text: `${view.subject} (${view.title}) was resolved: problem ${subject} is fixed${problem.changeRef ? ` with change ${problem.changeRef}` : ''}.` });
    resolved.push(view.subject);
  }
  return resolved;
}

/** A duplicate's incident links move to the original problem (timeline on both, the incidents' cards refreshed). */
async function moveLinks(op: OpContext, duplicateId: number, original: ProblemRow): Promise<string[]> {
  const ids = await linkedIds(op.tx, duplicateId);
  if (ids.length === 0) return [];
  await op.tx.update(schema.problemIncidents).set({ problemId: original.id, via: 'duplicate', linkedBy: op.actor.person.id, linkedAt: op.now }).where(eq(schema.problemIncidents.problemId, duplicateId));
  const subjects = ids.map((i) => `INC-${i}`);
  await addTimeline(op.tx, { subject: problemSubject(original.id), at: op.now, actor: op.actor.person.id, source: op.actor.source, kind: 'link', text: `${subjects.join(', ')} moved here from duplicate ${problemSubject(duplicateId)}`, data: { incidents: ids, via: 'duplicate' } });
  await refreshProblemCard(op.tx, op.app, original, op.now);
  await refreshIncidentCards(op, ids);
  return subjects;
}

/** A new root cause or workaround of a problem becomes the next version of its known error. */
async function syncKnownError(tx: Tx, problemId: number, changes: { rootCause?: string; workaround?: string }, by: string, now: Date): Promise<void> {
  const ke = await knownErrorOf(tx, problemId);
  if (ke) await reviseKnownError(tx, ke, changes, by, now, `from ${problemSubject(problemId)}: ${Object.keys(changes).join(', ')} changed`);
}
