/**
 * Policy refusals (separation of duties, self-approval, not an eligible approver): a 403 in REST and a clear sentence in
 * chat, and each one is written to the audit log in a transaction of its own while the refused change rolls back.
 */
import type { Tx } from '../../db/client.js';
import type { AppContext } from './app.js';
import { auditActor } from './audit.js';
import { DomainError } from './errors.js';
import type { Actor } from './identity.js';

/** A refusal by policy: thrown inside the change's transaction; `inTransaction` audits it after the rollback. */
export class PolicyRefusal extends DomainError {
  constructor(code: string, message: string, readonly attempt: { actor: Actor; subject: string; data?: Record<string, unknown> }) {
    super(code, message, 403);
  }
}

/** True for a policy refusal. */
export function isPolicyRefusal(e: unknown): e is PolicyRefusal {
  return e instanceof PolicyRefusal;
}

/**
 * Runs a change in a transaction. A policy refusal thrown inside rolls the change back and is then recorded in the audit
 * log on its own (`refused:<code>`, with who tried what), before it goes on to the caller as the error it is.
 */
export async function inTransaction<T>(app: AppContext, work: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await app.db.transaction((tx) => work(tx as Tx));
  } catch (e) {
    if (isPolicyRefusal(e)) await auditRefusal(app, e);
    throw e;
  }
}

/** Writes a refusal to the audit log in its own transaction. */
export async function auditRefusal(app: AppContext, e: PolicyRefusal): Promise<void> {
  const { actor, subject, data } = e.attempt;
  await app.db.transaction((tx) => auditActor(tx, actor, { at: app.clock.now(), subject, action: `refused:${e.code}`, data: { ...data, reason: e.message } }));
}
