/** Console form prompts and the check of each answer as it is typed. */
import { describe, expect, it } from 'vitest';
import { checkAnswer, promptOf } from '../../../adapters/console/console.form.js';
import type { Input } from '../../../src/core/message.js';

const levels = [{ value: 'high', label: 'High' }, { value: 'medium', label: 'Medium' }, { value: 'low', label: 'Low' }];

describe('console form answers', () => {
  it('required: an empty answer is refused unless there is an initial value', () => {
    const title: Input = { id: 'title', label: 'Title', type: 'text', required: true };
    expect(checkAnswer(title, '  ')).toEqual({ error: 'Title is required.' });
    expect(checkAnswer({ ...title, initial: 'kept' }, '')).toEqual({ value: 'kept' });
    expect(checkAnswer({ ...title, required: false }, '')).toEqual({ value: '' });
    expect(checkAnswer(title, ' DB down ')).toEqual({ value: 'DB down' });
  });

  it('select: a number, a value or a label picks the choice; anything else names the choices', () => {
    const impact: Input = { id: 'impact', label: 'Impact', type: 'select', choices: levels };
    expect(checkAnswer(impact, '1')).toEqual({ value: 'high' });
    expect(checkAnswer(impact, 'LOW')).toEqual({ value: 'low' });
    expect(checkAnswer(impact, 'Medium')).toEqual({ value: 'medium' });
    expect(checkAnswer(impact, '4')).toEqual({ error: '"4" is not one of the choices; type a number or a value: 1=high 2=medium 3=low.' });
    expect(checkAnswer(impact, 'severe')).toEqual({ error: '"severe" is not one of the choices; type a number or a value: 1=high 2=medium 3=low.' });
  });

  it('multiselect: numbers and values separated by commas or spaces, each checked, repeats dropped', () => {
    const pick: Input = { id: 'envs', label: 'Environments', type: 'multiselect', required: true, choices: [{ value: 'prod', label: 'Production' }, { value: 'stage', label: 'Staging' }, { value: 'dev', label: 'Development' }] };
    expect(checkAnswer(pick, '1,3')).toEqual({ value: 'prod,dev' });
    expect(checkAnswer(pick, 'stage prod 2')).toEqual({ value: 'stage,prod' });
    expect(checkAnswer(pick, '1, qa, 7')).toEqual({ error: '"qa", "7" are not among the choices; type numbers or values separated by commas: 1=prod 2=stage 3=dev.' });
    expect(checkAnswer(pick, '')).toEqual({ error: 'Environments is required.' });
    expect(promptOf(pick)).toBe('       Environments [1=prod 2=stage 3=dev] (several: 1,3): ');
  });

  it('number: decimal numbers within min and max', () => {
    const n: Input = { id: 'users', label: 'Users affected', type: 'number', min: 1, max: 500 };
    expect(checkAnswer(n, '42')).toEqual({ value: '42' });
    expect(checkAnswer(n, '2.50')).toEqual({ value: '2.5' });
    expect(checkAnswer(n, '0')).toEqual({ error: 'Users affected must be at least 1.' });
    expect(checkAnswer(n, '501')).toEqual({ error: 'Users affected must be at most 500.' });
    expect(checkAnswer(n, 'many')).toEqual({ error: 'Users affected must be a number (1–500); "many" is not one.' });
    expect(checkAnswer(n, '1e3')).toEqual({ error: 'Users affected must be a number (1–500); "1e3" is not one.' });
    expect(promptOf(n)).toBe('       Users affected (optional) (1–500): ');
    expect(promptOf({ ...n, max: undefined })).toBe('       Users affected (optional) (at least 1): ');
  });

  it('date and datetime: real calendar dates only', () => {
    const d: Input = { id: 'until', label: 'Until', type: 'date', required: true };
    expect(checkAnswer(d, '2026-02-28')).toEqual({ value: '2026-02-28' });
    expect(checkAnswer(d, '2026-02-30')).toEqual({ error: 'Write until as a date, YYYY-MM-DD (like 2026-03-31); "2026-02-30" is not one.' });
    expect(checkAnswer(d, 'tomorrow')).toMatchObject({ error: expect.stringContaining('YYYY-MM-DD') });
    expect(promptOf(d)).toBe('       Until (YYYY-MM-DD): ');
    const dt: Input = { id: 'at', label: 'Starts at', type: 'datetime' };
    expect(checkAnswer(dt, '2026-03-31 14:30')).toEqual({ value: '2026-03-31 14:30' });
    expect(checkAnswer(dt, '2026-03-31T14:30:00Z')).toEqual({ value: '2026-03-31T14:30:00Z' });
    expect(checkAnswer(dt, '2026-03-31 25:00')).toMatchObject({ error: expect.stringContaining('YYYY-MM-DD HH:MM') });
  });

  it('user: a configured handle (with or without @) or email', () => {
    const u: Input = { id: 'who', label: 'Assignee', type: 'user' };
    const people = [{ id: 'alice', email: 'alice@example.com' }, { id: 'bob' }];
    expect(checkAnswer(u, '@Alice', people)).toEqual({ value: '@Alice' });
    expect(checkAnswer(u, 'alice@example.com', people)).toEqual({ value: 'alice@example.com' });
    expect(checkAnswer(u, 'zed', people)).toEqual({ error: 'There is no person "zed" in the config. People: alice, bob.' });
  });
});

