/** The links out of event management: incidents (incident workflow) and paging (on-call escalations). */
import type { Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { isDomainError } from '../../core/errors.js';
import { SCHEDULER_PERSON } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { changeIncident, openIncident, type Actor, type NewIncident } from '../incident/incident.service.js';
import { activeEscalation, escalateNow, startEscalation, stopEscalation } from '../oncall/escalation.service.js';

export type { Actor };

/** tread acting on a monitor's event (rules decide; no person did). */
export const WEBHOOK_ACTOR: Actor = { person: SCHEDULER_PERSON, source: 'webhook' };
/** tread acting from a timer. */
export const SCHEDULER_ACTOR: Actor = { person: SCHEDULER_PERSON, source: 'scheduler' };

/**
 * Runs `fn` inside a savepoint: a failure (a coded refusal or a database error) is rolled back and returned as a sentence,
 * so one failing link never loses the events of a batch.
 */
export async function guarded<T>(tx: Tx, app: AppContext, what: string, fn: (sp: Tx) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    const value = await tx.transaction(async (sp) => fn(sp as unknown as Tx));
    return { ok: true, value };
  } catch (e) {
    if (!isDomainError(e)) app.log.error({ err: e, what }, 'event management: linked operation failed');
    return { ok: false, error: isDomainError(e) ? e.message : `${what} failed: ${(e as Error).message}` };
  }
}

/** Opens an incident for alerts (inside the caller's transaction). */
export async function openLinkedIncident(tx: Tx, app: AppContext, input: NewIncident, actor: Actor, now: Date): Promise<number> {
  const row = await openIncident(tx, app, input, actor, now);
  return row.id;
}

/** Resolves a linked incident. */
export async function resolveLinkedIncident(tx: Tx, app: AppContext, id: number, note: string, actor: Actor, now: Date): Promise<void> {
  await changeIncident(tx, app, id, { action: 'resolve', note, code: 'fixed' }, actor, now);
}

/** Starts paging the on-call of a policy for a subject. */
export async function startPaging(tx: Tx, app: AppContext, input: { subject: string; policy: string; service?: string; title: string; card?: Message; actor?: Actor }, now: Date): Promise<void> {
  await startEscalation(tx, app, input, now);
}

/** Stops every pending page of a subject (no-op when none runs). */
export async function stopPaging(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date): Promise<boolean> {
  return Boolean(await stopEscalation(tx, app, subject, actor, now));
}

/** Pages the next step now. */
export async function pageNextNow(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date): Promise<void> {
  await escalateNow(tx, app, subject, actor, now);
}

/** True when a subject has a running escalation. */
export async function isPaging(tx: Tx, subject: string): Promise<boolean> {
  return Boolean(await activeEscalation(tx, subject));
}
