/** Event management: monitoring webhooks → deduplicated, correlated alerts with live cards, silences, heartbeats, paging. */
import type { Workflow } from '../../core/workflow.js';
import { pagingHooks } from '../incident/incident.service.js';
import { eventActions, eventCommand } from './event.commands.js';
import { EVENT_TIMERS } from './event.groups.js';
import { eventMetrics, eventRoutes } from './event.http.js';
import { alertDetail } from './event.messages.js';
import { alertsOfIncident, armHeartbeats, cardTimer, currentGroupCard, getAlert, heartbeatTimer, parseTarget, unsuppressTimer } from './event.service.js';

export { applyEvents, type EventOutcome } from './event.ingest.js';
export { writerOf } from './event.http.js';

/** The event workflow: `/event`, the alert card's buttons, webhooks, REST and its timers. */
export const eventWorkflow: Workflow = {
  name: 'event',
  commands: [eventCommand],
  actions: eventActions,
  timers: {
    [EVENT_TIMERS.card]: cardTimer,
    [EVENT_TIMERS.unsuppress]: unsuppressTimer,
    [EVENT_TIMERS.heartbeat]: heartbeatTimer,
  },
  routes: eventRoutes,
  metrics: eventMetrics,
  async start(app) {
    pagingHooks.linkedAlerts = (db, incidentId) => alertsOfIncident(db, incidentId);
    await armHeartbeats(app);
  },
  async card(app, subject) {
    const t = parseTarget(subject);
    if (!t) return undefined;
    if (t.kind === 'group') return currentGroupCard(app, t.id);
    const a = await getAlert(app.db, t.id).catch(() => undefined);
    return a ? alertDetail(a, [], app.clock.now(), app.config.timezone) : undefined;
  },
};
