/** Cards and forms of approvals. Pure: records and names in, Messages out. */
import type { schema } from '../../../db/client.js';
import { formatDuration } from '../../core/duration.js';
import type { Button, Message } from '../../core/message.js';
import { formatTime } from '../../core/time-zone.js';
import { ruleWords, type StoredPolicy, type StoredStage } from './approval.machine.js';

/** A stored approval. */
export type ApprovalRow = typeof schema.approvals.$inferSelect;
/** A stored decision. */
export type DecisionRow = typeof schema.approvalDecisions.$inferSelect;
/** A stored question. */
export type QuestionRow = typeof schema.approvalQuestions.$inferSelect;

/** `APR-3`. */
export function approvalSubject(id: number): string {
  return `APR-${id}`;
}

/** The subject of the cards of one stage (`APR-3.1`): a stage's cards are edited together, apart from other stages'. */
export function stageSubject(id: number, stage: number): string {
  return `APR-${id}.${stage + 1}`;
}

/** What a card needs besides the rows. */
export interface ApprovalView {
  approval: ApprovalRow;
  policy: StoredPolicy;
  decisions: DecisionRow[];
  questions: QuestionRow[];
  name: (personId: string) => string;
  timeZone: string;
  now: Date;
}

/** The stage in words: `stage 1 of 2 (manager; one approver)`. */
export function stageWords(policy: StoredPolicy, stage: number): string {
  const s = policy.stages[stage]!;
  return `stage ${stage + 1} of ${policy.stages.length} (${s.targets.join(', ')}; ${ruleWords(s)})`;
}

function decisionLines(v: ApprovalView, stage: number): string[] {
  return v.decisions.filter((d) => d.stage === stage).map((d) => {
    const mark = d.decision === 'approve' ? '✓' : '✗';
    const verb = d.decision === 'approve' ? (d.confirmed ? 'approved' : 'approved (second step pending)') : 'rejected';
    return `${mark} ${v.name(d.person)} ${verb} ${formatTime(d.at, v.timeZone, v.now)}${d.reason ? `: ${d.reason}` : ''}`;
  });
}

function questionLines(v: ApprovalView): string[] {
  return v.questions.map((q) => `❓ ${v.name(q.asker)} asked: ${q.question}${q.answer ? `\n   ↳ ${v.name(v.approval.requester)}: ${q.answer}` : ' _(waiting for the answer; expiry paused)_'}`);
}

/** Who the stage waits for, in words. */
export function waitingWords(stage: StoredStage, escalated: boolean, name: (id: string) => string): string {
  const people = [...stage.approvers, ...(escalated ? stage.fallback.filter((p) => !stage.approvers.includes(p)) : [])];
  return people.map(name).join(', ') || 'nobody';
}

/** The card of one stage, as each of its approvers sees it in a DM; once the stage is over, the outcome without buttons. */
export function stageCard(v: ApprovalView, stage: number): Message {
  const a = v.approval;
  const id = approvalSubject(a.id);
  const open = a.state === 'pending' && a.stage === stage;
  const lines = [`*${v.name(a.requester)}* asks for *${a.title}* (${a.subject}).`];
  lines.push(`Approval ${stageWords(v.policy, stage)}: ${waitingWords(v.policy.stages[stage]!, a.escalated && a.stage === stage, v.name)}.`);
  if (open) {
    const left = a.expiresAt.getTime() - v.now.getTime();
    lines.push(a.pausedAt ? 'Expiry paused: a question to the requester is open.' : `Expires ${formatTime(a.expiresAt, v.timeZone, v.now)} (${left > 0 ? `${formatDuration(left)} left` : 'due'}).`);
    if (a.escalated && a.stage === stage) lines.push('Escalated: any one of the fallback approvers may decide.');
  }
  lines.push(...decisionLines(v, stage), ...questionLines(v));
  const outcome = stageOutcomeLine(v, stage);
  if (outcome) lines.push(outcome);
  const fields = [...a.details, ...(a.reason ? [{ label: 'Reason', value: a.reason }] : [])];
  const buttons: Button[] = open ? [
    { actionId: 'approval.approve', label: 'Approve', value: id, style: 'primary' },
    { actionId: 'approval.reject.form', label: 'Reject', value: id, style: 'danger' },
    { actionId: 'approval.ask.form', label: 'Ask a question', value: id },
  ] : [];
  const title = open ? `Approval needed · ${a.subject} · ${a.title}` : `${a.subject} · ${a.title} · ${outcomeTitle(v, stage)}`;
  return {
    subject: stageSubject(a.id, stage),
    title,
    text: lines.join('\n'),
    fields,
    context: `${id} · policy ${v.policy.name} · asked ${formatTime(a.createdAt, v.timeZone, v.now)}`,
    buttons,
    tone: open ? 'warning' : a.state === 'approved' || (a.stage > stage) ? 'good' : a.state === 'pending' ? 'info' : 'neutral',
    fallback: title,
  };
}

