/**
 * The second step of a high-sensitivity approval. The approve button alone never counts: the approvals workflow holds
 * the press (`approval.second_step`) until access management confirms it with `approval.confirm`, which happens only
 * when the approver proves a second time that it is them:
 * - a one-time code (6 digits) sent to the approver's direct messages, typed back within 5 minutes (`/access confirm
 *   GRT-n <code>` or the Enter code button); five wrong tries void it;
 * - or, when TREAD_PUBLIC_URL is set, a single-use link to tread's HTTPS endpoint, valid 5 minutes, that shows what is
 *   approved and asks for one more press on the page (opening the link alone confirms nothing, so link scanners cannot).
 * Codes and link tokens are stored only as SHA-256 hashes. The REST API cannot do this step.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { conflict } from '../../core/errors.js';
import { SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { PolicyRefusal } from '../../core/refusals.js';
import { addTimeline } from '../../core/timeline.js';
import { formatTime } from '../../core/time-zone.js';
import type { RecordEvents } from '../../core/workflow.js';
import { grantSubject, grantWhat, type GrantRow } from './access.messages.js';
import { getGrant, grantIdOf, refreshCard } from './access.service.js';

/** How long a code or a link is valid. */
export const SECOND_STEP_TTL_MS = 5 * 60_000;
/** Wrong codes before a code is void. */
const MAX_FAILURES = 5;

/** A stored second step. */
export type SecondStepRow = typeof schema.accessSecondSteps.$inferSelect;

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The path of a confirmation link (served by access.routes.ts). */
export function confirmPath(token: string): string {
  return `/access/confirm/${token}`;
}

/** Sends a new code (or link) to an approver whose press waits; earlier unused ones are void. */
export async function sendSecondStep(tx: Tx, app: AppContext, g: GrantRow, approvalId: number, person: string, now: Date): Promise<'code' | 'link'> {
  const subject = grantSubject(g.id);
  await tx.update(schema.accessSecondSteps).set({ usedAt: now })
    .where(and(eq(schema.accessSecondSteps.grantId, g.id), eq(schema.accessSecondSteps.person, person), isNull(schema.accessSecondSteps.usedAt)));
  const expiresAt = new Date(now.getTime() + SECOND_STEP_TTL_MS);
  const until = formatTime(expiresAt, app.config.timezone, now);
  const what = `${grantWhat(g)} (${g.sensitivity} sensitivity) for ${g.person}`;
  let kind: 'code' | 'link';
  if (app.publicUrl) {
    kind = 'link';
    const token = randomBytes(24).toString('base64url');
    await tx.insert(schema.accessSecondSteps).values({ grantId: g.id, approvalId, person, kind, secretHash: hash(token), createdAt: now, expiresAt });
    const url = `${app.publicUrl.replace(/\/+$/, '')}${confirmPath(token)}`;
    await enqueue(tx, { kind: 'dm', person, message: { title: `Second step: ${subject}`, text: `Your approval of ${what} counts once you confirm it here, before ${until}: <${url}|confirm on tread's page>. The link works once.`, tone: 'warning' } }, { orderKey: subject });
  } else {
    kind = 'code';
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await tx.insert(schema.accessSecondSteps).values({ grantId: g.id, approvalId, person, kind, secretHash: hash(`${g.id}:${person}:${code}`), createdAt: now, expiresAt });
    await enqueue(tx, {
      kind: 'dm', person, message: {
        title: `Second step: ${subject}`,
        text: `Your approval of ${what} counts once you type this one-time code back, before ${until}:\n*${code}*\nType \`/access confirm ${subject} ${code}\` or press Enter code. Never share it.`,
        tone: 'warning', buttons: [{ actionId: 'access.code.form', label: 'Enter code', value: subject, style: 'primary' }],
      },
    }, { orderKey: subject });
  }
  await addTimeline(tx, { subject, at: now, actor: 'tread', source: 'scheduler', kind: 'second_step', text: `Second step (${kind === 'code' ? 'a one-time code' : 'a single-use link'}) sent to ${person}` });
  await auditActor(tx, SCHEDULER_ACTOR, { at: now, subject, action: 'access.second_step_sent', data: { resource: g.resource, role: g.role, person: g.person, approver: person, kind, expiresAt: expiresAt.toISOString() } });
  return kind;
}

/** `approval.second_step`: an approve press on a high-sensitivity grant waits: the approver gets a code or a link. */
export async function onSecondStep(tx: Tx, app: AppContext, e: RecordEvents['approval.second_step'], now: Date): Promise<void> {
  if (e.owner !== 'access') return;
  const id = grantIdOf(e.subject);
  if (id === undefined) return;
  const g = await getGrant(tx, id);
  await sendSecondStep(tx, app, g, e.approvalId, e.person, now);
  await refreshCard(tx, app, g, now);
}

/** Whether the person has an approve press on the grant waiting for its second step (read from the approval). */
async function waitingPress(tx: Tx, app: AppContext, g: GrantRow, person: string, now: Date): Promise<boolean> {
  if (!app.seam.offers('approval.status')) return false;
  const s = await app.seam.call('approval.status', { tx, app, now, actor: SCHEDULER_ACTOR }, { subject: grantSubject(g.id) });
  return Boolean(s && s.state === 'pending' && s.decisions.some((d) => d.person === person && d.stage === s.stage && !d.confirmed));
}

/** The result of a second step: counted, or a refusal to audit (its own transaction) after the failure count committed. */
export type SecondStepResult = { ok: true; sentence: string } | { ok: false; refusal: PolicyRefusal };

