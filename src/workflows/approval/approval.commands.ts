/** The chat surface of approvals: no command of its own, only the buttons and forms of approver and requester cards. */
import { parseRecordId } from '../../core/commands.js';
import { badInput } from '../../core/errors.js';
import type { ActionInbound, Reply } from '../../core/inbound.js';
import { inTransaction } from '../../core/refusals.js';
import type { ActionSpec, HandlerContext } from '../../core/workflow.js';
import { answerForm, askForm, rejectForm } from './approval.messages.js';
import { answerQuestions, askQuestion, decide, getApproval, viewOf } from './approval.service.js';

function approvalId(inbound: ActionInbound): number {
  const id = parseRecordId('APR', inbound.value);
  if (id === undefined) throw badInput('approval.bad_button', 'That button does not name an approval.');
  return id;
}

function formValue(inbound: ActionInbound, id: string): string {
  return (inbound.formValues?.[id] ?? '').trim();
}

/** Approve or reject from a card: the pressed card comes back refreshed, with a notice for the presser. */
async function decision(inbound: ActionInbound, ctx: HandlerContext, decision: 'approve' | 'reject', reason?: string): Promise<Reply> {
  const id = approvalId(inbound);
  const now = ctx.clock.now();
  const actor = { person: ctx.person, source: ctx.source };
  const { card, sentence } = await inTransaction(ctx, (tx) => decide(tx, ctx, { approvalId: id, decision, reason }, actor, now));
  return { kind: 'card', message: card, notice: { text: sentence, tone: 'good' } };
}

/** Button and form handlers by action id. */
export const approvalActions: Record<string, ActionSpec> = {
  'approval.approve': { permission: 'approval.decide', handle: (i, ctx) => decision(i, ctx, 'approve') },
  'approval.reject.form': { permission: 'approval.decide', handle: async (i) => ({ kind: 'form', form: rejectForm(`APR-${approvalId(i)}`) }) },
  'approval.reject.submit': { permission: 'approval.decide', handle: async (i, ctx) => {
    const reason = formValue(i, 'reason');
    if (!reason) throw badInput('approval.reason_required', 'Say why it is rejected: the requester reads it.', [{ path: 'reason', message: 'Say why it is rejected.' }]);
    return decision(i, ctx, 'reject', reason);
  } },
  'approval.ask.form': { permission: 'approval.ask', handle: async (i) => ({ kind: 'form', form: askForm(`APR-${approvalId(i)}`) }) },
  'approval.ask.submit': { permission: 'approval.ask', handle: async (i, ctx) => {
    const question = formValue(i, 'question');
    if (!question) throw badInput('approval.question_required', 'Write the question.', [{ path: 'question', message: 'Write the question.' }]);
    const a = await inTransaction(ctx, (tx) => askQuestion(tx, ctx, approvalId(i), question, { person: ctx.person, source: ctx.source }, ctx.clock.now()));
    return { kind: 'ephemeral', message: { text: `Your question went to the requester of ${a.subject}; the approval will not expire while it is open.`, tone: 'good' } };
  } },
  'approval.answer.form': { permission: 'approval.answer', handle: async (i, ctx) => {
    const id = approvalId(i);
    const view = await viewOf(ctx.db, ctx, await getApproval(ctx.db, id), ctx.clock.now());
    const open = view.questions.filter((q) => !q.answeredAt).map((q) => `${view.name(q.asker)}: ${q.question}`);
    if (open.length === 0) return { kind: 'ephemeral', message: { text: `There is no open question about APR-${id}.` } };
    return { kind: 'form', form: answerForm(`APR-${id}`, open.join('\n')) };
  } },
  'approval.answer.submit': { permission: 'approval.answer', handle: async (i, ctx) => {
    const answer = formValue(i, 'answer');
    if (!answer) throw badInput('approval.answer_required', 'Write the answer.', [{ path: 'answer', message: 'Write the answer.' }]);
    const n = await inTransaction(ctx, (tx) => answerQuestions(tx, ctx, approvalId(i), answer, { person: ctx.person, source: ctx.source }, ctx.clock.now()));
    return { kind: 'ephemeral', message: { text: n ? 'Thanks: your answer went to the approver, and the approval runs on.' : 'There was no open question to answer.', tone: n ? 'good' : 'info' } };
  } },
};
