/**
 * REST: /api/v1/access-resources, /api/v1/grants (list, read with approvals and timeline, request, actions), and the
 * second step's confirmation page, GET/POST /access/confirm/<token> (outside the API token: the token in the link is
 * the credential, and the REST API itself can never do the second step).
 */
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AppContext } from '../../core/app.js';
import { parseDuration } from '../../core/duration.js';
import { findPerson, SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import { auditRefusal, inTransaction } from '../../core/refusals.js';
import type { Route, RouteTools } from '../../core/route.js';
import { readTimeline } from '../../core/timeline.js';
import { formatTime } from '../../core/time-zone.js';
import {
  answering, iso, listQuery, pathId, readJson, restActor, sendError, sendIssues, sendJson, sendList, sendZodError, type Issue,
} from '../../http/rest.js';
import { unavailableReason, type ResourceConfig } from './access.config.js';
import { GRANT_STATES, needsSecondStep } from './access.machine.js';
import { grantSubject, grantWhat, type GrantRow } from './access.messages.js';
import { confirmLink, stepOfToken } from './access.second-step.js';
import { changeGrant, getGrant, listGrants, requestGrant, validateSubmitted, type GrantCommand } from './access.service.js';

/** The REST shape of a resource (connector secrets stay out). */
export function resourceJson(r: ResourceConfig) {
  return {
    name: r.name, title: r.title, description: r.description ?? null, team: r.team ?? null, owners: r.owners,
    roles: r.roles.map((x) => ({ name: x.name, title: x.title, sensitivity: x.sensitivity, approvalPolicy: x.approvalPolicy ?? r.approvalPolicy, secondStep: needsSecondStep(x.sensitivity) })),
    approvalPolicy: r.approvalPolicy, defaultDurationMs: r.defaultDuration, maxDurationMs: r.maxDuration, requireReason: r.requireReason, requireTicket: r.requireTicket,
    conflicts: r.conflicts, selfExtend: r.selfExtend, connector: { kind: r.connector.kind }, available: !unavailableReason(r), unavailable: unavailableReason(r) ?? null,
    review: r.review ? { everyMs: r.review.every, deadlineMs: r.review.deadline, revokeUnreviewed: r.review.revokeUnreviewed } : null,
  };
}

/** The REST shape of a grant. */
export function grantJson(g: GrantRow) {
  return {
    id: grantSubject(g.id), resource: g.resource, role: g.role, person: g.person, login: g.login, kind: g.kind, sensitivity: g.sensitivity, connector: g.connector,
    state: g.state, reason: g.reason, ticket: g.ticket, incident: g.incident, source: g.source, durationMs: g.durationMs, approval: g.approvalId ? `APR-${g.approvalId}` : null,
    pendingExtension: g.pendingExtensionMs ? { durationMs: g.pendingExtensionMs, reason: g.pendingExtensionReason } : null, extensions: g.extensions,
    requestedAt: iso(g.requestedAt), approvedAt: iso(g.approvedAt), activatedAt: iso(g.activatedAt), endsAt: iso(g.endsAt), endedAt: iso(g.endedAt),
    outcome: g.outcome, outcomeBy: g.outcomeBy,
    removal: g.removal ? { state: g.removal, attempts: g.removalAttempts, error: g.removalError, removedAt: iso(g.removedAt) } : null,
  };
}

const createBody = z.object({
  resource: z.string().min(1),
  role: z.string().min(1),
  duration: z.string().min(1).optional(),
  reason: z.string().max(1000).optional(),
  ticket: z.string().max(100).optional(),
  by: z.string().min(1, 'name the person who asks (the grant is theirs)'),
}).strict();

const ACTIONS = ['approve', 'deny', 'revoke', 'extend', 'cancel'] as const;
const actionBody = z.object({
  action: z.enum(ACTIONS),
  by: z.string().min(1).optional(),
  reason: z.string().max(1000).optional(),
  duration: z.string().optional(),
}).strict().superRefine((b, ctx) => {
  const need = (field: 'by' | 'reason' | 'duration', message: string) => { if (!b[field]?.trim()) ctx.addIssue({ code: 'custom', path: [field], message }); };
  if (b.action === 'approve' || b.action === 'deny') need('by', `required for ${b.action}: the API token alone never approves`);
  if (b.action === 'extend') need('by', 'required for extend: the grantee asks for it');
  if (b.action !== 'approve') need('reason', `required for ${b.action}`);
  if (b.action === 'extend') {
    need('duration', 'required for extend: how much longer, like 2h');
    if (b.duration?.trim() && parseDuration(b.duration) === undefined) ctx.addIssue({ code: 'custom', path: ['duration'], message: `"${b.duration}" is not a duration: write it like 30m, 2h or 1d` });
  }
});

const ID_PATH = /^\/api\/v1\/grants\/(?<id>[^/]+)$/;
const ACTION_PATH = /^\/api\/v1\/grants\/(?<id>[^/]+)\/actions$/;
const CONFIRM_PATH = /^\/access\/confirm\/(?<token>[^/]+)$/;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}button{font-size:1.1rem;padding:.5rem 1.2rem}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