/** Counts the waiting press: the approval goes on (and may end, approved). */
async function confirm(tx: Tx, app: AppContext, step: SecondStepRow, g: GrantRow, actor: Actor, now: Date, via: 'code' | 'link'): Promise<string> {
  await tx.update(schema.accessSecondSteps).set({ usedAt: now }).where(eq(schema.accessSecondSteps.id, step.id));
  const subject = grantSubject(g.id);
  await auditActor(tx, actor, { at: now, subject, action: 'access.second_step_done', data: { resource: g.resource, role: g.role, person: g.person, approver: step.person, via } });
  const { state } = await app.seam.call('approval.confirm', { tx, app, now, actor }, { subject, person: step.person });
  return state === 'approved' ? `Confirmed: your approval of ${subject} counts, and ${grantWhat(g)} is being provisioned.` : `Confirmed: your approval of ${subject} counts; it still waits for other approvers.`;
}

/** `/access confirm GRT-n <code>`: checks the code of the acting approver. */
export async function confirmCode(tx: Tx, app: AppContext, grantId: number, code: string | undefined, actor: Actor, now: Date): Promise<SecondStepResult> {
  const g = await getGrant(tx, grantId);
  const subject = grantSubject(g.id);
  const person = actor.person.id;
  const refuse = (codeName: string, message: string): SecondStepResult => ({ ok: false, refusal: new PolicyRefusal(codeName, message, { actor, subject, data: { resource: g.resource, role: g.role, person: g.person, approver: person } }) });
  if (!(await waitingPress(tx, app, g, person, now))) throw conflict('access.no_second_step', `You have no approval of ${subject} waiting for a second step.`);
  const [step] = await tx.select().from(schema.accessSecondSteps)
    .where(and(eq(schema.accessSecondSteps.grantId, g.id), eq(schema.accessSecondSteps.person, person), eq(schema.accessSecondSteps.kind, 'code')))
    .orderBy(desc(schema.accessSecondSteps.id)).limit(1).for('update');
  if (!code?.trim()) {
    // no code given: a fresh one (the last one expired, or the message was lost)
    const kind = await sendSecondStep(tx, app, g, step?.approvalId ?? g.approvalId!, person, now);
    return { ok: true, sentence: kind === 'code' ? `A new one-time code for ${subject} is in your direct messages.` : `A new confirmation link for ${subject} is in your direct messages.` };
  }
  if (!step || step.usedAt) return refuse('access.code_invalid', `That code is not valid for ${subject} any more. Type /access confirm ${subject} (without a code) for a new one.`);
  if (step.expiresAt <= now) return refuse('access.code_expired', `The code for ${subject} expired ${formatTime(step.expiresAt, app.config.timezone, now)}; your approval does not count yet. Type /access confirm ${subject} (without a code) for a new one.`);
  const given = Buffer.from(hash(`${g.id}:${person}:${code.trim()}`));
  if (given.length !== step.secretHash.length || !timingSafeEqual(given, Buffer.from(step.secretHash))) {
    const failures = step.failures + 1;
    await tx.update(schema.accessSecondSteps).set({ failures, ...(failures >= MAX_FAILURES ? { usedAt: now } : {}) }).where(eq(schema.accessSecondSteps.id, step.id));
    return refuse('access.code_wrong', failures >= MAX_FAILURES
      ? `That code is wrong, and it was the fifth try: the code is void. Type /access confirm ${subject} (without a code) for a new one.`
      : `That code is wrong; your approval of ${subject} does not count yet (${MAX_FAILURES - failures} ${MAX_FAILURES - failures === 1 ? 'try' : 'tries'} left).`);
  }
  return { ok: true, sentence: await confirm(tx, app, step, g, actor, now, 'code') };
}

/** A confirmation link's step and grant, if the token is one; nothing is changed. */
export async function stepOfToken(tx: Tx, token: string): Promise<{ step: SecondStepRow; grant: GrantRow } | undefined> {
  if (!/^[A-Za-z0-9_-]{20,64}$/.test(token)) return undefined;
  const [step] = await tx.select().from(schema.accessSecondSteps).where(and(eq(schema.accessSecondSteps.secretHash, hash(token)), eq(schema.accessSecondSteps.kind, 'link')));
  if (!step) return undefined;
  return { step, grant: await getGrant(tx, step.grantId) };
}

/** The page's press on a confirmation link: single use, within 5 minutes, for the approver it was sent to. */
export async function confirmLink(tx: Tx, app: AppContext, token: string, actorOf: (person: string) => Promise<Actor>, now: Date): Promise<SecondStepResult> {
  const found = await stepOfToken(tx, token);
  if (!found) throw conflict('access.link_unknown', 'This confirmation link is not valid.');
  const [step] = await tx.select().from(schema.accessSecondSteps).where(eq(schema.accessSecondSteps.id, found.step.id)).for('update');
  const actor = await actorOf(step!.person);
  const g = found.grant;
  const subject = grantSubject(g.id);
  const refuse = (codeName: string, message: string): SecondStepResult => ({ ok: false, refusal: new PolicyRefusal(codeName, message, { actor, subject, data: { resource: g.resource, role: g.role, person: g.person, approver: step!.person, via: 'link' } }) });
  if (step!.usedAt) return refuse('access.link_used', `This link for ${subject} was already used or replaced by a newer one.`);
  if (step!.expiresAt <= now) return refuse('access.link_expired', `This link for ${subject} expired ${formatTime(step!.expiresAt, app.config.timezone, now)}; your approval does not count yet. Type /access confirm ${subject} in chat for a new one.`);
  if (!(await waitingPress(tx, app, g, step!.person, now))) throw conflict('access.no_second_step', `There is no approval of ${subject} by ${actor.person.name} waiting for a second step any more.`);
  return { ok: true, sentence: await confirm(tx, app, step!, g, actor, now, 'link') };
}
