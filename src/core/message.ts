/** The platform-neutral message model. Adapters render it as Block Kit, Adaptive Cards or text. */

/** A button on a card. `actionId` is namespaced `<workflow>.<verb>`; `value` usually names the record (`INC-7`). */
export interface Button {
  actionId: string;
  label: string;
  value: string;
  style?: 'primary' | 'danger';
  /** When set, the platform asks this question before the action is sent. */
  confirm?: string;
}

/** One labelled value on a card. */
export interface Field {
  label: string;
  value: string;
}

/** A choice of a select input. */
export interface Choice {
  value: string;
  label: string;
}

/**
 * A form input. `id` is the key of the submitted value in `formValues`, where every value is a string: a multiselect's
 * choices joined with commas, a date as `YYYY-MM-DD`, a number as written, a user as `@<platform id>` or a handle.
 */
export interface Input {
  id: string;
  label: string;
  type: 'text' | 'multiline' | 'select' | 'multiselect' | 'user' | 'date' | 'datetime' | 'number';
  required?: boolean;
  placeholder?: string;
  /** The value shown at first (multiselect: choices joined with commas). */
  initial?: string;
  choices?: Choice[];
  /** number: the smallest and largest value accepted. */
  min?: number;
  max?: number;
  /** Shown under the input. */
  hint?: string;
  /** What was wrong with the value last given, shown on the field (a form opened again after a bad typed command). */
  error?: string;
}

/** Colour hint for the card's accent (Slack attachment colour, Teams container style). */
export type Tone = 'neutral' | 'good' | 'warning' | 'danger' | 'info';

/** A message or card. Markdown subset in `text`: *bold*, _italics_, `code`, <url|label> links, "- " lists. */
export interface Message {
  title?: string;
  text?: string;
  fields?: Field[];
  /** A small line under the body: times, ids, who did what. */
  context?: string;
  buttons?: Button[];
  /** The record this message shows (`INC-7`), if any. */
  subject?: string;
  tone?: Tone;
  /** Form inputs; a message with inputs is a form and needs `submit`. */
  inputs?: Input[];
  submit?: { actionId: string; label: string; value?: string };
  /** Plain-text fallback for notifications; defaults to the title. */
  fallback?: string;
}

/** The fallback text of a message, used by notifications and the console. */
export function fallbackText(message: Message): string {
  return message.fallback ?? message.title ?? message.text?.split('\n')[0] ?? '';
}
