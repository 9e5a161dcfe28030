/** REST: /api/v1/incidents — list, read (with timeline), create, and actions. */
import { z } from 'zod';
import type { AppContext } from '../../core/app.js';
import type { Route, RouteTools } from '../../core/route.js';
import { readTimeline } from '../../core/timeline.js';
import { answering, iso, listQuery, pathId, readJson, restActor, sendIssues, sendJson, sendList, sendZodError, unknownServiceIssues, zodIssues, type Issue } from '../../http/rest.js';
import { isDomainError } from '../../core/errors.js';
import { HOLD_REASONS, LEVELS } from './incident.machine.js';
import { incidentSubject, type IncidentRow } from './incident.messages.js';
import { listFilter, parseHoldReason, RESOLUTION_CODES, validateNewIncident, type IncidentCommand } from './incident.inputs.js';
import { applyIncidentCommand, createIncident, getIncident, listIncidents } from './incident.service.js';

/** The REST shape of an incident. */
export function incidentJson(i: IncidentRow) {
  return {
    id: incidentSubject(i.id), title: i.title, description: i.description, state: i.state, holdReason: i.holdReason, holdNote: i.holdNote,
    impact: i.impact, urgency: i.urgency, priority: `P${i.priority}`, major: i.major, service: i.service, assignee: i.assignee, reporter: i.reporter,
    source: i.source, resolutionCode: i.resolutionCode, resolutionNotes: i.resolutionNotes,
    createdAt: iso(i.createdAt), updatedAt: iso(i.updatedAt), acknowledgedAt: iso(i.acknowledgedAt), resolvedAt: iso(i.resolvedAt), closedAt: iso(i.closedAt),
    sla: { responseDueAt: iso(i.responseDueAt), resolutionDueAt: iso(i.resolutionDueAt), responseBreached: i.responseBreached, resolutionBreached: i.resolutionBreached },
  };
}

const level = z.enum(LEVELS);
const by = z.string().min(1).optional();
const createBody = z.object({
  title: z.string().trim().min(3, 'at least 3 characters').max(200, 'at most 200 characters'),
  impact: level.optional(),
  urgency: level.optional(),
  priority: z.string().regex(/^P[1-5]$/, 'write P1 to P5').optional(),
  service: z.string().min(1).optional(),
  description: z.string().max(10_000).optional(),
  by,
}).strict();

const actionBody = z.object({
  action: z.enum(['ack', 'start', 'hold', 'resolve', 'reopen', 'close', 'cancel', 'assign', 'note', 'priority', 'service', 'major']),
  by,
  note: z.string().max(10_000).optional(),
  assignee: z.string().min(1).optional(),
  reason: z.string().optional(),
  code: z.enum(RESOLUTION_CODES).optional(),
  priority: z.string().regex(/^P[1-5]$/, 'write P1 to P5').optional(),
  impact: level.optional(),
  urgency: level.optional(),
  service: z.string().min(1).optional(),
  /** major: false undoes it. */
  major: z.boolean().optional(),
}).strict().superRefine((b, ctx) => {
  const need = (field: keyof typeof b, message: string) => { if (b[field] === undefined || b[field] === '') ctx.addIssue({ code: 'custom', path: [field], message }); };
  if (b.action === 'assign') need('assignee', 'required for assign');
  if (b.action === 'note') need('note', 'required for note');
  if (b.action === 'service') need('service', 'required for service');
  if (b.action === 'resolve') need('note', 'required for resolve: say what restored the service');
  if (b.action === 'hold') {
    if (!parseHoldReason(b.reason)) ctx.addIssue({ code: 'custom', path: ['reason'], message: `one of ${HOLD_REASONS.join(', ')} (or caller, change, problem, vendor)` });
    need('note', 'required for hold: say why');
  }
  if (b.action === 'priority' && !b.priority && !b.impact && !b.urgency) ctx.addIssue({ code: 'custom', path: ['priority'], message: 'give priority (P1…P5) or impact/urgency' });
});

const editBody = z.object({
  title: z.string().optional(),
  description: z.string().max(10_000).optional(),
  by,
}).strict().refine((b) => b.title !== undefined || b.description !== undefined, { message: 'give a title or a description', path: ['title'] });

const ID_PATH = /^\/api\/v1\/incidents\/(?<id>[^/]+)$/;
const ACTION_PATH = /^\/api\/v1\/incidents\/(?<id>[^/]+)\/actions$/;

