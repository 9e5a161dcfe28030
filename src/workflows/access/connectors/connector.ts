/**
 * The one small interface every provisioning connector implements: `grant`, `revoke`, and `list` where the target can
 * say what is really granted. Connectors run from timers after the change that asked for them committed (never inside a
 * person's transaction), and every call is safe to repeat: granting what is granted and removing what is gone succeed.
 * A connector that hands work on inside tread (a task, a webhook to send) runs `inside` the timer's transaction; one
 * that calls another system runs `outside` any transaction (a target that hangs holds neither the database nor the
 * other timers), and its outcome is recorded afterwards.
 */
import type { Tx } from '../../../../db/client.js';
import type { AppContext } from '../../../core/app.js';
import type { ResourceConfig } from '../access.config.js';
import type { Membership } from '../access.machine.js';
import type { GrantRow } from '../access.messages.js';

/** What a connector call outside any transaction works on. */
export interface OutsideCall {
  app: AppContext;
  now: Date;
  grant: GrantRow;
  resource: ResourceConfig;
}

/** What a connector call inside the timer's transaction works on. */
export interface ConnectorCall extends OutsideCall {
  /** The timer's transaction: connectors that hand work on (a task, a webhook) write it here. */
  tx: Tx;
}

/** Done (and verified where the target can say), or handed on: someone or something else reports completion later. */
export type ConnectorOutcome = { status: 'done'; note: string } | { status: 'pending'; note: string };

/** A connector failure. `final`: retrying cannot help (the target refused, or the check did not confirm the grant). */
export class ConnectorError extends Error {
  override readonly name = 'ConnectorError';
  constructor(message: string, readonly final: boolean) {
    super(message);
  }
}

interface ConnectorBase {
  /** What the target really grants for the resource's roles (only connectors whose target can say). */
  list?(app: AppContext, resource: ResourceConfig): Promise<Membership[]>;
}

/** A connector that writes to tread only (a task, a webhook to send), in the timer's transaction. */
export interface InsideConnector extends ConnectorBase {
  runs: 'inside';
  grant(call: ConnectorCall): Promise<ConnectorOutcome>;
  revoke(call: ConnectorCall): Promise<ConnectorOutcome>;
}

/** A connector that calls another system, with no transaction open. */
export interface OutsideConnector extends ConnectorBase {
  runs: 'outside';
  grant(call: OutsideCall): Promise<ConnectorOutcome>;
  revoke(call: OutsideCall): Promise<ConnectorOutcome>;
}

/** A provisioning connector. */
export type Connector = InsideConnector | OutsideConnector;