function outcomeTitle(v: ApprovalView, stage: number): string {
  const a = v.approval;
  if (a.stage > stage) return `stage ${stage + 1} approved`;
  return a.state === 'pending' ? 'pending' : a.state;
}

/** The line that says who decided and when, once the stage is over. */
function stageOutcomeLine(v: ApprovalView, stage: number): string | undefined {
  const a = v.approval;
  if (a.stage > stage) {
    const last = v.decisions.filter((d) => d.stage === stage && d.decision === 'approve' && d.confirmed).at(-1);
    return `*Stage ${stage + 1} approved*${last ? ` by ${v.name(last.person)} at ${formatTime(last.at, v.timeZone, v.now)}` : ''}; now with stage ${a.stage + 1} (${v.policy.stages[a.stage]!.targets.join(', ')}).`;
  }
  if (a.state === 'pending') return undefined;
  const when = a.decidedAt ? ` at ${formatTime(a.decidedAt, v.timeZone, v.now)}` : '';
  const by = a.decidedBy && a.decidedBy !== 'tread' ? ` by ${v.name(a.decidedBy)}` : '';
  switch (a.state) {
    case 'approved': return `*Approved*${by}${when}.`;
    case 'rejected': return `*Rejected*${by}${when}${a.outcomeReason ? `: ${a.outcomeReason}` : ''}.`;
    case 'expired': return `*Expired*${when}: ${a.outcomeReason ?? 'no decision in time'}.`;
    case 'cancelled': return `*Cancelled*${by}${when}${a.outcomeReason ? `: ${a.outcomeReason}` : ''}.`;
    default: return undefined;
  }
}

/** The reminder sent with the card to approvers who have not decided. */
export function reminderText(a: ApprovalRow, since: string): string {
  return `⏰ Reminder: ${a.subject} (${a.title}) has waited for your approval since ${since}.`;
}

/** The form of the Reject button: a reason is required. */
export function rejectForm(id: string): Message {
  return {
    title: `Reject ${id}`,
    inputs: [{ id: 'reason', label: 'Why is it rejected?', type: 'multiline', required: true, hint: 'The requester reads this.' }],
    submit: { actionId: 'approval.reject.submit', label: 'Reject', value: id },
  };
}

/** The form of the Ask a question button. */
export function askForm(id: string): Message {
  return {
    title: `Ask about ${id}`,
    inputs: [{ id: 'question', label: 'Your question to the requester', type: 'multiline', required: true, hint: 'The approval does not expire while the question is open.' }],
    submit: { actionId: 'approval.ask.submit', label: 'Ask', value: id },
  };
}

/** The form of the Answer button (the requester answers an approver's question). */
export function answerForm(id: string, question: string): Message {
  return {
    title: `Answer about ${id}`,
    text: question,
    inputs: [{ id: 'answer', label: 'Your answer', type: 'multiline', required: true }],
    submit: { actionId: 'approval.answer.submit', label: 'Answer', value: id },
  };
}

/** The question as the requester receives it. */
export function questionMessage(a: ApprovalRow, askerName: string, question: string): Message {
  const id = approvalSubject(a.id);
  return {
    title: `Question about ${a.subject} · ${a.title}`,
    text: `${askerName} asks before approving: ${question}\nAnswer with the button; the approval waits (and does not expire) until you do.`,
    buttons: [{ actionId: 'approval.answer.form', label: 'Answer', value: id, style: 'primary' }],
    tone: 'info',
  };
}
