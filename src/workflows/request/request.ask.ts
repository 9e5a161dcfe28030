/** `/ask <question>`: answers from the knowledge folder and published known errors; `/ask show KB-n`; "Didn't help". */
import { Args, parseRecordId } from '../../core/commands.js';
import { badInput, notFound } from '../../core/errors.js';
import type { CommandInbound, Reply } from '../../core/inbound.js';
import type { Button, Message } from '../../core/message.js';
import { requirePermission } from '../../core/permissions.js';
import type { ActionSpec, CommandSpec, HandlerContext } from '../../core/workflow.js';
import type { CatalogItem } from './request.config.js';
import { answers, getArticle, knowledgeFolder, type Answer } from './request.knowledge.js';
import { itemForm } from './request.messages.js';
import { visibleItems } from './request.service.js';
import type { Person } from '../../core/identity.js';
import type { AppContext } from '../../core/app.js';

/** Usage lines for `/ask help`. */
export const ASK_USAGE = [
  '/ask <question>   (the best three answers from the knowledge base and known errors)',
  '/ask show KB-n',
];

/** The longest question kept (it travels on the "Didn't help" button). */
const MAX_QUESTION = 1500;

/** The catalog's generic item, if the person may request it. */
function genericItem(app: AppContext, person: Person): CatalogItem | undefined {
  return visibleItems(app, person).find((i) => i.generic);
}

/** The answers as a message, with "Didn't help — open a request" when a generic item exists. */
export function answersMessage(question: string, found: readonly Answer[], generic: CatalogItem | undefined): Message {
  const lines = found.map((a) => a.kind === 'article'
    ? `*${a.id} · ${a.title}*\n${a.snippet.replace(/\s+/g, ' ').trim()}\n_/ask show ${a.id} for the whole article_`
    : `*${a.id} · ${a.title}* (known error)\n${a.snippet.replace(/\s+/g, ' ').trim()}${a.workaround ? `\n*Workaround:* ${a.workaround}` : ''}`);
  const buttons: Button[] = generic ? [{ actionId: 'request.ask.open', label: "Didn't help — open a request", value: question.slice(0, MAX_QUESTION) }] : [];
  return {
    title: found.length ? `Answers for “${question.length > 80 ? `${question.slice(0, 79)}…` : question}”` : 'No answer found',
    text: found.length ? lines.join('\n\n') : `I found nothing about “${question}” in the knowledge base${generic ? '; open a request and someone will help' : ''}.`,
    buttons,
  };
}

async function handleAsk(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'request.ask');
  const args = new Args(inbound.text);
  if (args.peek()?.toLowerCase() === 'show') {
    args.next();
    const word = args.next();
    const id = parseRecordId('KB', word);
    if (id === undefined) {
      if (/^KE-\d+$/i.test(word ?? '')) throw badInput('request.known_error_show', `${word!.toUpperCase()} is a known error: the problem workflow shows it.`);
      throw badInput('request.bad_article', `${word ? `"${word}" is not an article id. ` : ''}Write it like this: /ask show KB-3`);
    }
    const article = await getArticle(ctx.db, id);
    if (!article) throw notFound('request.article_not_found', `There is no article KB-${id}.`);
    const body = article.body.length > 2800 ? `${article.body.slice(0, 2800)}\n…trimmed (the whole article is ${article.path} in the knowledge folder)` : article.body;
    return { kind: 'ephemeral', message: { title: `KB-${id} · ${article.title}`, text: body, context: article.path } };
  }
  const question = args.text.trim();
  if (question.length < 3) throw badInput('request.question_required', 'Ask a question after /ask, like: /ask how do I reset my VPN password');
  if (question.length > MAX_QUESTION) throw badInput('request.question_too_long', `Keep the question under ${MAX_QUESTION} characters.`);
  if (!knowledgeFolder(ctx) && !ctx.seam.offers('problem.search_known_errors')) {
    return { kind: 'ephemeral', message: { text: 'There is no knowledge base here yet: an admin sets knowledge.folder in the organisation file.', tone: 'info' } };
  }
  return { kind: 'ephemeral', message: answersMessage(question, await answers(ctx, question), genericItem(ctx, ctx.person)) };
}

/** The `/ask` command. */
export const askCommand: CommandSpec = {
  name: 'ask',
  summary: 'ask a question; answers come from the knowledge base and known errors',
  usage: ASK_USAGE,
  handle: handleAsk,
};

/** "Didn't help — open a request": the generic item's form with the question filled in. */
export const askActions: Record<string, ActionSpec> = {
  'request.ask.open': { permission: 'request.create', handle: async (i, ctx) => {
    const item = genericItem(ctx, ctx.person);
    if (!item) return { kind: 'ephemeral', message: { text: 'There is no generic item in the catalog to open; type /request to see what you can request.' } };
    const field = item.fields.find((f) => f.type === 'multiline') ?? item.fields.find((f) => f.type === 'text');
    return { kind: 'form', form: itemForm(item, field ? { [field.id]: i.value } : {}) };
  } },
};
