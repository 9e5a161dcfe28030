/** Cards and sentences for problems, known errors and their hints on incident cards. Pure: records in, Messages out. */
import type { schema } from '../../../db/client.js';
import type { Button, Field, Message, Tone } from '../../core/message.js';
import { formatTime } from '../../core/time-zone.js';
import type { CardPart } from '../../core/workflow.js';
import { STATE_WORDS, type ProblemState, type ResolveCode } from './problem.machine.js';

/** A stored problem. */
export type ProblemRow = typeof schema.problems.$inferSelect;
/** A stored known error. */
export type KnownErrorRow = typeof schema.knownErrors.$inferSelect;

/** `PRB-7`. */
export function problemSubject(id: number): string {
  return `PRB-${id}`;
}

/** `KE-3`. */
export function knownErrorSubject(id: number): string {
  return `KE-${id}`;
}

/** A linked incident as the problem card lists it. */
export interface LinkedIncident {
  subject: string;
  state: string;
  title: string;
}

/** What the card shows besides the row. */
export interface ProblemCardContext {
  assigneeName?: string;
  incidents: LinkedIncident[];
  knownError?: { id: number; state: string; version: number };
  now: Date;
  timeZone: string;
}

const TONE: Record<ProblemState, Tone> = {
  new: 'warning', assessing: 'warning', root_cause_analysis: 'info', fix_in_progress: 'info', resolved: 'good', closed: 'neutral',
};

/** `PRB-3 · P3 · root cause analysis · Checkout 502 after deploys`. */
export function problemHeadline(p: ProblemRow): string {
  return `${problemSubject(p.id)} · P${p.priority} · ${STATE_WORDS[p.state as ProblemState]} · ${p.title}`;
}

/** The buttons for the problem's state (each state change has one; links, notes and priority are commands). */
export function problemButtons(p: ProblemRow): Button[] {
  const v = problemSubject(p.id);
  const mine: Button = { actionId: 'problem.assign_me', label: 'Assign to me', value: v };
  const rca: Button = { actionId: 'problem.rca.form', label: 'Root cause', value: v };
  const workaround: Button = { actionId: 'problem.workaround.form', label: 'Workaround', value: v };
  const fix: Button = { actionId: 'problem.fix.form', label: 'Fix', value: v };
  const resolve: Button = { actionId: 'problem.resolve.form', label: 'Resolve', value: v };
  const duplicate: Button = { actionId: 'problem.duplicate.form', label: 'Duplicate', value: v };
  switch (p.state as ProblemState) {
    case 'new': return [{ actionId: 'problem.assess', label: 'Assess', value: v, style: 'primary' }, mine, rca, workaround, duplicate];
    case 'assessing': return [{ ...rca, style: 'primary' }, workaround, mine, duplicate];
    case 'root_cause_analysis': return [{ ...fix, style: 'primary' }, workaround, rca, resolve, mine];
    case 'fix_in_progress': return [{ ...resolve, style: 'primary' }, workaround, rca, fix, mine];
    case 'resolved': return [{ actionId: 'problem.close', label: 'Close', value: v, confirm: `Close ${v}? A closed problem cannot change any more.` }];
    default: return [];
  }
}

/** How a problem was resolved, in words. */
function resolutionText(p: ProblemRow): string | undefined {
  if (!p.resolution) return undefined;
  if (p.resolution === 'duplicate') return `Duplicate of ${problemSubject(p.duplicateOf ?? 0)}`;
  return `[${p.resolution}] ${p.resolutionNotes ?? ''}`.trim();
}

