/**
 * REST: /api/v1/problems (list, read with links, timeline and known error, create, actions) and /api/v1/known-errors
 * (ranked search with snippets, read with every version).
 */
import { z } from 'zod';
import type { AppContext } from '../../core/app.js';
import { isDomainError } from '../../core/errors.js';
import type { Route, RouteTools } from '../../core/route.js';
import { readTimeline } from '../../core/timeline.js';
import { answering, iso, listQuery, pathId, readJson, restActor, sendIssues, sendJson, sendList, unknownServiceIssues, zodIssues, type Issue } from '../../http/rest.js';
import { kedbStats, searchForPeople } from './problem.kedb.js';
import { listFilter, parsePriority, parseResolveCode, type ProblemCommand } from './problem.inputs.js';
import { RESOLVE_CODES } from './problem.machine.js';
import { knownErrorSubject, problemSubject, type KnownErrorRow, type ProblemRow } from './problem.messages.js';
import { applyProblemCommand, createProblem, getProblem, linkedIds, listProblems } from './problem.service.js';
import { getKnownError, knownErrorOf, versionsOf } from './problem.versions.js';
import { LEVELS } from '../../core/priority.js';

/** The REST shape of a problem. */
export function problemJson(p: ProblemRow) {
  return {
    id: problemSubject(p.id), title: p.title, statement: p.statement, state: p.state, impact: p.impact, urgency: p.urgency, priority: `P${p.priority}`,
    service: p.service, assignee: p.assignee, reporter: p.reporter, source: p.source, rootCause: p.rootCause, workaround: p.workaround,
    changeRef: p.changeRef, fixNotes: p.fixNotes, resolution: p.resolution, resolutionNotes: p.resolutionNotes,
    duplicateOf: p.duplicateOf ? problemSubject(p.duplicateOf) : null,
    createdAt: iso(p.createdAt), updatedAt: iso(p.updatedAt),
    confirmed: { at: iso(p.confirmedAt), by: p.confirmedBy }, rootCauseFound: { at: iso(p.rootCauseAt), by: p.rootCauseBy },
    workaroundGiven: { at: iso(p.workaroundAt), by: p.workaroundBy }, fixed: { at: iso(p.fixedAt), by: p.fixedBy },
    resolved: { at: iso(p.resolvedAt), by: p.resolvedBy }, closed: { at: iso(p.closedAt), by: p.closedBy },
  };
}

/** The REST shape of a known error. */
export function knownErrorJson(k: KnownErrorRow) {
  return {
    id: knownErrorSubject(k.id), problem: problemSubject(k.problemId), title: k.title, symptoms: k.symptoms, rootCause: k.rootCause, workaround: k.workaround,
    services: k.services, errorCodes: k.errorCodes, state: k.state, version: k.version, createdAt: iso(k.createdAt), createdBy: k.createdBy,
    updatedAt: iso(k.updatedAt), retiredAt: iso(k.retiredAt), retiredBy: k.retiredBy,
  };
}

const by = z.string().min(1).optional();
const text = z.string().max(10_000);
const createBody = z.object({
  title: z.string().optional(),
  statement: text.optional(),
  service: z.string().min(1).optional(),
  impact: z.enum(LEVELS).optional(),
  urgency: z.enum(LEVELS).optional(),
  priority: z.string().regex(/^P[1-5]$/, 'write P1 to P5').optional(),
  /** Incidents to open it from (`INC-3`): linked, with what they know copied. */
  incidents: z.array(z.string().regex(/^INC-\d+$/i, 'an incident id like INC-3')).max(100).optional(),
  by,
}).strict().superRefine((b, ctx) => {
  if (!b.title?.trim() && !b.incidents?.length) ctx.addIssue({ code: 'custom', path: ['title'], message: 'give a title (or incidents to open it from)' });
});

