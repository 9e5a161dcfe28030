/** The command grammar shared by every platform: tokens, `key:value` options, record ids, help text. */
import { badInput } from './errors.js';
import type { Message } from './message.js';

/** A token with its position, so the rest of a line can be taken verbatim. */
export interface Token {
  text: string;
  start: number;
  end: number;
}

/** Splits command text on white space; "double quotes" group words. */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push({ text: m[1] ?? m[2]!, start: m.index, end: m.index + m[0].length });
  return out;
}

/** Words of a command with helpers to take from the front. */
export class Args {
  private readonly tokens: Token[];
  private index = 0;

  constructor(readonly text: string) {
    this.tokens = tokenize(text.trim());
    this.text = text.trim();
  }

  /** The next word without taking it. */
  peek(): string | undefined {
    return this.tokens[this.index]?.text;
  }

  /** Takes the next word. */
  next(): string | undefined {
    return this.tokens[this.index++]?.text;
  }

  /** Everything not taken yet, verbatim. */
  rest(): string {
    const t = this.tokens[this.index];
    return t ? this.text.slice(t.start).trim() : '';
  }

  /** True when nothing is left. */
  get done(): boolean {
    return this.index >= this.tokens.length;
  }
}

/** Pulls `key:value` options out of free text; returns the remaining text and the options. An option given twice is refused. */
export function extractOptions(text: string, keys: readonly string[]): { rest: string; options: Record<string, string> } {
  const options: Record<string, string> = {};
  const pattern = new RegExp(`(^|\\s)(${keys.join('|')}):("[^"]*"|\\S+)`, 'gi');
  const rest = text.replace(pattern, (_, lead: string, key: string, value: string) => {
    const k = key.toLowerCase();
    const v = value.replace(/^"|"$/g, '');
    if (k in options) throw badInput('command.repeated_option', `${k} is given twice (${k}:${options[k]} and ${k}:${v}); give it once.`, [{ path: k, message: 'given twice' }]);
    options[k] = v;
    return lead;
  }).replace(/\s+/g, ' ').trim();
  return { rest, options };
}

/** Parses a record id like `INC-7` (case-insensitive, `#7` and `7` also accepted for the given prefix). */
export function parseRecordId(prefix: string, text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = new RegExp(`^(?:${prefix}-|#)?(\\d+)$`, 'i').exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 && n < 2 ** 31 ? n : undefined;
}

/** A help message for a command. */
export function helpMessage(title: string, usage: string[], note?: string): Message {
  return { title, text: usage.map((u) => `- \`${u}\``).join('\n') + (note ? `\n\n${note}` : '') };
}
