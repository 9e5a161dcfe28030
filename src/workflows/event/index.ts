/** Event management: monitoring webhooks → deduplicated, correlated alerts with live cards, silences, heartbeats, paging. */
import { sql } from 'drizzle-orm';
import { queryRows } from '../../../db/client.js';
import type { OpContext, Permission, Workflow } from '../../core/workflow.js';
import { eventActions, eventCommand } from './event.commands.js';
import { eventConfig } from './event.config.js';
import { ALERT_STATES, GROUP_STATES } from './event.machine.js';
import { alertDetail } from './event.messages.js';
import { eventRoutes } from './event.routes.js';
import { alertsOfIncident, armHeartbeats, currentGroupCard, getAlert, parseTarget, raiseAlert, type RaisedAlert } from './event.service.js';
import { eventTimers } from './event.timers.js';
import { intakeBacklog } from './event.intake.js';
import { writerOf } from './event.writer.js';

export { writerOf };
export type { RaisedAlert };

declare module '../../core/workflow.js' {
  interface Operations {
    /** Raises (or resolves) an alert under a reserved integration `tread.<workflow>`, in the caller's transaction. */
    'event.raise': (op: OpContext, input: RaisedAlert) => Promise<{ alertId: number | null; outcome: string }>;
  }
}

const permissions: Record<string, Permission> = {
  'event.view': { roles: ['requester'], what: 'see alerts' },
  'event.ack': { roles: ['responder'], what: 'acknowledge alerts' },
  'event.resolve': { roles: ['responder'], what: 'resolve alerts' },
  'event.silence': { roles: ['responder'], what: 'silence alerts' },
  'event.incident': { roles: ['responder'], what: 'open incidents from alerts' },
  'event.escalate': { roles: ['responder'], what: 'escalate alerts' },
};

/** The event workflow: `/event`, the alert card's buttons, webhooks, REST and its timers. */
export const eventWorkflow: Workflow = {
  name: 'event',
  config: eventConfig,
  permissions,
  commands: [eventCommand],
  actions: eventActions,
  timers: eventTimers,
  provides: {
    'event.raise': async ({ tx, app, now, actor }, input) => raiseAlert(tx, app, input, now, actor),
  },
  contributes: [{
    // An incident's card lists the alerts it was opened for.
    prefix: 'INC-',
    async contribute(db, _app, subject) {
      const alerts = await alertsOfIncident(db, Number(subject.slice(4)));
      return alerts.length ? { fields: [{ label: 'Alerts', value: alerts.join(', ') }] } : undefined;
    },
  }],
  routes: eventRoutes,
  async metrics(app) {
    const alerts = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from alerts where state <> 'resolved' group by state`);
    const groups = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from alert_groups where state <> 'resolved' group by state`);
    const stats = writerOf(app)?.stats ?? { batches: 0, events: 0, queued: 0, retries: 0, failed: 0 };
    const backlog = await intakeBacklog(app.db);
    const open = (rows: { state: string; n: number }[], states: readonly string[]) =>
      states.filter((s) => s !== 'resolved').map((s) => ({ labels: { state: s }, value: Number(rows.find((r) => r.state === s)?.n ?? 0) }));
    return [
      { name: 'tread_alerts_open', type: 'gauge', help: 'Alerts not resolved, by state', samples: open(alerts, ALERT_STATES) },
      { name: 'tread_alert_groups_open', type: 'gauge', help: 'Alert groups not resolved, by state', samples: open(groups, GROUP_STATES) },
      { name: 'tread_events_ingested_total', type: 'counter', help: 'Monitoring events applied (deduplicated and correlated) by this process', samples: [{ value: stats.events }] },
      { name: 'tread_events_queued_total', type: 'counter', help: 'Monitoring events this process stored in the intake because their lane was busy', samples: [{ value: stats.queued }] },
      { name: 'tread_event_intake_pending', type: 'gauge', help: 'Monitoring events stored in the intake and not applied yet (all replicas)', samples: [{ value: backlog.events }] },
      { name: 'tread_event_intake_failed', type: 'gauge', help: 'Intake rows set aside after failing on their own (see event_intake.failed)', samples: [{ value: backlog.failed }] },
      { name: 'tread_event_batches_total', type: 'counter', help: 'Group commits of events by this process', samples: [{ value: stats.batches }] },
      { name: 'tread_event_batch_retries_total', type: 'counter', help: 'Batches retried request by request after a failure', samples: [{ value: stats.retries }] },
    ];
  },
  async start(app) {
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
