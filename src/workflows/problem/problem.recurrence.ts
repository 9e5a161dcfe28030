/**
 * Proactive problem management: incidents of one service with similar titles, at least `problem.recurrence.count` of them
 * within `problem.recurrence.window` and not linked to a problem, are proposed as a problem (`RCR-n`) in the service's
 * channel with "Open problem" (a problem from them) and "Dismiss" (that set is not proposed again). Similarity is the
 * share of title words two incidents have in common after PostgreSQL's English stemming and stop words (no extension).
 */
import { eq, inArray, sql } from 'drizzle-orm';
import { queryRows, schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { parseRecordId } from '../../core/commands.js';
import { formatDuration } from '../../core/duration.js';
import { badInput, conflict, notFound } from '../../core/errors.js';
import { SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import type { Reply } from '../../core/inbound.js';
import type { Message } from '../../core/message.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import { formatTime } from '../../core/time-zone.js';
import type { TimerHandler } from '../../core/timers.js';
import type { ActionSpec, HandlerContext } from '../../core/workflow.js';
import { problemSubject } from './problem.messages.js';
import { openProblem, opOf, problemChannels, type IncidentView } from './problem.service.js';

/** A stored proposal. */
export type ProposalRow = typeof schema.problemProposals.$inferSelect;

/** The timer kind (and key) of the recurrence check. */
export const RECURRENCE_TIMER = 'problem.recurrence';

/** `RCR-4`. */
export function proposalSubject(id: number): string {
  return `RCR-${id}`;
}

/** Incidents found recurring: one service, similar titles. */
export interface Cluster {
  service: string;
  incidents: IncidentView[];
}

/** Jaccard similarity of two word sets. */
export function similarity(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let common = 0;
  for (const w of a) if (b.has(w)) common++;
  return common / (a.size + b.size - common);
}

/** Groups incidents whose titles are similar (directly or through each other), per service; groups of at least `count`. */
export function clusters(incidents: readonly IncidentView[], words: readonly ReadonlySet<string>[], count: number, threshold: number): Cluster[] {
  const parent = incidents.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  // pairs within each service only
  const byService = new Map<string | null, number[]>();
  incidents.forEach((inc, i) => {
    const list = byService.get(inc.service) ?? [];
    list.push(i);
    byService.set(inc.service, list);
  });
  for (const members of byService.values()) {
    for (let a = 0; a < members.length; a++) {
      for (let b = a + 1; b < members.length; b++) {
        const [i, j] = [members[a]!, members[b]!];
        if (similarity(words[i]!, words[j]!) >= threshold) parent[find(j)] = find(i);
      }
    }
  }
  const groups = new Map<number, IncidentView[]>();
  incidents.forEach((inc, i) => groups.set(find(i), [...(groups.get(find(i)) ?? []), inc]));
  return [...groups.values()].filter((g) => g.length >= count).map((g) => ({ service: g[0]!.service!, incidents: g.sort((a, b) => a.id - b.id) }));
}

/** The stemmed words of each title, without stop words (PostgreSQL's English configuration). */
async function titleWords(tx: Tx, titles: readonly string[]): Promise<Set<string>[]> {
  if (titles.length === 0) return [];
  const rows = await queryRows<{ i: number; words: string[] | string | null }>(tx, sql`select (t.n - 1)::int as i,
      (select array_agg(lexeme order by lexeme) from unnest(to_tsvector('english', t.title))) as words
    from jsonb_array_elements_text(${JSON.stringify(titles)}::jsonb) with ordinality as t(title, n)`);
  const out = titles.map(() => new Set<string>());
  for (const r of rows) out[Number(r.i)] = new Set(parseArray(r.words));
  return out;
}

/** A text[] as the driver returns it (an array, or PostgreSQL's `{a,b}` text). */
function parseArray(v: string[] | string | null): string[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v;
  return v.replace(/^\{|\}$/g, '').split(',').filter(Boolean).map((s) => s.replace(/^"|"$/g, ''));
}

/** Recurring incidents now: not linked to a problem, in no proposal's set already. */
export async function findRecurring(tx: Tx, app: AppContext, now: Date): Promise<Cluster[]> {
  const { count, window, similarity: threshold } = app.config.problem.recurrence;
  const recent = await app.seam.call('incident.recent', opOf(tx, app, now, SCHEDULER_ACTOR), { since: new Date(now.getTime() - window) });
  if (recent.length < count) return [];
  const linked = new Set((await tx.select({ id: schema.problemIncidents.incidentId }).from(schema.problemIncidents)
    .where(inArray(schema.problemIncidents.incidentId, recent.map((r) => r.id)))).map((r) => r.id));
  const open = recent.filter((r) => !linked.has(r.id));
  const found = clusters(open, await titleWords(tx, open.map((r) => r.title)), count, threshold);
  if (found.length === 0) return [];
  const proposed = (await tx.select({ ids: schema.problemProposals.incidentIds }).from(schema.problemProposals)).map((p) => new Set(p.ids));
  return found.filter((c) => !proposed.some((set) => c.incidents.every((i) => set.has(i.id))));
}

/** The card of a proposal. */
export function proposalCard(p: ProposalRow, incidents: readonly { subject: string; title: string; createdAt: string }[], ctx: { window: number; timeZone: string; now: Date; decided?: string }): Message {
  const subject = proposalSubject(p.id);
  const lines = incidents.map((i) => `- ${i.subject} · ${i.title} · ${formatTime(new Date(i.createdAt), ctx.timeZone, ctx.now)}`);
  return {
    subject,
    title: `Recurring incidents on ${p.service}: ${p.incidentIds.length} with similar titles in ${formatDuration(ctx.window)}`,
    text: [...lines, ctx.decided ?? 'None of them is linked to a problem yet. Open one to find the root cause?'].join('\n'),
    context: subject,
    tone: p.state === 'proposed' ? 'warning' : 'neutral',
    buttons: p.state === 'proposed' ? [
      { actionId: 'problem.recurring.open', label: 'Open problem', value: subject, style: 'primary' },
      { actionId: 'problem.recurring.dismiss', label: 'Dismiss', value: subject },
    ] : [],
  };
}

/** Proposes each cluster: stored (a set once) and posted to its service's channel. Returns the proposals made. */
export async function proposeRecurring(tx: Tx, app: AppContext, now: Date): Promise<ProposalRow[]> {
  const made: ProposalRow[] = [];
  for (const c of await findRecurring(tx, app, now)) {
    const ids = c.incidents.map((i) => i.id);
    const [row] = await tx.insert(schema.problemProposals).values({ service: c.service, incidentIds: ids, setKey: ids.join(','), state: 'proposed', createdAt: now })
      .onConflictDoNothing().returning();
    if (!row) continue;
    made.push(row);
    const card = proposalCard(row, c.incidents, { window: app.config.problem.recurrence.window, timeZone: app.config.timezone, now });
    const wheres = problemChannels(app, c.service);
    if (wheres.length === 0 && app.platforms.has('console')) wheres.push({ platform: 'console', channel: 'console', name: 'console' });
    for (const where of wheres) await enqueue(tx, { kind: 'post', where, message: card, subject: proposalSubject(row.id) });
    await auditActor(tx, SCHEDULER_ACTOR, { at: now, subject: proposalSubject(row.id), action: 'problem.recurring_proposed', data: { service: c.service, incidents: ids } });
  }
  return made;
}

/** The daily check: proposes what recurs, then runs again after `problem.recurrence.every`. */
export const recurrenceTimer: TimerHandler = async (tx, _timer, app, now) => {
  const made = await proposeRecurring(tx, app, now);
  if (made.length) app.log.info({ proposals: made.map((p) => proposalSubject(p.id)) }, 'recurring incidents proposed as problems');
  return { rescheduleAt: new Date(now.getTime() + app.config.problem.recurrence.every) };
};

async function cardOf(tx: Tx, app: AppContext, p: ProposalRow, now: Date, decided?: string): Promise<Message> {
  const incidents = await app.seam.call('incident.recent', opOf(tx, app, now, SCHEDULER_ACTOR), { since: new Date(0), ids: p.incidentIds });
  return proposalCard(p, incidents, { window: app.config.problem.recurrence.window, timeZone: app.config.timezone, now, ...(decided ? { decided } : {}) });
}

/** `/problem recurring`: checks now (new proposals go to their channels) and shows every proposal still waiting. */
export async function recurringCommand(ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'problem.recurring');
  const now = ctx.clock.now();
  const { window, count } = ctx.config.problem.recurrence;
  const cards = await ctx.db.transaction(async (tx) => {
    await proposeRecurring(tx, ctx, now);
    const waiting = await tx.select().from(schema.problemProposals).where(eq(schema.problemProposals.state, 'proposed')).orderBy(schema.problemProposals.id);
    return Promise.all(waiting.map((p) => cardOf(tx, ctx, p, now)));
  });
  if (cards.length === 0) return { kind: 'ephemeral', message: { text: `No recurring incidents: no service has ${count} incidents with similar titles within ${formatDuration(window)} that no problem covers.` } };
  return {
    kind: 'ephemeral',
    message: {
      title: `Recurring incidents (${cards.length})`,
      text: cards.map((c) => `*${c.context}* · ${c.title}\n${c.text}`).join('\n\n'),
      buttons: cards.flatMap((c) => (c.buttons ?? []).map((b) => ({ ...b, label: `${b.label} (${c.context})` }))),
    },
  };
}

async function decide(inbound: { value: string }, ctx: HandlerContext, open: boolean): Promise<Reply> {
  const id = /^rcr-\d+$/i.test(inbound.value.trim()) ? parseRecordId('RCR', inbound.value) : undefined;
  if (id === undefined) throw badInput('problem.bad_button', 'That button does not name a proposal.');
  const actor: Actor = { person: ctx.person, source: ctx.source };
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [p] = await tx.select().from(schema.problemProposals).where(eq(schema.problemProposals.id, id)).for('update');
    if (!p) throw notFound('problem.no_such_proposal', `There is no proposal RCR-${id}.`);
    if (p.state !== 'proposed') throw conflict('problem.proposal_decided', `RCR-${id} was ${p.state} already${p.problemId ? ` (${problemSubject(p.problemId)})` : ''}.`);
    let decided: string;
    let problemId: number | null = null;
    if (open) {
      const linked = new Set((await tx.select({ id: schema.problemIncidents.incidentId }).from(schema.problemIncidents).where(inArray(schema.problemIncidents.incidentId, p.incidentIds))).map((r) => r.id));
      const ids = p.incidentIds.filter((i) => !linked.has(i));
      if (ids.length === 0) throw conflict('problem.proposal_covered', `Every incident of RCR-${id} is linked to a problem already.`);
      const problem = await openProblem(tx, ctx, { incidents: ids, via: 'recurring', service: p.service }, actor, now);
      problemId = problem.id;
      decided = `Opened as ${problemSubject(problem.id)} by ${ctx.person.name}.`;
    } else {
      decided = `Dismissed by ${ctx.person.name}: this set is not proposed again.`;
    }
    const [row] = await tx.update(schema.problemProposals).set({ state: open ? 'opened' : 'dismissed', problemId, decidedBy: ctx.person.id, decidedAt: now })
      .where(eq(schema.problemProposals.id, id)).returning();
    await auditActor(tx, actor, { at: now, subject: proposalSubject(id), action: open ? 'problem.recurring_opened' : 'problem.recurring_dismissed', data: problemId ? { problem: problemSubject(problemId) } : {} });
    const card = await cardOf(tx, ctx, row!, now, decided);
    await enqueue(tx, { kind: 'update', subject: proposalSubject(id), message: card });
    return { kind: 'card', message: card, notice: { text: decided } } as Reply;
  });
}

/** "Open problem" and "Dismiss" on a proposal. */
export const recurringActions: Record<string, ActionSpec> = {
  'problem.recurring.open': { permission: 'problem.create', handle: (i, ctx) => decide(i, ctx, true) },
  'problem.recurring.dismiss': { permission: 'problem.recurring', handle: (i, ctx) => decide(i, ctx, false) },
};
