/** REST: /api/v1/incidents — list, read (with timeline), create, and actions. */
import { z } from 'zod';
import type { AppContext } from '../../core/app.js';
import type { Route, RouteTools } from '../../core/route.js';
import { readTimeline } from '../../core/timeline.js';
import { answering, iso, listQuery, pathId, readJson, restActor, sendIssues, sendJson, sendList, sendZodError, type Issue } from '../../http/rest.js';
import { HOLD_REASONS, INCIDENT_STATES, LEVELS } from './incident.machine.js';
import { incidentSubject, type IncidentRow } from './incident.messages.js';
import { applyIncidentCommand, createIncident, getIncident, listIncidents, parseHoldReason, RESOLUTION_CODES, type IncidentCommand } from './incident.service.js';

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
const createBody = z.object({
  title: z.string().trim().min(3, 'at least 3 characters').max(200, 'at most 200 characters'),
  impact: level.optional(),
  urgency: level.optional(),
  service: z.string().min(1).optional(),
  description: z.string().max(10_000).optional(),
  by: z.string().min(1).optional(),
}).loose();

const actionBody = z.object({
  action: z.enum(['ack', 'start', 'hold', 'resolve', 'reopen', 'close', 'cancel', 'assign', 'note', 'priority', 'service', 'major']),
  by: z.string().min(1).optional(),
  note: z.string().max(10_000).optional(),
  assignee: z.string().min(1).optional(),
  reason: z.string().optional(),
  code: z.enum(RESOLUTION_CODES).optional(),
  priority: z.string().regex(/^P[1-5]$/, 'write P1 to P5').optional(),
  impact: level.optional(),
  urgency: level.optional(),
  service: z.string().min(1).optional(),
}).loose().superRefine((b, ctx) => {
  const need = (field: keyof typeof b, message: string) => { if (b[field] === undefined || b[field] === '') ctx.addIssue({ code: 'custom', path: [field], message }); };
  if (b.action === 'assign') need('assignee', 'required for assign');
  if (b.action === 'note') need('note', 'required for note');
  if (b.action === 'service') need('service', 'required for service');
  if (b.action === 'hold') {
    if (!parseHoldReason(b.reason)) ctx.addIssue({ code: 'custom', path: ['reason'], message: `one of ${HOLD_REASONS.join(', ')} (or caller, change, problem, vendor)` });
  }
  if (b.action === 'priority' && !b.priority && !b.impact && !b.urgency) ctx.addIssue({ code: 'custom', path: ['priority'], message: 'give priority (P1…P5) or impact/urgency' });
});

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
        if (state !== null && !(INCIDENT_STATES as readonly string[]).includes(state)) issues.push({ path: 'state', message: `unknown state: use one of ${INCIDENT_STATES.join(', ')}` });
        const priority = req.query.get('priority');
        const p = priority === null ? undefined : /^P([1-5])$/i.exec(priority);
        if (p === null) issues.push({ path: 'priority', message: 'expected P1 to P5' });
        if (issues.length) return sendIssues(res, issues);
        const rows = await listIncidents(app.db, {
          states: state === null ? undefined : [state], priority: p ? Number(p[1]) : undefined, service: req.query.get('service') ?? undefined,
          beforeId: cursor, limit: limit + 1, order: 'newest',
        });
        sendList(res, rows, limit, incidentJson);
      },
    },
    {
      method: 'POST', path: '/api/v1/incidents', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const parsed = createBody.safeParse(await readJson(req));
        if (!parsed.success) return sendZodError(res, parsed.error);
        await answering(res, async () => {
          const person = await restActor(app, parsed.data.by);
          const incident = await createIncident(app, { title: parsed.data.title, impact: parsed.data.impact, urgency: parsed.data.urgency, service: parsed.data.service, description: parsed.data.description }, { person, source: 'api' });
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
      method: 'POST', path: ACTION_PATH, name: '/api/v1/incidents/:id/actions', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'INC', 'incident.not_found', 'incident');
          const parsed = actionBody.safeParse(await readJson(req));
          if (!parsed.success) return sendZodError(res, parsed.error);
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
            case 'major': cmd = { action: 'major' }; break;
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
