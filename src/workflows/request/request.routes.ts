/**
 * REST: /api/v1/catalog, /api/v1/requests (list, read with approvals, tasks and timeline, create, actions),
 * /api/v1/knowledge; and the signed report of a fulfilment system, POST /hooks/requests/REQ-n.
 */
import { z } from 'zod';
import type { AppContext } from '../../core/app.js';
import { isDomainError } from '../../core/errors.js';
import { SCHEDULER_ACTOR, WEBHOOK_ACTOR, type Actor } from '../../core/identity.js';
import { inTransaction } from '../../core/refusals.js';
import type { Request, Route, RouteTools } from '../../core/route.js';
import { readTimeline } from '../../core/timeline.js';
import { checkWebhookSignature } from '../../core/webhooks.js';
import {
  answering, iso, listQuery, parseJson, pathId, readBody, readJson, restActor, sendError, sendIssues, sendJson, sendList, sendZodError, type Issue,
} from '../../http/rest.js';
import type { CatalogItem } from './request.config.js';
import { answers } from './request.knowledge.js';
import { REQUEST_STATES } from './request.machine.js';
import { requestSubject, taskSubject, type RequestRow, type TaskRow } from './request.messages.js';
import { changeRequest, getRequest, itemOf, listRequests, submitRequest, type RequestCommand } from './request.service.js';
import { taskAction, tasksOf } from './request.tasks.js';

/** The REST shape of a catalog item (a webhook's URL and secret stay out). */
export function catalogJson(i: CatalogItem) {
  return {
    name: i.name, title: i.title, description: i.description ?? null, category: i.category, service: i.service ?? null, fields: i.fields,
    approvalPolicy: i.approvalPolicy ?? null, fulfilment: i.fulfilment.webhook ? { kind: 'webhook' } : { kind: 'tasks', team: i.fulfilment.team, tasks: i.fulfilment.tasks },
    sla: i.sla ? { responseMs: i.sla.response, resolutionMs: i.sla.resolution, businessHours: i.sla.businessHours } : null,
    visibleTo: i.visibleTo ?? null, generic: i.generic,
  };
}

/** The REST shape of a task. */
export function taskJson(t: TaskRow) {
  return {
    id: taskSubject(t.id), title: t.title, team: t.team, after: t.after.map(taskSubject), state: t.state, holder: t.holder, reason: t.reason,
    createdAt: iso(t.createdAt), openedAt: iso(t.openedAt), claimedAt: iso(t.claimedAt), finishedAt: iso(t.finishedAt),
  };
}

/** The REST shape of a request. */
export function requestJson(r: RequestRow) {
  return {
    id: requestSubject(r.id), item: r.item, title: r.itemTitle, category: r.category, service: r.service, requester: r.requester, source: r.source,
    fields: r.fields, state: r.state, approval: r.approvalId ? `APR-${r.approvalId}` : null, fulfilment: r.fulfilment, team: r.team,
    outcome: r.outcome, outcomeBy: r.outcomeBy, completion: r.completion,
    createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt), approvedAt: iso(r.approvedAt), fulfilmentStartedAt: iso(r.fulfilmentStartedAt),
    respondedAt: iso(r.respondedAt), completedAt: iso(r.completedAt), closedAt: iso(r.closedAt),
    sla: { responseDueAt: iso(r.responseDueAt), resolutionDueAt: iso(r.resolutionDueAt), responseBreached: r.responseBreached, resolutionBreached: r.resolutionBreached },
    webhook: r.fulfilment === 'webhook' ? { state: r.webhookState, note: r.webhookNote } : undefined,
  };
}

const createBody = z.object({
  item: z.string().min(1),
  fields: z.record(z.string(), z.unknown()).default({}),
  by: z.string().min(1, 'name the person who asks'),
}).strict();

const ACTIONS = ['approve', 'reject', 'cancel', 'comment', 'claim', 'done', 'cannot_complete'] as const;
const actionBody = z.object({
  action: z.enum(ACTIONS),
  by: z.string().min(1).optional(),
  reason: z.string().max(3000).optional(),
  /** The comment's text (for comment; `reason` is accepted too). */
  text: z.string().max(3000).optional(),
  task: z.string().optional(),
}).strict().superRefine((b, ctx) => {
  const need = (field: 'by' | 'reason', message: string) => { if (!b[field]?.trim()) ctx.addIssue({ code: 'custom', path: [field], message }); };
  if (b.action === 'approve' || b.action === 'reject') need('by', `required for ${b.action}: the API token alone never approves`);
  if (b.action === 'claim' || b.action === 'done' || b.action === 'cannot_complete') need('by', `required for ${b.action}: tasks are held by people`);
  if (b.action === 'reject' || b.action === 'cancel' || b.action === 'cannot_complete') need('reason', `required for ${b.action}`);
  if (b.action === 'comment' && !b.text?.trim() && !b.reason?.trim()) ctx.addIssue({ code: 'custom', path: ['text'], message: 'required for comment (the comment itself)' });
});

