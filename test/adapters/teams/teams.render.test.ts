/** The Adaptive Card renderer: every card the core builds conforms to Adaptive Card 1.5 and stays under Teams' 28 KB. */
import { describe, expect, it } from 'vitest';
import {
  buttonAction, cardBytes, fitCard, messageMarkdown, plainText, renderActivity, renderCard, TEAMS_CARD_MAX_BYTES, textBlocks, toTeamsMarkdown,
  TRIMMED_NOTE, type AdaptiveCard,
} from '../../../adapters/teams/teams.render.js';
import { cardActionOf, formValuesFrom } from '../../../adapters/teams/teams.inbound.js';
import { helpMessage } from '../../../src/core/commands.js';
import type { Message } from '../../../src/core/message.js';
import { fieldInputs } from '../../../src/core/forms.js';
import { createForm, holdForm, incidentCard, priorityForm, resolveForm, type IncidentRow } from '../../../src/workflows/incident/incident.messages.js';
import { pageMessage } from '../../../src/workflows/oncall/oncall.messages.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';

const NOW = new Date('2026-01-05T09:00:00Z');

function incident(patch: Partial<IncidentRow> = {}): IncidentRow {
  return {
    id: 7, title: 'Checkout returns 502', description: 'Customers cannot pay', state: 'new', holdReason: null, holdNote: null,
    impact: 'high', urgency: 'medium', priority: 2, major: false, service: 'payments', assignee: null, reporter: 'alice', source: 'teams',
    resolutionCode: null, resolutionNotes: null, createdAt: new Date('2026-01-05T08:30:00Z'), updatedAt: NOW, acknowledgedAt: null,
    resolvedAt: null, closedAt: null, responseDueAt: new Date('2026-01-05T09:15:00Z'), resolutionDueAt: new Date('2026-01-05T16:30:00Z'),
    resolutionSpentMs: 0, resolutionClockStartedAt: new Date('2026-01-05T08:30:00Z'), responseBreached: false, resolutionBreached: false,
    majorChannel: null, origin: null, version: 1, ...patch,
  } as IncidentRow;
}

const ctx = { now: NOW, timeZone: 'Europe/Berlin', assigneeName: 'Alice' };

/** Every message the core and the workflows build that a Teams user can see, by name. */
const coreMessages: Record<string, Message> = {
  'incident new': incidentCard(incident(), ctx),
  'incident acknowledged': incidentCard(incident({ state: 'acknowledged', acknowledgedAt: NOW, assignee: 'alice' }), ctx),
  'incident in progress, major': incidentCard(incident({ state: 'in_progress', major: true, priority: 1 }), ctx),
  'incident on hold': incidentCard(incident({ state: 'on_hold', holdReason: 'awaiting_vendor', holdNote: 'ticket 42' }), ctx),
  'incident resolved (confirm on Close)': incidentCard(incident({ state: 'resolved', resolutionCode: 'fixed', resolutionNotes: 'Rolled back', resolvedAt: NOW }), ctx),
  'incident closed': incidentCard(incident({ state: 'closed', closedAt: NOW, resolutionNotes: 'Rolled back' }), ctx),
  'incident cancelled': incidentCard(incident({ state: 'cancelled' }), ctx),
  'incident breached': incidentCard(incident({ responseBreached: true, resolutionBreached: true }), { ...ctx, alerts: ['ALR-3', 'ALR-4'] }),
  'create form': createForm(['payments', 'identity'], { title: 'Payment API down' }),
  'resolve form': resolveForm('INC-7'),
  'priority form': priorityForm('INC-7', { impact: 'high', urgency: 'low' }),
  'hold form': holdForm('INC-7'),
  page: pageMessage(incidentCard(incident(), ctx), { subject: 'INC-7', title: 'Checkout returns 502', service: 'payments', reason: 'you are on call for payments (step 1)' }),
  'page without card': pageMessage(undefined, { subject: 'INC-8', title: 'Disk full', reason: 'escalation step 2' }),
  help: helpMessage('/incident: open and work incidents', ['/incident <title>', '/incident ack [INC-n]']),
  'router help': { title: 'tread commands', text: '- `/incident` incidents (`/incident help` for details)\n- `/request` request fulfilment (coming soon)', context: 'In Teams and the console the leading slash is optional.' },
  'unsupported channel notice': { text: 'Teams channel creation needs Microsoft Graph permissions tread does not ask for, so no channel was created. A dedicated channel *inc-7-checkout* would have been created for INC-7; updates will be posted here instead.', tone: 'info' },
  'error sentence': { text: 'Alice may not acknowledge: that needs the responder role.', tone: 'warning' },
  'everything': {
    title: 'Everything at once', text: 'Some *bold* and _italic_ with `code` and <https://example.com|a link>.\n\n- one\n- two', tone: 'danger',
    fields: [{ label: 'A', value: '1' }, { label: 'B', value: '' }], context: 'opened 5 min ago',
    buttons: [
      { actionId: 'x.one', label: 'One', value: 'v1', style: 'primary' },
      { actionId: 'x.two', label: 'Two', value: 'v2', style: 'danger' },
      { actionId: 'x.three', label: 'Three', value: 'v3', confirm: 'Really three?' },
      { actionId: 'x.four', label: 'Four', value: 'v4' }, { actionId: 'x.five', label: 'Five', value: 'v5' }, { actionId: 'x.six', label: 'Six', value: 'v6' },
    ],
    inputs: [
      { id: 'title', label: 'Title', type: 'text', required: true, placeholder: 'What broke?' },
      { id: 'notes', label: 'Notes', type: 'multiline', hint: 'Markdown works' },
      { id: 'level', label: 'Level', type: 'select', choices: [{ value: 'high', label: 'High' }, { value: 'low', label: 'Low' }], initial: 'low' },
      { id: 'who', label: 'Who', type: 'user' },
      { id: 'when', label: 'When', type: 'datetime', required: true, initial: '2026-01-06T10:30' },
    ],
    submit: { actionId: 'x.submit', label: 'Send', value: 'INC-1' },
  },
};

