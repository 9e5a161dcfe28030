/** REST: GET /api/v1/approvals/APR-n — an approval with its copied policy, decisions and questions (decisions are made through the owning record's actions). */
import type { AppContext } from '../../core/app.js';
import type { Route, RouteTools } from '../../core/route.js';
import { readTimeline } from '../../core/timeline.js';
import { answering, iso, pathId, sendJson } from '../../http/rest.js';
import { approvalSubject, type ApprovalRow } from './approval.messages.js';
import { getApproval, policyOf, viewOf } from './approval.service.js';

/** The REST shape of an approval. */
export async function approvalJson(app: AppContext, a: ApprovalRow) {
  const view = await viewOf(app.db, app, a, app.clock.now());
  const policy = policyOf(a);
  return {
    id: approvalSubject(a.id), subject: a.subject, owner: a.owner, requester: a.requester, title: a.title, details: a.details, reason: a.reason,
    state: a.state, stage: a.stage + 1, escalated: a.escalated, paused: Boolean(a.pausedAt), secondStep: a.secondStep,
    policy: { name: policy.name, allowSelfApproval: policy.allowSelfApproval, expireAfterMs: policy.expireAfterMs, remindAfterMs: policy.remindAfterMs, remindEveryMs: policy.remindEveryMs, stages: policy.stages.map((s) => ({ approvers: s.approvers, fallback: s.fallback, rule: s.rule.kind === 'n' ? { n: s.rule.n } : s.rule.kind, escalateAfterMs: s.escalateAfterMs ?? null, targets: s.targets })) },
    decisions: view.decisions.map((d) => ({ stage: d.stage + 1, person: d.person, decision: d.decision, reason: d.reason, confirmed: d.confirmed, source: d.source, at: iso(d.at) })),
    questions: view.questions.map((q) => ({ asker: q.asker, question: q.question, askedAt: iso(q.askedAt), answer: q.answer, answeredAt: iso(q.answeredAt) })),
    createdAt: iso(a.createdAt), stageStartedAt: iso(a.stageStartedAt), expiresAt: iso(a.expiresAt), decidedAt: iso(a.decidedAt), decidedBy: a.decidedBy, outcomeReason: a.outcomeReason,
  };
}

const ID_PATH = /^\/api\/v1\/approvals\/(?<id>[^/]+)$/;

/** The approval REST routes. */
export function approvalRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [{
    method: 'GET', path: ID_PATH, name: '/api/v1/approvals/:id', handler: async (req, res) => {
      if (!tools.authorizeApi(req, res)) return;
      await answering(res, async () => {
        const a = await getApproval(app.db, pathId(req, 'APR', 'approval.not_found', 'approval'));
        const timeline = await readTimeline(app.db, approvalSubject(a.id));
        sendJson(res, 200, { ...(await approvalJson(app, a)), timeline: timeline.map((t) => ({ at: t.at.toISOString(), actor: t.actor, source: t.source, kind: t.kind, text: t.text })) });
      });
    },
  }];
}
