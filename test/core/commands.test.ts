/** The shared command grammar: tokens, the verbatim rest of a line, `key:value` options, record ids. */
import { describe, expect, it } from 'vitest';
import { Args, extractOptions, parseRecordId, tokenize } from '../../src/core/commands.js';

describe('tokenize', () => {
  it('splits on any white space', () => {
    expect(tokenize('  resolve\tINC-1   done  ').map((t) => t.text)).toEqual(['resolve', 'INC-1', 'done']);
  });

  it('groups "double quoted" words into one token without the quotes', () => {
    expect(tokenize('assign INC-3 "Alice Chen" now').map((t) => t.text)).toEqual(['assign', 'INC-3', 'Alice Chen', 'now']);
    expect(tokenize('note ""').map((t) => t.text)).toEqual(['note', '']);
  });

  it('records where each token starts and ends in the text (quotes included)', () => {
    const text = 'a "b c" d';
    const tokens = tokenize(text);
    expect(tokens.map((t) => text.slice(t.start, t.end))).toEqual(['a', '"b c"', 'd']);
  });

  it('returns nothing for empty or blank text', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize('   ')).toEqual([]);
  });

  it('keeps an unmatched quote as part of a word', () => {
    expect(tokenize('say "hello world').map((t) => t.text)).toEqual(['say', '"hello', 'world']);
  });
});

describe('Args', () => {
  it('takes words from the front and keeps the rest verbatim (spacing, quotes, punctuation)', () => {
    const args = new Args('  resolve INC-1   restarted  the "ingress" pods: 3/3 up  ');
    expect(args.peek()).toBe('resolve');
    expect(args.next()).toBe('resolve');
    expect(args.next()).toBe('INC-1');
    expect(args.rest()).toBe('restarted  the "ingress" pods: 3/3 up');
    expect(args.done).toBe(false);
  });

  it('rest() starts at a quoted token with its quotes', () => {
    const args = new Args('note INC-2 "quoted start" and more');
    args.next();
    args.next();
    expect(args.rest()).toBe('"quoted start" and more');
    expect(args.next()).toBe('quoted start');
    expect(args.rest()).toBe('and more');
  });

  it('is done when every word is taken, and rest() is then empty', () => {
    const args = new Args('ack INC-9');
    args.next();
    args.next();
    expect(args.done).toBe(true);
    expect(args.next()).toBeUndefined();
    expect(args.peek()).toBeUndefined();
    expect(args.rest()).toBe('');
  });

  it('handles an empty command', () => {
    const args = new Args('');
    expect(args.done).toBe(true);
    expect(args.rest()).toBe('');
    expect(args.text).toBe('');
  });

  it('keeps non-ASCII text as typed', () => {
    const args = new Args('note INC-1 Dave Müller says „läuft“ 🚀');
    args.next();
    args.next();
    expect(args.rest()).toBe('Dave Müller says „läuft“ 🚀');
  });
});

describe('extractOptions', () => {
  const keys = ['impact', 'urgency', 'service'] as const;

  it('pulls key:value options out of free text wherever they stand', () => {
    expect(extractOptions('Checkout 502 impact:high for all urgency:low service:checkout', keys)).toEqual({
      rest: 'Checkout 502 for all', options: { impact: 'high', urgency: 'low', service: 'checkout' },
    });
  });

  it('lower-cases keys, keeps values, and takes quoted values without quotes', () => {
    expect(extractOptions('DB slow Service:"db primary" IMPACT:High', keys)).toEqual({
      rest: 'DB slow', options: { service: 'db primary', impact: 'High' },
    });
  });

  it('leaves unknown keys and colons inside words alone', () => {
    expect(extractOptions('error at host:8080 code:42 https://x.example/a:b impact:low', keys)).toEqual({
      rest: 'error at host:8080 code:42 https://x.example/a:b', options: { impact: 'low' },
    });
    expect(extractOptions('noimpact:high', keys)).toEqual({ rest: 'noimpact:high', options: {} });
  });

  it('a repeated option is refused (not silently the last); text without options is only squeezed', () => {
    expect(() => extractOptions('x impact:high impact:low', keys)).toThrow('impact is given twice (impact:high and impact:low); give it once.');
    expect(extractOptions('  two   spaces  ', keys)).toEqual({ rest: 'two spaces', options: {} });
  });
});

describe('parseRecordId', () => {
  it.each([
    ['INC-7', 7], ['inc-7', 7], ['Inc-12', 12], ['#7', 7], ['7', 7], ['  INC-3  ', 3], ['INC-2147483647', 2147483647],
  ])('%s -> %i', (text, n) => {
    expect(parseRecordId('INC', text)).toBe(n);
  });

  it.each([
    [undefined], [''], ['INC-'], ['INC-0'], ['0'], ['INC-1a'], ['INC--1'], ['INC-1.5'], ['ALR-7'], ['INC 7'], ['INC-2147483648'], ['99999999999999999999'],
  ])('%s is not an incident id', (text) => {
    expect(parseRecordId('INC', text)).toBeUndefined();
  });

  it('uses the given prefix', () => {
    expect(parseRecordId('ALR', 'alr-3')).toBe(3);
    expect(parseRecordId('ALR', 'INC-3')).toBeUndefined();
  });
});
