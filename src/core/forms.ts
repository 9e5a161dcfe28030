/**
 * Forms from field specs: one validation for typed commands (`field:value`), form submissions and REST bodies, so the same
 * input gets the same answer everywhere and a bad value names its field; and the form inputs, pre-filled, with each
 * field's error shown on it.
 */
import { z } from 'zod';
import { badInput } from './errors.js';
import type { Input } from './message.js';
import { parseLocalDate } from './time-zone.js';

/** The kinds of field a form can ask for. */
export const FIELD_TYPES = ['text', 'multiline', 'select', 'multiselect', 'user', 'date', 'number', 'url', 'email'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** A field of a form (a catalog item's `fields` in the organisation file use this shape). */
export interface FieldSpec {
  id: string;
  label: string;
  type: FieldType;
  required?: boolean;
  /** select and multiselect: the values to pick from. */
  options?: string[];
  /** number: smallest and largest value; text kinds: shortest and longest length; multiselect: fewest and most choices. */
  min?: number;
  max?: number;
  /** text kinds: a regular expression the whole value must match. */
  pattern?: string;
  help?: string;
  default?: string | number | string[];
}

/** A validated value: text, a number, the chosen options, or a person id (user). */
export type FieldValue = string | number | string[];

/** One problem, naming its field. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** The zod schema of a field spec in the organisation file (options may not hold commas: a multiselect joins with them). */
export const fieldSpecSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9_]*$/, 'use lower-case letters, digits and "_" (it is typed as id:value)'),
  label: z.string().min(1),
  type: z.enum(FIELD_TYPES),
  required: z.boolean().default(false),
  options: z.array(z.string().min(1).refine((o) => !o.includes(','), 'an option may not contain a comma')).optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  pattern: z.string().refine((p) => { try { new RegExp(p); return true; } catch { return false; } }, 'not a valid regular expression').optional(),
  help: z.string().optional(),
  default: z.union([z.string(), z.number(), z.array(z.string())]).optional(),
}).superRefine((f, ctx) => {
  if ((f.type === 'select' || f.type === 'multiselect') && !f.options?.length) ctx.addIssue({ code: 'custom', path: ['options'], message: `a ${f.type} field needs options` });
  if (f.min !== undefined && f.max !== undefined && f.min > f.max) ctx.addIssue({ code: 'custom', path: ['max'], message: 'max must not be below min' });
});

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Values as given: strings (typed or submitted; multiselect comma-joined) or JSON values (REST). */
export type RawValues = Record<string, unknown>;

/**
 * Validates values against the fields: unknown fields, missing required ones and bad values are all reported, each naming
 * its field. `person` resolves a user field's value (a handle, mention or email) to a person id, or undefined.
 */
export function validateFields(fields: readonly FieldSpec[], raw: RawValues, person?: (token: string) => string | undefined): { values: Record<string, FieldValue>; issues: FieldIssue[] } {
  const values: Record<string, FieldValue> = {};
  const issues: FieldIssue[] = [];
  const known = new Set(fields.map((f) => f.id));
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) issues.push({ path: key, message: `there is no field "${key}" (fields: ${fields.map((f) => f.id).join(', ') || 'none'})` });
  }
  for (const f of fields) {
    const given = raw[f.id];
    const empty = given === undefined || given === null || (typeof given === 'string' && given.trim() === '') || (Array.isArray(given) && given.length === 0);
    if (empty) {
      if (f.default !== undefined) values[f.id] = f.default;
      else if (f.required) issues.push({ path: f.id, message: `${f.label} is required` });
      continue;
    }
    const r = fieldValue(f, given, person);
    if ('error' in r) issues.push({ path: f.id, message: r.error });
    else values[f.id] = r.value;
  }
  return { values, issues };
}

/** Validates and throws a coded 400 naming every bad field (what REST answers and chat shows on the form). */
export function requireFields(fields: readonly FieldSpec[], raw: RawValues, person?: (token: string) => string | undefined, code = 'form.invalid'): Record<string, FieldValue> {
  const { values, issues } = validateFields(fields, raw, person);
  if (issues.length) throw badInput(code, `Some fields need a fix: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`, issues);
  return values;
}