const ACTIONS = ['assess', 'rca', 'workaround', 'fix', 'resolve', 'duplicate', 'close', 'link', 'unlink', 'assign', 'note', 'priority'] as const;
const actionBody = z.object({
  action: z.enum(ACTIONS),
  by,
  rootCause: text.optional(),
  workaround: text.optional(),
  changeRef: z.string().max(200).optional(),
  notes: text.optional(),
  note: text.optional(),
  code: z.enum(RESOLVE_CODES).optional(),
  of: z.string().regex(/^PRB-\d+$/i, 'a problem id like PRB-2').optional(),
  incidents: z.array(z.string().regex(/^INC-\d+$/i, 'an incident id like INC-3')).min(1).max(100).optional(),
  assignee: z.string().min(1).optional(),
  priority: z.string().regex(/^P[1-5]$/, 'write P1 to P5').optional(),
  impact: z.enum(LEVELS).optional(),
  urgency: z.enum(LEVELS).optional(),
}).strict().superRefine((b, ctx) => {
  const need = (field: keyof typeof b, message: string) => { if (b[field] === undefined || b[field] === '') ctx.addIssue({ code: 'custom', path: [field], message }); };
  if (b.action === 'rca') need('rootCause', 'required for rca');
  if (b.action === 'workaround') need('workaround', 'required for workaround');
  if (b.action === 'fix') { need('changeRef', 'required for fix: the change that fixes it'); need('notes', 'required for fix: what it does'); }
  if (b.action === 'resolve') { need('code', `required for resolve: ${RESOLVE_CODES.join(' or ')}`); need('notes', 'required for resolve'); }
  if (b.action === 'duplicate') need('of', 'required for duplicate: the problem it duplicates');
  if (b.action === 'link' || b.action === 'unlink') need('incidents', `required for ${b.action}`);
  if (b.action === 'assign') need('assignee', 'required for assign');
  if (b.action === 'note') need('note', 'required for note');
  if (b.action === 'priority') {
    if (!b.priority && !b.impact && !b.urgency) ctx.addIssue({ code: 'custom', path: ['priority'], message: 'give priority (P1…P5) or impact/urgency' });
    need('note', 'required for priority: say why it changes');
  }
});

/** The command a REST action means (the body was checked by `actionBody`). */
function commandOf(b: z.infer<typeof actionBody>): ProblemCommand {
  const incidents = () => (b.incidents ?? []).map((i) => Number(i.slice(4)));
  switch (b.action) {
    case 'rca': return { action: 'rca', rootCause: b.rootCause! };
    case 'workaround': return { action: 'workaround', workaround: b.workaround! };
    case 'fix': return { action: 'fix', changeRef: b.changeRef!, notes: b.notes! };
    case 'resolve': return { action: 'resolve', code: parseResolveCode(b.code)!, notes: b.notes! };
    case 'duplicate': return { action: 'duplicate', of: Number(b.of!.slice(4)) };
    case 'link': case 'unlink': return { action: b.action, incidents: incidents() };
    case 'assign': return { action: 'assign', assignee: b.assignee! };
    case 'note': return { action: 'note', note: b.note! };
    case 'priority': return { action: 'priority', priority: b.priority ? parsePriority(b.priority) : undefined, impact: b.impact, urgency: b.urgency, note: b.note! };
    default: return { action: b.action, note: b.note };
  }
}

/** Filters of a list (`state`, `service`), their problems noted in `issues`. */
function filterOf(app: AppContext, query: URLSearchParams, issues: Issue[]): ReturnType<typeof listFilter> | undefined {
  const state = query.get('state');
  if (state !== null && state.trim() === '') issues.push({ path: 'state', message: 'give a state: open, or one of new, assessing, root_cause_analysis, fix_in_progress, resolved, closed' });
  try {
    return listFilter(app, { states: state ? state.split(',').map((x) => x.trim()).filter(Boolean) : undefined, service: query.get('service') ?? undefined });
  } catch (e) {
    if (!isDomainError(e)) throw e;
    issues.push(...(e.issues ?? []));
    return undefined;
  }
}

const PROBLEM_PATH = /^\/api\/v1\/problems\/(?<id>[^/]+)$/;
const ACTION_PATH = /^\/api\/v1\/problems\/(?<id>[^/]+)\/actions$/;
const KE_PATH = /^\/api\/v1\/known-errors\/(?<id>[^/]+)$/;

