/**
 * What problems and known errors are given, validated once for chat, forms and REST: a new problem, a change, list filters,
 * known error fields. Every bad field is reported, naming it.
 */
import type { AppContext } from '../../core/app.js';
import { badInput } from '../../core/errors.js';
import type { Where } from '../../core/inbound.js';
import { LEVELS, levelsForPriority, parseLevel, type Level } from '../../core/priority.js';
import { PROBLEM_STATES, OPEN_STATES, RESOLVE_CODES, type ResolveCode } from './problem.machine.js';

/** Input for a new problem: its fields as typed or sent (validated once, by `validateNewProblem`), and where it comes from. */
export interface NewProblem extends NewProblemFields {
  /** The conversation it was opened from: its card is posted there too. */
  origin?: Where;
  /** Incidents it is opened from: linked, with their service, description and key timeline entries copied (the first one's title is the default). */
  incidents?: number[];
  /** How the incidents are linked (`from` by a person, `recurring` from a proposal). */
  via?: 'from' | 'recurring';
}

/** A change to a problem. */
export type ProblemCommand =
  | { action: 'assess' | 'close'; note?: string }
  | { action: 'rca'; rootCause: string }
  | { action: 'workaround'; workaround: string }
  | { action: 'fix'; changeRef: string; notes: string }
  | { action: 'resolve'; code: ResolveCode; notes: string }
  | { action: 'duplicate'; of: number }
  | { action: 'assign'; assignee: string }
  | { action: 'note'; note: string }
  | { action: 'link' | 'unlink'; incidents: number[] }
  | { action: 'priority'; priority?: number; impact?: Level; urgency?: Level; note: string };

/** One bad field. */
export interface Issue {
  path: string;
  message: string;
}

/** The longest text a field takes. */
export const MAX_TEXT = 10_000;

/** Throws the issues as one coded error: a single one keeps its own sentence, several are listed. */
export function throwIssues(code: string, issues: Issue[], single?: string): void {
  if (issues.length === 0) return;
  const sentence = issues.length === 1 && single ? single : `Some fields need a fix: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`;
  throw badInput(code, sentence, issues);
}

/** A configured service name (lower case), or an issue naming `path`. */
export function serviceIssue(app: AppContext, name: string, issues: Issue[], path = 'service'): string | undefined {
  const known = app.config.services.find((s) => s.name === name.trim().toLowerCase());
  if (known) return known.name;
  issues.push({ path, message: `unknown service "${name}" (services: ${app.config.services.map((s) => s.name).join(', ') || 'none configured'})` });
  return undefined;
}

/** What a new problem may be given, as typed in chat or sent to REST (strings or values). */
export interface NewProblemFields {
  title?: unknown;
  statement?: unknown;
  service?: unknown;
  impact?: unknown;
  urgency?: unknown;
  priority?: unknown;
}

/** The one validation of a new problem's fields, for chat and REST. */
export function validateNewProblem(app: AppContext, f: NewProblemFields): { title: string; statement?: string; service?: string; impact?: Level; urgency?: Level } {
  const issues: Issue[] = [];
  const title = typeof f.title === 'string' ? f.title.trim() : '';
  if (title.length < 3) issues.push({ path: 'title', message: 'the title needs at least 3 characters' });
  else if (title.length > 200) issues.push({ path: 'title', message: 'the title can be at most 200 characters' });
  const present = (v: unknown) => v !== undefined && v !== null && v !== '';
  const level = (key: 'impact' | 'urgency'): Level | undefined => {
    if (!present(f[key])) return undefined;
    const l = typeof f[key] === 'string' ? parseLevel(f[key]) : undefined;
    if (!l) issues.push({ path: key, message: `one of ${LEVELS.join(', ')}` });
    return l;
  };
  let impact = level('impact');
  let urgency = level('urgency');
  if (present(f.priority)) {
    const p = parsePriority(f.priority);
    if (p === undefined) issues.push({ path: 'priority', message: 'P1 to P5' });
    else if (present(f.impact) || present(f.urgency)) issues.push({ path: 'priority', message: 'give a priority or impact and urgency, not both' });
    else ({ impact, urgency } = levelsForPriority(p));
  }
  const service = present(f.service) ? (typeof f.service === 'string' ? serviceIssue(app, f.service, issues) : (issues.push({ path: 'service', message: 'a service name' }), undefined)) : undefined;
  if (present(f.statement) && (typeof f.statement !== 'string' || f.statement.length > MAX_TEXT)) issues.push({ path: 'statement', message: `text of at most ${MAX_TEXT} characters` });
  throwIssues('problem.invalid', issues, issues[0]?.path === 'title' ? `Give the problem a title: ${issues[0].message}, like: /problem new Checkout 502s after every deploy service:checkout` : undefined);
  return { title, statement: typeof f.statement === 'string' && f.statement.trim() ? f.statement.trim() : undefined, service, impact, urgency };
}