describe('a form with every input type, through the console adapter', () => {
  it('asks each field, refuses a bad answer at once, and submits the checked values', async () => {
    const { PassThrough } = await import('node:stream');
    const { createConsoleAdapter } = await import('../../../adapters/console/index.js');
    const { parseOrganisation } = await import('../../../src/workflows/index.js');
    const { silentLogger } = await import('../../../src/core/logger.js');
    const config = parseOrganisation('organisation: T\npeople:\n  - { id: alice, name: Alice, roles: [responder] }\n  - { id: bob, name: Bob }\n', 'test');
    const submitted: Record<string, string>[] = [];
    const form = {
      title: 'Plan a change',
      inputs: [
        { id: 'envs', label: 'Environments', type: 'multiselect', required: true, choices: [{ value: 'prod', label: 'Production' }, { value: 'stage', label: 'Staging' }] },
        { id: 'day', label: 'Day', type: 'date', required: true },
        { id: 'at', label: 'Window start', type: 'datetime' },
        { id: 'hosts', label: 'Hosts', type: 'number', min: 1, max: 20, error: 'Last time: Hosts must be at most 20.' },
        { id: 'owner', label: 'Owner', type: 'user' },
      ],
      submit: { actionId: 'change.submit', label: 'Plan' },
    } satisfies import('../../../src/core/message.js').Message;
    const router = {
      commandNames: () => ['change'],
      handle: async (inbound: import('../../../src/core/inbound.js').Inbound) => {
        if (inbound.kind === 'command') return { kind: 'form' as const, form };
        submitted.push(inbound.formValues ?? {});
        return { kind: 'ephemeral' as const, message: { text: 'planned' } };
      },
    };
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => { text += d.toString(); });
    const adapter = createConsoleAdapter({ app: { config, log: silentLogger } as never, router: router as never, input, output });
    await adapter.start();
    input.end(['/change', 'prod, qa', '2 1', '31.12.2026', '2026-12-31', 'tonight', '', '25', '3', '@zed', 'bob'].map((l) => `${l}\n`).join(''));
    await adapter.done;
    expect(submitted).toEqual([{ envs: 'stage,prod', day: '2026-12-31', at: '', hosts: '3', owner: 'bob' }]);
    expect(text).toContain('       Environments [1=prod 2=stage] (several: 1,3): prod, qa\n       "qa" is not among the choices');
    expect(text).toContain('       Day (YYYY-MM-DD): 31.12.2026\n       Write day as a date, YYYY-MM-DD');
    expect(text).toContain('       Window start (optional) (YYYY-MM-DD HH:MM): tonight\n       Write window start as YYYY-MM-DD HH:MM');
    expect(text).toContain('       Last time: Hosts must be at most 20.\n       Hosts (optional) (1–20): 25\n       Hosts must be at most 20.\n       Hosts (optional) (1–20): 3');
    expect(text).toContain('       Owner (optional): @zed\n       There is no person "@zed" in the config. People: alice, bob.');
    expect(text).toContain('tread> planned');
  });
});
