/** REST: /api/v1/incidents — list, read (with timeline), create, and actions. */
import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { schema } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { parseRecordId } from '../../core/commands.js';
import { API_PERSON, findPerson, type Person } from '../../core/identity.js';
import { readTimeline } from '../../core/timeline.js';
import type { RouteTools } from '../../core/workflow.js';
import { decodeCursor, encodeCursor, pageLimit, sendDomainError, sendZodError } from '../../http/rest.js';
import { readJson, sendError, sendJson, type Request, type Route } from '../../http/server.js';
import { HOLD_REASONS, INCIDENT_STATES, LEVELS } from './incident.machine.js';
import { incidentSubject, type IncidentRow } from './incident.messages.js';
import { applyIncidentCommand, createIncident, getIncident, parseHoldReason, RESOLUTION_CODES, type IncidentCommand } from './incident.service.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

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

/** The person the API acts for: `by` (must exist) with admin rights, else the `api` actor. */
async function apiActor(app: AppContext, by: string | undefined, res: import('node:http').ServerResponse): Promise<Person | undefined> {
  if (!by) return API_PERSON;
  const person = await findPerson(app, by);
  if (!person) {
    sendError(res, 400, 'api.invalid', `by: unknown person "${by}"`, [{ path: 'by', message: `unknown person "${by}"` }]);
    return undefined;
  }
  return { ...person, roles: new Set(['admin']) };
}

const ID_PATH = /^\/api\/v1\/incidents\/(?<id>[^/]+)$/;
const ACTION_PATH = /^\/api\/v1\/incidents\/(?<id>[^/]+)\/actions$/;

function incidentId(req: Request, res: import('node:http').ServerResponse): number | undefined {
  const id = parseRecordId('INC', req.params.id);
  if (id === undefined || !/^INC-\d+$/i.test(req.params.id ?? '')) {
    sendError(res, 404, 'incident.not_found', `no incident "${req.params.id}"; ids look like INC-7`);
    return undefined;
  }
  return id;
}

/** The incident REST routes. */
export function incidentRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [
    {
      method: 'GET', path: '/api/v1/incidents', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const limit = pageLimit(req.query);
        if (typeof limit !== 'number') return sendError(res, 400, 'api.invalid', limit.error, [{ path: 'limit', message: limit.error }]);
        const cursor = decodeCursor(req.query.get('cursor'));
        if (typeof cursor === 'object') return sendError(res, 400, 'api.invalid', cursor.error, [{ path: 'cursor', message: cursor.error }]);
        const where: SQL[] = [];
        const state = req.query.get('state');
        if (state !== null) {
          if (!(INCIDENT_STATES as readonly string[]).includes(state)) return sendError(res, 400, 'api.invalid', `state must be one of ${INCIDENT_STATES.join(', ')}`, [{ path: 'state', message: 'unknown state' }]);
          where.push(eq(schema.incidents.state, state));
        }
        const priority = req.query.get('priority');
        if (priority !== null) {
          const m = /^P([1-5])$/i.exec(priority);
          if (!m) return sendError(res, 400, 'api.invalid', 'priority must be P1 to P5', [{ path: 'priority', message: 'expected P1 to P5' }]);
          where.push(eq(schema.incidents.priority, Number(m[1])));
        }
        const service = req.query.get('service');
        if (service !== null) where.push(eq(schema.incidents.service, service));
        if (cursor !== undefined) where.push(lt(schema.incidents.id, cursor));
        const rows = await app.db.select().from(schema.incidents).where(and(...where)).orderBy(desc(schema.incidents.id)).limit(limit + 1);
        const page = rows.slice(0, limit);
        sendJson(res, 200, { items: page.map(incidentJson), nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null });
      },
    },
    {
      method: 'POST', path: '/api/v1/incidents', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const parsed = createBody.safeParse(await readJson(req));
        if (!parsed.success) return sendZodError(res, parsed.error);
        const person = await apiActor(app, parsed.data.by, res);
        if (!person) return;
        try {
          const incident = await createIncident(app, { title: parsed.data.title, impact: parsed.data.impact, urgency: parsed.data.urgency, service: parsed.data.service, description: parsed.data.description }, { person, source: 'api' });
          tools.kick();
          sendJson(res, 201, incidentJson(incident), { location: `/api/v1/incidents/${incidentSubject(incident.id)}` });
        } catch (e) {
          if (!sendDomainError(res, e)) throw e;
        }
      },
    },
    {
      method: 'GET', path: ID_PATH, name: '/api/v1/incidents/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const id = incidentId(req, res);
        if (id === undefined) return;
        try {
          const incident = await getIncident(app.db, id);
          const timeline = await readTimeline(app.db, incidentSubject(id));
          sendJson(res, 200, { ...incidentJson(incident), timeline: timeline.map((t) => ({ at: t.at.toISOString(), actor: t.actor, source: t.source, kind: t.kind, text: t.text })) });
        } catch (e) {
          if (!sendDomainError(res, e)) throw e;
        }
      },
    },
    {
      method: 'POST', path: ACTION_PATH, name: '/api/v1/incidents/:id/actions', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const id = incidentId(req, res);
        if (id === undefined) return;
        const parsed = actionBody.safeParse(await readJson(req));
        if (!parsed.success) return sendZodError(res, parsed.error);
        const b = parsed.data;
        const person = await apiActor(app, b.by, res);
        if (!person) return;
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
        try {
          const { incident } = await applyIncidentCommand(app, id, cmd, { person, source: 'api' });
          tools.kick();
          sendJson(res, 200, incidentJson(incident));
        } catch (e) {
          if (!sendDomainError(res, e)) throw e;
        }
      },
    },
  ];
}