const reportBody = z.object({
  status: z.enum(['fulfilled', 'incomplete']),
  note: z.string().max(3000).optional(),
}).strict().superRefine((b, ctx) => {
  if (b.status === 'incomplete' && !b.note?.trim()) ctx.addIssue({ code: 'custom', path: ['note'], message: 'say why it is incomplete' });
});

const ID_PATH = /^\/api\/v1\/requests\/(?<id>[^/]+)$/;
const ACTION_PATH = /^\/api\/v1\/requests\/(?<id>[^/]+)\/actions$/;
const HOOK_PATH = /^\/hooks\/requests\/(?<id>[^/]+)$/;

/** The task a REST action means: `task` when given, else the request's only active task; or the problem naming `task`. */
async function taskFor(app: AppContext, r: RequestRow, given: string | undefined): Promise<{ id: number } | { issue: Issue }> {
  const tasks = await tasksOf(app.db, r.id);
  const names = (list: readonly TaskRow[]) => list.map((x) => taskSubject(x.id)).join(', ') || 'none';
  if (given !== undefined) {
    const m = /^(?:TASK-)?(\d+)$/i.exec(given.trim());
    const t = m ? tasks.find((x) => x.id === Number(m[1])) : undefined;
    return t ? { id: t.id } : { issue: { path: 'task', message: `${requestSubject(r.id)} has no task "${given}" (tasks: ${names(tasks)})` } };
  }
  const active = tasks.filter((t) => t.state === 'open' || t.state === 'claimed');
  if (active.length === 1) return { id: active[0]!.id };
  return { issue: { path: 'task', message: `name the task: ${requestSubject(r.id)} has ${active.length} open tasks (${names(active)})` } };
}

