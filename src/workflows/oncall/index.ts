/**
 * On-call: schedules and overrides (`/oncall`, `GET /api/v1/oncall`) and escalations. Other workflows page through the
 * operations it offers (`oncall.page`, `oncall.stop`, …); incidents page and stop paging through their record events.
 */
import type { Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { actorFromRef } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { on, type OpContext, type Permission, type Workflow } from '../../core/workflow.js';
import { activeEscalation, escalateNow, startEscalation, stopEscalation } from './escalation.service.js';
import { oncallCommand } from './oncall.commands.js';
import { oncallConfig } from './oncall.config.js';
import { stopReasonFor, type StopReason } from './oncall.machine.js';
import { oncallRoutes } from './oncall.routes.js';
import { findSchedule, onCallAt } from './oncall.service.js';
import { oncallTimers } from './oncall.timers.js';

/** What starts paging for a record. */
export interface PageInput {
  /** The record being escalated: `INC-7`, `GRP-3`. */
  subject: string;
  /** An escalation policy of the config. */
  policy: string;
  service?: string;
  title: string;
  /** The record's card, for the pages (the newest card of the record in the outbox wins). */
  card?: Message;
}

declare module '../../core/workflow.js' {
  interface Operations {
    /** Starts paging a record with a policy (a record already being paged keeps its running escalation). */
    'oncall.page': (op: OpContext, input: PageInput) => Promise<void>;
    /** Stops every pending page of a record; true when one was running. */
    'oncall.stop': (op: OpContext, input: { subject: string; reason?: StopReason }) => Promise<boolean>;
    /** Pages the next step of a record's escalation now. */
    'oncall.escalate_now': (op: OpContext, input: { subject: string }) => Promise<void>;
    /** True when a record is being paged. */
    'oncall.is_paging': (op: OpContext, input: { subject: string }) => Promise<boolean>;
    /** Who is on call for a schedule at a time (now when not given), with overrides; null for nobody or an unknown schedule. */
    'oncall.who_is_on_call': (op: OpContext, input: { schedule: string; at?: Date }) => Promise<{ person: string | null }>;
  }
}

const permissions: Record<string, Permission> = {
  'oncall.view': { roles: ['requester'], what: 'see who is on call' },
  'oncall.override': { roles: ['responder'], what: 'make on-call overrides' },
  'oncall.escalate': { roles: ['responder'], what: 'escalate' },
};

/** The escalation policy of a service, if it has one. */
function policyOf(app: AppContext, service: string | null): string | undefined {
  return service ? app.config.services.find((s) => s.name === service)?.escalationPolicy : undefined;
}

/** On-call schedules and escalation policies. */
export const oncallWorkflow: Workflow = {
  name: 'oncall',
  config: oncallConfig,
  permissions,
  commands: [oncallCommand],
  timers: oncallTimers,
  provides: {
    'oncall.page': async ({ tx, app, now, actor }, input) => { await startEscalation(tx, app, { ...input, actor }, now); },
    'oncall.stop': async ({ tx, now, actor }, { subject, reason }) => Boolean(await stopEscalation(tx, subject, actor, now, reason)),
    'oncall.escalate_now': async ({ tx, app, now, actor }, { subject }) => { await escalateNow(tx, app, subject, actor, now); },
    'oncall.is_paging': async ({ tx }, { subject }) => Boolean(await activeEscalation(tx, subject)),
    'oncall.who_is_on_call': async ({ tx, app, now }, { schedule, at }) => {
      const found = findSchedule(app, schedule);
      return { person: found ? (await onCallAt(tx, found, at ?? now)).current.person : null };
    },
  },
  subscribes: [
    // A new incident of a service with an escalation policy pages its on-call (incidents opened for alerts are paged by their group).
    on('incident.opened', 'inline', 'page-new-incident', async (tx: Tx, app, e, now) => {
      const policy = policyOf(app, e.service);
      if (policy && !e.fromAlerts) await startEscalation(tx, app, { subject: e.subject, policy, service: e.service ?? undefined, title: e.title }, now);
    }),
    // Acknowledging, resolving or cancelling an incident stops its pages.
    on('incident.changed', 'inline', 'stop-paging-incident', async (tx: Tx, _app, e, now) => {
      const reason = stopReasonFor(e.from.state, e.to.state);
      if (reason) await stopEscalation(tx, e.subject, actorFromRef(e.actor), now, reason);
    }),
  ],
  routes: oncallRoutes,
};
