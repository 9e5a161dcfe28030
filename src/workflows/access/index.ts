/**
 * Access management: resources with roles (`resources`), requests approved through the approval workflow (a second
 * step for high sensitivity, separation of duties vetoed from `approval.deciding`), time-bound grants (`GRT-n`)
 * provisioned and revoked by connectors after commit, break-glass revoked with its incident, extensions,
 * reconciliation against the targets (drift), review campaigns (`REV-n`), the audit trail and REST.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { queryRows, schema, type Tx } from '../../../db/client.js';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import { on, type Permission, type Workflow } from '../../core/workflow.js';
import { accessActions, accessCommand } from './access.commands.js';
import { accessConfig, unavailableReason } from './access.config.js';
import { HOLDING_STATES } from './access.machine.js';
import { grantSubject } from './access.messages.js';
import { onWebhookDelivered, onWebhookFailed } from './access.provisioning.js';
import { armReconcile } from './access.reconcile.js';
import { armReviews } from './access.reviews.js';
import { accessRoutes } from './access.routes.js';
import { onSecondStep } from './access.second-step.js';
import {
  applyTransition, cardFor, getGrant, grantIdOf, onApprovalChanged, onApprovalDecided, onApprovalDeciding,
} from './access.service.js';
import { accessTimers } from './access.timers.js';
import { webhookTarget } from './connectors/webhook.js';

const permissions: Record<string, Permission> = {
  'access.request': { roles: ['requester'], what: 'request access' },
  'access.cancel': { roles: ['requester'], what: 'cancel' },
  // Who may revoke a particular grant is its grantee, the resource's owners or an admin (checked by person id).
  'access.revoke': { roles: ['requester'], what: 'revoke' },
  'access.extend': { roles: ['requester'], what: 'extend' },
  'access.confirm': { roles: ['requester'], what: 'confirm approvals of access' },
  'access.breakglass': { roles: ['responder'], what: 'break the glass (emergency access)' },
  'access.task': { roles: ['requester'], what: 'work access tasks' },
  'access.review': { roles: ['requester'], what: 'review access' },
  'access.audit': { roles: ['requester'], what: 'read the access audit trail' },
  'access.drift': { roles: ['responder'], what: 'see access drift' },
};

/** Incident states that end a break-glass grant linked to the incident. */
const ENDED = ['resolved', 'closed', 'cancelled'];

/** Access management. */
export const accessWorkflow: Workflow = {
  name: 'access',
  config: accessConfig,
  permissions,
  commands: [accessCommand],
  // `/request access …` is `/access request …`
  aliases: [{ from: { command: 'request', words: ['access'] }, to: { command: 'access', words: ['request'] } }],
  actions: accessActions,
  timers: accessTimers,
  subscribes: [
    // The approval's outcome: a request is approved (provisioning starts) or denied; an extension applies or not.
    on('approval.decided', 'inline', 'approval-decided', onApprovalDecided),
    on('approval.changed', 'inline', 'approval-changed', onApprovalChanged),
    // Separation of duties: an approval that would create a conflict is vetoed (refused and audited).
    on('approval.deciding', 'inline', 'separation-of-duties', (tx, app, e) => onApprovalDeciding(tx, app, e)),
    // A high-sensitivity approve press waits: the approver gets a one-time code or link.
    on('approval.second_step', 'inline', 'second-step', onSecondStep),
    // The webhook connector's outcomes.
    on('webhook.delivered', 'inline', 'webhook-delivered', onWebhookDelivered),
    on('webhook.failed', 'inline', 'webhook-failed', onWebhookFailed),
    // Break-glass grants end when their incident is resolved or cancelled: inside the incident's change, so the
    // revocation commits with it (the removal itself runs after commit); in a savepoint, so it can never fail the change.
    on('incident.changed', 'inline', 'breakglass-incident', async (tx, app, e, now) => {
      if (!ENDED.includes(e.to.state) || ENDED.includes(e.from.state)) return;
      const t = schema.accessGrants;
      const grants = await tx.select({ id: t.id }).from(t).where(and(eq(t.incident, e.subject), eq(t.kind, 'breakglass'), inArray(t.state, [...HOLDING_STATES])));
      for (const { id } of grants) {
        try {
          await tx.transaction(async (sp) => {
            const g = await getGrant(sp as Tx, id, true);
            if (!['provisioning', 'active', 'expiring'].includes(g.state)) return;
            await applyTransition(sp as Tx, app, g, 'revoke', SCHEDULER_ACTOR, now, { reason: `${e.subject} was ${e.to.state} by ${e.actor.name}` });
          });
        } catch (err) {
          app.log.error({ grant: grantSubject(id), incident: e.subject, err: (err as Error).message }, 'could not revoke a break-glass grant with its incident; it ends at its time limit');
        }
      }
    }),
  ],
  webhookTargets: (config) => config.resources.flatMap((r) => (r.connector.kind === 'webhook' && !unavailableReason(r) ? [{ name: webhookTarget(r), url: r.connector.url, secret: r.connector.secret }] : [])),
  async start(app) {
    for (const r of app.config.resources) {
      const why = unavailableReason(r);
      // one clear line per skipped resource (the secret itself is never logged)
      if (why) app.log.warn({ resource: r.name, connector: r.connector.kind }, `access: resource ${r.name} is skipped: ${why}`);
    }
    await armReconcile(app);
    await armReviews(app);
  },
  routes: accessRoutes,
  async metrics(app) {
    const byState = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from access_grants group by state`);
    const [drift] = await queryRows<{ n: number }>(app.db, sql`select count(*)::int as n from access_drift where resolved_at is null`);
    const [retrying] = await queryRows<{ n: number }>(app.db, sql`select count(*)::int as n from access_grants where removal = 'retrying'`);
    return [
      { name: 'tread_access_grants', type: 'gauge', help: 'Access grants by state', samples: byState.map((r) => ({ labels: { state: r.state }, value: Number(r.n) })) },
      { name: 'tread_access_drift_open', type: 'gauge', help: 'Differences between targets and active grants, not resolved', samples: [{ value: Number(drift?.n ?? 0) }] },
      { name: 'tread_access_removals_retrying', type: 'gauge', help: 'Ended grants whose removal at the target keeps failing', samples: [{ value: Number(retrying?.n ?? 0) }] },
    ];
  },
  async card(app, subject) {
    const id = grantIdOf(subject.toUpperCase());
    if (id === undefined) return undefined;
    const now = app.clock.now();
    return app.db.transaction(async (tx) => cardFor(tx, app, await getGrant(tx, id), now));
  },
};
