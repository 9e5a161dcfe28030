/** Message -> Adaptive Card 1.5 (and plain Teams markdown for text-only messages). Pure functions, no botbuilder. */
import { fallbackText, type Button, type Input, type Message, type Tone } from '../../src/core/message.js';

/** The content type of an Adaptive Card attachment (and of an invoke response that carries a card). */
export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/** The Adaptive Card schema URL written into every card. */
export const ADAPTIVE_CARD_SCHEMA = 'http://adaptivecards.io/schemas/adaptive-card.json';
/** Teams refuses messages above 28 KB; a card must stay below this. */
export const TEAMS_CARD_MAX_BYTES = 28 * 1024;
/** What the renderer aims for, leaving room for the activity envelope around the card. */
export const CARD_BUDGET_BYTES = 26 * 1024;
/** The key in Action.Execute data that marks a form submission (its value is the form id). */
export const FORM_MARKER = 'treadForm';
/** Suffixes of the two inputs a `datetime` input becomes. */
export const DATE_SUFFIX = '__date';
export const TIME_SUFFIX = '__time';
/** The note appended to a card that had to be trimmed. */
export const TRIMMED_NOTE = '…trimmed: this card was too long for Teams; the full record is in tread.';
/** Teams shows this many actions in a row; later ones go to the overflow menu. */
const PRIMARY_ACTIONS = 5;

/** One Adaptive Card element (TextBlock, FactSet, Container, Input.*). */
export interface CardElement {
  type: string;
  [key: string]: unknown;
}

/** One Adaptive Card action (Action.Execute, Action.ShowCard). */
export interface CardAction {
  type: string;
  title: string;
  [key: string]: unknown;
}

/** An Adaptive Card 1.5. */
export interface AdaptiveCard {
  type: 'AdaptiveCard';
  $schema: string;
  version: '1.5';
  body: CardElement[];
  actions?: CardAction[];
  msteams?: { width: 'Full' };
  [key: string]: unknown;
}

/** Extras when rendering a form or a refreshed card. */
export interface RenderOptions {
  /** Marks the submit action so the submission is recognised as a form (with `formValues`). */
  formId?: string;
  /** Input id -> sentence, shown under each input (a submitted form with errors). */
  errors?: Record<string, string>;
  /** Values the user entered, put back into the inputs. */
  values?: Record<string, string>;
  /** A note for the person who acted, shown on top of a refreshed card. */
  notice?: Message;
}

/** A message activity body, ready for the Bot Framework connector (no ids, no addresses). */
export interface RenderedActivity {
  type: 'message';
  text?: string;
  textFormat?: 'markdown';
  summary?: string;
  attachments?: { contentType: string; content: AdaptiveCard }[];
}

const TONE_STYLE: Record<Tone, string> = { neutral: 'emphasis', good: 'good', warning: 'warning', danger: 'attention', info: 'accent' };

/** Converts tread's markdown subset (*bold*, _italics_, `code`, <url|label>, "- " lists) to Teams markdown. */
export function toTeamsMarkdown(text: string): string {
  return text
    .replace(/<((?:https?|mailto):[^|>\s]+)\|([^>]+)>/g, (_, url: string, label: string) => `[${label}](${url})`)
    .replace(/<((?:https?|mailto):[^|>\s]+)>/g, (_, url: string) => `[${url}](${url})`)
    .replace(/(^|[\s(\[>])\*([^*\n]+?)\*(?=$|[\s).,;:!?\]])/gm, '$1**$2**');
}

const LIST_LINE = /^\s*(?:[-*•]|\d+[.)])\s+/;

/** Splits text into paragraphs and lists, each one TextBlock (Teams renders lists only when items are separated by \r). */
export function textBlocks(text: string): CardElement[] {
  const blocks: { list: boolean; lines: string[] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!line.trim()) {
      blocks.push({ list: false, lines: [] });
      continue;
    }
    const list = LIST_LINE.test(line);
    const last = blocks[blocks.length - 1];
    if (last && last.lines.length > 0 && last.list === list) last.lines.push(line);
    else blocks.push({ list, lines: [line] });
  }
  return blocks.filter((b) => b.lines.length > 0).map((b, i) => ({
    type: 'TextBlock',
    text: toTeamsMarkdown(b.list ? b.lines.map((l) => l.replace(/^\s*[*•]\s+/, '- ')).join('\r') : b.lines.join('\n\n')),
    wrap: true,
    ...(i > 0 ? { spacing: 'Small' } : {}),
  }));
}

