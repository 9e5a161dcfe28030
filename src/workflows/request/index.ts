/**
 * Request fulfilment: the service catalog (`/request`), approvals through the approval workflow (heard as
 * `approval.decided` / `approval.changed`), fulfilment tasks or a fulfilment webhook, SLA, the requester's live card,
 * knowledge answers (`/ask`), REST and the fulfilment report hook.
 */
import { eq, sql } from 'drizzle-orm';
import { queryRows, schema } from '../../../db/client.js';
import { channelWheres } from '../../core/channels.js';
import { parseRecordId } from '../../core/commands.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import { schedule } from '../../core/timers.js';
import { on, type Permission, type Workflow } from '../../core/workflow.js';
import { askActions, askCommand } from './request.ask.js';
import { requestActions, requestCommand } from './request.commands.js';
import { requestConfig } from './request.config.js';
import { reindexKnowledge } from './request.knowledge.js';
import { requestRoutes } from './request.routes.js';
import { cardFor, getRequest, itemOf, onApprovalChanged, onApprovalDecided, refreshCard, webhookTargetName } from './request.service.js';
import { REQUEST_TIMER, stopResponseClock } from './request.sla.js';
import { requestTimers } from './request.timers.js';

const permissions: Record<string, Permission> = {
  'request.create': { roles: ['requester'], what: 'submit requests' },
  'request.cancel': { roles: ['requester'], what: 'cancel' },
  'request.comment': { roles: ['requester'], what: 'comment on' },
  // Who may work a task is its team (checked by person id); the role only lets people press the buttons.
  'request.task': { roles: ['requester'], what: 'work fulfilment tasks' },
  'request.complete': { roles: ['admin'], what: 'complete {subject} by hand' },
  'request.stats': { roles: ['requester'], what: 'see request stats' },
  'request.ask': { roles: ['requester'], what: 'ask the knowledge base' },
};

/** The request of a webhook outcome, when it is one of ours. */
function ourRequest(subject: string, target: string): number | undefined {
  return target.startsWith('request:') ? parseRecordId('REQ', subject) : undefined;
}

function responseNote(response: unknown): string | null {
  if (response && typeof response === 'object') {
    const r = response as Record<string, unknown>;
    const ref = r.ticket ?? r.reference ?? r.id;
    if (typeof ref === 'string' || typeof ref === 'number') return `reference ${String(ref).slice(0, 100)}`;
    return null;
  }
  return typeof response === 'string' && response.trim() ? response.trim().slice(0, 200) : null;
}

/** Request fulfilment. */
export const requestWorkflow: Workflow = {
  name: 'request',
  config: requestConfig,
  permissions,
  commands: [requestCommand, askCommand],
  actions: { ...requestActions, ...askActions },
  timers: requestTimers,
  subscribes: [
    // The approval's outcome moves the request: approved → fulfilment, rejected or expired → rejected.
    on('approval.decided', 'inline', 'approval-decided', onApprovalDecided),
    // Every step of the approval goes on the request's timeline and card.
    on('approval.changed', 'inline', 'approval-changed', onApprovalChanged),
    // The fulfilment system took it: the first response.
    on('webhook.delivered', 'inline', 'fulfilment-accepted', async (tx, app, o, now) => {
      const id = ourRequest(o.subject, o.target);
      if (id === undefined) return;
      const row = await getRequest(tx, id, true);
      if (row.state !== 'in_fulfilment') return;
      const [updated] = await tx.update(schema.requests).set({ webhookState: 'accepted', webhookNote: responseNote(o.response), respondedAt: row.respondedAt ?? now, updatedAt: now })
        .where(eq(schema.requests.id, id)).returning();
      await stopResponseClock(tx, o.subject);
      await addTimeline(tx, { subject: o.subject, at: now, actor: 'tread', source: 'webhook', kind: 'webhook.accepted', text: `Accepted by the fulfilment system (HTTP ${o.status})` });
      await refreshCard(tx, app, updated!, now);
    }),
    // The fulfilment system could not be reached after the last retry: the team is told (the seam DMs them too), and the card says so.
    on('webhook.failed', 'inline', 'fulfilment-failed', async (tx, app, o, now) => {
      const id = ourRequest(o.subject, o.target);
      if (id === undefined) return;
      const row = await getRequest(tx, id, true);
      if (row.state !== 'in_fulfilment') return;
      const [updated] = await tx.update(schema.requests).set({ webhookState: 'failed', webhookNote: o.error ?? null, updatedAt: now }).where(eq(schema.requests.id, id)).returning();
      await addTimeline(tx, { subject: o.subject, at: now, actor: 'tread', source: 'webhook', kind: 'webhook.failed', text: `The fulfilment system could not be reached after ${o.attempts} attempts` });
      const channel = itemOf(app, row)?.fulfilment.channel ?? app.config.request.announce;
      const text = `⚠ ${o.subject} (${row.itemTitle}): the fulfilment system did not take it after ${o.attempts} attempts (${o.error ?? 'no answer'}). Fulfil it by hand, then: /request complete ${o.subject} fulfilled <note>`;
      for (const where of channel ? channelWheres(channel, app.platforms) : []) await enqueue(tx, { kind: 'post', where, message: { text, tone: 'danger' } });
      await refreshCard(tx, app, updated!, now);
    }),
  ],
  webhookTargets: (config) => config.catalog.flatMap((i) => (i.fulfilment.webhook ? [{ name: webhookTargetName(i), url: i.fulfilment.webhook.url, secret: i.fulfilment.webhook.secret }] : [])),
  async start(app) {
    if (!app.config.knowledge) return;
    const now = app.clock.now();
    await reindexKnowledge(app, now);
    await app.db.transaction(async (tx) => {
      await schedule(tx, { kind: REQUEST_TIMER.reindex, subject: 'knowledge', key: REQUEST_TIMER.reindex, dueAt: new Date(now.getTime() + app.config.knowledge!.reindexEvery) });
    });
  },
  routes: requestRoutes,
  async metrics(app) {
    const byState = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from requests group by state`);
    return [{ name: 'tread_requests', type: 'gauge', help: 'Requests by state', samples: byState.map((r) => ({ labels: { state: r.state }, value: Number(r.n) })) }];
  },
  async card(app, subject) {
    const id = parseRecordId('REQ', subject);
    if (id === undefined || !subject.toUpperCase().startsWith('REQ-')) return undefined;
    const now = app.clock.now();
    return app.db.transaction(async (tx) => cardFor(tx, app, await getRequest(tx, id), now));
  },
};

