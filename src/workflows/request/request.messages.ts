/** Cards, forms and sentences of requests and tasks. Pure: records and names in, Messages out. */
import type { schema } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import { fieldInputs, valueText, type FieldSpec, type RawValues } from '../../core/forms.js';
import type { Button, Field, Message, Tone } from '../../core/message.js';
import { formatTime } from '../../core/time-zone.js';
import type { CatalogItem } from './request.config.js';
import { STATE_WORDS, TASK_WORDS, type RequestState, type TaskState } from './request.machine.js';

/** A stored request. */
export type RequestRow = typeof schema.requests.$inferSelect;
/** A stored task. */
export type TaskRow = typeof schema.requestTasks.$inferSelect;

/** `REQ-7`. */
export function requestSubject(id: number): string {
  return `REQ-${id}`;
}

/** `TASK-4`. */
export function taskSubject(id: number): string {
  return `TASK-${id}`;
}

/** What the approval looks like on the requester's card (read through `approval.status`). */
export interface ApprovalLine {
  id: string;
  state: string;
  stage: number;
  stages: number;
  waitingFor: string[];
  since: Date;
  expiresAt: Date;
  paused: boolean;
  openQuestion?: { asker: string; question: string };
}

/** Everything the requester's card shows besides the row. */
export interface RequestView {
  row: RequestRow;
  item?: CatalogItem;
  approval?: ApprovalLine;
  tasks: TaskRow[];
  history: { at: Date; text: string }[];
  name: (personId: string) => string;
  timeZone: string;
  now: Date;
}

const TONE: Record<RequestState, Tone> = {
  submitted: 'info', awaiting_approval: 'warning', approved: 'info', in_fulfilment: 'info', fulfilled: 'good', incomplete: 'danger',
  closed: 'neutral', rejected: 'danger', cancelled: 'neutral',
};

/** The field values as the item's labels show them. */
export function fieldLines(fields: Record<string, unknown>, item: CatalogItem | undefined, name: (id: string) => string): Field[] {
  const specs = new Map((item?.fields ?? []).map((f) => [f.id, f]));
  return Object.entries(fields).filter(([, v]) => valueText(v) !== undefined && valueText(v) !== '').map(([id, v]) => {
    const spec = specs.get(id);
    const text = spec?.type === 'user' ? name(String(v)) : Array.isArray(v) ? v.join(', ') : String(v);
    return { label: spec?.label ?? id, value: text };
  });
}

function due(label: string, at: Date | null, breached: boolean, v: RequestView): string | undefined {
  if (breached) return `${label} SLA breached`;
  if (!at) return undefined;
  const left = at.getTime() - v.now.getTime();
  return `${label} due ${formatTime(at, v.timeZone, v.now)} (${left >= 0 ? `${formatDuration(left)} left` : `${formatDuration(-left)} late`})`;
}

/** The current task line(s) of a request in fulfilment. */
function taskLines(v: RequestView): string[] {
  const active = v.tasks.filter((t) => t.state === 'open' || t.state === 'claimed');
  const lines = active.map((t) => `Task ${taskSubject(t.id)} ${t.title}: ${t.state === 'claimed' && t.holder ? `held by ${v.name(t.holder)} since ${formatTime(t.claimedAt!, v.timeZone, v.now)}` : 'waiting for someone to take it'}`);
  const done = v.tasks.filter((t) => t.state === 'done').length;
  if (v.tasks.length > 1) lines.push(`${done} of ${v.tasks.length} tasks done`);
  return lines;
}