/** Teams markdown for a text-only message (lines become paragraphs, list items stay together). */
export function messageMarkdown(message: Message): string {
  const parts = [message.title ? `**${message.title}**` : '', message.text ?? '', message.context ? `_${message.context}_` : ''].filter(Boolean);
  const lines = parts.join('\n').split('\n');
  let out = '';
  lines.forEach((line, i) => {
    if (i > 0) out += LIST_LINE.test(line) && LIST_LINE.test(lines[i - 1]!) ? '\n' : '\n\n';
    out += line;
  });
  return toTeamsMarkdown(out.replace(/\n{3,}/g, '\n\n'));
}

/** True when a message needs a card (anything beyond text). */
export function needsCard(message: Message): boolean {
  return Boolean(message.title || message.fields?.length || message.buttons?.length || message.inputs?.length || message.submit);
}

function executeAction(title: string, verb: string, data: Record<string, string>, style?: string): CardAction {
  return { type: 'Action.Execute', title, verb, data, ...(style ? { style } : {}) };
}

/** A button: Action.Execute; a destructive or confirmed button opens a confirm step (Action.ShowCard) first. */
export function buttonAction(button: Button): CardAction {
  const style = button.style === 'danger' ? 'destructive' : button.style === 'primary' ? 'positive' : undefined;
  const data = { value: button.value };
  if (!button.confirm && button.style !== 'danger') return executeAction(button.label, button.actionId, data, style);
  return {
    type: 'Action.ShowCard',
    title: button.label,
    ...(style ? { style } : {}),
    card: {
      type: 'AdaptiveCard',
      body: [{ type: 'TextBlock', text: toTeamsMarkdown(button.confirm ?? `${button.label}: are you sure?`), wrap: true, weight: 'Bolder' }],
      actions: [executeAction(`Yes, ${button.label.toLowerCase()}`, button.actionId, data, style ?? 'positive')],
    },
  };
}

function inputElements(input: Input, options: RenderOptions): CardElement[] {
  const value = options.values?.[input.id] ?? input.initial;
  const required = input.required ? { isRequired: true, errorMessage: `${input.label} is required` } : {};
  const common = { id: input.id, label: input.label, ...required };
  const out: CardElement[] = [];
  switch (input.type) {
    case 'text':
    case 'multiline':
      out.push({ type: 'Input.Text', ...common, ...(input.type === 'multiline' ? { isMultiline: true } : {}), ...(input.placeholder ? { placeholder: input.placeholder } : {}), ...(value ? { value } : {}) });
      break;
    case 'select': {
      const choices = (input.choices ?? []).map((c) => ({ title: c.label, value: c.value }));
      out.push({ type: 'Input.ChoiceSet', ...common, style: 'compact', choices, ...(input.placeholder ? { placeholder: input.placeholder } : {}), ...(value ? { value } : {}) });
      break;
    }
    case 'multiselect': {
      const choices = (input.choices ?? []).map((c) => ({ title: c.label, value: c.value }));
      out.push({ type: 'Input.ChoiceSet', ...common, isMultiSelect: true, style: 'expanded', choices, ...(value ? { value } : {}) });
      break;
    }
    case 'date':
      out.push({ type: 'Input.Date', ...common, ...(value && /^\d{4}-\d{2}-\d{2}$/.test(value) ? { value } : {}) });
      break;
    case 'number':
      out.push({
        type: 'Input.Number', ...common, ...(input.min !== undefined ? { min: input.min } : {}), ...(input.max !== undefined ? { max: input.max } : {}),
        ...(input.placeholder ? { placeholder: input.placeholder } : {}), ...(value !== undefined && Number.isFinite(Number(value)) ? { value: Number(value) } : {}),
      });
      break;
    case 'user':
      // Teams' people picker: the submitted value is the person's AAD object id.
      out.push({ type: 'Input.ChoiceSet', ...common, choices: [], 'choices.data': { type: 'Data.Query', dataset: 'graph.microsoft.com/users' }, placeholder: input.placeholder ?? 'Search for a person', ...(value ? { value } : {}) });
      break;
    case 'datetime': {
      const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}))?/.exec(value ?? '');
      out.push({ type: 'Input.Date', id: `${input.id}${DATE_SUFFIX}`, label: input.label, ...required, ...(m?.[1] ? { value: m[1] } : {}) });
      out.push({ type: 'Input.Time', id: `${input.id}${TIME_SUFFIX}`, ...(m?.[2] ? { value: m[2] } : {}), spacing: 'Small' });
      break;
    }
  }
  if (input.hint) out.push({ type: 'TextBlock', text: toTeamsMarkdown(input.hint), size: 'Small', isSubtle: true, wrap: true, spacing: 'None' });
  const error = options.errors?.[input.id] ?? input.error;
  if (error) out.push({ type: 'TextBlock', text: error, color: 'Attention', size: 'Small', wrap: true, spacing: 'None' });
  return out;
}