/** The access REST routes and the confirmation page. */
export function accessRoutes(app: AppContext, tools: RouteTools): Route[] {
  const full = async (g: GrantRow) => {
    const now = app.clock.now();
    const subject = grantSubject(g.id);
    const approval = g.approvalId && app.seam.offers('approval.status')
      ? await app.db.transaction((tx) => app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject }))
      : undefined;
    const timeline = await readTimeline(app.db, subject);
    return {
      ...grantJson(g),
      approvals: approval ? [{
        id: approval.id, state: approval.state, policy: approval.policy, stage: approval.stage, stages: approval.stages, waitingFor: approval.waitingFor,
        since: iso(approval.since), expiresAt: iso(approval.expiresAt), decisions: approval.decisions.map((d) => ({ ...d, at: iso(d.at) })),
        decidedAt: iso(approval.decidedAt), decidedBy: approval.decidedBy, reason: approval.reason,
      }] : [],
      timeline: timeline.map((t) => ({ at: t.at.toISOString(), actor: t.actor, source: t.source, kind: t.kind, text: t.text })),
    };
  };
  return [
    {
      method: 'GET', path: '/api/v1/access-resources', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        sendJson(res, 200, { items: app.config.resources.map(resourceJson), nextCursor: null });
      },
    },
    {
      method: 'GET', path: '/api/v1/grants', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const issues: Issue[] = [];
        const { limit, cursor } = listQuery(req.query, issues);
        const state = req.query.get('state');
        if (state !== null && !(GRANT_STATES as readonly string[]).includes(state)) issues.push({ path: 'state', message: `unknown state: use one of ${GRANT_STATES.join(', ')}` });
        const resource = req.query.get('resource');
        if (resource !== null && !app.config.resources.some((r) => r.name === resource)) issues.push({ path: 'resource', message: `unknown resource: use one of ${app.config.resources.map((r) => r.name).join(', ')}` });
        if (issues.length) return sendIssues(res, issues);
        const rows = await listGrants(app.db, { states: state === null ? undefined : [state], resource: resource ?? undefined, person: req.query.get('person') ?? undefined, beforeId: cursor, limit: limit + 1 });
        sendList(res, rows, limit, grantJson);
      },
    },
    {
      method: 'POST', path: '/api/v1/grants', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        const parsed = createBody.safeParse(await readJson(req));
        if (!parsed.success) return sendZodError(res, parsed.error);
        await answering(res, async () => {
          const actor: Actor = { person: await restActor(app, parsed.data.by), source: 'api' };
          const grant = await validateSubmitted(app, parsed.data, actor);
          const row = await inTransaction(app, (tx) => requestGrant(tx, app, grant, actor, app.clock.now()));
          tools.kick();
          sendJson(res, 201, await full(row), { location: `/api/v1/grants/${grantSubject(row.id)}` });
        });
      },
    },
    {
      method: 'GET', path: ID_PATH, name: '/api/v1/grants/:id', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          sendJson(res, 200, await full(await getGrant(app.db, pathId(req, 'GRT', 'access.not_found', 'grant'))));
        });
      },
    },
    {
      method: 'POST', path: ACTION_PATH, name: '/api/v1/grants/:id/actions', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        await answering(res, async () => {
          const id = pathId(req, 'GRT', 'access.not_found', 'grant');
          const parsed = actionBody.safeParse(await readJson(req));
          if (!parsed.success) return sendZodError(res, parsed.error);
          const b = parsed.data;
          const before = await getGrant(app.db, id);
          const actor: Actor = { person: await restActor(app, b.by), source: 'api' };
          const now = app.clock.now();
          const subject = grantSubject(id);
          let note: string | undefined;
          if (b.action === 'approve' || b.action === 'deny') {
            const extension = Boolean(before.pendingExtensionMs);
            if (before.state !== 'requested' && !extension) return sendError(res, 409, 'access.not_pending', `${subject} is ${before.state}; there is nothing to ${b.action}.`);
            const decided = await inTransaction(app, (tx) => app.seam.call('approval.decide', { tx, app, now, actor }, { subject, decision: b.action === 'approve' ? 'approve' : 'reject', reason: b.reason }));
            if (b.action === 'approve' && needsSecondStep(before.sensitivity as 'high') && decided.state === 'pending') {
              note = `The approval counts once ${actor.person.name} does the second step in chat (a one-time code or link was sent to them); the API cannot do it.`;
            }
          } else {
            const cmd: GrantCommand = b.action === 'extend'
              ? { action: 'extend', durationMs: parseDuration(b.duration ?? ''), durationText: b.duration, reason: b.reason ?? '' }
              : { action: b.action, reason: b.reason ?? '' };
            await inTransaction(app, (tx) => changeGrant(tx, app, id, cmd, actor, now));
          }
          tools.kick();
          const after = await full(await getGrant(app.db, id));
          sendJson(res, note ? 202 : 200, note ? { ...after, secondStep: { state: 'pending', message: note } } : after);
        });
      },
    },
    {
      method: 'GET', path: CONFIRM_PATH, name: '/access/confirm/:token', handler: async (req, res) => {
        const token = req.params.token ?? '';
        const found = await app.db.transaction((tx) => stepOfToken(tx, token));
        const now = app.clock.now();
        if (!found) return page(res, 404, 'Link not valid', '<p>This confirmation link is not valid.</p>');
        const { step, grant } = found;
        const approver = (await findPerson(app, step.person))?.name ?? step.person;
        if (step.usedAt || step.expiresAt <= now) return page(res, 410, 'Link no longer valid', `<p>This link for ${escapeHtml(grantSubject(grant.id))} was ${step.usedAt ? 'used or replaced' : 'valid until ' + escapeHtml(formatTime(step.expiresAt, app.config.timezone, now))}. Type <code>/access confirm ${escapeHtml(grantSubject(grant.id))}</code> in chat for a new one.</p>`);
        page(res, 200, `Confirm your approval of ${grantSubject(grant.id)}`, `<p>${escapeHtml(approver)}, you approved <strong>${escapeHtml(grantWhat(grant))}</strong> (${escapeHtml(grant.sensitivity)} sensitivity) for <strong>${escapeHtml(grant.person)}</strong>, for ${escapeHtml(String(Math.round(grant.durationMs / 60_000)))} minutes.</p>
<p>Reason: ${escapeHtml(grant.reason ?? '—')}</p><p>It counts only when you confirm it here, before ${escapeHtml(formatTime(step.expiresAt, app.config.timezone, now))}. If you did not press Approve, do not confirm: tell your security team.</p>
<form method="post"><button type="submit">Confirm my approval</button></form>`);
      },
    },
    {
      method: 'POST', path: CONFIRM_PATH, name: '/access/confirm/:token', handler: async (req, res) => {
        const token = req.params.token ?? '';
        try {
          const result = await inTransaction(app, (tx) => confirmLink(tx, app, token, async (id) => {
            const person = await findPerson(app, id, tx);
            return { person: person ?? { id, name: id, roles: new Set(), known: false }, source: 'api' };
          }, app.clock.now()));
          if (!result.ok) {
            await auditRefusal(app, result.refusal);
            return page(res, 403, 'Not confirmed', `<p>${escapeHtml(result.refusal.message)}</p>`);
          }
          tools.kick();
          page(res, 200, 'Confirmed', `<p>${escapeHtml(result.sentence)}</p><p>You can close this page.</p>`);
        } catch (e) {
          const message = (e as Error).message;
          if ((e as { code?: string }).code?.startsWith('access.')) return page(res, 409, 'Not confirmed', `<p>${escapeHtml(message)}</p>`);
          throw e;
        }
      },
    },
  ];
}