/** The request REST routes and the fulfilment report hook. */
export function requestRoutes(app: AppContext, tools: RouteTools): Route[] {
  const full = async (r: RequestRow) => {
    const now = app.clock.now();
    const approval = r.approvalId && app.seam.offers('approval.status')
      ? await app.db.transaction((tx) => app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject: requestSubject(r.id) }))
      : undefined;
    const tasks = await tasksOf(app.db, r.id);
    const timeline = await readTimeline(app.db, requestSubject(r.id));
    return {
      ...requestJson(r),
      approvals: approval ? [{
        id: approval.id, state: approval.state, policy: approval.policy, stage: approval.stage, stages: approval.stages, waitingFor: approval.waitingFor,
        since: iso(approval.since), expiresAt: iso(approval.expiresAt), paused: approval.paused, openQuestion: approval.openQuestion ? { ...approval.openQuestion, askedAt: iso(approval.openQuestion.askedAt) } : null,
        decisions: approval.decisions.map((d) => ({ ...d, at: iso(d.at) })), decidedAt: iso(approval.decidedAt), decidedBy: approval.decidedBy, reason: approval.reason,
      }] : [],
      tasks: tasks.map(taskJson),
      timeline: timeline.map((t) => ({ at: t.at.toISOString(), actor: t.actor, source: t.source, kind: t.kind, text: t.text })),
    };
  };
  return [
    {
      method: 'GET', path: '/api/v1/catalog', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        sendJson(res, 200, { items: app.config.catalog.map(catalogJson), nextCursor: null });
      },
    },
    {
      method: 'GET', path: '/api/v1/requests', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const issues: Issue[] = [];
        const { limit, cursor } = listQuery(req.query, issues);
        const state = req.query.get('state');
        if (state !== null && !(REQUEST_STATES as readonly string[]).includes(state)) issues.push({ path: 'state', message: `unknown state: use one of ${REQUEST_STATES.join(', ')}` });
        const item = req.query.get('item');
        if (item !== null && !app.config.catalog.some((i) => i.name === item)) issues.push({ path: 'item', message: `unknown item: use one of ${app.config.catalog.map((i) => i.name).join(', ')}` });
        if (issues.length) return sendIssues(res, issues);
        const rows = await listRequests(app.db, { states: state === null ? undefined : [state], item: item ?? undefined, requester: req.query.get('requester') ?? undefined, beforeId: cursor, limit: limit + 1 });
        sendList(res, rows, limit, requestJson);
      },
    },
    {
      method: 'POST', path: '/api/v1/requests', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const parsed = createBody.safeParse(await readJson(req));
        if (!parsed.success) return sendZodError(res, parsed.error);
        await answering(res, async () => {
          const person = await restActor(app, parsed.data.by);
          const now = app.clock.now();
          try {
            const row = await inTransaction(app, (tx) => submitRequest(tx, app, { item: parsed.data.item, values: parsed.data.fields }, { person, source: 'api' }, now));
            tools.kick();
            sendJson(res, 201, await full(row), { location: `/api/v1/requests/${requestSubject(row.id)}` });
          } catch (e) {
            // every bad field named under `fields`
            if (isDomainError(e) && e.code === 'request.invalid_fields' && e.issues) return sendIssues(res, e.issues.map((i) => ({ path: `fields.${i.path}`, message: i.message })), 'some fields need a fix');
            throw e;
          }
        });
      },
    },
    {
      method: 'GET', path: ID_PATH, name: '/api/v1/requests/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          sendJson(res, 200, await full(await getRequest(app.db, pathId(req, 'REQ', 'request.not_found', 'request'))));
        });
      },
    },
    {
      method: 'POST', path: ACTION_PATH, name: '/api/v1/requests/:id/actions', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'REQ', 'request.not_found', 'request');
          const parsed = actionBody.safeParse(await readJson(req));
          if (!parsed.success) return sendZodError(res, parsed.error);
          const b = parsed.data;
          const before = await getRequest(app.db, id);
          const person = await restActor(app, b.by);
          const actor: Actor = { person, source: 'api' };
          const now = app.clock.now();
          const subject = requestSubject(id);
          if (b.action === 'approve' || b.action === 'reject') {
            if (before.state !== 'awaiting_approval') return sendError(res, 409, 'request.not_awaiting_approval', `${subject} is ${before.state.replace('_', ' ')}, not awaiting approval.`);
            await inTransaction(app, (tx) => app.seam.call('approval.decide', { tx, app, now, actor }, { subject, decision: b.action as 'approve' | 'reject', reason: b.reason }));
          } else if (b.action === 'claim' || b.action === 'done' || b.action === 'cannot_complete') {
            const task = await taskFor(app, before, b.task);
            if ('issue' in task) return sendIssues(res, [task.issue]);
            await inTransaction(app, (tx) => taskAction(tx, app, task.id, b.action as 'claim', b.reason, actor, now));
          } else {
            const cmd: RequestCommand = b.action === 'cancel' ? { action: 'cancel', reason: b.reason ?? '' } : { action: 'comment', text: b.text ?? b.reason ?? '' };
            await inTransaction(app, (tx) => changeRequest(tx, app, id, cmd, actor, now));
          }
          tools.kick();
          sendJson(res, 200, await full(await getRequest(app.db, id)));
        });
      },
    },
    {
      method: 'GET', path: '/api/v1/knowledge', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const q = req.query.get('q')?.trim() ?? '';
        if (q.length < 2 || q.length > 1500) return sendIssues(res, [{ path: 'q', message: q ? 'between 2 and 1500 characters' : 'required: the question' }]);
        const limitRaw = req.query.get('limit');
        const limit = limitRaw === null ? 3 : Number(limitRaw);
        if (!Number.isInteger(limit) || limit < 1 || limit > 20) return sendIssues(res, [{ path: 'limit', message: 'a whole number from 1 to 20' }]);
        sendJson(res, 200, { items: await answers(app, q, limit), nextCursor: null });
      },
    },
    {
      method: 'POST', path: HOOK_PATH, name: '/hooks/requests/:id', handler: async (req, res) => fulfilmentReport(app, tools, req, res),
    },
  ];
}

/** `POST /hooks/requests/REQ-n` from the fulfilment system, signed with the item's secret: `{status, note}`. */
async function fulfilmentReport(app: AppContext, tools: RouteTools, req: Request, res: Parameters<Route['handler']>[1]): Promise<void> {
  await answering(res, async () => {
    const id = pathId(req, 'REQ', 'request.not_found', 'request');
    const body = await readBody(req);
    const row = await getRequest(app.db, id);
    const item = itemOf(app, row);
    const secret = item?.fulfilment.webhook?.secret;
    if (!secret || row.fulfilment !== 'webhook') return sendError(res, 404, 'request.no_webhook', `${requestSubject(id)} is not fulfilled by a webhook.`);
    const header = (name: string) => { const v = req.headers[name]; return Array.isArray(v) ? v[0] : v; };
    const bad = checkWebhookSignature(secret, header('x-tread-timestamp'), header('x-tread-signature'), body.toString('utf8'), app.clock.now());
    if (bad) return sendError(res, 401, 'request.bad_signature', bad);
    const parsed = reportBody.safeParse(parseJson(body));
    if (!parsed.success) return sendZodError(res, parsed.error);
    const { status, note } = parsed.data;
    if (row.state === status) return sendJson(res, 200, { ...requestJson(row), repeated: true });
    if (row.state !== 'in_fulfilment') return sendError(res, 409, 'request.not_in_fulfilment', `${requestSubject(id)} is ${row.state.replace('_', ' ')}; a report can only complete a request in fulfilment.`);
    await inTransaction(app, (tx) => changeRequest(tx, app, id, { action: 'complete', status, note }, WEBHOOK_ACTOR, app.clock.now()));
    tools.kick();
    sendJson(res, 200, requestJson(await getRequest(app.db, id)));
  });
}
