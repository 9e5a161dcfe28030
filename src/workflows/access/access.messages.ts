/** Cards, forms and sentences of access management. Pure: records and names in, Messages out. */
import type { schema } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import type { Button, Field, Input, Message, Tone } from '../../core/message.js';
import { formatTime } from '../../core/time-zone.js';
import type { ResourceConfig } from './access.config.js';
import { STATE_WORDS, type GrantState } from './access.machine.js';

/** A stored grant. */
export type GrantRow = typeof schema.accessGrants.$inferSelect;
/** A stored task of the manual connector or a break-glass review. */
export type AccessTaskRow = typeof schema.accessTasks.$inferSelect;
/** A stored review campaign. */
export type ReviewRow = typeof schema.accessReviews.$inferSelect;
/** A stored review item. */
export type ReviewItemRow = typeof schema.accessReviewItems.$inferSelect;
/** A stored drift entry. */
export type DriftRow = typeof schema.accessDrift.$inferSelect;

/** `GRT-7`. */
export function grantSubject(id: number): string {
  return `GRT-${id}`;
}

/** `TASK-4`. */
export function taskSubject(id: number): string {
  return `TASK-${id}`;
}

/** `REV-2`. */
export function reviewSubject(id: number): string {
  return `REV-${id}`;
}

/** The subject of one reviewer's card of one grant in a campaign (`REV-2.GRT-7`). */
export function reviewItemSubject(reviewId: number, grantId: number): string {
  return `${reviewSubject(reviewId)}.${grantSubject(grantId)}`;
}

/** `prod-db: db_read`. */
export function grantWhat(g: Pick<GrantRow, 'resource' | 'role'>): string {
  return `${g.resource}: ${g.role}`;
}

/** What the approval looks like on the grant's card (read through `approval.status`). */
export interface ApprovalLine {
  id: string;
  state: string;
  stage: number;
  stages: number;
  waitingFor: string[];
  since: Date;
  expiresAt: Date;
  /** Approvers whose press waits for their second step. */
  secondStepFor: string[];
}

/** Everything the grant's card shows besides the row. */
export interface GrantView {
  row: GrantRow;
  resource?: ResourceConfig;
  approval?: ApprovalLine;
  /** The manual connector's open task (grant or removal). */
  task?: AccessTaskRow;
  history: { at: Date; text: string }[];
  name: (personId: string) => string;
  timeZone: string;
  now: Date;
}

const TONE: Record<GrantState, Tone> = {
  requested: 'warning', approved: 'info', provisioning: 'info', active: 'good', expiring: 'warning', revoked: 'neutral', expired: 'neutral',
  denied: 'danger', cancelled: 'neutral', failed: 'danger',
};

function left(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  return ms >= 0 ? `${formatDuration(ms)} left` : `${formatDuration(-ms)} ago`;
}

function removalLine(v: GrantView): string | undefined {
  const g = v.row;
  if (!g.removal) return undefined;
  if (g.removal === 'done') return `Access removed at the target ${formatTime(g.removedAt ?? g.updatedAt, v.timeZone, v.now)}.`;
  if (g.removal === 'retrying') return `⚠ Removal at the target failed (${g.removalAttempts} attempt${g.removalAttempts === 1 ? '' : 's'}: ${g.removalError ?? 'no answer'}); tread retries and the security channel was alerted.`;
  if (v.task?.kind === 'revoke') return `Removal: task ${taskSubject(v.task.id)} for team ${v.task.team} to remove it by hand.`;
  return 'Removal at the target is under way.';
}

