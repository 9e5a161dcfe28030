/**
 * The webhook connector: the core's signed outgoing webhooks (X-Tread-Signature, an Idempotency-Key per grant and
 * action, retries with backoff). The receiver's 2xx completes the grant or the removal (`webhook.delivered`); a failure
 * after the last retry fails the grant, or keeps the removal retrying with an alert (`webhook.failed`).
 */
import { directoryOf } from '../../../core/identity.js';
import type { ResourceConfig } from '../access.config.js';
import { grantSubject } from '../access.messages.js';
import type { Connector, ConnectorCall, ConnectorOutcome } from './connector.js';

/** The webhook target of a resource. */
export function webhookTarget(resource: Pick<ResourceConfig, 'name'>): string {
  return `access:${resource.name}`;
}

/** The idempotency key of a grant's action (the same on every attempt and every retry of the removal). */
export function webhookKey(grantId: number, action: 'grant' | 'revoke'): string {
  return `${grantSubject(grantId)}:${action}`;
}

async function send(call: ConnectorCall, action: 'grant' | 'revoke'): Promise<ConnectorOutcome> {
  const { tx, app, grant: g, resource } = call;
  const person = directoryOf(app.config).get(g.person);
  await app.webhooks.send(tx, app, {
    target: webhookTarget(resource), idempotencyKey: webhookKey(g.id, action), subject: grantSubject(g.id), notify: resource.owners,
    body: {
      action, grant: grantSubject(g.id), resource: g.resource, role: g.role, login: g.login,
      person: { id: g.person, name: person?.name ?? g.person, email: person?.email ?? null },
      kind: g.kind, reason: g.reason, ticket: g.ticket, incident: g.incident, durationMs: g.durationMs,
      endsAt: g.endsAt ? g.endsAt.toISOString() : null,
    },
  });
  return { status: 'pending', note: action === 'grant' ? 'Sent to the access system; waiting for it to confirm' : 'Removal sent to the access system' };
}

/** The webhook connector. */
export const webhookConnector: Connector = {
  runs: 'inside', // the core's webhook timer sends it, outside any transaction
  grant: (call) => send(call, 'grant'),
  revoke: (call) => send(call, 'revoke'),
};