/** The live card of a problem. */
export function problemCard(p: ProblemRow, ctx: ProblemCardContext): Message {
  const state = p.state as ProblemState;
  const fields: Field[] = [];
  if (p.statement) fields.push({ label: 'Statement', value: p.statement });
  if (p.rootCause) fields.push({ label: 'Root cause', value: p.rootCause });
  if (p.workaround) fields.push({ label: 'Workaround', value: p.workaround });
  if (p.changeRef || p.fixNotes) fields.push({ label: 'Fix', value: [p.changeRef ? `change ${p.changeRef}` : '', p.fixNotes ?? ''].filter(Boolean).join(': ') });
  const resolution = resolutionText(p);
  if (resolution) fields.push({ label: 'Resolution', value: resolution });
  if (ctx.incidents.length) {
    const shown = ctx.incidents.slice(0, 15).map((i) => `${i.subject} (${i.state.replace('_', ' ')})`);
    fields.push({ label: `Incidents (${ctx.incidents.length})`, value: `${shown.join(', ')}${ctx.incidents.length > 15 ? `, … ${ctx.incidents.length - 15} more` : ''}` });
  }
  if (ctx.knownError) fields.push({ label: 'Known error', value: `${knownErrorSubject(ctx.knownError.id)} (${ctx.knownError.state}, version ${ctx.knownError.version})` });
  const done = [
    p.confirmedAt && `confirmed ${formatTime(p.confirmedAt, ctx.timeZone, ctx.now)}`,
    p.rootCauseAt && `root cause ${formatTime(p.rootCauseAt, ctx.timeZone, ctx.now)}`,
    p.fixedAt && `fix ${formatTime(p.fixedAt, ctx.timeZone, ctx.now)}`,
    p.resolvedAt && `resolved ${formatTime(p.resolvedAt, ctx.timeZone, ctx.now)}`,
  ].filter(Boolean);
  return {
    subject: problemSubject(p.id),
    title: problemHeadline(p),
    text: `service: ${p.service ?? '—'} · assignee: ${ctx.assigneeName ?? '—'}`,
    fields,
    context: [`impact ${p.impact} · urgency ${p.urgency} · opened ${formatTime(p.createdAt, ctx.timeZone, ctx.now)}`, ...done].join(' · '),
    buttons: problemButtons(p),
    tone: TONE[state],
    fallback: problemHeadline(p),
  };
}

/** A one-line list entry. */
export function listLine(p: ProblemRow, assigneeName: string | undefined, incidents: number): string {
  return `*${problemSubject(p.id)}* · P${p.priority} · ${STATE_WORDS[p.state as ProblemState]} · ${p.title}${p.service ? ` · ${p.service}` : ''}${assigneeName ? ` · ${assigneeName}` : ''}${incidents ? ` · ${incidents} incident${incidents === 1 ? '' : 's'}` : ''}`;
}

/** A hint on an incident's card. */
export interface HintLine {
  knownError: number;
  title: string;
  workaround: string | null;
  feedback: string | null;
  feedbackByName?: string;
}

/** What problem management adds to an incident's card: its problem with the workaround, and known errors that may match. */
export function incidentPart(incident: string, problem: { row: Pick<ProblemRow, 'id' | 'title' | 'state' | 'workaround'> } | undefined, hints: readonly HintLine[]): CardPart | undefined {
  const lines: string[] = [];
  const buttons: Button[] = [];
  if (problem) {
    const p = problem.row;
    lines.push(`*Problem ${problemSubject(p.id)}* · ${STATE_WORDS[p.state as ProblemState]} · ${p.title}`);
    if (p.workaround && p.state !== 'closed') lines.push(`*Workaround (${problemSubject(p.id)}):* ${p.workaround}`);
  }
  const waiting = hints.filter((h) => h.feedback === null);
  for (const h of hints) {
    const ke = knownErrorSubject(h.knownError);
    if (h.feedback === 'worked') {
      lines.push(`*Known error ${ke}*: its workaround worked${h.feedbackByName ? ` (${h.feedbackByName})` : ''}`);
      continue;
    }
    if (h.feedback !== null) continue;
    lines.push(`*Known error ${ke} may match* (${h.title}) — workaround: ${h.workaround ?? 'none published yet'}`);
    const prefix = waiting.length > 1 ? `${ke}: ` : '';
    buttons.push(
      { actionId: 'problem.kedb.worked', label: `${prefix}Workaround worked`, value: `${incident} ${ke}`, style: 'primary' },
      { actionId: 'problem.kedb.unrelated', label: `${prefix}Not related`, value: `${incident} ${ke}` },
    );
  }
  return lines.length ? { lines, buttons } : undefined;
}

