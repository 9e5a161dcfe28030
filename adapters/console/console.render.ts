/** Renders Messages as terminal text: a title line, indented body, fields, context and numbered buttons. Pure. */
import type { Button, Message } from '../../src/core/message.js';

/** Removes the markdown subset's markers for a terminal. */
export function plain(text: string): string {
  return text
    .replace(/<((?:https?:\/\/|mailto:)[^<>|\s]+)\|([^<>]+)>/g, '$2 ($1)') // links only: usage like <caller|change> stays
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/g, '$1$2')
    .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/g, '$1$2');
}

const INDENT = '       ';

/** Text lines of a message; buttons numbered from 1. */
export function renderText(message: Message, prefix = 'tread> '): string {
  const lines: string[] = [];
  if (message.title) lines.push(plain(message.title));
  if (message.text) lines.push(...plain(message.text).split('\n'));
  for (const f of message.fields ?? []) lines.push(`${f.label}: ${plain(f.value).replace(/\n/g, ' / ')}`);
  if (message.context) lines.push(plain(message.context));
  if (message.buttons?.length) lines.push(renderButtons(message.buttons));
  if (lines.length === 0) lines.push('');
  return lines.map((l, i) => (i === 0 ? prefix : INDENT) + l).join('\n');
}

/** `[1] Acknowledge  [2] Set priority`. */
export function renderButtons(buttons: Button[]): string {
  return buttons.map((b, i) => `[${i + 1}] ${b.label}`).join('  ');
}