/** The one live card the grantee has in a DM, edited in place for the grant's whole life. */
export function grantCard(v: GrantView): Message {
  const g = v.row;
  const state = g.state as GrantState;
  const subject = grantSubject(g.id);
  const by = (id: string | null) => (id && id !== 'tread' ? ` by ${v.name(id)}` : '');
  const lines: string[] = [];
  switch (state) {
    case 'requested': {
      const a = v.approval;
      if (a) {
        lines.push(`Pending approval by ${a.waitingFor.map(v.name).join(', ') || 'nobody'}${a.stages > 1 ? ` (stage ${a.stage} of ${a.stages})` : ''} since ${formatTime(a.since, v.timeZone, v.now)}.`);
        if (a.secondStepFor.length) lines.push(`${a.secondStepFor.map(v.name).join(', ')} approved; it counts once their second step (a one-time code or link) is done.`);
        lines.push(`The approval expires ${formatTime(a.expiresAt, v.timeZone, v.now)} if nobody decides.`);
      } else lines.push('Pending approval.');
      break;
    }
    case 'approved': lines.push(`Approved ${formatTime(g.approvedAt ?? g.updatedAt, v.timeZone, v.now)}; provisioning starts now.`); break;
    case 'provisioning':
      if (v.task?.kind === 'grant') lines.push(`Approved. Being provisioned: task ${taskSubject(v.task.id)} for team ${v.task.team} to grant it by hand.`);
      else if (g.connector === 'webhook') lines.push('Approved. Being provisioned: sent to the access system; waiting for it to confirm.');
      else lines.push('Approved. Being provisioned at the target.');
      break;
    case 'active': lines.push(`✓ Active until ${formatTime(g.endsAt!, v.timeZone, v.now)} (${left(g.endsAt!, v.now)}).`); break;
    case 'expiring': lines.push(`⏳ Expiring soon: access ends ${formatTime(g.endsAt!, v.timeZone, v.now)} (${left(g.endsAt!, v.now)}). Extend it if you still need it.`); break;
    case 'revoked': lines.push(`Revoked${by(g.outcomeBy)} ${formatTime(g.endedAt ?? g.updatedAt, v.timeZone, v.now)}: ${g.outcome ?? 'no reason given'}.`); break;
    case 'expired': lines.push(`Expired ${formatTime(g.endedAt ?? g.updatedAt, v.timeZone, v.now)}${g.outcome ? ` (${g.outcome})` : ''}.`); break;
    case 'denied': lines.push(`✗ Denied${by(g.outcomeBy)}: ${g.outcome ?? 'no reason given'}.`); break;
    case 'cancelled': lines.push(`Cancelled${by(g.outcomeBy)}${g.outcome ? `: ${g.outcome}` : ''}.`); break;
    case 'failed': lines.push(`✗ Provisioning failed: ${g.outcome ?? 'no reason given'}. The owners and the security channel were told.`); break;
  }
  if (g.pendingExtensionMs && (state === 'active' || state === 'expiring')) lines.push(`An extension by ${formatDuration(g.pendingExtensionMs)} waits for approval${v.approval?.state === 'pending' ? ` by ${v.approval.waitingFor.map(v.name).join(', ')}` : ''}.`);
  const removal = state === 'revoked' || state === 'expired' ? removalLine(v) : undefined;
  if (removal) lines.push(removal);
  const fields: Field[] = [
    { label: 'Resource', value: v.resource ? `${v.resource.title} (${g.resource})` : g.resource },
    { label: 'Role', value: `${g.role} · ${g.sensitivity} sensitivity` },
    { label: 'Duration', value: formatDuration(g.durationMs) + (g.extensions ? ` (extended ${g.extensions}×)` : '') },
    ...(g.reason ? [{ label: 'Reason', value: g.reason }] : []),
    ...(g.ticket ? [{ label: 'Ticket', value: g.ticket }] : []),
    ...(g.incident ? [{ label: 'Incident', value: g.incident }] : []),
  ];
  if (v.history.length) {
    const shown = v.history.slice(-8);
    fields.push({ label: 'History', value: [...(v.history.length > shown.length ? [`… ${v.history.length - shown.length} earlier`] : []), ...shown.map((h) => `${formatTime(h.at, v.timeZone, v.now)} · ${h.text}`)].join('\n') });
  }
  const buttons: Button[] = [];
  if (state === 'requested' || state === 'approved') buttons.push({ actionId: 'access.cancel.form', label: 'Cancel request', value: subject, style: 'danger' });
  if (state === 'active' || state === 'expiring') {
    if (!g.pendingExtensionMs && g.kind !== 'breakglass') buttons.push({ actionId: 'access.extend.form', label: 'Extend', value: subject, ...(state === 'expiring' ? { style: 'primary' as const } : {}) });
    buttons.push({ actionId: 'access.revoke.form', label: 'Revoke', value: subject, style: 'danger' });
  }
  const title = `${subject} · ${grantWhat(g)}${g.kind === 'breakglass' ? ' · 🔓 break-glass' : ''} · ${STATE_WORDS[state]}`;
  return {
    subject, title, text: lines.join('\n'), fields, buttons, tone: TONE[state], fallback: title,
    context: `for ${v.name(g.person)} · requested ${formatTime(g.requestedAt, v.timeZone, v.now)}${g.approvalId ? ` · approval APR-${g.approvalId}` : ''} · connector ${g.connector}`,
  };
}