/** Renders a message as an Adaptive Card 1.5, trimmed to Teams' size limit. */
export function renderCard(message: Message, options: RenderOptions = {}): AdaptiveCard {
  const body: CardElement[] = [];
  if (message.title) {
    const title: CardElement = { type: 'TextBlock', text: message.title, size: 'Medium', weight: 'Bolder', wrap: true };
    if (message.tone && message.tone !== 'neutral') body.push({ type: 'Container', style: TONE_STYLE[message.tone], bleed: true, items: [title] });
    else body.push(title);
  }
  if (options.notice) {
    const text = [options.notice.title ? `**${options.notice.title}**` : '', options.notice.text ?? ''].filter(Boolean).join('\n');
    body.push({ type: 'Container', style: TONE_STYLE[options.notice.tone ?? 'info'], items: textBlocks(text || fallbackText(options.notice)) });
  }
  const errors = options.errors ?? {};
  const inputIds = new Set((message.inputs ?? []).map((i) => i.id));
  const loose = Object.entries(errors).filter(([id]) => !inputIds.has(id)).map(([id, e]) => (id ? `${id}: ${e}` : e));
  if (Object.keys(errors).length > 0) {
    body.push({ type: 'TextBlock', text: ['Please fix the fields marked below.', ...loose].join('\n\n'), color: 'Attention', weight: 'Bolder', wrap: true });
  }
  if (message.text) body.push(...textBlocks(message.text));
  if (message.fields?.length) {
    body.push({ type: 'FactSet', facts: message.fields.map((f) => ({ title: f.label, value: toTeamsMarkdown(f.value || '—') })) });
  }
  for (const input of message.inputs ?? []) body.push(...inputElements(input, options));
  if (message.context) body.push({ type: 'TextBlock', text: toTeamsMarkdown(message.context), size: 'Small', isSubtle: true, wrap: true });
  if (body.length === 0) body.push({ type: 'TextBlock', text: fallbackText(message) || ' ', wrap: true });

  const actions: CardAction[] = [];
  if (message.submit) {
    const data: Record<string, string> = { value: message.submit.value ?? '', [FORM_MARKER]: options.formId ?? 'form' };
    actions.push({ ...executeAction(message.submit.label, message.submit.actionId, data, 'positive'), associatedInputs: 'auto' });
  }
  for (const b of message.buttons ?? []) actions.push(buttonAction(b));
  actions.forEach((a, i) => { if (i >= PRIMARY_ACTIONS) a.mode = 'secondary'; });

  const card: AdaptiveCard = { type: 'AdaptiveCard', $schema: ADAPTIVE_CARD_SCHEMA, version: '1.5', body, ...(actions.length ? { actions } : {}), msteams: { width: 'Full' } };
  return fitCard(card);
}

/** UTF-8 size of a card as JSON. */
export function cardBytes(card: unknown): number {
  return Buffer.byteLength(JSON.stringify(card), 'utf8');
}

interface Slot { holder: Record<string, unknown>; key: string }

