/** The problem section of the organisation file: defaults, the example's values, and every mistake named by its path. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/config/org.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { exampleConfig } from '../incident/incident.fakes.js';

function problems(yaml: string): string[] {
  try {
    parseOrganisation(yaml, 'tread.yaml', {});
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message.split('\n').map((l) => l.replace(/^tread\.yaml: /, ''));
  }
}

describe('the problem section', () => {
  it('has defaults: hints ranked 2 or more, two at most; three similar incidents in seven days, checked daily', () => {
    expect(parseOrganisation('organisation: x', 't', {}).problem).toEqual({
      kedbMatch: { threshold: 2, maxHints: 2 },
      recurrence: { count: 3, window: 7 * 86_400_000, similarity: 0.5, every: 86_400_000 },
    });
    expect(exampleConfig().problem.kedbMatch).toEqual({ threshold: 2, maxHints: 2 });
  });

  it('takes an announce channel and partial settings', () => {
    const c = parseOrganisation('problem: { announce: { slack: C0PROBLEMS }, kedbMatch: { maxHints: 0 }, recurrence: { window: 14d } }', 't', {});
    expect(c.problem).toMatchObject({ announce: { slack: 'C0PROBLEMS' }, kedbMatch: { threshold: 2, maxHints: 0 }, recurrence: { count: 3, window: 14 * 86_400_000 } });
  });

  it('names every mistake with its path', () => {
    expect(problems('problem: { kedbMatch: { maxHints: 9, threshold: -1 }, recurrence: { count: 1, window: soon, every: 10s, colour: red }, announce: {} }')).toEqual([
      'problem.announce: name the channel on at least one platform: slack, teams or console',
      'problem.kedbMatch.threshold: Too small: expected number to be >=0',
      'problem.kedbMatch.maxHints: at most 5 hints fit on a card',
      'problem.recurrence.count: a recurrence needs at least 2 incidents',
      'problem.recurrence.window: "soon" is not a duration: write it like 90s, 30m, 2h or 3d',
      'problem.recurrence: Unrecognized key: "colour"',
    ]);
    expect(problems('problem: { recurrence: { every: 10s } }')).toEqual(['problem.recurrence.every: run the check at most once a minute (write 1d for daily)']);
  });
});
