/**
 * Access management: resources with roles (`resources`), requests approved through the approval workflow (a second
 * step for high sensitivity), time-bound grants (`GRT-n`) provisioned and revoked by connectors after commit,
 * break-glass, extensions, reconciliation against the targets (drift), review campaigns (`REV-n`), audit and REST.
 */
import type { Workflow } from '../../core/workflow.js';
import { accessConfig } from './access.config.js';

/** Access management. */
export const accessWorkflow: Workflow = {
  name: 'access',
  config: accessConfig,
};
