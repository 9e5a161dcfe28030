/** The connector of a resource, by its configured kind. */
import type { ConnectorKind } from '../access.config.js';
import type { Connector } from './connector.js';
import { manualConnector } from './manual.js';
import { postgresConnector } from './postgres.js';
import { webhookConnector } from './webhook.js';

export { ConnectorError, type Connector, type ConnectorCall, type ConnectorOutcome, type OutsideCall, type OutsideConnector } from './connector.js';

const CONNECTORS: Record<ConnectorKind, Connector> = { manual: manualConnector, webhook: webhookConnector, postgres: postgresConnector };

/** The connector of a kind. */
export function connectorFor(kind: ConnectorKind): Connector {
  return CONNECTORS[kind];
}
