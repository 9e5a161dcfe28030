/** Block Kit renderer: every card and form the core builds, and oversized input, stay inside Slack's limits. */
import { describe, expect, it } from 'vitest';
import {
  baseActionId, renderBlocks, renderMessage, renderModal, SLACK_LIMITS, toMrkdwn, TRIMMED, trimText, type Block,
} from '../../../adapters/slack/slack.render.js';
import type { AppContext } from '../../../src/core/app.js';
import { helpMessage } from '../../../src/core/commands.js';
import { fieldInputs } from '../../../src/core/forms.js';
import type { Message } from '../../../src/core/message.js';
import { Router } from '../../../src/core/router.js';
import { incidentWorkflow } from '../../../src/workflows/incident/index.js';
import { INCIDENT_USAGE } from '../../../src/workflows/incident/incident.commands.js';
import { STATE_WORDS, type IncidentState } from '../../../src/workflows/incident/incident.machine.js';
import {
  createForm, holdForm, incidentCard, priorityForm, resolveForm, type IncidentRow,
} from '../../../src/workflows/incident/incident.messages.js';
import { statsMessage } from '../../../src/workflows/incident/incident.stats.js';
import { checkBlocks } from './fake-slack.js';

const now = new Date('2025-03-04T10:00:00Z');

function incident(over: Partial<IncidentRow> = {}): IncidentRow {
  return {
    id: 7, title: 'Payment API down', description: null, state: 'new', holdReason: null, holdNote: null, impact: 'high', urgency: 'medium',
    priority: 2, major: false, service: 'payments', assignee: null, reporter: 'alice', source: 'slack', resolutionCode: null, resolutionNotes: null,
    createdAt: now, updatedAt: now, acknowledgedAt: null, resolvedAt: null, closedAt: null,
    responseDueAt: new Date(now.getTime() + 30 * 60_000), resolutionDueAt: new Date(now.getTime() + 8 * 3600_000),
    resolutionSpentMs: 0, resolutionClockStartedAt: now, responseBreached: false, resolutionBreached: false,
    majorChannel: null, origin: null, version: 1, ...over,
  };
}

/** Checks a rendered message against every Block Kit limit tread enforces. */
function expectWithinLimits(blocks: Block[]): void {
  expect(checkBlocks(blocks)).toBeUndefined();
  expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
  for (const b of blocks as any[]) {
    if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    if (b.type === 'section' && b.text) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    if (b.type === 'section' && b.fields) {
      expect(b.fields.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldsPerSection);
      for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
    }
    if (b.type === 'context') for (const e of b.elements) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextText);
    if (b.type === 'actions') {
      expect(b.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.elementsPerActions);
      for (const e of b.elements) {
        expect(e.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.buttonText);
        expect(e.value.length).toBeLessThanOrEqual(SLACK_LIMITS.buttonValue);
        if (e.confirm) {
          expect(e.confirm.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.confirmText);
          expect(e.confirm.confirm.text.length).toBeLessThanOrEqual(SLACK_LIMITS.confirmButton);
        }
      }
    }
  }
}

function expectModalWithinLimits(form: Message): void {
  const view = renderModal(form, { c: 'C0OPS' });
  expect(view.title.text.length).toBeLessThanOrEqual(SLACK_LIMITS.modalTitle);
  expect(view.submit.text.length).toBeLessThanOrEqual(SLACK_LIMITS.modalButton);
  expect(view.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerModal);
  expect(view.private_metadata.length).toBeLessThanOrEqual(SLACK_LIMITS.privateMetadata);
  expect(view.callback_id).toBe(form.submit!.actionId);
  for (const input of form.inputs ?? []) {
    const block = view.blocks.find((b) => b.block_id === input.id) as any;
    expect(block, input.id).toBeDefined();
    expect(block.type).toBe('input');
    expect(block.optional).toBe(!input.required);
    expect(block.element.action_id).toBe(input.id);
  }
}

const text = (b: any) => b.text?.text as string;
const ctx = { now, timeZone: 'UTC' };

