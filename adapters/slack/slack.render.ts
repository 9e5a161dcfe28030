/** Pure Block Kit rendering: Message -> blocks, Message with inputs -> modal view. Limits are enforced by visible trimming. */
import { fallbackText, type Button, type Input, type Message } from '../../src/core/message.js';

/** Slack's Block Kit limits tread enforces (https://api.slack.com/reference/block-kit). */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  blocksPerModal: 100,
  sectionText: 3000,
  fieldsPerSection: 10,
  fieldText: 2000,
  contextText: 3000,
  elementsPerActions: 25,
  buttonText: 75,
  buttonValue: 2000,
  actionId: 255,
  headerText: 150,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  modalTitle: 24,
  modalButton: 24,
  callbackId: 255,
  privateMetadata: 3000,
  inputLabel: 2000,
  inputHint: 2000,
  placeholder: 150,
  initialValue: 3000,
  optionsPerSelect: 100,
  optionText: 75,
  optionValue: 150,
  fallbackText: 3000,
} as const;

/** The visible marker of trimmed text. */
export const TRIMMED = '…trimmed';

/** A Block Kit text object. */
export interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

/** A Block Kit block as tread builds it (a structural subset of @slack/types' KnownBlock). */
export type Block = { type: string; block_id?: string } & Record<string, unknown>;

/** A modal view for views.open. */
export interface ModalView {
  type: 'modal';
  callback_id: string;
  private_metadata: string;
  title: TextObject;
  submit: TextObject;
  close: TextObject;
  blocks: Block[];
}

/** What travels in a modal's private_metadata: the submit value and where the form was opened. */
export interface FormMetadata {
  /** The submit value (`form.submit.value`). */
  v?: string;
  /** Channel the form was opened from. */
  c?: string;
  /** Thread the form was opened from. */
  t?: string;
}

/** Cuts `text` to `max` characters, ending with a visible marker; never splits a surrogate pair or an `&amp;` entity. */
export function trimText(text: string, max: number, marker = max >= 60 ? ` ${TRIMMED}` : '…'): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - marker.length);
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  let head = text.slice(0, cut);
  head = head.replace(/&[a-z]{0,4}$/, '');
  return `${head}${marker}`;
}

/** A plain_text object, trimmed to `max`. */
export function plain(text: string, max: number): TextObject {
  return { type: 'plain_text', text: trimText(text || ' ', max), emoji: true };
}

/** A mrkdwn object, trimmed to `max`. */
export function mrkdwn(text: string, max: number): TextObject {
  return { type: 'mrkdwn', text: trimText(text || ' ', max) };
}

/** Escapes Slack's control characters (&, <, >) in free text. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Links and user mentions tread's markdown may carry; everything else in angle brackets is escaped (no `<!channel>` pings). */
const ALLOWED_ENTITY = /<(?:https?:\/\/[^<>|\s]+|mailto:[^<>|\s]+|@[UW][A-Z0-9]+)(?:\|[^<>]*)?>/g;

/** tread's markdown subset -> Slack mrkdwn: bullets, `**bold**`, escaping, links and mentions kept. */
export function toMrkdwn(text: string): string {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(ALLOWED_ENTITY)) {
    out.push(escapeSlack(text.slice(last, m.index)));
    const [target, label] = splitEntity(m[0].slice(1, -1));
    out.push(label === undefined ? `<${target}>` : `<${target}|${escapeSlack(label)}>`);
    last = m.index + m[0].length;
  }
  out.push(escapeSlack(text.slice(last)));
  return out.join('')
    .replace(/\*\*([^*\n]+)\*\*/g, '*$1*')
    .replace(/^([ \t]*)[-*] (?=\S)/gm, '$1• ');
}

function splitEntity(inner: string): [string, string | undefined] {
  const bar = inner.indexOf('|');
  return bar < 0 ? [inner, undefined] : [inner.slice(0, bar), inner.slice(bar + 1)];
}

