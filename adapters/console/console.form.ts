/** Console forms: the prompt of each input and the check of each answer as it is typed. Pure. */
import type { Choice, Input } from '../../src/core/message.js';

/** An answer checked against its input: the value to submit, or a sentence saying what to type instead. */
export type Checked = { value: string } | { error: string };

/** A person the console can name in a `user` input. */
export interface KnownPerson {
  id: string;
  email?: string;
}

/** The prompt line of an input: label, optional, numbered choices or bounds, and the value Enter keeps. */
export function promptOf(input: Input): string {
  const choices = input.choices?.length ? ` [${input.choices.map((c, i) => `${i + 1}=${c.value}`).join(' ')}]` : '';
  const several = input.type === 'multiselect' ? ' (several: 1,3)' : '';
  const format = input.type === 'date' ? ' (YYYY-MM-DD)' : input.type === 'datetime' ? ' (YYYY-MM-DD HH:MM)' : '';
  const bounds = input.type === 'number' ? numberBounds(input) : '';
  const initial = input.initial ? ` (${input.initial})` : '';
  return `       ${input.label}${input.required ? '' : ' (optional)'}${choices}${several}${format}${bounds}${initial}: `;
}

function numberBounds(input: Input): string {
  if (input.min !== undefined && input.max !== undefined) return ` (${input.min}–${input.max})`;
  if (input.min !== undefined) return ` (at least ${input.min})`;
  if (input.max !== undefined) return ` (at most ${input.max})`;
  return '';
}

function choiceOf(choices: Choice[], typed: string): Choice | undefined {
  if (/^\d+$/.test(typed)) {
    const byNumber = choices[Number(typed) - 1];
    if (byNumber) return byNumber;
  }
  const lower = typed.toLowerCase();
  return choices.find((c) => c.value.toLowerCase() === lower) ?? choices.find((c) => c.label.toLowerCase() === lower);
}

function choiceList(choices: Choice[]): string {
  return choices.map((c, i) => `${i + 1}=${c.value}`).join(' ');
}

/** Checks one typed answer (Enter keeps the initial value); `people` are the handles a `user` input accepts. */
export function checkAnswer(input: Input, typed: string, people: KnownPerson[] = []): Checked {
  const raw = typed.trim() || input.initial || '';
  if (!raw) return input.required ? { error: `${input.label} is required.` } : { value: '' };
  const choices = input.choices ?? [];
  switch (input.type) {
    case 'select': {
      if (choices.length === 0) return { value: raw };
      const choice = choiceOf(choices, raw);
      return choice ? { value: choice.value } : { error: `"${raw}" is not one of the choices; type a number or a value: ${choiceList(choices)}.` };
    }
    case 'multiselect': {
      const items = raw.split(/[\s,]+/).filter(Boolean);
      if (choices.length === 0) return { value: items.join(',') };
      const picked: string[] = [];
      const unknown: string[] = [];
      for (const item of items) {
        const choice = choiceOf(choices, item);
        if (!choice) unknown.push(`"${item}"`);
        else if (!picked.includes(choice.value)) picked.push(choice.value);
      }
      if (unknown.length) return { error: `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not among the choices; type numbers or values separated by commas: ${choiceList(choices)}.` };
      return { value: picked.join(',') };
    }
    case 'number': {
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(raw)) return { error: `${input.label} must be a number${numberBounds(input)}; "${raw}" is not one.` };
      const n = Number(raw);
      if (input.min !== undefined && n < input.min) return { error: `${input.label} must be at least ${input.min}.` };
      if (input.max !== undefined && n > input.max) return { error: `${input.label} must be at most ${input.max}.` };
      return { value: String(n) };
    }
    case 'date':
      return validDate(raw) ? { value: raw } : { error: `Write ${input.label.toLowerCase()} as a date, YYYY-MM-DD (like 2026-03-31); "${raw}" is not one.` };
    case 'datetime': {
      const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(raw);
      const ok = m && validDate(m[1]!) && Number(m[2]) < 24 && Number(m[3]) < 60;
      return ok ? { value: raw } : { error: `Write ${input.label.toLowerCase()} as YYYY-MM-DD HH:MM (like 2026-03-31 14:30); "${raw}" is not one.` };
    }
    case 'user': {
      if (people.length === 0) return { value: raw };
      const handle = raw.replace(/^@/, '').toLowerCase();
      const known = people.some((p) => p.id.toLowerCase() === handle || p.email?.toLowerCase() === handle);
      return known ? { value: raw } : { error: `There is no person "${raw}" in the config. People: ${people.map((p) => p.id).join(', ')}.` };
    }
    case 'text':
    case 'multiline':
      return { value: raw };
  }
}

function validDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}