describe('incident cards as Block Kit', () => {
  const states = Object.keys(STATE_WORDS) as IncidentState[];
  for (const state of states) {
    it(`renders a ${state} incident card with header, fields, context and its buttons`, () => {
      const row = incident({ state, holdReason: state === 'on_hold' ? 'awaiting_vendor' : null, holdNote: state === 'on_hold' ? 'ISP ticket 4411' : null, description: 'Checkout returns 502', resolutionNotes: state === 'resolved' || state === 'closed' ? 'restarted pods' : null, resolutionCode: 'fixed' });
      const card = incidentCard(row, { ...ctx, assigneeName: 'Alice' });
      const blocks = renderBlocks(card) as any[];
      expectWithinLimits(blocks);
      expect(blocks[0].type).toBe('header');
      expect(blocks[0].text.text).toContain('INC-7');
      expect(blocks.some((b) => b.type === 'section' && b.fields?.some((f: any) => f.text.includes('*Description*')))).toBe(true);
      expect(blocks.some((b) => b.type === 'context')).toBe(true);
      const buttons = blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements);
      expect(buttons.map((e: any) => e.action_id)).toEqual((card.buttons ?? []).map((b) => b.actionId));
      for (const [i, b] of (card.buttons ?? []).entries()) {
        expect(buttons[i].value).toBe(b.value);
        if (b.style) expect(buttons[i].style).toBe(b.style);
        if (b.style === 'danger' || b.confirm) expect(buttons[i].confirm).toBeDefined();
      }
    });
  }

  it('renders the Acknowledge button of a new incident as primary, and Close of a resolved one as danger with a confirmation', () => {
    const fresh = renderBlocks(incidentCard(incident(), ctx)) as any[];
    const ack = fresh.flatMap((b) => b.elements ?? []).find((e: any) => e.action_id === 'incident.ack');
    expect(ack).toMatchObject({ type: 'button', style: 'primary', value: 'INC-7', text: { type: 'plain_text', text: 'Acknowledge' } });
    const resolved = renderBlocks(incidentCard(incident({ state: 'resolved' }), ctx)) as any[];
    const close = resolved.flatMap((b) => b.elements ?? []).find((e: any) => e.action_id === 'incident.close');
    expect(close.style).toBe('danger');
    expect(close.confirm.text.text).toMatch(/cannot be reopened/);
    expect(close.confirm.style).toBe('danger');
  });

  it('renders a major incident with an oversized title and description within the limits, trimmed visibly', () => {
    const row = incident({ major: true, priority: 1, title: 'A'.repeat(400), description: 'x '.repeat(5000) });
    const blocks = renderBlocks(incidentCard(row, ctx)) as any[];
    expectWithinLimits(blocks);
    expect(blocks[0].text.text).toContain(TRIMMED);
    expect(blocks.flatMap((b) => b.fields ?? []).some((f: any) => f.text.endsWith(TRIMMED))).toBe(true);
  });

  it('renders every incident form as a modal (title ≤ 24, inputs keyed by id)', () => {
    for (const form of [createForm(['payments', 'checkout']), resolveForm('INC-7'), priorityForm('INC-7', { impact: 'high', urgency: 'low' }), holdForm('INC-7')]) {
      expectModalWithinLimits(form);
    }
    const view = renderModal(priorityForm('INC-12345', { impact: 'high', urgency: 'low' }), { c: 'C0OPS' });
    expect(view.title.text).toHaveLength(24);
    expect(view.title.text.endsWith('…')).toBe(true);
    expect(JSON.parse(view.private_metadata)).toEqual({ c: 'C0OPS', v: 'INC-12345' });
    const impact = view.blocks.find((b) => b.block_id === 'impact') as any;
    expect(impact.element.type).toBe('static_select');
    expect(impact.element.initial_option.value).toBe('high');
  });

  it('renders the create form: title text input required, service select, description multiline', () => {
    const view = renderModal(createForm(['payments']));
    const byId = Object.fromEntries(view.blocks.map((b) => [b.block_id, b as any]));
    expect(byId.title.optional).toBe(false);
    expect(byId.title.element).toMatchObject({ type: 'plain_text_input', action_id: 'title' });
    expect(byId.service.element.options).toEqual([{ text: { type: 'plain_text', text: 'payments', emoji: true }, value: 'payments' }]);
    expect(byId.description.element.multiline).toBe(true);
    // A select with no choices (no services configured) falls back to a text input.
    const empty = renderModal(createForm([]));
    expect((empty.blocks.find((b) => b.block_id === 'service') as any).element.type).toBe('plain_text_input');
  });
});