/** A task's card for the team (grant or remove by hand) or the owners (review a break-glass): one Done button. */
export function taskCard(t: AccessTaskRow, g: GrantRow, name: (id: string) => string, timeZone: string, now: Date): Message {
  const subject = taskSubject(t.id);
  const grant = grantSubject(g.id);
  const lines: string[] = [];
  if (t.kind === 'grant') lines.push(`Grant *${g.role}* on *${g.resource}* to ${name(g.person)} (login \`${g.login}\`) for ${grant}, then press Done: the access counts from then.`);
  if (t.kind === 'revoke') lines.push(`Remove *${g.role}* on *${g.resource}* from ${name(g.person)} (login \`${g.login}\`): ${grant} ended (${g.state}). Press Done once it is removed.`);
  if (t.kind === 'breakglass_review') lines.push(`${name(g.person)} broke the glass for *${g.role}* on *${g.resource}* (${grant}) ${formatTime(g.requestedAt, timeZone, now)}: ${g.reason ?? ''}${g.incident ? ` (${g.incident})` : ''}. Review what was done with it, then press Reviewed.`);
  if (t.state === 'done') lines.push(`✓ ${t.kind === 'breakglass_review' ? 'Reviewed' : 'Done'} by ${name(t.doneBy ?? '')} ${formatTime(t.doneAt!, timeZone, now)}${t.note ? `: ${t.note}` : ''}.`);
  if (t.state === 'cancelled') lines.push(`Cancelled${t.note ? `: ${t.note}` : ''}.`);
  const buttons: Button[] = t.state === 'open' ? [{ actionId: 'access.task.done', label: t.kind === 'breakglass_review' ? 'Reviewed' : 'Done', value: subject, style: 'primary' }] : [];
  const title = `${subject} · ${t.title} · ${t.state}`;
  return {
    subject, title, text: lines.join('\n'), buttons, fallback: title, tone: t.state === 'open' ? 'warning' : t.state === 'done' ? 'good' : 'neutral',
    context: `${t.team ? `team ${t.team}` : 'owners of the resource'} · ${grant}`,
  };
}