/** `P2`, `p2`, `2` or the number 2 → 2; undefined for anything else. */
export function parsePriority(v: unknown): number | undefined {
  if (typeof v === 'number') return [1, 2, 3, 4, 5].includes(v) ? v : undefined;
  const m = typeof v === 'string' ? /^p?([1-5])$/i.exec(v.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/** A required text of a change: trimmed, not empty, not too long. */
export function requiredText(value: string | undefined, path: string, sentence: string): string {
  const text = value?.trim() ?? '';
  if (!text) throw badInput(`problem.${path}_required`, sentence, [{ path, message: 'required' }]);
  if (text.length > MAX_TEXT) throw badInput('problem.too_long', `${path} can be at most ${MAX_TEXT} characters.`, [{ path, message: `at most ${MAX_TEXT} characters` }]);
  return text;
}

/** A resolve code word, or undefined. */
export function parseResolveCode(text: string | undefined): ResolveCode | undefined {
  return RESOLVE_CODES.find((c) => c === text?.trim().toLowerCase());
}

/** What a list of problems asks for (chat's `/problem list` and REST's `GET /api/v1/problems`). */
export interface ProblemFilter {
  states?: readonly string[];
  service?: string;
  assignee?: string;
  beforeId?: number;
  limit: number;
}

/** The one reading of list filters: states (`open` means every open state) and a configured service; every bad one is named. */
export function listFilter(app: AppContext, f: { states?: string[]; service?: string }): Pick<ProblemFilter, 'states' | 'service'> {
  const issues: Issue[] = [];
  let states: string[] | undefined;
  if (f.states?.length) {
    states = [];
    for (const s of f.states) {
      if (s === 'open') states.push(...OPEN_STATES);
      else if ((PROBLEM_STATES as readonly string[]).includes(s)) states.push(s);
      else issues.push({ path: 'state', message: `"${s}" is not a state: use open or ${PROBLEM_STATES.join(', ')}` });
    }
  }
  const service = f.service !== undefined ? serviceIssue(app, f.service, issues) : undefined;
  if (issues.length) throw badInput('problem.bad_list_filter', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  return { states: states ? [...new Set(states)] : undefined, service };
}

/** Known error fields, as typed (`codes:a,b`) or sent (arrays). */
export interface KnownErrorFields {
  title?: unknown;
  symptoms?: unknown;
  rootCause?: unknown;
  workaround?: unknown;
  services?: unknown;
  errorCodes?: unknown;
}

/** Validated known error fields: only those given. */
export interface KnownErrorValues {
  title?: string;
  symptoms?: string;
  rootCause?: string | null;
  workaround?: string | null;
  services?: string[];
  errorCodes?: string[];
}

function listOf(v: unknown): string[] | undefined {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.map((x) => x.trim()).filter(Boolean);
  if (typeof v === 'string') return v.split(',').map((x) => x.trim()).filter(Boolean);
  return undefined;
}

/** The one validation of known error fields, for publishing and editing in chat and REST. */
export function validateKnownError(app: AppContext, f: KnownErrorFields): KnownErrorValues {
  const issues: Issue[] = [];
  const out: KnownErrorValues = {};
  const text = (key: 'title' | 'symptoms' | 'rootCause' | 'workaround', min: number, max: number) => {
    const v = f[key];
    if (v === undefined) return;
    if (typeof v !== 'string' || v.trim().length < min || v.length > max) {
      issues.push({ path: key, message: min ? `text of ${min} to ${max} characters` : `text of at most ${max} characters` });
      return;
    }
    if (key === 'rootCause' || key === 'workaround') out[key] = v.trim() || null;
    else out[key] = v.trim();
  };
  text('title', 3, 200);
  text('symptoms', 3, MAX_TEXT);
  text('rootCause', 0, MAX_TEXT);
  text('workaround', 0, MAX_TEXT);
  if (f.services !== undefined) {
    const names = listOf(f.services);
    if (!names) issues.push({ path: 'services', message: 'service names, separated by commas' });
    else out.services = [...new Set(names.map((n) => serviceIssue(app, n, issues, 'services')).filter((n): n is string => Boolean(n)))];
  }
  if (f.errorCodes !== undefined) {
    const codes = listOf(f.errorCodes);
    if (!codes || codes.length > 50 || codes.some((c) => c.length > 100)) issues.push({ path: 'errorCodes', message: 'up to 50 codes of at most 100 characters, separated by commas' });
    else out.errorCodes = [...new Set(codes)];
  }
  throwIssues('problem.bad_known_error', issues);
  return out;
}