describe('Adaptive Card renderer', () => {
  for (const [name, message] of Object.entries(coreMessages)) {
    it(`renders "${name}" as a valid Adaptive Card 1.5 under 28 KB`, () => {
      const card = renderCard(message);
      expect(adaptiveCardProblems(card)).toEqual([]);
      expect(cardBytes(card)).toBeLessThan(TEAMS_CARD_MAX_BYTES);
      expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.5', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
      const withErrors = renderCard(message, { formId: 'f1', errors: Object.fromEntries((message.inputs ?? []).map((i) => [i.id, `${i.label} is wrong`])), notice: { text: 'noted' } });
      expect(adaptiveCardProblems(withErrors)).toEqual([]);
    });
  }

  it('renders the incident card: headline, FactSet, subtle context, Action.Execute buttons with verb and value', () => {
    const message = coreMessages['incident new']!;
    const card = renderCard(message);
    expect(card.body[0]).toMatchObject({ type: 'Container', style: 'attention', items: [{ type: 'TextBlock', text: message.title, weight: 'Bolder' }] });
    expect(message.title).toContain('INC-7');
    const facts = card.body.find((e) => e.type === 'FactSet') as any;
    expect(facts.facts).toEqual(message.fields!.map((f) => ({ title: f.label, value: toTeamsMarkdown(f.value || '—') })));
    const context = card.body[card.body.length - 1]!;
    expect(context).toMatchObject({ type: 'TextBlock', size: 'Small', isSubtle: true });
    expect(card.actions![0]).toEqual({ type: 'Action.Execute', title: 'Acknowledge', verb: 'incident.ack', data: { value: 'INC-7' }, style: 'positive' });
  });

  it('asks for confirmation before a destructive or confirmed action', () => {
    const close = renderCard(coreMessages['incident resolved (confirm on Close)']!).actions!.find((a) => a.title === 'Close')!;
    expect(close).toMatchObject({ type: 'Action.ShowCard', style: 'destructive' });
    const inner = (close.card as AdaptiveCard);
    expect(JSON.stringify(inner.body)).toContain('cannot be reopened');
    expect(inner.actions![0]).toMatchObject({ type: 'Action.Execute', verb: 'incident.close', data: { value: 'INC-7' }, style: 'destructive' });
    expect(buttonAction({ actionId: 'a.b', label: 'Delete', value: 'x', style: 'danger' })).toMatchObject({ type: 'Action.ShowCard' });
    expect(buttonAction({ actionId: 'a.b', label: 'Go', value: 'x' })).toMatchObject({ type: 'Action.Execute', verb: 'a.b' });
  });

  it('renders forms with Input.Text, Input.ChoiceSet, Input.Date/Time, required fields and a submit that marks the form', () => {
    const card = renderCard(coreMessages.everything!, { formId: 'form-1' });
    const byId = (id: string) => card.body.find((e) => e.id === id) as any;
    expect(byId('title')).toMatchObject({ type: 'Input.Text', label: 'Title', isRequired: true, errorMessage: 'Title is required', placeholder: 'What broke?' });
    expect(byId('notes')).toMatchObject({ type: 'Input.Text', isMultiline: true });
    expect(byId('level')).toMatchObject({ type: 'Input.ChoiceSet', value: 'low', choices: [{ title: 'High', value: 'high' }, { title: 'Low', value: 'low' }] });
    expect(byId('who')).toMatchObject({ type: 'Input.ChoiceSet', 'choices.data': { dataset: 'graph.microsoft.com/users' } });
    expect(byId('when__date')).toMatchObject({ type: 'Input.Date', value: '2026-01-06', isRequired: true });
    expect(byId('when__time')).toMatchObject({ type: 'Input.Time', value: '10:30' });
    expect(card.actions![0]).toMatchObject({ type: 'Action.Execute', verb: 'x.submit', data: { value: 'INC-1', treadForm: 'form-1' }, associatedInputs: 'auto' });
    expect(card.actions!.slice(5).every((a) => a.mode === 'secondary')).toBe(true);
    expect(card.actions!.slice(0, 5).every((a) => a.mode === undefined)).toBe(true);
  });

  it('renders multiselect, date and number inputs from field specs, pre-filled, valid AC 1.5, with a field\'s error under it', () => {
    const card = renderCard({
      title: 'New laptop',
      inputs: fieldInputs([
        { id: 'extras', label: 'Extras', type: 'multiselect', options: ['dock', 'mouse'] },
        { id: 'needed_by', label: 'Needed by', type: 'date', required: true },
        { id: 'count', label: 'How many', type: 'number', min: 1, max: 5 },
      ], { extras: ['dock', 'mouse'], count: 3 }, { needed_by: 'write a date as YYYY-MM-DD' }),
      submit: { actionId: 'request.submit', label: 'Request', value: 'laptop' },
    }, { formId: 'f' });
    expect(adaptiveCardProblems(card)).toEqual([]);
    const byId = (id: string) => card.body.find((e) => e.id === id) as any;
    expect(byId('extras')).toMatchObject({ type: 'Input.ChoiceSet', isMultiSelect: true, value: 'dock,mouse', choices: [{ title: 'dock', value: 'dock' }, { title: 'mouse', value: 'mouse' }] });
    expect(byId('needed_by')).toMatchObject({ type: 'Input.Date', isRequired: true });
    expect(byId('count')).toMatchObject({ type: 'Input.Number', min: 1, max: 5, value: 3 });
    const i = card.body.findIndex((e) => e.id === 'needed_by');
    expect(card.body.slice(i + 1).find((e) => e.type === 'TextBlock')).toMatchObject({ text: 'write a date as YYYY-MM-DD', color: 'Attention' });
    // and back: a multiselect arrives comma-joined, a number as its text
    expect(formValuesFrom({ extras: 'dock,mouse', count: 3, needed_by: '2026-12-24', treadForm: 'f', value: 'laptop' })).toEqual({ extras: 'dock,mouse', count: '3', needed_by: '2026-12-24' });
  });

  it('shows field errors under their inputs and keeps what the user typed', () => {
    const card = renderCard(resolveForm('INC-7'), { formId: 'f', errors: { notes: 'Say what restored the service.', other: 'Something else' }, values: { notes: 'hm', code: 'workaround' } });
    const i = card.body.findIndex((e) => e.id === 'notes');
    expect(card.body[i]).toMatchObject({ value: 'hm' });
    expect(card.body[i + 1]).toMatchObject({ type: 'TextBlock', text: 'Say what restored the service.', color: 'Attention' });
    expect(card.body.find((e) => e.id === 'code')).toMatchObject({ value: 'workaround' });
    expect(JSON.stringify(card.body)).toContain('other: Something else');
  });

  it('reads a submitted form back: data minus tread keys, date and time joined', () => {
    const action = cardActionOf({ action: { type: 'Action.Execute', verb: 'x.submit', data: { value: 'INC-1', treadForm: 'f', title: 'T', when__date: '2026-01-06', when__time: '10:30', only__date: '2026-02-01' } } });
    expect(action).toEqual({ actionId: 'x.submit', value: 'INC-1', formId: 'f', formValues: { title: 'T', when: '2026-01-06T10:30', only: '2026-02-01' } });
    expect(formValuesFrom({ value: 'x', n: 3 })).toEqual({ n: '3' });
    expect(cardActionOf({ action: { verb: 'incident.ack', data: { value: 'INC-2' } } })).toEqual({ actionId: 'incident.ack', value: 'INC-2' });
    expect(cardActionOf({ nope: true })).toHaveProperty('error');
  });

  it('converts tread markdown to Teams markdown', () => {
    expect(toTeamsMarkdown('*bold* and _it_ <https://x.example/a|the link> <https://y.example>')).toBe('**bold** and _it_ [the link](https://x.example/a) [https://y.example](https://y.example)');
    expect(toTeamsMarkdown('**already**')).toBe('**already**');
    expect(textBlocks('para one\n\n- a\n- b\nafter').map((b) => b.text)).toEqual(['para one', '- a\r- b', 'after']);
    expect(messageMarkdown({ title: 'T', text: 'line\n- a\n- b', context: 'ctx' })).toBe('**T**\n\nline\n\n- a\n- b\n\n_ctx_');
    expect(plainText({ text: '*INC-1* acknowledged by `alice` <https://x|here>' })).toBe('INC-1 acknowledged by alice here (https://x)');
  });

  it('sends text-only messages as markdown text and everything else as a card', () => {
    expect(renderActivity({ text: 'INC-1 acknowledged by *Alice*' })).toEqual({ type: 'message', text: 'INC-1 acknowledged by **Alice**', textFormat: 'markdown', summary: 'INC-1 acknowledged by *Alice*' });
    const card = renderActivity(coreMessages['incident new']!);
    expect(card.attachments![0]!.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.summary).toBe('INC-7 · P2 · new · Checkout returns 502');
  });

  describe('the 28 KB limit', () => {
    const big = (n: number) => 'x'.repeat(n);
    const oversized: Record<string, Message> = {
      'a huge text': { title: 'Huge', text: big(200_000), buttons: [{ actionId: 'a.b', label: 'Go', value: 'v' }] },
      'many long fields': { title: 'Fields', fields: Array.from({ length: 300 }, (_, i) => ({ label: `Field ${i}`, value: big(500) })) },
      'a select with thousands of choices': { title: 'Pick', inputs: [{ id: 'c', label: 'Choice', type: 'select', choices: Array.from({ length: 5000, }, (_, i) => ({ value: `value-${i}`, label: `A fairly long label for choice number ${i}` })) }], submit: { actionId: 'p.submit', label: 'Pick' } },
      'many paragraphs': { text: Array.from({ length: 3000 }, (_, i) => `paragraph ${i} with some words in it`).join('\n\n') },
      'multi-byte text': { title: '日本語', text: '日本語のテキスト。'.repeat(5000), fields: [{ label: 'émoji', value: '🚨'.repeat(5000) }] },
    };
    for (const [name, message] of Object.entries(oversized)) {
      it(`trims ${name} visibly and stays valid`, () => {
        const card = renderCard(message);
        expect(cardBytes(card)).toBeLessThan(TEAMS_CARD_MAX_BYTES);
        expect(adaptiveCardProblems(card)).toEqual([]);
        expect(card.body[card.body.length - 1]).toMatchObject({ type: 'TextBlock', text: TRIMMED_NOTE });
        expect(JSON.stringify(card)).toContain('…');
        // Buttons and the submit survive: they are how people act on the record.
        for (const b of message.buttons ?? []) expect(card.actions!.some((a) => a.verb === b.actionId)).toBe(true);
        if (message.submit) expect(card.actions![0]).toMatchObject({ verb: message.submit.actionId });
      });
    }

    it('leaves a card that fits untouched', () => {
      const card = renderCard(coreMessages['incident new']!);
      expect(JSON.stringify(card)).not.toContain(TRIMMED_NOTE);
      expect(fitCard(card)).toBe(card);
    });

    it('trims a card with only actions and no text left to cut', () => {
      const card = fitCard({
        type: 'AdaptiveCard', $schema: 'x', version: '1.5', body: [{ type: 'TextBlock', text: 'hi' }],
        actions: Array.from({ length: 400 }, (_, i) => ({ type: 'Action.Execute', title: `Act ${i}`, verb: `v.${i}`, data: { value: big(100) } })),
      });
      expect(cardBytes(card)).toBeLessThan(TEAMS_CARD_MAX_BYTES);
      expect(card.body[card.body.length - 1]!.text).toBe(TRIMMED_NOTE);
    });
  });
});