/** A known error, as `/problem known-error KE-n` shows it. */
export function knownErrorCard(k: KnownErrorRow, ctx: { now: Date; timeZone: string; stats?: { shown: number; worked: number; notRelated: number } }): Message {
  const fields: Field[] = [
    { label: 'Symptoms', value: k.symptoms },
    ...(k.rootCause ? [{ label: 'Root cause', value: k.rootCause }] : []),
    ...(k.workaround ? [{ label: 'Workaround', value: k.workaround }] : []),
    { label: 'Services', value: k.services.length ? k.services.join(', ') : 'any' },
    ...(k.errorCodes.length ? [{ label: 'Error codes', value: k.errorCodes.join(', ') }] : []),
  ];
  const s = ctx.stats;
  return {
    subject: knownErrorSubject(k.id),
    title: `${knownErrorSubject(k.id)} · ${k.state === 'retired' ? 'retired · ' : ''}${k.title}`,
    text: `From problem ${problemSubject(k.problemId)} · version ${k.version}${k.state === 'retired' ? ' · retired: kept readable, no longer matched to incidents' : ''}`,
    fields,
    context: `published ${formatTime(k.createdAt, ctx.timeZone, ctx.now)} · changed ${formatTime(k.updatedAt, ctx.timeZone, ctx.now)}${s ? ` · shown on ${s.shown} incidents, worked ${s.worked}, not related ${s.notRelated}` : ''}`,
    tone: k.state === 'retired' ? 'neutral' : 'info',
  };
}

/** The root cause form (the Root cause button). */
export function rcaForm(subject: string, current: string | null): Message {
  return {
    title: `Root cause of ${subject}`,
    inputs: [{ id: 'rootCause', label: 'Root cause', type: 'multiline', required: true, initial: current ?? undefined, placeholder: 'What causes the incidents?' }],
    submit: { actionId: 'problem.rca.submit', label: 'Save root cause', value: subject },
  };
}

/** The workaround form (the Workaround button). */
export function workaroundForm(subject: string, current: string | null): Message {
  return {
    title: `Workaround for ${subject}`,
    text: 'The workaround goes to every open incident linked to the problem, and their pages stop.',
    inputs: [{ id: 'workaround', label: 'Workaround', type: 'multiline', required: true, initial: current ?? undefined, placeholder: 'How do people get the service back until the fix?' }],
    submit: { actionId: 'problem.workaround.submit', label: 'Communicate workaround', value: subject },
  };
}

/** The fix form (the Fix button): the change that fixes it and what it does. */
export function fixForm(subject: string, current: { changeRef: string | null; fixNotes: string | null }): Message {
  return {
    title: `Fix of ${subject}`,
    inputs: [
      { id: 'changeRef', label: 'Change reference', type: 'text', required: true, initial: current.changeRef ?? undefined, placeholder: 'CHG-1234' },
      { id: 'notes', label: 'What the fix does', type: 'multiline', required: true, initial: current.fixNotes ?? undefined, placeholder: 'What changes, and when it is rolled out' },
    ],
    submit: { actionId: 'problem.fix.submit', label: current.changeRef ? 'Save fix' : 'Start fix', value: subject },
  };
}

/** The resolve form (the Resolve button), offering the codes the problem's state allows. */
export function resolveForm(subject: string, codes: readonly ResolveCode[]): Message {
  return {
    title: `Resolve ${subject}`,
    text: codes.includes('fix_applied') ? undefined : 'Until a fix is under way it can only be resolved by accepting the risk. (A duplicate: the Duplicate button of a new or assessing problem.)',
    inputs: [
      { id: 'code', label: 'Resolution', type: 'select', required: true, initial: codes[0], choices: codes.map((c) => ({ value: c, label: c.replace('_', ' ') })) },
      { id: 'notes', label: 'Resolution notes', type: 'multiline', required: true, placeholder: 'What was fixed, or why the risk is accepted' },
    ],
    submit: { actionId: 'problem.resolve.submit', label: 'Resolve', value: subject },
  };
}

/** The duplicate form (the Duplicate button): which problem this one duplicates; likely originals are named. */
export function duplicateForm(subject: string, likely: readonly { id: number; title: string }[]): Message {
  return {
    title: `${subject} duplicates…`,
    text: 'Its incidents move to the original, and it is resolved as a duplicate.',
    inputs: [{
      id: 'of', label: 'Original problem', type: 'text', required: true, placeholder: likely[0] ? problemSubject(likely[0].id) : 'PRB-2',
      ...(likely.length ? { hint: `Open problems of the same service: ${likely.map((l) => `${problemSubject(l.id)} (${l.title})`).join(', ')}` } : {}),
    }],
    submit: { actionId: 'problem.duplicate.submit', label: 'Mark duplicate', value: subject },
  };
}
