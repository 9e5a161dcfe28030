/**
 * The manual connector: a task (`TASK-n`) to the resource's team with a Done button. The grant is active when the task
 * is done; at revocation a removal task goes to the team, and the removal is done when that task is.
 */
import { openTask } from '../access.tasks.js';
import type { Connector, ConnectorCall, ConnectorOutcome } from './connector.js';

async function task(call: ConnectorCall, kind: 'grant' | 'revoke'): Promise<ConnectorOutcome> {
  const t = await openTask(call.tx, call.app, call.grant, call.resource, kind, call.now);
  return { status: 'pending', note: `Task TASK-${t.id} for team ${call.resource.team} to ${kind === 'grant' ? 'grant' : 'remove'} it by hand` };
}

/** The manual connector. */
export const manualConnector: Connector = {
  runs: 'inside',
  grant: (call) => task(call, 'grant'),
  revoke: (call) => task(call, 'revoke'),
};
