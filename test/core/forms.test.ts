/** Forms from field specs: one validation for typed commands, submissions and REST; inputs pre-filled with their errors. */
import { describe, expect, it } from 'vitest';
import { fieldInputs, fieldSpecSchema, requireFields, validateFields, type FieldSpec } from '../../src/core/forms.js';
import { isDomainError } from '../../src/core/errors.js';

const fields: FieldSpec[] = [
  { id: 'model', label: 'Model', type: 'select', required: true, options: ['M3', 'M4 Pro'] },
  { id: 'extras', label: 'Extras', type: 'multiselect', options: ['dock', 'mouse', 'bag'], max: 2 },
  { id: 'count', label: 'How many', type: 'number', min: 1, max: 5, default: 1 },
  { id: 'needed_by', label: 'Needed by', type: 'date' },
  { id: 'manager', label: 'Manager', type: 'user' },
  { id: 'docs', label: 'Docs', type: 'url' },
  { id: 'contact', label: 'Contact', type: 'email' },
  { id: 'ticket', label: 'Ticket', type: 'text', pattern: '[A-Z]+-\\d+', help: 'like OPS-12' },
  { id: 'reason', label: 'Reason', type: 'multiline', required: true, min: 5 },
];
const people: Record<string, string> = { '@alice': 'alice', alice: 'alice', 'alice@example.com': 'alice' };
const person = (t: string) => people[t];

describe('validateFields', () => {
  it('turns typed or submitted strings into values: choices matched, numbers, dates, people resolved, defaults filled', () => {
    const { values, issues } = validateFields(fields, {
      model: 'm4 pro', extras: 'mouse, dock', needed_by: '2026-12-24', manager: '@alice', docs: 'https://wiki/x', contact: 'a@b.co', ticket: 'OPS-12', reason: 'new starter',
    }, person);
    expect(issues).toEqual([]);
    expect(values).toEqual({ model: 'M4 Pro', extras: ['mouse', 'dock'], count: 1, needed_by: '2026-12-24', manager: 'alice', docs: 'https://wiki/x', contact: 'a@b.co', ticket: 'OPS-12', reason: 'new starter' });
  });

  it('takes JSON values too (REST): arrays and numbers', () => {
    expect(validateFields(fields, { model: 'M3', extras: ['bag'], count: 3, reason: 'broken screen' }, person).values).toMatchObject({ extras: ['bag'], count: 3 });
  });

  it('reports every bad field at once, each naming its field and what to write', () => {
    const { issues } = validateFields(fields, {
      model: 'M9', extras: 'dock,mouse,bag', count: '9', needed_by: '24/12/2026', manager: 'zed', docs: 'ftp://x', contact: 'nobody', ticket: 'ops 12', colour: 'red',
    }, person);
    expect(issues).toEqual([
      { path: 'colour', message: 'there is no field "colour" (fields: model, extras, count, needed_by, manager, docs, contact, ticket, reason)' },
      { path: 'model', message: 'pick one of M3, M4 Pro' },
      { path: 'extras', message: 'pick at most 2' },
      { path: 'count', message: 'at most 5' },
      { path: 'needed_by', message: 'write a date as YYYY-MM-DD' },
      { path: 'manager', message: 'I don\'t know "zed"; name a person by handle (like @alice), a mention or an email' },
      { path: 'docs', message: 'write a web address starting with https://' },
      { path: 'contact', message: 'write an email address like name@example.com' },
      { path: 'ticket', message: 'does not have the expected form (like OPS-12)' },
      { path: 'reason', message: 'Reason is required' },
    ]);
    expect(validateFields(fields, { model: 'M3', reason: 'hi', count: 'lots', extras: 'dock,cape' }).issues).toEqual([
      { path: 'extras', message: 'cape is not among dock, mouse, bag' },
      { path: 'count', message: 'write a number, like 1' },
      { path: 'reason', message: 'at least 5 characters' },
    ]);
  });

  it('requireFields throws one coded 400 listing the issues', () => {
    let error: unknown;
    try { requireFields(fields, { reason: 'x' }); } catch (e) { error = e; }
    expect(isDomainError(error) && error.status).toBe(400);
    expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(['model', 'reason']);
  });
});

describe('fieldInputs', () => {
  it('builds the form\'s inputs, pre-filled with what was typed and each field\'s error on it', () => {
    const inputs = fieldInputs(fields, { model: 'M3', extras: ['dock', 'bag'], count: 2 }, { reason: 'Reason is required' });
    expect(inputs.find((i) => i.id === 'model')).toMatchObject({ type: 'select', required: true, initial: 'M3', choices: [{ value: 'M3', label: 'M3' }, { value: 'M4 Pro', label: 'M4 Pro' }] });
    expect(inputs.find((i) => i.id === 'extras')).toMatchObject({ type: 'multiselect', initial: 'dock,bag' });
    expect(inputs.find((i) => i.id === 'count')).toMatchObject({ type: 'number', min: 1, max: 5, initial: '2' });
    expect(inputs.find((i) => i.id === 'docs')).toMatchObject({ type: 'text', placeholder: 'https://…' });
    expect(inputs.find((i) => i.id === 'ticket')).toMatchObject({ hint: 'like OPS-12' });
    expect(inputs.find((i) => i.id === 'reason')).toMatchObject({ error: 'Reason is required' });
  });
});

describe('field specs in the organisation file', () => {
  it('need options for selects, a sane range, a valid pattern, and options without commas', () => {
    const issues = (v: unknown) => fieldSpecSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues({ id: 'x', label: 'X', type: 'select' })).toEqual(['options: a select field needs options']);
    expect(issues({ id: 'x', label: 'X', type: 'number', min: 5, max: 1 })).toEqual(['max: max must not be below min']);
    expect(issues({ id: 'x', label: 'X', type: 'text', pattern: '(' })).toEqual(['pattern: not a valid regular expression']);
    expect(issues({ id: 'x', label: 'X', type: 'multiselect', options: ['a,b'] })).toEqual(['options.0: an option may not contain a comma']);
    expect(issues({ id: 'Model', label: 'X', type: 'text' })[0]).toMatch(/^id: use lower-case/);
  });
});
