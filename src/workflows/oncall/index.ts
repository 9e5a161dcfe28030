/** The on-call workflow: `/oncall`, the escalation step timer, `GET /api/v1/oncall`. Escalations are started by other workflows. */
import type { Workflow } from '../../core/workflow.js';
import { pagingHooks } from '../incident/incident.service.js';
import { ESCALATION_TIMER, escalationTimer, startEscalation, stopEscalation } from './escalation.service.js';
import { oncallCommand } from './oncall.commands.js';
import { oncallRoutes } from './oncall.routes.js';

export { ackActionFor } from './oncall.messages.js';
export { escalateNow, startEscalation, stopEscalation, type EscalationInput, type EscalationRow, type StopReason } from './escalation.service.js';
export { whoIsOnCall, nextOnCall } from './oncall.schedule.js';

/** On-call schedules and escalation policies. */
export const oncallWorkflow: Workflow = {
  name: 'oncall',
  commands: [oncallCommand],
  actions: {},
  timers: { [ESCALATION_TIMER]: escalationTimer },
  routes: oncallRoutes,
  async start() {
    // The incident workflow pages through these hooks, so it does not depend on this module.
    pagingHooks.start = async (tx, app, args, now) => { await startEscalation(tx, app, args, now); };
    pagingHooks.stop = async (tx, app, subject, actor, now, reason) => { await stopEscalation(tx, app, subject, actor, now, reason); };
  },
};
