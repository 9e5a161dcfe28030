/**
 * Webhook fulfilment: what tread sends the item's fulfilment system (the request to fulfil, and its cancellation when
 * the request is cancelled in fulfilment), and what it does with the outcome of each (`webhook.delivered` /
 * `webhook.failed`). Both go through the seam's signed outgoing webhooks: `action` in the body says which it is, and the
 * `Idempotency-Key` is `REQ-n:fulfil` or `REQ-n:cancel`.
 */
import { eq } from 'drizzle-orm';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { channelWheres } from '../../core/channels.js';
import { parseRecordId } from '../../core/commands.js';
import { directoryOf, personName, type Actor } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { addTimeline } from '../../core/timeline.js';
import type { WebhookOutcome } from '../../core/webhooks.js';
import type { CatalogItem } from './request.config.js';
import { requestSubject, type RequestRow } from './request.messages.js';
import { getRequest, itemOf, refreshCard, teamMembers } from './request.service.js';
import { stopResponseClock } from './request.sla.js';

/** What a webhook asks the fulfilment system to do. */
export type FulfilmentAction = 'fulfil' | 'cancel';

/** The webhook target of an item's fulfilment. */
export function webhookTargetName(item: CatalogItem): string {
  return `request:${item.name}`;
}

/** Sends the fulfilment system one action about a request (after commit, retried), and notes it on the row and timeline. */
async function sendAction(tx: Tx, app: AppContext, row: RequestRow, item: CatalogItem, action: FulfilmentAction, body: Record<string, unknown>, actor: Actor, now: Date, sentence: string): Promise<RequestRow> {
  const subject = requestSubject(row.id);
  await app.webhooks.send(tx, app, {
    target: webhookTargetName(item), idempotencyKey: `${subject}:${action}`, subject, notify: teamMembers(app, item.fulfilment.team),
    body: { action, request: subject, item: item.name, title: item.title, ...body },
  });
  const [sent] = await tx.update(schema.requests).set({ webhookState: action === 'fulfil' ? 'sent' : 'cancel_sent' }).where(eq(schema.requests.id, row.id)).returning();
  await addTimeline(tx, { subject, at: now, actor: actor.person.id, source: actor.source, kind: action === 'fulfil' ? 'webhook' : 'webhook.cancel', text: sentence });
  return sent!;
}

/** Fulfilment starts: the request goes to the item's fulfilment system. */
export async function sendFulfilment(tx: Tx, app: AppContext, row: RequestRow, item: CatalogItem, actor: Actor, now: Date): Promise<RequestRow> {
  const requester = directoryOf(app.config).get(row.requester);
  return sendAction(tx, app, row, item, 'fulfil', {
    fields: row.fields,
    requester: { id: row.requester, name: await personName(app, row.requester, tx), email: requester?.email ?? null },
    submittedAt: row.createdAt.toISOString(),
    callback: `${app.publicUrl ?? ''}/hooks/requests/${requestSubject(row.id)}`,
  }, actor, now, 'Sent to the fulfilment system');
}

/**
 * A request cancelled in fulfilment: its fulfilment system is told to stop. It is sent whether or not an attempt of the
 * fulfilment got through (tread cannot know whether a timed-out attempt reached the receiver), so a receiver answers
 * 2xx to the cancellation of a request it never took.
 */
export async function sendCancellation(tx: Tx, app: AppContext, row: RequestRow, actor: Actor, reason: string | null, now: Date): Promise<RequestRow> {
  const item = itemOf(app, row);
  if (!item?.fulfilment.webhook || !app.webhooks.has(webhookTargetName(item))) {
    await addTimeline(tx, { subject: requestSubject(row.id), at: now, actor: actor.person.id, source: actor.source, kind: 'webhook.cancel', text: 'The fulfilment system could not be told of the cancellation: the item has no fulfilment webhook any more' });
    return row;
  }
  return sendAction(tx, app, row, item, 'cancel', {
    reason, cancelledBy: { id: actor.person.id, name: actor.person.name }, cancelledAt: now.toISOString(),
  }, actor, now, 'Cancellation sent to the fulfilment system');
}

