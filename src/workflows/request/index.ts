/**
 * Request fulfilment: the service catalog (`/request`), approvals through the approval workflow (heard as
 * `approval.decided` / `approval.changed`), fulfilment tasks or a fulfilment webhook, SLA, the requester's live card,
 * knowledge answers (`/ask`), REST and the fulfilment report hook.
 */
import { sql } from 'drizzle-orm';
import { queryRows } from '../../../db/client.js';
import { parseRecordId } from '../../core/commands.js';
import { schedule } from '../../core/timers.js';
import { on, type Permission, type Workflow } from '../../core/workflow.js';
import { askActions, askCommand } from './request.ask.js';
import { requestActions, requestCommand } from './request.commands.js';
import { requestConfig } from './request.config.js';
import { reindexKnowledge } from './request.knowledge.js';
import { requestRoutes } from './request.routes.js';
import { cardFor, getRequest, onApprovalChanged, onApprovalDecided } from './request.service.js';
import { REQUEST_TIMER } from './request.sla.js';
import { requestTimers } from './request.timers.js';
import { onWebhookDelivered, onWebhookFailed, webhookTargetName } from './request.webhook.js';

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
    // The fulfilment system took the request (the first response) or its cancellation.
    on('webhook.delivered', 'inline', 'fulfilment-accepted', onWebhookDelivered),
    // The fulfilment system could not be reached after the last retry: the team is told (the seam DMs them too), and the card says so.
    on('webhook.failed', 'inline', 'fulfilment-failed', onWebhookFailed),
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