/** The one live card the requester has in a DM, edited in place for the request's whole life. */
export function requestCard(v: RequestView): Message {
  const r = v.row;
  const state = r.state as RequestState;
  const subject = requestSubject(r.id);
  const lines: string[] = [];
  if (state === 'awaiting_approval' && v.approval) {
    const a = v.approval;
    lines.push(`Waiting for approval from ${a.waitingFor.map(v.name).join(', ') || 'nobody'}${a.stages > 1 ? ` (stage ${a.stage} of ${a.stages})` : ''} since ${formatTime(a.since, v.timeZone, v.now)}.`);
    if (a.openQuestion) lines.push(`❓ ${v.name(a.openQuestion.asker)} asks: ${a.openQuestion.question} — answer with the button; the approval waits for you.`);
    else lines.push(`The approval expires ${formatTime(a.expiresAt, v.timeZone, v.now)} if nobody decides.`);
  }
  if (state === 'in_fulfilment') {
    if (r.fulfilment === 'webhook') {
      lines.push(r.webhookState === 'failed' ? `⚠ The fulfilment system could not be reached: ${r.webhookNote ?? 'no answer'}. The fulfilment team was told.`
        : r.webhookState === 'accepted' ? `Accepted by the fulfilment system ${formatTime(r.respondedAt ?? r.updatedAt, v.timeZone, v.now)}${r.webhookNote ? ` (${r.webhookNote})` : ''}; waiting for it to finish.`
        : 'Sent to the fulfilment system; waiting for it to accept.');
    } else lines.push(...taskLines(v));
  }
  if (state === 'in_fulfilment' || state === 'approved') {
    const sla = [r.respondedAt ? `responded ${formatTime(r.respondedAt, v.timeZone, v.now)}` : due('response', r.responseDueAt, r.responseBreached, v), due('resolution', r.resolutionDueAt, r.resolutionBreached, v)].filter(Boolean);
    if (sla.length) lines.push(`SLA: ${sla.join(' · ')}`);
  }
  const outcome = outcomeLine(v);
  if (outcome) lines.push(outcome);
  const cancellation = state === 'cancelled' && r.fulfilment === 'webhook' ? CANCELLATION_WORDS[r.webhookState ?? ''] : undefined;
  if (cancellation) lines.push(cancellation(r.webhookNote));
  const fields = fieldLines(r.fields, v.item, v.name);
  if (v.history.length) {
    const shown = v.history.slice(-8);
    fields.push({ label: 'History', value: [...(v.history.length > shown.length ? [`… ${v.history.length - shown.length} earlier`] : []), ...shown.map((h) => `${formatTime(h.at, v.timeZone, v.now)} · ${h.text}`)].join('\n') });
  }
  const buttons: Button[] = [];
  if (v.approval?.openQuestion && state === 'awaiting_approval') buttons.push({ actionId: 'approval.answer.form', label: 'Answer the question', value: v.approval.id, style: 'primary' });
  if (['submitted', 'awaiting_approval', 'approved', 'in_fulfilment'].includes(state)) {
    buttons.push({ actionId: 'request.comment.form', label: 'Add a comment', value: subject });
    buttons.push({ actionId: 'request.cancel.form', label: 'Cancel request', value: subject, style: 'danger' });
  }
  const title = `${subject} · ${r.itemTitle} · ${STATE_WORDS[state]}`;
  return {
    subject, title, text: lines.join('\n'), fields, buttons, tone: TONE[state], fallback: title,
    context: `requested by ${v.name(r.requester)} ${formatTime(r.createdAt, v.timeZone, v.now)} · ${r.category}${r.approvalId ? ` · approval APR-${r.approvalId}` : ''}`,
  };
}

/** Where telling the fulfilment system of a cancellation stands (the request's webhook state after a cancellation). */
const CANCELLATION_WORDS: Record<string, (note: string | null) => string> = {
  cancel_sent: () => 'The fulfilment system is being told to stop.',
  cancel_accepted: () => 'The fulfilment system confirmed the cancellation.',
  cancel_failed: (note) => `⚠ The fulfilment system could not be told of the cancellation: ${note ?? 'no answer'}. The fulfilment team was told.`,
};

function outcomeLine(v: RequestView): string | undefined {
  const r = v.row;
  const by = r.outcomeBy && r.outcomeBy !== 'tread' ? ` by ${v.name(r.outcomeBy)}` : '';
  const when = r.completedAt ?? r.updatedAt;
  switch (r.state as RequestState) {
    case 'rejected': return `✗ Rejected${by}: ${r.outcome ?? 'no reason given'}.`;
    case 'cancelled': return `Cancelled${by}${r.outcome ? `: ${r.outcome}` : ''}.`;
    case 'fulfilled': return `✓ Fulfilled ${formatTime(when, v.timeZone, v.now)}${r.outcome ? `: ${r.outcome}` : ''}.`;
    case 'incomplete': return `✗ Could not be completed${by}: ${r.outcome ?? 'no reason given'}.`;
    case 'closed': return `Closed ${formatTime(r.closedAt ?? when, v.timeZone, v.now)}${r.outcome ? ` (${r.outcome})` : ''}.`;
    default: return undefined;
  }
}

/** What a task card needs besides the row. */
export interface TaskView {
  task: TaskRow;
  request: RequestRow;
  item?: CatalogItem;
  /** Titles of the tasks it waits for. */
  waitingFor: string[];
  name: (personId: string) => string;
  timeZone: string;
  now: Date;
}

