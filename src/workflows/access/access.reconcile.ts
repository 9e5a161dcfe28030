/**
 * Verification: every `reconcileEvery`, each resource whose connector can `list` reports what is really granted for
 * the resource's roles. Anything granted without an active grant, or missing despite one, is drift: recorded, audited,
 * alerted in the security channel (deduplicated per login and role), and resolved when it is gone. `/access drift`
 * lists what is open.
 */
import { and, asc, eq, inArray, isNull, isNotNull, ne, or } from 'drizzle-orm';
import { schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import type { TwoPhaseTimerHandler } from '../../core/timers.js';
import { unavailableReason, type ResourceConfig } from './access.config.js';
import { ACTIVE_STATES, computeDrift, type Drift, type Membership } from './access.machine.js';
import { grantSubject, type DriftRow } from './access.messages.js';
import { CONNECTOR_LEASE_MS } from './access.provisioning.js';
import { accessAlert, ACCESS_TIMER } from './access.service.js';
import { connectorFor } from './connectors/index.js';

/** The alert key of a drift entry. */
export const driftKey = (resource: string, d: Pick<Drift, 'kind' | 'login' | 'role'>) => `drift:${resource}:${d.kind}:${d.login}:${d.role}`;

/** A drift entry in words. */
export function driftWords(resource: string, d: Pick<Drift, 'kind' | 'login' | 'role'> & { grantId?: number | null }): string {
  return d.kind === 'unexpected'
    ? `${resource}: ${d.login} holds ${d.role} without an active grant (granted outside tread?)`
    : `${resource}: ${d.grantId ? `${grantSubject(d.grantId)} gives ` : ''}${d.login} ${d.role}, but the target does not show it (removed outside tread?)`;
}

/** Resources whose connector can say what is really granted. */
export function listableResources(app: AppContext): ResourceConfig[] {
  return app.config.resources.filter((r) => connectorFor(r.connector.kind).list && !unavailableReason(r));
}

/** Compares one resource's grants with `actual`, what its target showed; records, alerts and resolves drift. Returns what is drift now. */
export async function reconcileResource(tx: Tx, app: AppContext, resource: ResourceConfig, now: Date, actual: Membership[]): Promise<{ drift: Drift[]; found: number; resolved: number }> {
  const t = schema.accessGrants;
  const grants = await tx.select({ id: t.id, login: t.login, role: t.role, state: t.state, removal: t.removal }).from(t).where(and(eq(t.resource, resource.name), or(
    inArray(t.state, [...ACTIVE_STATES, 'provisioning']),
    and(isNotNull(t.removal), ne(t.removal, 'done')),
  )));
  const active = grants.filter((g) => (ACTIVE_STATES as readonly string[]).includes(g.state)).map((g) => ({ login: g.login, role: g.role, grantId: g.id }));
  const settling = grants.filter((g) => g.state === 'provisioning' || (g.removal && g.removal !== 'done'));
  const drift = computeDrift(actual, active, settling, resource.roles.map((r) => r.name));
  const open = await tx.select().from(schema.accessDrift).where(and(eq(schema.accessDrift.resource, resource.name), isNull(schema.accessDrift.resolvedAt))).for('update');
  const key = (d: Pick<Drift, 'kind' | 'login' | 'role'>) => driftKey(resource.name, d);
  const openKeys = new Map(open.map((o) => [key(o as Pick<Drift, 'kind' | 'login' | 'role'>), o]));
  const nowKeys = new Set(drift.map(key));
  let found = 0;
  for (const d of drift) {
    const existing = openKeys.get(key(d));
    if (existing) {
      await tx.update(schema.accessDrift).set({ lastSeen: now }).where(eq(schema.accessDrift.id, existing.id));
      continue;
    }
    found++;
    await tx.insert(schema.accessDrift).values({ resource: resource.name, login: d.login, role: d.role, kind: d.kind, grantId: d.grantId ?? null, firstSeen: now, lastSeen: now });
    await auditActor(tx, SCHEDULER_ACTOR, { at: now, subject: `access:${resource.name}`, action: 'access.drift_found', data: { resource: resource.name, login: d.login, role: d.role, kind: d.kind, ...(d.grantId ? { grant: grantSubject(d.grantId) } : {}) } });
    await accessAlert(tx, app, { key: key(d), action: 'trigger', severity: 'warning', summary: `Access drift: ${driftWords(resource.name, d)}`, details: { resource: resource.name, login: d.login, role: d.role, kind: d.kind } }, now);
  }
  let resolved = 0;
  for (const o of open) {
    if (nowKeys.has(key(o as Pick<Drift, 'kind' | 'login' | 'role'>))) continue;
    resolved++;
    await tx.update(schema.accessDrift).set({ resolvedAt: now }).where(eq(schema.accessDrift.id, o.id));
    await auditActor(tx, SCHEDULER_ACTOR, { at: now, subject: `access:${resource.name}`, action: 'access.drift_resolved', data: { resource: resource.name, login: o.login, role: o.role, kind: o.kind } });
    await accessAlert(tx, app, { key: key(o as Pick<Drift, 'kind' | 'login' | 'role'>), action: 'resolve', severity: 'warning', summary: `Access drift gone: ${driftWords(resource.name, o as Drift)}` }, now);
  }
  return { drift, found, resolved };
}

/** What each listable target showed (read with no transaction open), by resource name; undefined where it could not be read. */
type Listed = Map<string, Membership[] | undefined>;

/**
 * The reconcile timer, in two phases: every resource that can list is read with no transaction open (a target that
 * hangs holds no transaction, and on PGlite not the one connection), then compared with its grants in the transaction
 * that ends the timer, which comes back after `reconcileEvery`.
 */
export const reconcileTimer: TwoPhaseTimerHandler<Listed> = {
  // every target in turn, each bounded by its connector's timeout
  leaseMs: CONNECTOR_LEASE_MS,
  async call(_timer, app) {
    const listed: Listed = new Map();
    for (const resource of listableResources(app)) {
      try {
        listed.set(resource.name, await connectorFor(resource.connector.kind).list!(app, resource));
      } catch (e) {
        listed.set(resource.name, undefined);
        app.log.warn({ resource: resource.name, err: (e as Error).message }, 'access reconciliation could not read the target');
      }
    }
    return listed;
  },
  async settle(tx, _timer, app, now, listed) {
    for (const resource of listableResources(app)) {
      const actual = listed.get(resource.name);
      if (!actual) continue;
      // a savepoint per resource: one that fails spoils nothing of the others
      await tx.transaction((sp) => reconcileResource(sp as Tx, app, resource, now, actual)).catch((e: unknown) => {
        app.log.warn({ resource: resource.name, err: (e as Error).message }, 'access reconciliation could not record what the target showed');
      });
    }
    return { rescheduleAt: new Date(now.getTime() + app.config.access.reconcileEvery) };
  },
};

/** Schedules reconciliation at start-up (an existing schedule is kept). */
export async function armReconcile(app: AppContext): Promise<void> {
  if (listableResources(app).length === 0) return;
  const now = app.clock.now();
  await app.db.insert(schema.timers).values({ kind: ACCESS_TIMER.reconcile, subject: 'access', key: ACCESS_TIMER.reconcile, dueAt: new Date(now.getTime() + app.config.access.reconcileEvery), payload: {} })
    .onConflictDoNothing({ target: schema.timers.key });
}

/** Open drift, oldest first. */
export async function openDrift(db: DbOrTx): Promise<DriftRow[]> {
  return db.select().from(schema.accessDrift).where(isNull(schema.accessDrift.resolvedAt)).orderBy(asc(schema.accessDrift.firstSeen), asc(schema.accessDrift.id));
}