describe('form fields from specs as Block Kit', () => {
  const form: Message = {
    title: 'New laptop',
    inputs: fieldInputs([
      { id: 'extras', label: 'Extras', type: 'multiselect', options: ['dock', 'mouse', 'bag'] },
      { id: 'needed_by', label: 'Needed by', type: 'date' },
      { id: 'count', label: 'How many', type: 'number', min: 1, max: 5 },
      { id: 'budget', label: 'Budget', type: 'number', min: 0.5 },
      { id: 'reason', label: 'Reason', type: 'multiline', required: true, help: 'what for' },
    ], { extras: ['dock', 'bag'], needed_by: '2026-12-24', count: 2 }, { reason: 'Reason is required' }),
    submit: { actionId: 'request.submit', label: 'Request', value: 'laptop' },
  };

  it('renders multiselect, date and number inputs pre-filled, within limits, and a field\'s error in its hint', () => {
    expectModalWithinLimits(form);
    const view = renderModal(form);
    const byId = Object.fromEntries(view.blocks.map((b) => [b.block_id, b as any]));
    expect(byId.extras.element).toMatchObject({ type: 'multi_static_select', initial_options: [{ value: 'dock' }, { value: 'bag' }] });
    expect(byId.extras.element.options).toHaveLength(3);
    expect(byId.needed_by.element).toEqual({ action_id: 'needed_by', type: 'datepicker', placeholder: { type: 'plain_text', text: 'YYYY-MM-DD', emoji: true }, initial_date: '2026-12-24' });
    expect(byId.count.element).toMatchObject({ type: 'number_input', is_decimal_allowed: false, min_value: '1', max_value: '5', initial_value: '2' });
    expect(byId.budget.element).toMatchObject({ type: 'number_input', is_decimal_allowed: true, min_value: '0.5' });
    expect(byId.reason.hint.text).toBe('⚠ Reason is required · what for');
    expect(byId.reason.optional).toBe(false);
  });
});

describe('core messages as Block Kit', () => {
  it('renders /tread help and /incident help', () => {
    const router = new Router({} as AppContext, [incidentWorkflow]);
    const help = router.help();
    expect(help.kind).toBe('ephemeral');
    if (help.kind !== 'ephemeral') return;
    const blocks = renderBlocks(help.message) as any[];
    expectWithinLimits(blocks);
    expect(blocks[0]).toMatchObject({ type: 'header', text: { text: 'tread commands' } });
    expect(text(blocks[1])).toContain('• `/incident`');
    expectWithinLimits(renderBlocks(helpMessage('/incident: open and work incidents', INCIDENT_USAGE)));
  });

  it('escapes <, > and & but keeps links and user mentions', () => {
    expect(toMrkdwn('a < b & c > d')).toBe('a &lt; b &amp; c &gt; d');
    expect(toMrkdwn('see <https://x.example/a?b=1&c=2|the runbook> and <@U123>')).toBe('see <https://x.example/a?b=1&c=2|the runbook> and <@U123>');
    expect(toMrkdwn('<!channel> wake up')).toBe('&lt;!channel&gt; wake up');
    expect(toMrkdwn('**bold** and\n- one\n- two')).toBe('*bold* and\n• one\n• two');
  });

  it('renders the stats message', () => {
    const stats = statsMessage({
      windowDays: 7, from: '2025-02-25', to: '2025-03-04', total: 3, byPriority: { P1: 1, P2: 2 }, byState: { new: 1, resolved: 2 },
      mtta: { count: 2, meanSeconds: 300, medianSeconds: 300, p90Seconds: 400 }, mttr: { count: 2, meanSeconds: 3600, medianSeconds: 3600, p90Seconds: 4000 },
      sla: { responseMet: 2, responseBreached: 0, resolutionMet: 1, resolutionBreached: 1, responseCompliance: 1, resolutionCompliance: 0.5 },
    });
    expectWithinLimits(renderBlocks(stats));
  });

  it('renders a text-only warning with an emoji and a fallback text', () => {
    const { text: fallback, blocks } = renderMessage({ text: 'Bob may not resolve: that needs the responder role.', tone: 'warning' });
    expect(fallback).toBe('Bob may not resolve: that needs the responder role.');
    expect(text(blocks[0])).toMatch(/^:warning: Bob may not/);
  });
});