/** A context block with one mrkdwn line. */
function contextBlock(text: string, blockId?: string): Block {
  return { type: 'context', ...(blockId ? { block_id: blockId } : {}), elements: [mrkdwn(text, SLACK_LIMITS.contextText)] };
}

/** One Block Kit button; `actionId` must be unique in its message (see `uniqueActionIds`). */
export function renderButton(button: Button, actionId: string): Record<string, unknown> {
  const el: Record<string, unknown> = {
    type: 'button',
    action_id: trimText(actionId, SLACK_LIMITS.actionId, ''),
    text: plain(button.label, SLACK_LIMITS.buttonText),
    value: trimText(button.value, SLACK_LIMITS.buttonValue, ''),
  };
  if (button.style) el.style = button.style;
  // Destructive buttons always ask first.
  const question = button.confirm ?? (button.style === 'danger' ? `${button.label}: are you sure?` : undefined);
  if (question) {
    el.confirm = {
      title: plain('Are you sure?', SLACK_LIMITS.confirmTitle),
      text: plain(question, SLACK_LIMITS.confirmText),
      confirm: plain(button.label, SLACK_LIMITS.confirmButton),
      deny: plain('Cancel', SLACK_LIMITS.confirmButton),
      ...(button.style === 'danger' ? { style: 'danger' } : {}),
    };
  }
  return el;
}

/** Separator between an action id and its de-duplication counter (`incident.ack#2`). */
const DUP = '#';

/** Slack requires unique action ids within a message: repeats get `#2`, `#3`. */
export function uniqueActionIds(buttons: Button[]): string[] {
  const seen = new Map<string, number>();
  return buttons.map((b) => {
    const n = (seen.get(b.actionId) ?? 0) + 1;
    seen.set(b.actionId, n);
    return n === 1 ? b.actionId : `${b.actionId}${DUP}${n}`;
  });
}