/** `/access` without words: the resources a person can request, with a button each. */
export function resourcesMessage(resources: readonly { resource: ResourceConfig; unavailable?: string }[]): Message {
  if (resources.length === 0) return { title: 'Access', text: 'No resources are configured for access requests.' };
  const text = resources.map(({ resource: r, unavailable }) => `- *${r.title}* (\`${r.name}\`): ${r.roles.map((x) => `\`${x.name}\` ${x.sensitivity}`).join(', ')}${unavailable ? ` · not available now: ${unavailable}` : ''}`).join('\n');
  return {
    title: 'Access you can request',
    text,
    context: 'Press a button, or type /access request <resource> <role> [for 4h] <reason> [ticket:X].',
    buttons: resources.filter((r) => !r.unavailable).map(({ resource: r }) => ({ actionId: 'access.form', label: r.title, value: r.name })),
  };
}

/** The request form of a resource, filled with values, each field with its error. */
export function requestForm(r: ResourceConfig, values: Record<string, string> = {}, errors: Record<string, string> = {}): Message {
  const base: Input[] = [
    { id: 'role', label: 'Role', type: 'select', required: true, choices: r.roles.map((x) => ({ value: x.name, label: `${x.title} (${x.name}, ${x.sensitivity})` })), ...(values.role ? { initial: values.role } : {}) },
    { id: 'duration', label: 'For how long', type: 'text', placeholder: formatDuration(r.defaultDuration).replace(/ /g, ''), hint: `Default ${formatDuration(r.defaultDuration)}, at most ${formatDuration(r.maxDuration)}.`, ...(values.duration ? { initial: values.duration } : {}) },
    { id: 'reason', label: 'Why do you need it?', type: 'multiline', required: r.requireReason, ...(values.reason ? { initial: values.reason } : {}) },
    ...(r.requireTicket || values.ticket ? [{ id: 'ticket', label: 'Ticket', type: 'text' as const, required: r.requireTicket, ...(values.ticket ? { initial: values.ticket } : {}) }] : []),
  ];
  const inputs = base.map((i) => (errors[i.id] ? { ...i, error: errors[i.id] } : i));
  const other = Object.keys(errors).filter((k) => !inputs.some((i) => i.id === k));
  return {
    title: `Request access: ${r.title}`,
    text: [r.description, ...other.map((k) => `⚠ ${k}: ${errors[k]}`)].filter(Boolean).join('\n') || undefined,
    inputs,
    submit: { actionId: 'access.submit', label: 'Request access', value: r.name },
  };
}

/** A form with one reason (and optionally a duration) for a grant: revoke, cancel, extend. */
export function grantForm(kind: 'revoke' | 'cancel' | 'extend', subject: string): Message {
  const inputs: Input[] = kind === 'extend'
    ? [{ id: 'duration', label: 'How much longer', type: 'text', required: true, placeholder: '2h' }, { id: 'reason', label: 'Why?', type: 'text', required: true }]
    : [{ id: 'reason', label: kind === 'revoke' ? 'Why revoke it?' : 'Why cancel it?', type: 'text', required: true }];
  const words = { revoke: 'Revoke', cancel: 'Cancel request', extend: 'Extend' }[kind];
  return { title: `${words} ${subject}`, inputs, submit: { actionId: `access.${kind}.submit`, label: words, value: subject } };
}

/** The form an approver types their one-time code into. */
export function codeForm(subject: string): Message {
  return {
    title: `Second step for ${subject}`,
    text: 'Type the one-time code tread sent you in a direct message.',
    inputs: [{ id: 'code', label: 'Code', type: 'text', required: true, placeholder: '123456' }],
    submit: { actionId: 'access.code.submit', label: 'Confirm approval', value: subject },
  };
}

/** One line of `/access list`. */
export function listLine(g: GrantRow, name: (id: string) => string, timeZone: string, now: Date): string {
  const when = g.endsAt && (g.state === 'active' || g.state === 'expiring') ? ` · until ${formatTime(g.endsAt, timeZone, now)} (${left(g.endsAt, now)})` : '';
  return `*${grantSubject(g.id)}* · ${grantWhat(g)} · ${name(g.person)} · ${STATE_WORDS[g.state as GrantState]}${when}${g.kind === 'breakglass' ? ' · 🔓 break-glass' : ''}`;
}

/** A reviewer's card of one grant in a campaign: Keep / Revoke. */
export function reviewItemCard(r: ReviewRow, item: ReviewItemRow, g: GrantRow, name: (id: string) => string, timeZone: string, now: Date): Message {
  const subject = reviewItemSubject(r.id, g.id);
  const value = `${reviewSubject(r.id)}/${grantSubject(g.id)}`;
  const lines = [`Does ${name(g.person)} still need *${g.role}* on *${g.resource}* (${grantSubject(g.id)}, ${STATE_WORDS[g.state as GrantState]}${g.endsAt ? ` until ${formatTime(g.endsAt, timeZone, now)}` : ''})?`];
  if (item.decision) lines.push(`${item.decision === 'keep' ? '✓ Kept' : '✗ Revoked'} by ${name(item.decidedBy ?? '')} ${formatTime(item.decidedAt!, timeZone, now)}${item.reason ? `: ${item.reason}` : ''}.`);
  else if (r.state === 'closed') lines.push('Not reviewed before the deadline.');
  else lines.push(`Review by ${formatTime(r.deadline, timeZone, now)}.`);
  const buttons: Button[] = !item.decision && r.state === 'open' ? [
    { actionId: 'access.review.keep', label: 'Keep', value, style: 'primary' },
    { actionId: 'access.review.revoke.form', label: 'Revoke', value, style: 'danger' },
  ] : [];
  const title = `${reviewSubject(r.id)} · review ${grantSubject(g.id)} · ${grantWhat(g)}`;
  return {
    subject, title, text: lines.join('\n'), buttons, fallback: title, tone: item.decision ? 'good' : 'warning',
    fields: [{ label: 'Reason given', value: g.reason ?? '—' }, { label: 'Since', value: formatTime(g.activatedAt ?? g.requestedAt, timeZone, now) }],
  };
}

/** The form of a reviewer's Revoke. */
export function reviewRevokeForm(value: string): Message {
  return {
    title: `Revoke in review ${value.split('/')[0]}`,
    inputs: [{ id: 'reason', label: 'Why revoke it?', type: 'text', required: true }],
    submit: { actionId: 'access.review.revoke.submit', label: 'Revoke', value },
  };
}

/** A campaign's progress (`/access review status REV-n`). */
export function reviewStatusMessage(r: ReviewRow, items: readonly { item: ReviewItemRow; grant: GrantRow }[], name: (id: string) => string, timeZone: string, now: Date): Message {
  const decided = items.filter((i) => i.item.decision).length;
  const lines = items.map(({ item, grant }) => `- ${grantSubject(grant.id)} ${name(grant.person)} ${grant.role}: ${item.decision ? `${item.decision === 'keep' ? 'kept' : 'revoked'} by ${name(item.decidedBy ?? '')}${item.reason ? ` (${item.reason})` : ''}` : r.state === 'closed' ? 'not reviewed' : 'waiting'}`);
  return {
    title: `${reviewSubject(r.id)} · review of ${r.resource} · ${r.state}`,
    text: [`${decided} of ${items.length} grant${items.length === 1 ? '' : 's'} reviewed; deadline ${formatTime(r.deadline, timeZone, now)}.`, ...lines].join('\n'),
    context: `started by ${name(r.startedBy)} ${formatTime(r.startedAt, timeZone, now)} · reviewers ${r.reviewers.map(name).join(', ')}${r.revokeUnreviewed ? ' · unreviewed grants are revoked at the deadline' : ''}`,
    tone: r.state === 'closed' ? 'neutral' : 'info',
  };
}