/** The incident REST routes. */
export function incidentRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [
    {
      method: 'GET', path: '/api/v1/incidents', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const issues: Issue[] = [];
        const { limit, cursor } = listQuery(req.query, issues);
        const state = req.query.get('state');
        if (state !== null && state.trim() === '') issues.push({ path: 'state', message: 'give a state: open, or one of new, acknowledged, in_progress, on_hold, resolved, closed, cancelled' });
        let filter: ReturnType<typeof listFilter> | undefined;
        try {
          filter = listFilter(app, { states: state ? state.split(',').map((x) => x.trim()).filter(Boolean) : undefined, priority: req.query.get('priority') ?? undefined, service: req.query.get('service') ?? undefined });
        } catch (e) {
          if (!isDomainError(e)) throw e;
          issues.push(...(e.issues ?? []));
        }
        if (issues.length || !filter) return sendIssues(res, issues);
        const rows = await listIncidents(app.db, { ...filter, beforeId: cursor, limit: limit + 1, order: 'newest' });
        sendList(res, rows, limit, incidentJson);
      },
    },
    {
      method: 'POST', path: '/api/v1/incidents', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const body = await readJson(req);
        const parsed = createBody.safeParse(body);
        if (!parsed.success) return sendIssues(res, [...zodIssues(parsed.error), ...unknownServiceIssues(app, body)]);
        await answering(res, async () => {
          const person = await restActor(app, parsed.data.by);
          const { by: _by, ...fields } = parsed.data;
          const incident = await createIncident(app, { ...validateNewIncident(app, fields) }, { person, source: 'api' });
          tools.kick();
          sendJson(res, 201, incidentJson(incident), { location: `/api/v1/incidents/${incidentSubject(incident.id)}` });
        });
      },
    },
    {
      method: 'GET', path: ID_PATH, name: '/api/v1/incidents/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'INC', 'incident.not_found', 'incident');
          const incident = await getIncident(app.db, id);
          const timeline = await readTimeline(app.db, incidentSubject(id));
          sendJson(res, 200, { ...incidentJson(incident), timeline: timeline.map((t) => ({ at: t.at.toISOString(), actor: t.actor, source: t.source, kind: t.kind, text: t.text })) });
        });
      },
    },
    {
      method: 'PATCH', path: ID_PATH, name: '/api/v1/incidents/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'INC', 'incident.not_found', 'incident');
          const parsed = editBody.safeParse(await readJson(req));
          if (!parsed.success) return sendZodError(res, parsed.error);
          const person = await restActor(app, parsed.data.by);
          const { incident } = await applyIncidentCommand(app, id, { action: 'edit', title: parsed.data.title, description: parsed.data.description }, { person, source: 'api' });
          tools.kick();
          sendJson(res, 200, incidentJson(incident));
        });
      },
    },
    {
      method: 'POST', path: ACTION_PATH, name: '/api/v1/incidents/:id/actions', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'INC', 'incident.not_found', 'incident');
          const body = await readJson(req);
          const parsed = actionBody.safeParse(body);
          if (!parsed.success) return sendIssues(res, [...zodIssues(parsed.error), ...unknownServiceIssues(app, body)]);
          const b = parsed.data;
          const person = await restActor(app, b.by);
          let cmd: IncidentCommand;
          switch (b.action) {
            case 'hold': cmd = { action: 'hold', reason: parseHoldReason(b.reason)!, note: b.note }; break;
            case 'resolve': cmd = { action: 'resolve', note: b.note, code: b.code }; break;
            case 'assign': cmd = { action: 'assign', assignee: b.assignee! }; break;
            case 'note': cmd = { action: 'note', note: b.note! }; break;
            case 'priority': cmd = { action: 'priority', priority: b.priority ? Number(b.priority.slice(1)) : undefined, impact: b.impact, urgency: b.urgency }; break;
            case 'service': cmd = { action: 'service', service: b.service! }; break;
            case 'major': cmd = { action: 'major', off: b.major === false }; break;
            default: cmd = { action: b.action, note: b.note };
          }
          const { incident } = await applyIncidentCommand(app, id, cmd, { person, source: 'api' });
          tools.kick();
          sendJson(res, 200, incidentJson(incident));
        });
      },
    },
  ];
}