/** A task's card in the fulfilment team's channel: Claim / Done / Can't complete. */
export function taskCard(v: TaskView): Message {
  const t = v.task;
  const state = t.state as TaskState;
  const subject = taskSubject(t.id);
  const lines = [`For ${requestSubject(v.request.id)} *${v.request.itemTitle}*, requested by ${v.name(v.request.requester)}.`];
  if (state === 'claimed' && t.holder) lines.push(`Held by ${v.name(t.holder)} since ${formatTime(t.claimedAt!, v.timeZone, v.now)}.`);
  if (state === 'waiting') lines.push(`Waits for: ${v.waitingFor.join(', ')}.`);
  if (state === 'done') lines.push(`✓ Done by ${v.name(t.holder ?? '')} ${formatTime(t.finishedAt!, v.timeZone, v.now)}.`);
  if (state === 'cannot_complete') lines.push(`✗ Can't be completed (${v.name(t.holder ?? '')}): ${t.reason ?? ''}`);
  if (state === 'cancelled') lines.push(`Cancelled${t.reason ? `: ${t.reason}` : ''}.`);
  const buttons: Button[] = [];
  if (state === 'open') buttons.push({ actionId: 'request.task.claim', label: 'Claim', value: subject, style: 'primary' });
  if (state === 'open' || state === 'claimed') {
    buttons.push({ actionId: 'request.task.done', label: 'Done', value: subject, ...(state === 'claimed' ? { style: 'primary' as const } : {}) });
    buttons.push({ actionId: 'request.task.cannot.form', label: "Can't complete", value: subject, style: 'danger' });
  }
  const title = `${subject} · ${t.title} · ${TASK_WORDS[state]}`;
  return {
    subject, title, text: lines.join('\n'), fields: fieldLines(v.request.fields, v.item, v.name), buttons, fallback: title,
    tone: state === 'open' ? 'warning' : state === 'claimed' ? 'info' : state === 'done' ? 'good' : state === 'cannot_complete' ? 'danger' : 'neutral',
    context: `team ${t.team} · ${requestSubject(v.request.id)}${v.request.resolutionDueAt && !v.request.completedAt ? ` · resolution due ${formatTime(v.request.resolutionDueAt, v.timeZone, v.now)}` : ''}`,
  };
}

/** The catalog grouped by category, each item with a button opening its form. */
export function catalogMessage(items: readonly CatalogItem[]): Message {
  if (items.length === 0) return { title: 'Service catalog', text: 'There is nothing in the catalog you can request yet.' };
  const categories = [...new Set(items.map((i) => i.category))];
  const text = categories.map((c) => [`*${c}*`, ...items.filter((i) => i.category === c).map((i) => `- *${i.title}* (\`${i.name}\`)${i.description ? ` — ${i.description}` : ''}${i.approvalPolicy ? ' · needs approval' : ''}`)].join('\n')).join('\n\n');
  return {
    title: 'Service catalog',
    text,
    context: 'Press a button to open its form, or type /request <item> field:value … (for example /request laptop model:"14-inch standard").',
    buttons: categories.flatMap((c) => items.filter((i) => i.category === c)).map((i) => ({ actionId: 'request.form', label: i.title, value: i.name })),
  };
}

/** The form of a catalog item, filled with values (else defaults), each field with its error. */
export function itemForm(item: CatalogItem, values: RawValues = {}, errors: Record<string, string> = {}): Message {
  const fields: FieldSpec[] = item.fields;
  const problems = Object.keys(errors).filter((k) => !fields.some((f) => f.id === k));
  return {
    title: `Request: ${item.title}`,
    text: [item.description, ...problems.map((k) => `⚠ ${k}: ${errors[k]}`)].filter(Boolean).join('\n') || undefined,
    inputs: fieldInputs(fields, values, errors),
    submit: { actionId: 'request.submit', label: 'Submit request', value: item.name },
  };
}

/** The form of Cancel request. */
export function cancelForm(subject: string): Message {
  return {
    title: `Cancel ${subject}`,
    inputs: [{ id: 'reason', label: 'Why cancel it?', type: 'text', required: true }],
    submit: { actionId: 'request.cancel.submit', label: 'Cancel request', value: subject },
  };
}

/** The form of Add a comment. */
export function commentForm(subject: string): Message {
  return {
    title: `Comment on ${subject}`,
    inputs: [{ id: 'text', label: 'Comment', type: 'multiline', required: true, hint: 'It reaches whoever has the request now, and shows on its card.' }],
    submit: { actionId: 'request.comment.submit', label: 'Send', value: subject },
  };
}

/** The form of Can't complete. */
export function cannotForm(subject: string): Message {
  return {
    title: `Can't complete ${subject}`,
    inputs: [{ id: 'reason', label: 'Why not?', type: 'multiline', required: true, hint: 'The requester reads this.' }],
    submit: { actionId: 'request.task.cannot.submit', label: "Can't complete", value: subject },
  };
}

/** A one-line list entry. */
export function listLine(r: RequestRow, requesterName: string): string {
  return `*${requestSubject(r.id)}* · ${STATE_WORDS[r.state as RequestState]} · ${r.itemTitle} · ${requesterName}`;
}
