/** The bot's turn logic: remember references, turn activities into Inbound, answer with replies and invoke responses. */
import { randomBytes, randomUUID } from 'node:crypto';
import { TeamsInfo, type TurnContext } from 'botbuilder';
import type { AppContext } from '../../src/core/app.js';
import type { ChatPort } from '../../src/core/chat-port.js';
import type { ActionInbound, CommandInbound, Inbound, Reply } from '../../src/core/inbound.js';
import { MAX_ATTEMPTS } from '../../src/core/inbound-journal.js';
import type { Message } from '../../src/core/message.js';
import type { Router } from '../../src/core/router.js';
import {
  activitySchema, actorOf, cardActionOf, mentionsOf, normalizeText, parseCommand, submitActionOf, whereOf,
  type CardAction, type Mention, type TeamsActivity,
} from './teams.inbound.js';
import { referenceKeys, type ReferenceStore } from './teams.references.js';
import { ADAPTIVE_CARD_CONTENT_TYPE, plainText, renderActivity, renderCard, type RenderedActivity } from './teams.render.js';

/** The body of an `adaptiveCard/action` invoke response (Universal Actions). */
export type CardInvokeBody =
  | { statusCode: 200; type: typeof ADAPTIVE_CARD_CONTENT_TYPE; value: unknown }
  | { statusCode: 200; type: 'application/vnd.microsoft.activity.message'; value: string }
  | { statusCode: 400 | 500; type: 'application/vnd.microsoft.error'; value: { code: string; message: string } };

/** Forms kept to show again with errors (the invoke does not carry the card back). */
const FORM_CACHE_LIMIT = 500;

/** What the bot needs. */
export interface TeamsBotOptions {
  app: AppContext;
  router: Router;
  refs: ReferenceStore;
  /** An invoke is answered within this even when handling takes longer (default 4.5 s). */
  invokeDeadlineMs?: number;
  /** Where requests replayed after a crash are answered (proactively, in their conversation). */
  port?: ChatPort;
}

/** The answer when a request cannot be written down (the database is away): nothing was done. */
const NOT_RECEIVED = 'tread cannot reach its database right now, so this was not received and nothing was done. Please try again in a minute.';

const WELCOME: Message = {
  title: 'Hi, I am tread',
  text: 'I run incidents, alerts and on-call with you. Type `help` for the commands; in a channel, mention me first (`@tread incident Payment API down`).',
};

/** Teams turn handling. */
export class TeamsBot {
  private readonly forms = new Map<string, Message>();
  private readonly invokeDeadlineMs: number;