function fieldValue(f: FieldSpec, given: unknown, person?: (token: string) => string | undefined): { value: FieldValue } | { error: string } {
  const text = Array.isArray(given) ? given.map(String).join(',') : String(given).trim();
  const length = (v: string) => {
    if (f.min !== undefined && v.length < f.min) return `at least ${f.min} characters`;
    if (f.max !== undefined && v.length > f.max) return `at most ${f.max} characters`;
    return undefined;
  };
  switch (f.type) {
    case 'number': {
      const n = typeof given === 'number' ? given : Number(text);
      if (!Number.isFinite(n) || text === '') return { error: `write a number, like ${f.min ?? 1}` };
      if (f.min !== undefined && n < f.min) return { error: `at least ${f.min}` };
      if (f.max !== undefined && n > f.max) return { error: `at most ${f.max}` };
      return { value: n };
    }
    case 'select': {
      const hit = f.options?.find((o) => o.toLowerCase() === text.toLowerCase());
      return hit ? { value: hit } : { error: `pick one of ${f.options?.join(', ')}` };
    }
    case 'multiselect': {
      const picks = (Array.isArray(given) ? given.map(String) : text.split(',')).map((x) => x.trim()).filter(Boolean);
      const bad = picks.filter((p) => !f.options?.some((o) => o.toLowerCase() === p.toLowerCase()));
      if (bad.length) return { error: `${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not among ${f.options?.join(', ')}` };
      const chosen = [...new Set(picks.map((p) => f.options!.find((o) => o.toLowerCase() === p.toLowerCase())!))];
      if (f.min !== undefined && chosen.length < f.min) return { error: `pick at least ${f.min}` };
      if (f.max !== undefined && chosen.length > f.max) return { error: `pick at most ${f.max}` };
      return { value: chosen };
    }
    case 'date': {
      const d = parseLocalDate(text);
      return d ? { value: text } : { error: 'write a date as YYYY-MM-DD' };
    }
    case 'url': {
      let ok = false;
      try { ok = ['http:', 'https:'].includes(new URL(text).protocol); } catch { /* not a URL */ }
      return ok ? { value: text } : { error: 'write a web address starting with https://' };
    }
    case 'email':
      return EMAIL.test(text) ? { value: text } : { error: 'write an email address like name@example.com' };
    case 'user': {
      const id = person?.(text);
      return id ? { value: id } : { error: `I don't know "${text}"; name a person by handle (like @alice), a mention or an email` };
    }
    default: {
      const tooLong = length(text);
      if (tooLong) return { error: tooLong };
      if (f.pattern && !new RegExp(`^(?:${f.pattern})$`).test(text)) return { error: `does not have the expected form${f.help ? ` (${f.help})` : ''}` };
      return { value: text };
    }
  }
}

/** How a value is shown in an input (multiselect choices joined with commas). */
export function valueText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** The inputs of a form for the fields, filled with `values` (else the defaults), each with its error. */
export function fieldInputs(fields: readonly FieldSpec[], values: RawValues = {}, errors: Record<string, string> = {}): Input[] {
  return fields.map((f) => {
    const type: Input['type'] = f.type === 'url' || f.type === 'email' ? 'text' : f.type;
    return {
      id: f.id, label: f.label, type, required: f.required,
      ...(f.options ? { choices: f.options.map((o) => ({ value: o, label: o })) } : {}),
      ...(f.type === 'number' ? { min: f.min, max: f.max } : {}),
      ...(f.type === 'url' ? { placeholder: 'https://…' } : f.type === 'email' ? { placeholder: 'name@example.com' } : f.type === 'date' ? { placeholder: 'YYYY-MM-DD' } : {}),
      ...(valueText(values[f.id] ?? f.default) !== undefined ? { initial: valueText(values[f.id] ?? f.default) } : {}),
      ...(f.help ? { hint: f.help } : {}),
      ...(errors[f.id] ? { error: errors[f.id] } : {}),
    };
  });
}
