/** The incident management workflow: commands, actions, timers and REST routes for the router and the scheduler. */
import type { Workflow } from '../../core/workflow.js';
import { parseRecordId } from '../../core/commands.js';
import { incidentActions, incidentCommand } from './incident.commands.js';
import { incidentRoutes } from './incident.routes.js';
import { cardFor, getIncident } from './incident.service.js';
import { incidentTimers } from './incident.timers.js';

/** Incident management. */
export const incidentWorkflow: Workflow = {
  name: 'incident',
  commands: [incidentCommand],
  actions: incidentActions,
  timers: incidentTimers,
  routes: incidentRoutes,
  async card(app, subject) {
    const id = parseRecordId('INC', subject);
    if (id === undefined) return undefined;
    return cardFor(app.db, app, await getIncident(app.db, id), app.clock.now());
  },
};
