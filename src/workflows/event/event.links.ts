/**
 * The links out of event management: incidents and paging, through the operations the incident and on-call workflows
 * offer on the seam (see src/core/workflow.ts). Each runs in a savepoint, so one failing link never loses a batch's events.
 */
import type { Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { isDomainError } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import type { OpInput } from '../../core/workflow.js';

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

/** Opens an incident for alerts (inside the caller's transaction); returns its id. */
export async function openLinkedIncident(tx: Tx, app: AppContext, input: OpInput<'incident.open'>, actor: Actor, now: Date): Promise<number> {
  return (await app.seam.call('incident.open', { tx, app, now, actor }, input)).id;
}

/** Resolves a linked incident, saying why. */
export async function resolveLinkedIncident(tx: Tx, app: AppContext, id: number, note: string, actor: Actor, now: Date): Promise<void> {
  await app.seam.call('incident.resolve', { tx, app, now, actor }, { id, note });
}

/** Starts paging the on-call of a policy for a subject. */
export async function startPaging(tx: Tx, app: AppContext, input: OpInput<'oncall.page'>, actor: Actor, now: Date): Promise<void> {
  await app.seam.call('oncall.page', { tx, app, now, actor }, input);
}

/** Stops every pending page of a subject (false when none runs). */
export async function stopPaging(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date): Promise<boolean> {
  return app.seam.call('oncall.stop', { tx, app, now, actor }, { subject });
}

/** Pages the next step now. */
export async function pageNextNow(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date): Promise<void> {
  await app.seam.call('oncall.escalate_now', { tx, app, now, actor }, { subject });
}

/** True when a subject has a running escalation. */
export async function isPaging(tx: Tx, app: AppContext, subject: string, actor: Actor, now: Date): Promise<boolean> {
  return app.seam.offers('oncall.is_paging') && app.seam.call('oncall.is_paging', { tx, app, now, actor }, { subject });
}