/** The strings and lists a trim may shorten: visible text only, never ids, verbs or data. */
function collect(card: { body?: CardElement[]; actions?: CardAction[] }, slots: Slot[], lists: unknown[][]): void {
  const visit = (el: CardElement) => {
    for (const key of ['text', 'label', 'placeholder', 'errorMessage']) if (typeof el[key] === 'string') slots.push({ holder: el, key });
    if (el.type === 'Input.Text' && typeof el.value === 'string') slots.push({ holder: el, key: 'value' });
    if (Array.isArray(el.facts)) {
      lists.push(el.facts as unknown[]);
      for (const f of el.facts as Record<string, unknown>[]) slots.push({ holder: f, key: 'title' }, { holder: f, key: 'value' });
    }
    if (Array.isArray(el.choices)) {
      lists.push(el.choices as unknown[]);
      for (const c of el.choices as Record<string, unknown>[]) slots.push({ holder: c, key: 'title' });
    }
    if (Array.isArray(el.items)) {
      lists.push(el.items as unknown[]);
      (el.items as CardElement[]).forEach(visit);
    }
  };
  if (card.body) {
    lists.push(card.body);
    card.body.forEach(visit);
  }
  for (const a of card.actions ?? []) {
    slots.push({ holder: a, key: 'title' });
    if (a.card && typeof a.card === 'object') collect(a.card as { body?: CardElement[] }, slots, lists);
  }
}

/** Shrinks a card below the budget: first the longest texts (lowering a length cap by a quarter each round), then the longest lists; says so on the card. */
export function fitCard(card: AdaptiveCard, budget = CARD_BUDGET_BYTES): AdaptiveCard {
  if (cardBytes(card) <= budget) return card;
  const out = structuredClone(card);
  const note: CardElement = { type: 'TextBlock', text: TRIMMED_NOTE, size: 'Small', color: 'Warning', wrap: true };
  const limit = budget - cardBytes(note) - 16;
  const MIN_TEXT = 100;
  const gather = () => {
    const slots: Slot[] = [];
    const lists: unknown[][] = [];
    collect(out, slots, lists);
    return { slots, lists };
  };
  let cap = Math.max(0, ...gather().slots.map((s) => (s.holder[s.key] as string).length));
  while (cardBytes(out) > limit && cap > MIN_TEXT) {
    cap = Math.max(MIN_TEXT, Math.floor(cap * 0.75));
    for (const s of gather().slots) {
      const text = s.holder[s.key] as string;
      if (text.length > cap + 1) s.holder[s.key] = `${text.slice(0, cap).trimEnd()}…`;
    }
  }
  for (let round = 0; round < 500 && cardBytes(out) > limit; round++) {
    const list = gather().lists.filter((l) => l.length > 1).sort((a, b) => b.length - a.length)[0];
    if (list) list.splice(Math.max(1, Math.min(list.length - 1, Math.floor(list.length * 0.75))));
    else if (out.actions && out.actions.length > 0) out.actions.pop();
    else break;
  }
  out.body.push(note);
  return out;
}

/** The message activity for a message: markdown text when it is only text, an Adaptive Card otherwise. */
export function renderActivity(message: Message, options: RenderOptions = {}): RenderedActivity {
  const summary = fallbackText(message).slice(0, 250) || undefined;
  if (!needsCard(message) && !options.notice && !options.formId && !options.errors) {
    return { type: 'message', text: messageMarkdown(message) || ' ', textFormat: 'markdown', ...(summary ? { summary } : {}) };
  }
  return { type: 'message', ...(summary ? { summary } : {}), attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, content: renderCard(message, options) }] };
}

/** A card-only activity (updates always replace the message with a card). */
export function renderCardActivity(message: Message, options: RenderOptions = {}): RenderedActivity {
  const summary = fallbackText(message).slice(0, 250) || undefined;
  return { type: 'message', ...(summary ? { summary } : {}), attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, content: renderCard(message, options) }] };
}

/** Plain text of a message (for Teams' transient invoke messages): markdown marks removed. */
export function plainText(message: Message): string {
  const text = [message.title, message.text].filter(Boolean).join(': ') || fallbackText(message);
  return text
    .replace(/<((?:https?|mailto):[^|>\s]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<((?:https?|mailto):[^|>\s]+)>/g, '$1')
    .replace(/(^|[\s(])[*_]([^*_\n]+)[*_](?=$|[\s).,;:!?])/gm, '$1$2')
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/\n+/g, ' ')
    .trim();
}