  /** Requests still being handled (a card action answered "still working"): a graceful stop waits for them. */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly options: TeamsBotOptions) {
    this.invokeDeadlineMs = options.invokeDeadlineMs ?? 4500;
    const { port } = options;
    if (port) {
      // A request whose process died before handling it: handled again, the answer posted in its conversation.
      options.router.journal.replayer('teams', {
        replay: async (inbound) => {
          const reply = await this.options.router.handle(inbound, { recorded: true });
          const where = inbound.where;
          if (reply.kind === 'card' && where.messageId) await port.update({ where, messageId: where.messageId }, reply.message);
          else if (reply.kind === 'card' || reply.kind === 'ephemeral') await port.post(where, reply.message);
          else if (reply.kind === 'form') await port.post(where, reply.form);
          else if (reply.kind === 'form_errors') await port.post(where, { text: Object.values(reply.errors).join('\n') || reply.form.text || 'The form has errors.', tone: 'warning' });
        },
        giveUp: async (inbound) => {
          const asked = inbound.kind === 'command' ? `"${inbound.name}${inbound.text ? ` ${inbound.text.slice(0, 80)}` : ''}"` : 'a card action';
          await port.post(inbound.where, { text: `tread could not finish ${asked} after ${MAX_ATTEMPTS} tries. Nothing more will happen with it: please try again, and if it keeps failing, tell your admin.`, tone: 'danger' });
        },
      });
    }
  }

  /** Waits for requests still being handled (graceful stop). */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /**
   * Writes the request to the inbound journal before handling it, then handles it; resolves with the reply, or with
   * undefined for a repeated delivery. Throws NotReceived when it cannot be written (the database is away).
   */
  private handle(inbound: Inbound): Promise<Reply | undefined> {
    const work = (async () => {
      let fresh: boolean;
      try {
        fresh = await this.options.router.journal.record(inbound, {});
      } catch (e) {
        this.options.app.log.error({ err: (e as Error).message }, 'Teams: could not record a request (database unreachable); the person is told');
        throw new NotReceived();
      }
      if (!fresh) {
        this.options.app.log.info({ deliveryId: inbound.deliveryId }, 'repeated delivery ignored');
        return undefined;
      }
      return this.options.router.handle(inbound, { recorded: true });
    })();
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work)).catch(() => undefined);
    return work;
  }

  /** Handles one turn. Never throws: failures are logged and answered. */
  readonly onTurn = async (ctx: TurnContext): Promise<void> => {
    const { log } = this.options.app;
    const parsed = activitySchema.safeParse(ctx.activity);
    if (!parsed.success) {
      log.warn({ issue: parsed.error.issues[0]?.message }, 'Teams activity not understood');
      if (ctx.activity?.type === 'invoke') await this.invokeResponse(ctx, { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message: 'tread did not understand this activity' } });
      return;
    }
    const activity = parsed.data;
    try {
      await this.options.refs.remember(activity);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'could not store the Teams conversation reference');
    }
    try {
      if (activity.type === 'message') await this.onMessage(ctx, activity);
      else if (activity.type === 'invoke') await this.onInvoke(ctx, activity);
      else if (activity.type === 'conversationUpdate') await this.onConversationUpdate(ctx, activity);
    } catch (e) {
      if (e instanceof NotReceived) {
        if (activity.type === 'invoke') await this.invokeResponse(ctx, { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: NOT_RECEIVED }).catch(() => undefined);
        else await ctx.sendActivity(renderActivity({ text: NOT_RECEIVED, tone: 'danger' })).catch(() => undefined);
        return;
      }
      log.error({ err: e, type: activity.type }, 'unexpected error handling a Teams activity');
      if (activity.type === 'invoke') await this.invokeResponse(ctx, { statusCode: 500, type: 'application/vnd.microsoft.error', value: { code: 'InternalError', message: 'tread could not handle this action; please try again' } }).catch(() => undefined);
    }
  };

  private async onMessage(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    const base = { actor: actorOf(activity), where: whereOf(activity), deliveryId: activity.id ?? randomUUID() };
    const submitted = !activity.text?.trim() ? submitActionOf(activity.value) : undefined;
    if (submitted) {
      // Action.Submit from a client without Universal Actions: answer in the conversation.
      const inbound: ActionInbound = { kind: 'action', ...base, actionId: submitted.actionId, value: submitted.value, ...(submitted.formValues ? { formValues: submitted.formValues } : {}), trigger: JSON.stringify(base.where) };
      await this.reply(ctx, (await this.handle(inbound)) ?? { kind: 'none' }, submitted);
      return;
    }
    const mentions = mentionsOf(activity);
    const text = normalizeText(activity.text ?? '', mentions, await this.mentionTokens(ctx, activity, mentions));
    const { name, text: rest } = parseCommand(text);
    const inbound: CommandInbound = { kind: 'command', ...base, name, text: rest, trigger: JSON.stringify(base.where) };
    await this.reply(ctx, (await this.handle(inbound)) ?? { kind: 'none' });
  }

  /** Mention text -> `@<aadObjectId>` for people mentioned besides the bot. */
  private async mentionTokens(ctx: TurnContext, activity: TeamsActivity, mentions: Mention[]): Promise<Map<string, string>> {
    const tokens = new Map<string, string>();
    for (const m of mentions) {
      if (m.isBot) continue;
      let aad = m.aadObjectId ?? (await this.options.refs.get(referenceKeys.member(m.id)).catch(() => undefined))?.user?.aadObjectId;
      if (!aad && activity.channelId === 'msteams') aad = await this.lookupAad(ctx, m.id);
      tokens.set(m.text, aad ? `@<${aad}>` : `@${m.name ?? m.id}`);
    }
    return tokens;
  }

  private async lookupAad(ctx: TurnContext, userId: string): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const member = await Promise.race([
        TeamsInfo.getMember(ctx, userId),
        new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), 3000); }),
      ]);
      return member?.aadObjectId;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private async onInvoke(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    if (activity.name !== 'adaptiveCard/action') {
      await this.invokeResponse(ctx, { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'NotSupported', message: `tread does not handle "${activity.name ?? 'unnamed'}" invokes` } });
      return;
    }
    const action = cardActionOf(activity.value);
    if ('error' in action) {
      await this.invokeResponse(ctx, { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message: action.error } });
      return;
    }
    const where = whereOf(activity);
    const inbound: ActionInbound = {
      kind: 'action', actor: actorOf(activity), where, deliveryId: activity.id ?? randomUUID(), trigger: JSON.stringify(where),
      actionId: action.actionId, value: action.value, ...(action.formValues ? { formValues: action.formValues } : {}),
    };
    let timer: NodeJS.Timeout | undefined;
    const handled = this.handle(inbound);
    handled.catch(() => undefined); // a late failure is logged by the router; NotReceived arrives through the race below
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), this.invokeDeadlineMs); });
    const answered = await Promise.race([handled, late]).finally(() => clearTimeout(timer));
    const reply = answered ?? { kind: 'none' as const };
    if (reply === 'late') {
      this.options.app.log.warn({ actionId: action.actionId }, 'Teams card action answered before it finished (invoke deadline)');
      await this.invokeResponse(ctx, { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: 'tread is still working on this; the card updates when it is done.' });
      return;
    }
    await this.invokeResponse(ctx, this.invokeBody(reply, action));
  }

  /** The invoke response for a reply to a card action. */
  invokeBody(reply: Reply, action: CardAction): CardInvokeBody {
    const card = (message: Message, options: Parameters<typeof renderCard>[1] = {}): CardInvokeBody => ({ statusCode: 200, type: ADAPTIVE_CARD_CONTENT_TYPE, value: renderCard(message, options) });
    const text = (value: string): CardInvokeBody => ({ statusCode: 200, type: 'application/vnd.microsoft.activity.message', value });
    switch (reply.kind) {
      case 'card':
        return card(reply.message, reply.notice ? { notice: reply.notice } : {});
      case 'form':
        return card(reply.form, { formId: this.keepForm(reply.form) });
      case 'form_errors': {
        const own = Boolean(reply.form.inputs?.length);
        const form = own ? reply.form : action.formId ? this.forms.get(action.formId) : undefined;
        if (!form) return text(Object.values(reply.errors).join(' ') || plainText(reply.form));
        const notice = !own && (reply.form.text || reply.form.title) ? { notice: { ...reply.form, tone: reply.form.tone ?? 'warning' } as Message } : {};
        return card(form, { formId: action.formId ?? this.keepForm(form), errors: reply.errors, ...(action.formValues ? { values: action.formValues } : {}), ...notice });
      }
      case 'ephemeral':
        // A submitted form is replaced by the answer (so it cannot be sent twice); a button press gets a transient message.
        return action.formId ? card(reply.message) : text(plainText(reply.message) || 'Done.');
      case 'none':
        return action.formId ? card({ text: 'Submitted.', tone: 'good' }) : text('Done.');
    }
  }

  /** Answers a command (or an Action.Submit) in the conversation. */
  private async reply(ctx: TurnContext, reply: Reply, action?: CardAction): Promise<void> {
    const out: RenderedActivity[] = [];
    switch (reply.kind) {
      case 'none':
        break;
      case 'ephemeral':
        out.push(renderActivity(reply.message));
        break;
      case 'form':
        out.push(renderActivity(reply.form, { formId: this.keepForm(reply.form) }));
        break;
      case 'form_errors': {
        const form = reply.form.inputs?.length ? reply.form : action?.formId ? this.forms.get(action.formId) : undefined;
        if (form) out.push(renderActivity(form, { formId: action?.formId ?? this.keepForm(form), errors: reply.errors, ...(action?.formValues ? { values: action.formValues } : {}) }));
        else out.push(renderActivity({ text: [reply.form.text, ...Object.entries(reply.errors).map(([k, v]) => `- ${k}: ${v}`)].filter(Boolean).join('\n'), tone: 'warning' }));
        break;
      }
      case 'card':
        out.push(renderActivity(reply.message));
        if (reply.notice) out.push(renderActivity(reply.notice));
        break;
    }
    for (const activity of out) {
      try {
        await ctx.sendActivity(activity);
      } catch (e) {
        this.options.app.log.warn({ err: (e as Error).message }, 'could not send the reply to Teams');
      }
    }
  }

  private async onConversationUpdate(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    const added = (activity.membersAdded as { id?: string }[] | undefined) ?? [];
    if (!activity.recipient || !added.some((m) => m.id === activity.recipient!.id)) return;
    try {
      await ctx.sendActivity(renderActivity(WELCOME));
    } catch (e) {
      this.options.app.log.warn({ err: (e as Error).message }, 'could not send the Teams welcome message');
    }
  }

  private keepForm(form: Message): string {
    const id = randomBytes(6).toString('base64url');
    if (this.forms.size >= FORM_CACHE_LIMIT) this.forms.delete(this.forms.keys().next().value!);
    this.forms.set(id, form);
    return id;
  }

  private async invokeResponse(ctx: TurnContext, body: CardInvokeBody): Promise<void> {
    await ctx.sendActivity({ type: 'invokeResponse', value: { status: 200, body } });
  }
}

/** The request could not be written to the inbound journal: the person is told nothing was done. */
class NotReceived extends Error {
  override readonly name = 'NotReceived';
}
