import { describe, expect, it } from 'vitest';
import { plain, renderButtons, renderText } from '../../../adapters/console/console.render.js';

describe('console renderer', () => {
  it('renders a card: title, indented body, fields, context and numbered buttons', () => {
    const out = renderText({
      title: 'INC-1 · P3 · new · Checkout returns 502 for all users',
      text: 'service: — · assignee: —\nresponse due 14:32 CET (30m)',
      fields: [{ label: 'Description', value: 'first line\nsecond line' }],
      context: 'impact medium · urgency medium',
      buttons: [
        { actionId: 'incident.ack', label: 'Acknowledge', value: 'INC-1' },
        { actionId: 'incident.priority.form', label: 'Set priority', value: 'INC-1' },
        { actionId: 'incident.assign_me', label: 'Assign to me', value: 'INC-1' },
        { actionId: 'incident.resolve.form', label: 'Resolve', value: 'INC-1' },
      ],
    });
    expect(out).toBe([
      'tread> INC-1 · P3 · new · Checkout returns 502 for all users',
      '       service: — · assignee: —',
      '       response due 14:32 CET (30m)',
      '       Description: first line / second line',
      '       impact medium · urgency medium',
      '       [1] Acknowledge  [2] Set priority  [3] Assign to me  [4] Resolve',
    ].join('\n'));
  });

  it('strips bold and italics markers, keeps words with inner underscores and stars', () => {
    expect(plain('*INC-1* · _(console)_ · snake_case_name · 2*3*4')).toBe('INC-1 · (console) · snake_case_name · 2*3*4');
  });

  it('shows links as label (url)', () => {
    expect(plain('see <https://status.example.com/1|the status page>')).toBe('see the status page (https://status.example.com/1)');
    expect(plain('<mailto:ops@example.com|mail ops>')).toBe('mail ops (mailto:ops@example.com)');
  });

  it('leaves usage placeholders in angle brackets alone (they are not links)', () => {
    expect(plain('/incident hold INC-n <caller|change|problem|vendor> <reason>')).toBe('/incident hold INC-n <caller|change|problem|vendor> <reason>');
    expect(plain('/incident priority INC-n <P1..P5 | impact:… urgency:…>')).toBe('/incident priority INC-n <P1..P5 | impact:… urgency:…>');
  });

  it('renders an empty message as an empty line and buttons on their own', () => {
    expect(renderText({})).toBe('tread> ');
    expect(renderButtons([{ actionId: 'a', label: 'Yes', value: '' }, { actionId: 'b', label: 'No', value: '' }])).toBe('[1] Yes  [2] No');
  });
});
