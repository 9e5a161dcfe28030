/** Incident management: `/incident`, its buttons and forms, SLA timers, REST, and what it offers other workflows. */
import { sql } from 'drizzle-orm';
import { queryRows } from '../../../db/client.js';
import { parseRecordId } from '../../core/commands.js';
import type { ActorRef } from '../../core/identity.js';
import type { OpContext, Permission, Workflow } from '../../core/workflow.js';
import { incidentActions, incidentCommand } from './incident.commands.js';
import { incidentConfig } from './incident.config.js';
import type { IncidentState } from './incident.machine.js';
import { incidentRoutes } from './incident.routes.js';
import type { NewIncident } from './incident.inputs.js';
import { cardFor, changeIncident, getIncident, openIncident } from './incident.service.js';
import { incidentTimers } from './incident.timers.js';

/** `incident.opened`: a new incident, from chat, REST or alerts. */
export interface IncidentOpened {
  id: number;
  subject: string;
  title: string;
  description: string | null;
  service: string | null;
  priority: number;
  major: boolean;
  /** Opened for alerts: their group pages for it. */
  fromAlerts: boolean;
  actor: ActorRef;
}

/** What an incident looks like before and after a change. */
export interface IncidentFacts {
  state: IncidentState;
  priority: number;
  service: string | null;
  major: boolean;
}

/** `incident.changed`: any change of an incident (state, fields, notes), from every path. */
export interface IncidentChanged {
  id: number;
  subject: string;
  /** The command: `ack`, `resolve`, `priority`, `note`, … */
  action: string;
  from: IncidentFacts;
  to: IncidentFacts;
  actor: ActorRef;
}

declare module '../../core/workflow.js' {
  interface RecordEvents {
    'incident.opened': IncidentOpened;
    'incident.changed': IncidentChanged;
  }
  interface Operations {
    /** Opens an incident in the caller's transaction. */
    'incident.open': (op: OpContext, input: NewIncident) => Promise<{ id: number; subject: string }>;
    /** Resolves an open incident in the caller's transaction, with notes saying why. */
    'incident.resolve': (op: OpContext, input: { id: number; note: string }) => Promise<void>;
  }
}

const permissions: Record<string, Permission> = {
  'incident.create': { roles: ['requester'], what: 'open incidents' },
  'incident.note': { roles: ['requester'], what: 'add notes to' },
  'incident.view': { roles: ['requester'], what: 'see incidents' },
  'incident.stats': { roles: ['requester'], what: 'see incident stats' },
  'incident.ack': { roles: ['responder'], what: 'acknowledge' },
  'incident.start': { roles: ['responder'], what: 'start work on' },
  'incident.hold': { roles: ['responder'], what: 'put {subject} on hold' },
  'incident.assign': { roles: ['responder'], what: 'assign' },
  'incident.priority': { roles: ['responder'], what: 'change the priority of' },
  'incident.service': { roles: ['responder'], what: 'change the service of' },
  'incident.major': { roles: ['responder'], what: 'declare {subject} a major incident' },
  'incident.edit': { roles: ['responder'], what: 'edit' },
  'incident.resolve': { roles: ['responder'], what: 'resolve' },
  'incident.reopen': { roles: ['responder'], what: 'reopen' },
  'incident.close': { roles: ['responder'], what: 'close' },
  'incident.cancel': { roles: ['responder'], what: 'cancel' },
};

/** Incident management. */
export const incidentWorkflow: Workflow = {
  name: 'incident',
  config: incidentConfig,
  permissions,
  commands: [incidentCommand],
  actions: incidentActions,
  timers: incidentTimers,
  provides: {
    'incident.open': async ({ tx, app, now, actor }, input) => {
      const row = await openIncident(tx, app, input, actor, now);
      return { id: row.id, subject: `INC-${row.id}` };
    },
    'incident.resolve': async ({ tx, app, now, actor }, { id, note }) => {
      await changeIncident(tx, app, id, { action: 'resolve', note, code: 'fixed' }, actor, now);
    },
  },
  routes: incidentRoutes,
  async metrics(app) {
    const byState = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from incidents group by state`);
    return [{ name: 'tread_incidents', type: 'gauge', help: 'Incidents by state', samples: byState.map((r) => ({ labels: { state: r.state }, value: Number(r.n) })) }];
  },
  async card(app, subject) {
    const id = parseRecordId('INC', subject);
    if (id === undefined) return undefined;
    return cardFor(app.db, app, await getIncident(app.db, id), app.clock.now());
  },
};