/** The tread action id of a Slack action id (drops the `#n` de-duplication counter). */
export function baseActionId(actionId: string): string {
  return actionId.replace(/#\d+$/, '');
}

/** Emoji shown before warning and error texts (Block Kit has no colour outside attachments). */
const TONE_PREFIX: Partial<Record<NonNullable<Message['tone']>, string>> = { warning: ':warning: ', danger: ':rotating_light: ' };

/** Renders a message as Block Kit blocks (at most 50, trimming visibly). */
export function renderBlocks(message: Message): Block[] {
  const head: Block[] = [];
  const body: Block[] = [];
  const tail: Block[] = [];
  if (message.title?.trim()) head.push({ type: 'header', text: plain(message.title.trim(), SLACK_LIMITS.headerText) });
  if (message.text?.trim()) {
    const prefix = !message.title && message.tone ? TONE_PREFIX[message.tone] ?? '' : '';
    body.push({ type: 'section', text: mrkdwn(prefix + toMrkdwn(message.text.trim()), SLACK_LIMITS.sectionText) });
  }
  const fields = message.fields ?? [];
  for (let i = 0; i < fields.length; i += SLACK_LIMITS.fieldsPerSection) {
    body.push({
      type: 'section',
      fields: fields.slice(i, i + SLACK_LIMITS.fieldsPerSection)
        .map((f) => mrkdwn(`*${escapeSlack(f.label)}*\n${toMrkdwn(f.value || '—')}`, SLACK_LIMITS.fieldText)),
    });
  }
  if (message.context?.trim()) tail.push(contextBlock(toMrkdwn(message.context.trim())));
  const buttons = message.buttons ?? [];
  const ids = uniqueActionIds(buttons);
  for (let i = 0; i < buttons.length; i += SLACK_LIMITS.elementsPerActions) {
    tail.push({
      type: 'actions',
      block_id: `tread.actions.${i / SLACK_LIMITS.elementsPerActions}`,
      elements: buttons.slice(i, i + SLACK_LIMITS.elementsPerActions).map((b, j) => renderButton(b, ids[i + j]!)),
    });
  }
  const all = [...head, ...body, ...tail];
  if (all.length === 0) return [{ type: 'section', text: mrkdwn(escapeSlack(fallbackText(message)) || ' ', SLACK_LIMITS.sectionText) }];
  if (all.length <= SLACK_LIMITS.blocksPerMessage) return all;
  // Over the limit: keep the title and the buttons, cut the body, and say so.
  let room = SLACK_LIMITS.blocksPerMessage - head.length - 1;
  const keptTail = tail.slice(0, room);
  room -= keptTail.length;
  const keptBody = body.slice(0, room);
  const dropped = body.length - keptBody.length + tail.length - keptTail.length;
  return [...head, ...keptBody, contextBlock(`_${TRIMMED}: ${dropped} more block${dropped === 1 ? '' : 's'} not shown_`, 'tread.trimmed'), ...keptTail];
}

/** The notification text of a message (chat.postMessage `text`). */
export function renderFallback(message: Message): string {
  return trimText(escapeSlack(fallbackText(message)) || 'tread', SLACK_LIMITS.fallbackText);
}

/** Arguments for chat.postMessage / chat.update / chat.postEphemeral / response_url. */
export function renderMessage(message: Message): { text: string; blocks: Block[] } {
  return { text: renderFallback(message), blocks: renderBlocks(message) };
}

/** One form input as a Block Kit input block. */
export function renderInput(input: Input): Block {
  const block: Block = {
    type: 'input',
    block_id: trimText(input.id, 255, ''),
    label: plain(input.label, SLACK_LIMITS.inputLabel),
    optional: !input.required,
    element: renderElement(input),
  };
  // Slack shows errors on fields only in answer to a submission; a form opened again after a bad typed command carries
  // each field's error in its hint.
  const hints = [input.error ? `⚠ ${input.error}` : undefined, input.hint, (input.type === 'select' || input.type === 'multiselect') && (input.choices?.length ?? 0) > SLACK_LIMITS.optionsPerSelect
    ? `${TRIMMED}: ${input.choices!.length - SLACK_LIMITS.optionsPerSelect} more choices not shown` : undefined].filter(Boolean);
  if (hints.length) block.hint = plain(hints.join(' · '), SLACK_LIMITS.inputHint);
  return block;
}

/** The options of a select, within Slack's limits (the rest is noted in the input's hint). */
function selectOptions(input: Input): { text: ReturnType<typeof plain>; value: string }[] {
  return (input.choices ?? []).slice(0, SLACK_LIMITS.optionsPerSelect).map((c) => ({
    text: plain(c.label, SLACK_LIMITS.optionText),
    value: trimText(c.value, SLACK_LIMITS.optionValue, ''),
  }));
}

function renderElement(input: Input): Record<string, unknown> {
  const base: Record<string, unknown> = { action_id: trimText(input.id, 255, '') };
  if (input.placeholder) base.placeholder = plain(input.placeholder, SLACK_LIMITS.placeholder);
  switch (input.type) {
    case 'select': {
      const options = selectOptions(input);
      if (options.length === 0) break;
      const initial = options.find((o) => o.value === input.initial);
      return { ...base, type: 'static_select', options, ...(initial ? { initial_option: initial } : {}) };
    }
    case 'multiselect': {
      const options = selectOptions(input);
      if (options.length === 0) break;
      const wanted = new Set((input.initial ?? '').split(',').map((v) => v.trim()).filter(Boolean));
      const initial = options.filter((o) => wanted.has(o.value));
      return { ...base, type: 'multi_static_select', options, ...(initial.length ? { initial_options: initial } : {}) };
    }
    case 'date':
      return { ...base, type: 'datepicker', ...(input.initial && /^\d{4}-\d{2}-\d{2}$/.test(input.initial) ? { initial_date: input.initial } : {}) };
    case 'number': {
      const initial = input.initial !== undefined && Number.isFinite(Number(input.initial)) ? input.initial : undefined;
      const whole = [input.min, input.max, initial === undefined ? undefined : Number(initial)].every((n) => n === undefined || Number.isInteger(n));
      return {
        ...base, type: 'number_input', is_decimal_allowed: !whole,
        ...(input.min !== undefined ? { min_value: String(input.min) } : {}), ...(input.max !== undefined ? { max_value: String(input.max) } : {}),
        ...(initial !== undefined ? { initial_value: initial } : {}),
      };
    }
    case 'user': {
      const initial = input.initial?.replace(/^@/, '');
      return { ...base, type: 'users_select', ...(initial && /^[UW][A-Z0-9]+$/.test(initial) ? { initial_user: initial } : {}) };
    }
    case 'datetime': {
      const at = input.initial ? Date.parse(input.initial) : Number.NaN;
      return { ...base, type: 'datetimepicker', ...(Number.isFinite(at) ? { initial_date_time: Math.floor(at / 1000) } : {}) };
    }
    case 'multiline':
      return { ...base, type: 'plain_text_input', multiline: true, ...(input.initial ? { initial_value: trimText(input.initial, SLACK_LIMITS.initialValue) } : {}) };
    case 'text':
      break;
  }
  return { ...base, type: 'plain_text_input', ...(input.initial ? { initial_value: trimText(input.initial, SLACK_LIMITS.initialValue) } : {}) };
}

/** Encodes form metadata, dropping the channel and thread if the value alone is too long. */
export function encodeMetadata(meta: FormMetadata): string {
  const full = JSON.stringify(meta);
  if (full.length <= SLACK_LIMITS.privateMetadata) return full;
  return JSON.stringify({ v: trimText(meta.v ?? '', SLACK_LIMITS.privateMetadata - 16, '') });
}

/** Renders a form (a Message with inputs and submit) as a modal view. */
export function renderModal(form: Message, meta: FormMetadata = {}): ModalView {
  const submit = form.submit ?? { actionId: 'tread.form', label: 'Submit' };
  const lead: Block[] = [];
  if (form.text?.trim()) lead.push({ type: 'section', text: mrkdwn(toMrkdwn(form.text.trim()), SLACK_LIMITS.sectionText) });
  if (form.fields?.length) {
    lead.push({ type: 'section', fields: form.fields.slice(0, SLACK_LIMITS.fieldsPerSection).map((f) => mrkdwn(`*${escapeSlack(f.label)}*\n${toMrkdwn(f.value || '—')}`, SLACK_LIMITS.fieldText)) });
  }
  const inputs = (form.inputs ?? []).map(renderInput);
  const tail: Block[] = form.context?.trim() ? [contextBlock(toMrkdwn(form.context.trim()))] : [];
  let blocks = [...lead, ...inputs, ...tail];
  if (blocks.length > SLACK_LIMITS.blocksPerModal) {
    const keep = SLACK_LIMITS.blocksPerModal - lead.length - 1;
    const dropped = inputs.length - keep;
    blocks = [...lead, ...inputs.slice(0, keep), contextBlock(`_${TRIMMED}: ${dropped} more field${dropped === 1 ? '' : 's'} not shown_`, 'tread.trimmed')];
  }
  return {
    type: 'modal',
    callback_id: trimText(submit.actionId, SLACK_LIMITS.callbackId, ''),
    private_metadata: encodeMetadata({ ...meta, ...(submit.value !== undefined ? { v: submit.value } : {}) }),
    title: plain(form.title?.trim() || 'tread', SLACK_LIMITS.modalTitle),
    submit: plain(submit.label || 'Submit', SLACK_LIMITS.modalButton),
    close: plain('Cancel', SLACK_LIMITS.modalButton),
    blocks,
  };
}

/** The block ids of the input blocks of a view, in order. */
export function inputBlockIds(view: { blocks?: unknown[] }): string[] {
  return (view.blocks ?? []).flatMap((b) => {
    const block = b as { type?: unknown; block_id?: unknown };
    return block.type === 'input' && typeof block.block_id === 'string' ? [block.block_id] : [];
  });
}
