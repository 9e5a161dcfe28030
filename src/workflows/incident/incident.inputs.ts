/** What incidents are given: new incidents, changes and list filters, validated once for chat, forms and REST; the word parsers. */
import { z } from 'zod';
import type { AppContext } from '../../core/app.js';
import { badInput } from '../../core/errors.js';
import type { Where } from '../../core/inbound.js';
import { parseLevel } from '../../core/priority.js';
import { HOLD_REASONS, INCIDENT_STATES, LEVELS, OPEN_STATES, levelsForPriority, type HoldReason, type Level } from './incident.machine.js';

/** Input for a new incident. */
export interface NewIncident {
  title: string;
  description?: string;
  impact?: Level;
  urgency?: Level;
  /** P1…P5 instead of impact and urgency (it gives both). */
  priority?: number;
  service?: string;
  /** The conversation it was opened from: the card is posted there. */
  origin?: Where;
  /** Records it was opened for (alerts: the alert group pages for it, so opening it pages nobody). */
  links?: { alerts?: string[] };
  /** Labels of the alerts it was opened for (`alertname`, `job`, …): announced with `incident.opened`, not stored. */
  labels?: Record<string, string>;
}

/** A change to an incident. */
export type IncidentCommand =
  | { action: 'ack' | 'start' | 'reopen' | 'close' | 'cancel'; note?: string }
  | { action: 'hold'; reason: HoldReason; note?: string }
  | { action: 'resolve'; note?: string; code?: ResolutionCode }
  | { action: 'assign'; assignee: string }
  | { action: 'note'; note: string }
  | { action: 'priority'; priority?: number; impact?: Level; urgency?: Level }
  | { action: 'service'; service: string }
  | { action: 'major'; off?: boolean }
  | { action: 'edit'; title?: string; description?: string };

export const RESOLUTION_CODES = ['fixed', 'workaround', 'no_fault', 'duplicate'] as const;
export type ResolutionCode = (typeof RESOLUTION_CODES)[number];

const titleSchema = z.string().trim().min(3, 'the title needs at least 3 characters').max(200, 'the title can be at most 200 characters');

/** What a new incident may be given, as typed in chat or sent to REST (strings or values). */
export interface NewIncidentFields {
  title?: unknown;
  description?: unknown;
  impact?: unknown;
  urgency?: unknown;
  priority?: unknown;
  service?: unknown;
}

/** One bad field with the sentence chat shows when it is the only one. */
interface FieldProblem {
  path: string;
  message: string;
  code: string;
  sentence: string;
}

/**
 * The one validation of a new incident, for chat, forms and REST: every bad field is reported, each naming its field;
 * a single problem keeps its own code and sentence.
 */
export function validateNewIncident(app: AppContext, f: NewIncidentFields): Pick<NewIncident, 'title' | 'description' | 'impact' | 'urgency' | 'service'> {
  const problems: FieldProblem[] = [];
  const title = titleSchema.safeParse(typeof f.title === 'string' ? f.title : '');
  if (!title.success) {
    const m = title.error.issues[0]!.message;
    problems.push({ path: 'title', message: m, code: 'incident.bad_title', sentence: `Give the incident a title: ${m}.` });
  }
  const level = (key: 'impact' | 'urgency'): Level | undefined => {
    const v = f[key];
    if (v === undefined || v === null || v === '') return undefined;
    const l = typeof v === 'string' ? parseLevel(v) : undefined;
    if (!l) problems.push({ path: key, message: `one of ${LEVELS.join(', ')}`, code: `incident.bad_${key}`, sentence: `${key}:${String(v)} is not a level; write ${key}:high, ${key}:medium or ${key}:low.` });
    return l;
  };
  let impact = level('impact');
  let urgency = level('urgency');
  if (f.priority !== undefined && f.priority !== null && f.priority !== '') {
    const p = typeof f.priority === 'string' ? /^p?([1-5])$/i.exec(f.priority.trim()) : typeof f.priority === 'number' && [1, 2, 3, 4, 5].includes(f.priority) ? [String(f.priority), String(f.priority)] : null;
    if (!p) problems.push({ path: 'priority', message: 'P1 to P5', code: 'incident.bad_priority', sentence: `priority:${String(f.priority)} is not a priority; write P1 to P5, like priority:P2.` });
    else if (f.impact !== undefined || f.urgency !== undefined) problems.push({ path: 'priority', message: 'give a priority or impact and urgency, not both', code: 'incident.bad_priority', sentence: 'Give a priority (P1…P5) or impact and urgency, not both.' });
    else ({ impact, urgency } = levelsForPriority(Number(p[1])));
  }
  let service: string | undefined;
  if (f.service !== undefined && f.service !== null && f.service !== '') {
    const name = typeof f.service === 'string' ? f.service : '';
    const known = app.config.services.find((s) => s.name === name.toLowerCase());
    if (known) service = known.name;
    else problems.push({ path: 'service', message: `unknown service "${name}"`, code: 'incident.unknown_service', sentence: `There is no service "${name}". Known services: ${app.config.services.map((s) => s.name).join(', ') || 'none configured'}.` });
  }
  if (f.description !== undefined && f.description !== null && (typeof f.description !== 'string' || f.description.length > 10_000)) {
    problems.push({ path: 'description', message: 'text of at most 10 000 characters', code: 'incident.bad_description', sentence: 'The description can be at most 10 000 characters.' });
  }
  if (problems.length === 1) throw badInput(problems[0]!.code, problems[0]!.sentence, [{ path: problems[0]!.path, message: problems[0]!.message }]);
  if (problems.length) throw badInput('incident.invalid', `Some fields need a fix: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}.`, problems.map(({ path, message }) => ({ path, message })));
  return { title: title.data!, description: typeof f.description === 'string' ? f.description : undefined, impact, urgency, service };
}

