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
import { incidentView, noteIncident, recentIncidents, refreshIncidentCard, tellAssignee, type IncidentView } from './incident.seam.js';
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
  /** The labels of the alerts it was opened for (empty for incidents opened in chat or over REST). */
  labels: Record<string, string>;
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
    /** One incident (null when there is none), with its key timeline entries when asked. */
    'incident.get': (op: OpContext, input: { id: number; timeline?: boolean }) => Promise<IncidentView | null>;
    /** Incidents opened since a time, with a service and not cancelled, oldest first (of some services or ids when given). */
    'incident.recent': (op: OpContext, input: { since: Date; services?: string[]; ids?: number[]; limit?: number }) => Promise<IncidentView[]>;
    /** Edits the incident's cards in place: what another workflow contributes to them changed. */
    'incident.refresh_card': (op: OpContext, input: { id: number }) => Promise<void>;
    /** A note on the incident (timeline, audit, its cards' thread), by the acting person. */
    'incident.note': (op: OpContext, input: { id: number; note: string }) => Promise<void>;
    /** A direct message to the incident's assignee; false when nobody is assigned. */
    'incident.tell_assignee': (op: OpContext, input: { id: number; text: string }) => Promise<boolean>;
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
    'incident.get': async ({ tx }, { id, timeline }) => incidentView(tx, id, { timeline }),
    'incident.recent': async ({ tx }, input) => recentIncidents(tx, input),
    'incident.refresh_card': async ({ tx, app, now }, { id }) => refreshIncidentCard(tx, app, id, now),
    'incident.note': async ({ tx, app, now, actor }, { id, note }) => noteIncident(tx, app, id, note, actor, now),
    'incident.tell_assignee': async ({ tx }, { id, text }) => tellAssignee(tx, id, text),
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