/** The problem REST routes. */
export function problemRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [
    {
      method: 'GET', path: '/api/v1/problems', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const issues: Issue[] = [];
        const { limit, cursor } = listQuery(req.query, issues);
        const filter = filterOf(app, req.query, issues);
        if (issues.length || !filter) return sendIssues(res, issues);
        const rows = await listProblems(app.db, { ...filter, beforeId: cursor, limit: limit + 1 });
        sendList(res, rows, limit, (r) => ({ ...problemJson(r), incidents: r.incidentCount }));
      },
    },
    {
      method: 'POST', path: '/api/v1/problems', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const body = await readJson(req);
        const parsed = createBody.safeParse(body);
        if (!parsed.success) return sendIssues(res, [...zodIssues(parsed.error), ...unknownServiceIssues(app, body)]);
        await answering(res, async () => {
          const person = await restActor(app, parsed.data.by);
          const { by: _by, incidents, ...fields } = parsed.data;
          const problem = await createProblem(app, { ...fields, ...(incidents?.length ? { incidents: incidents.map((i) => Number(i.slice(4))), via: 'from' as const } : {}) }, { person, source: 'api' });
          tools.kick();
          sendJson(res, 201, problemJson(problem), { location: `/api/v1/problems/${problemSubject(problem.id)}` });
        });
      },
    },
    {
      method: 'GET', path: PROBLEM_PATH, name: '/api/v1/problems/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'PRB', 'problem.not_found', 'problem');
          const problem = await getProblem(app.db, id);
          const [incidents, timeline, ke] = [await linkedIds(app.db, id), await readTimeline(app.db, problemSubject(id)), await knownErrorOf(app.db, id)];
          sendJson(res, 200, {
            ...problemJson(problem), incidents: incidents.map((i) => `INC-${i}`), knownError: ke ? knownErrorJson(ke) : null,
            timeline: timeline.map((t) => ({ at: t.at.toISOString(), actor: t.actor, source: t.source, kind: t.kind, text: t.text })),
          });
        });
      },
    },
    {
      method: 'POST', path: ACTION_PATH, name: '/api/v1/problems/:id/actions', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'PRB', 'problem.not_found', 'problem');
          const parsed = actionBody.safeParse(await readJson(req));
          if (!parsed.success) return sendIssues(res, zodIssues(parsed.error));
          const person = await restActor(app, parsed.data.by);
          const { problem } = await applyProblemCommand(app, id, commandOf(parsed.data), { person, source: 'api' });
          tools.kick();
          sendJson(res, 200, { ...problemJson(problem), incidents: (await linkedIds(app.db, id)).map((i) => `INC-${i}`) });
        });
      },
    },
    {
      method: 'GET', path: '/api/v1/known-errors', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const issues: Issue[] = [];
        const q = req.query.get('q');
        const service = req.query.get('service');
        const limitText = req.query.get('limit');
        const limit = limitText === null ? 10 : Number(limitText);
        if (!q || q.trim().length < 2) issues.push({ path: 'q', message: 'say what to look for (at least 2 characters)' });
        if (!Number.isInteger(limit) || limit < 1 || limit > 50) issues.push({ path: 'limit', message: 'a whole number from 1 to 50' });
        const filter = service !== null ? filterOf(app, new URLSearchParams({ service }), issues) : undefined;
        for (const key of req.query.keys()) if (!['q', 'service', 'limit'].includes(key)) issues.push({ path: key, message: 'unknown parameter' });
        if (issues.length) return sendIssues(res, issues);
        const hits = await searchForPeople(app.db, q!, filter?.service, limit);
        sendJson(res, 200, { items: hits.map((h) => ({ id: knownErrorSubject(h.id), title: h.title, snippet: h.snippet, workaround: h.workaround, services: h.services, rank: h.rank, partial: Boolean(h.partial) })), nextCursor: null });
      },
    },
    {
      method: 'GET', path: KE_PATH, name: '/api/v1/known-errors/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'KE', 'problem.known_error_not_found', 'known error');
          const ke = await getKnownError(app.db, id);
          const [stats] = await kedbStats(app.db, id);
          const versions = await versionsOf(app.db, id);
          sendJson(res, 200, {
            ...knownErrorJson(ke), hints: { shown: stats?.shown ?? 0, worked: stats?.worked ?? 0, notRelated: stats?.notRelated ?? 0 },
            versions: versions.map((v) => ({ version: v.version, changedAt: iso(v.changedAt), changedBy: v.changedBy, note: v.note, fields: v.fields })),
          });
        });
      },
    },
  ];
}