describe('Block Kit limits with oversized input', () => {
  const huge: Message = {
    title: 'T'.repeat(1000),
    text: 'word '.repeat(2000),
    fields: Array.from({ length: 600 }, (_, i) => ({ label: `Field ${i}`, value: 'v'.repeat(2500) })),
    context: 'c'.repeat(5000),
    buttons: Array.from({ length: 60 }, (_, i) => ({ actionId: 'incident.ack', label: `Button ${i} ${'b'.repeat(100)}`, value: 'x'.repeat(3000), style: i % 2 ? 'danger' as const : 'primary' as const })),
  };

  it('keeps at most 50 blocks, 3000 characters per text, 10 fields per section, 25 buttons per actions block, 75 characters per button', () => {
    const blocks = renderBlocks(huge) as any[];
    expectWithinLimits(blocks);
    expect(blocks).toHaveLength(50);
    expect(blocks[0].type).toBe('header');
    expect(blocks[0].text.text.length).toBe(150);
    expect(text(blocks[1]).length).toBeLessThanOrEqual(3000);
    expect(text(blocks[1]).endsWith(TRIMMED)).toBe(true);
    // The buttons survive the cut (60 buttons: three actions blocks of 25, 25 and 10).
    const actions = blocks.filter((b) => b.type === 'actions');
    expect(actions.map((a) => a.elements.length)).toEqual([25, 25, 10]);
    expect(actions[0].elements[0].text.text.length).toBe(75);
    expect(actions[0].elements[0].text.text.endsWith(TRIMMED)).toBe(true);
    // The cut is visible.
    const note = blocks.find((b) => b.block_id === 'tread.trimmed');
    expect(note.elements[0].text).toMatch(/…trimmed: \d+ more blocks not shown/);
  });

  it('gives repeated action ids a counter Slack accepts, and reads them back', () => {
    const blocks = renderBlocks(huge) as any[];
    const ids = blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements.map((e: any) => e.action_id));
    expect(new Set(ids).size).toBe(60);
    expect(ids[1]).toBe('incident.ack#2');
    expect(baseActionId(ids[1])).toBe('incident.ack');
    expect(baseActionId('incident.resolve.form')).toBe('incident.resolve.form');
  });

  it('splits 25 fields into sections of 10 without losing any', () => {
    const blocks = renderBlocks({ fields: Array.from({ length: 25 }, (_, i) => ({ label: `F${i}`, value: String(i) })) }) as any[];
    expect(blocks.map((b) => b.fields.length)).toEqual([10, 10, 5]);
  });

  it('trims modals: 24-character title and submit, 100 blocks, 100 options per select', () => {
    const form: Message = {
      title: 'An extraordinarily long form title',
      text: 'Fill this in',
      inputs: [
        { id: 'pick', label: 'Pick', type: 'select', choices: Array.from({ length: 150 }, (_, i) => ({ value: `v${i}`, label: `Choice ${i} ${'z'.repeat(100)}` })) },
        ...Array.from({ length: 120 }, (_, i) => ({ id: `f${i}`, label: `Field ${i}`, type: 'text' as const })),
      ],
      submit: { actionId: 'x.submit', label: 'Submit this very long form now please', value: 'v'.repeat(5000) },
    };
    const view = renderModal(form, { c: 'C0OPS' }) as any;
    expect(view.title.text.length).toBe(24);
    expect(view.submit.text.length).toBe(24);
    expect(view.blocks.length).toBe(100);
    expect(view.blocks.at(-1).elements[0].text).toMatch(/…trimmed: 23 more fields not shown/);
    const pick = view.blocks.find((b: any) => b.block_id === 'pick');
    expect(pick.element.options).toHaveLength(100);
    expect(pick.element.options[0].text.text.length).toBe(75);
    expect(pick.hint.text).toMatch(/…trimmed: 50 more choices/);
    expect(view.private_metadata.length).toBeLessThanOrEqual(3000);
  });

  it('never cuts a surrogate pair or an escaped entity in half', () => {
    const cut = trimText(`${'a'.repeat(68)}😀😀😀😀😀😀😀`, 75);
    expect(cut.length).toBeLessThanOrEqual(75);
    expect(() => encodeURIComponent(cut)).not.toThrow();
    const escaped = renderBlocks({ text: `${'a'.repeat(2986)}& more & more` }) as any[];
    expect(text(escaped[0])).not.toMatch(/&a?m?p?( |$)…/);
    expect(text(escaped[0]).length).toBeLessThanOrEqual(3000);
  });

  it('renders an empty message as one section with the fallback text', () => {
    expect(renderBlocks({ fallback: 'nothing' })).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: 'nothing' } }]);
  });
});