/** Checks a service name against the config. */
export function checkService(app: AppContext, name: string): string {
  const service = app.config.services.find((s) => s.name === name.toLowerCase());
  if (!service) {
    const known = app.config.services.map((s) => s.name).join(', ') || 'none configured';
    throw badInput('incident.unknown_service', `There is no service "${name}". Known services: ${known}.`, [{ path: 'service', message: `unknown service "${name}"` }]);
  }
  return service.name;
}

/** What a list of incidents asks for (chat's `/incident list` and REST's `GET /api/v1/incidents`). */
export interface IncidentFilter {
  states?: readonly string[];
  priority?: number;
  service?: string;
  assignee?: string;
  /** Keyset paging: only ids below this one. */
  beforeId?: number;
  limit: number;
  /** `priority`: most urgent first (chat); `newest`: by id, newest first (REST paging). */
  order: 'priority' | 'newest';
}

/**
 * The one reading of list filters, for `/incident list` and `GET /api/v1/incidents`: states (`open` means every open
 * state), a priority `P1`…`P5`, a configured service. Every bad one is reported, naming it.
 */
export function listFilter(app: AppContext, f: { states?: string[]; priority?: string; service?: string }): Pick<IncidentFilter, 'states' | 'priority' | 'service'> {
  const issues: { path: string; message: string }[] = [];
  let states: string[] | undefined;
  if (f.states?.length) {
    states = [];
    for (const s of f.states) {
      if (s === 'open') states.push(...OPEN_STATES);
      else if ((INCIDENT_STATES as readonly string[]).includes(s)) states.push(s);
      else issues.push({ path: 'state', message: `"${s}" is not a state: use open or ${INCIDENT_STATES.join(', ')}` });
    }
  }
  const p = f.priority === undefined ? undefined : /^p([1-5])$/i.exec(f.priority);
  if (p === null) issues.push({ path: 'priority', message: 'write P1 to P5' });
  if (f.service !== undefined && !app.config.services.some((s) => s.name === f.service)) {
    issues.push({ path: 'service', message: `unknown service "${f.service}" (services: ${app.config.services.map((s) => s.name).join(', ') || 'none'})` });
  }
  if (issues.length) throw badInput('incident.bad_list_filter', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  return { states: states ? [...new Set(states)] : undefined, priority: p ? Number(p[1]) : undefined, service: f.service };
}

/** Parses a hold reason word (`caller`, `awaiting_vendor`). */
export function parseHoldReason(text: string | undefined): HoldReason | undefined {
  if (!text) return undefined;
  const t = text.toLowerCase();
  return HOLD_REASONS.find((r) => r === t || r === `awaiting_${t}`);
}


export { parseLevel };

/** All configured service names. */
export function serviceNames(app: AppContext): string[] {
  return app.config.services.map((s) => s.name);
}