/** The request and action of a webhook outcome, when it is one of ours. */
function ourWebhook(o: WebhookOutcome): { id: number; action: FulfilmentAction } | undefined {
  if (!o.target.startsWith('request:')) return undefined;
  const id = parseRecordId('REQ', o.subject);
  return id === undefined ? undefined : { id, action: o.idempotencyKey.endsWith(':cancel') ? 'cancel' : 'fulfil' };
}

/** A receiver's answer in a few words: its reference, else its text. */
function responseNote(response: unknown): string | null {
  if (response && typeof response === 'object') {
    const r = response as Record<string, unknown>;
    const ref = r.ticket ?? r.reference ?? r.id;
    if (typeof ref === 'string' || typeof ref === 'number') return `reference ${String(ref).slice(0, 100)}`;
    return null;
  }
  return typeof response === 'string' && response.trim() ? response.trim().slice(0, 200) : null;
}

/** The state a request must still be in for an outcome of each action to matter. */
const EXPECTED: Record<FulfilmentAction, string> = { fulfil: 'in_fulfilment', cancel: 'cancelled' };

/** `webhook.delivered`: the fulfilment system took the request (the first response) or its cancellation. */
export async function onWebhookDelivered(tx: Tx, app: AppContext, o: WebhookOutcome, now: Date): Promise<void> {
  const ours = ourWebhook(o);
  if (!ours) return;
  const row = await getRequest(tx, ours.id, true);
  if (row.state !== EXPECTED[ours.action]) return;
  const note = responseNote(o.response);
  const fulfil = ours.action === 'fulfil';
  const [updated] = await tx.update(schema.requests).set(fulfil
    ? { webhookState: 'accepted', webhookNote: note, respondedAt: row.respondedAt ?? now, updatedAt: now }
    : { webhookState: 'cancel_accepted', webhookNote: note ?? row.webhookNote, updatedAt: now })
    .where(eq(schema.requests.id, ours.id)).returning();
  if (fulfil) await stopResponseClock(tx, o.subject);
  await addTimeline(tx, {
    subject: o.subject, at: now, actor: 'tread', source: 'webhook', kind: fulfil ? 'webhook.accepted' : 'webhook.cancel_accepted',
    text: fulfil ? `Accepted by the fulfilment system (HTTP ${o.status})` : `The fulfilment system confirmed the cancellation (HTTP ${o.status})`,
  });
  await refreshCard(tx, app, updated!, now);
}

/**
 * `webhook.failed`: the fulfilment system could not be reached after the last retry, with the request or with its
 * cancellation. The fulfilment team is told in its channel (the seam DMs its members too), and the card says so.
 */
export async function onWebhookFailed(tx: Tx, app: AppContext, o: WebhookOutcome, now: Date): Promise<void> {
  const ours = ourWebhook(o);
  if (!ours) return;
  const row = await getRequest(tx, ours.id, true);
  if (row.state !== EXPECTED[ours.action]) return;
  const fulfil = ours.action === 'fulfil';
  const [updated] = await tx.update(schema.requests).set({ webhookState: fulfil ? 'failed' : 'cancel_failed', webhookNote: o.error ?? null, updatedAt: now }).where(eq(schema.requests.id, ours.id)).returning();
  await addTimeline(tx, {
    subject: o.subject, at: now, actor: 'tread', source: 'webhook', kind: fulfil ? 'webhook.failed' : 'webhook.cancel_failed',
    text: fulfil ? `The fulfilment system could not be reached after ${o.attempts} attempts` : `The fulfilment system could not be told of the cancellation after ${o.attempts} attempts`,
  });
  const channel = itemOf(app, row)?.fulfilment.channel ?? app.config.request.announce;
  const why = `after ${o.attempts} attempts (${o.error ?? 'no answer'})`;
  const text = fulfil
    ? `⚠ ${o.subject} (${row.itemTitle}): the fulfilment system did not take it ${why}. Fulfil it by hand, then: /request complete ${o.subject} fulfilled <note>`
    : `⚠ ${o.subject} (${row.itemTitle}) was cancelled, but the fulfilment system did not take the cancellation ${why}. Stop its fulfilment there by hand.`;
  for (const where of channel ? channelWheres(channel, app.platforms) : []) await enqueue(tx, { kind: 'post', where, message: { text, tone: 'danger' } });
  await refreshCard(tx, app, updated!, now);
}
