/** Known errors: published from a problem (`KE-n`), edited with every version kept, retired (readable, out of matching). */
import type { Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { badInput, conflict } from '../../core/errors.js';
import type { Actor } from '../../core/identity.js';
import { requirePermission } from '../../core/permissions.js';
import { addTimeline } from '../../core/timeline.js';
import { validateKnownError, type KnownErrorFields } from './problem.inputs.js';
import { knownErrorSubject, problemSubject, type KnownErrorRow } from './problem.messages.js';
import { getProblem, refreshProblemCard } from './problem.service.js';
import { getKnownError, insertKnownError, knownErrorOf, reviseKnownError } from './problem.versions.js';

/**
 * Publishes a problem's known error. Symptoms default to the problem's statement (else its title), root cause and
 * workaround to the problem's, services to its service; at least a root cause or a workaround must be known.
 */
export async function publishKnownError(tx: Tx, app: AppContext, problemId: number, fields: KnownErrorFields, actor: Actor, now: Date): Promise<KnownErrorRow> {
  const problem = await getProblem(tx, problemId, true);
  const subject = problemSubject(problemId);
  requirePermission(app, actor.person, 'problem.known_error', subject);
  const existing = await knownErrorOf(tx, problemId);
  if (existing) throw conflict('problem.known_error_exists', `${subject} has known error ${knownErrorSubject(existing.id)} already; change it with /problem known-error ${knownErrorSubject(existing.id)} edit …`);
  if (problem.resolution === 'duplicate') throw conflict('problem.known_error_duplicate', `${subject} is a duplicate of ${problemSubject(problem.duplicateOf ?? 0)}; publish the known error there.`);
  const given = validateKnownError(app, fields);
  const rootCause = given.rootCause !== undefined ? given.rootCause : problem.rootCause;
  const workaround = given.workaround !== undefined ? given.workaround : problem.workaround;
  if (!rootCause && !workaround) {
    throw badInput('problem.known_error_empty', `${subject} has neither a root cause nor a workaround yet: record one first (/problem rca ${subject} … or /problem workaround ${subject} …), or give workaround:"…".`, [{ path: 'workaround', message: 'give a workaround or a root cause' }]);
  }
  const row = await insertKnownError(tx, {
    problemId, title: given.title ?? problem.title, symptoms: given.symptoms ?? problem.statement ?? problem.title, rootCause, workaround,
    services: given.services ?? (problem.service ? [problem.service] : []), errorCodes: given.errorCodes ?? [],
  }, actor.person.id, now);
  const ke = knownErrorSubject(row.id);
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: 'known_error', text: `Known error ${ke} published by ${actor.person.name}` });
  await auditActor(tx, actor, { at: now, subject: ke, action: 'problem.known_error_published', data: { problem: subject, title: row.title, services: row.services, errorCodes: row.errorCodes } });
  await refreshProblemCard(tx, app, problem, now);
  return row;
}

/** Changes a known error (its next version); a retired one may be published again with `state: 'published'`. */
export async function editKnownError(tx: Tx, app: AppContext, id: number, fields: KnownErrorFields & { state?: 'published' | 'retired' }, actor: Actor, now: Date, note?: string): Promise<{ row: KnownErrorRow; changed: string[] }> {
  const before = await getKnownError(tx, id, true);
  const ke = knownErrorSubject(id);
  requirePermission(app, actor.person, 'problem.known_error', ke);
  const { state, ...rest } = fields;
  const values = validateKnownError(app, rest);
  if (values.symptoms === '') throw badInput('problem.bad_known_error', 'A known error needs symptoms.', [{ path: 'symptoms', message: 'required' }]);
  const result = await reviseKnownError(tx, before, { ...values, ...(state ? { state } : {}) }, actor.person.id, now, note);
  if (result.changed.length === 0) throw conflict('problem.known_error_unchanged', `${ke} already says that; nothing changed.`);
  await auditActor(tx, actor, { at: now, subject: ke, action: state === 'retired' ? 'problem.known_error_retired' : 'problem.known_error_edited', data: { version: result.row.version, changed: result.changed, ...(note ? { note } : {}) } });
  const problemSubj = problemSubject(before.problemId);
  await addTimeline(tx, { subject: problemSubj, at: now, actor: actor.person.id, source: actor.source, kind: 'known_error', text: `Known error ${ke} ${state === 'retired' ? 'retired' : `version ${result.row.version}`} by ${actor.person.name}${note ? `: ${note}` : ` (${result.changed.join(', ')})`}` });
  await refreshProblemCard(tx, app, await getProblem(tx, before.problemId), now);
  return result;
}
