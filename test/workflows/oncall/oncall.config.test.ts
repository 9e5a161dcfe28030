import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/config/org.js';
import { parseOrganisation } from '../../../src/workflows/index.js';

const base = `
people:
  - { id: alice, name: Alice }
  - { id: bob, name: Bob }
teams:
  - { id: payments, members: [alice, bob] }
`;

function parse(extra: string) {
  return parseOrganisation(base + extra, 'tread.yaml', {});
}

function errorOf(extra: string): string {
  try {
    parse(extra);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('schedules and escalation policies in the organisation file', () => {
  it('parses a full example with defaults', () => {
    const config = parse(`
schedules:
  - name: payments-primary
    team: payments
    timezone: Europe/Berlin
    layers:
      - people: [alice, bob]
        start: 2026-01-05
        handoff: "09:00"
        length: weekly
      - name: nights
        people: [bob]
        start: 2026-01-05
        length: 12h
        restrictions: [{ days: [mon, tue], from: "18:00", to: "08:00" }]
escalationPolicies:
  - name: payments
    repeat: 2
    steps:
      - schedule: payments-primary
        wait: 10
      - person: alice
        wait: 1h
      - notify: [{ person: bob }, { channel: { slack: C0123, console: ops } }]
services:
  - { name: checkout, escalationPolicy: payments }
`);
    expect(config.schedules[0]!.layers[0]!.length).toEqual({ days: 7 });
    expect(config.schedules[0]!.layers[1]!.length).toEqual({ ms: 12 * 3_600_000 });
    expect(config.escalationPolicies[0]!.steps.map((s) => s.waitMs)).toEqual([600_000, 3_600_000, 900_000]);
    expect(config.escalationPolicies[0]!.steps[2]!.targets).toEqual([
      { kind: 'person', person: 'bob' }, { kind: 'channel', channel: { slack: 'C0123', console: 'ops' } },
    ]);
    expect(config.escalationPolicies[0]!.repeat).toBe(2);
  });

  it('defaults to no schedules and no policies', () => {
    const config = parse('');
    expect(config.schedules).toEqual([]);
    expect(config.escalationPolicies).toEqual([]);
  });

  it.each([
    ['an unknown person in a rotation', `
schedules:
  - { name: s1, layers: [{ people: [alice, mallory], start: 2026-01-05 }] }`, 'schedules[0].layers[0].people[1]: unknown person "mallory"'],
    ['an unknown schedule in a policy', `
escalationPolicies:
  - { name: p1, steps: [{ schedule: nope }] }`, 'escalationPolicies[0].steps[0].schedule: unknown schedule "nope"'],
    ['an unknown person in a policy target list', `
escalationPolicies:
  - { name: p1, steps: [{ notify: [{ person: alice }, { person: zed }] }] }`, 'escalationPolicies[0].steps[0].notify[1].person: unknown person "zed"'],
    ['a service naming an unknown policy', `
services:
  - { name: checkout, escalationPolicy: ghost }`, 'services[0].escalationPolicy: unknown escalation policy "ghost"'],
    ['a bad handoff time', `
schedules:
  - { name: s1, layers: [{ people: [alice], start: 2026-01-05, handoff: "9am" }] }`, 'schedules[0].layers[0].handoff: write a time as HH:MM'],
    ['a bad length', `
schedules:
  - { name: s1, layers: [{ people: [alice], start: 2026-01-05, length: fortnightly }] }`, 'schedules[0].layers[0].length: "fortnightly" is not a rotation length'],
    ['a bad time zone', `
schedules:
  - { name: s1, timezone: Mars/Olympus, layers: [{ people: [alice], start: 2026-01-05 }] }`, 'schedules[0].timezone: not an IANA time zone'],
    ['a bad start date', `
schedules:
  - { name: s1, layers: [{ people: [alice], start: 2026-02-30 }] }`, 'schedules[0].layers[0].start: write the start date as YYYY-MM-DD'],
    ['a duplicate schedule', `
schedules:
  - { name: s1, layers: [{ people: [alice], start: 2026-01-05 }] }
  - { name: s1, layers: [{ people: [bob], start: 2026-01-05 }] }`, 'schedules[1].name: duplicate schedule "s1"'],
    ['an unknown team', `
schedules:
  - { name: s1, team: ghosts, layers: [{ people: [alice], start: 2026-01-05 }] }`, 'schedules[0].team: unknown team "ghosts"'],
    ['a step with two kinds of target', `
escalationPolicies:
  - { name: p1, steps: [{ person: alice, schedule: s1 }] }`, 'escalationPolicies[0].steps[0]: give only one of schedule, person, channel or notify'],
    ['a step with no target', `
escalationPolicies:
  - { name: p1, steps: [{ wait: 5m }] }`, 'escalationPolicies[0].steps[0]: a step notifies someone'],
    ['a bad wait', `
escalationPolicies:
  - { name: p1, steps: [{ person: alice, wait: soon }] }`, 'escalationPolicies[0].steps[0].wait'],
    ['a channel with no platform', `
escalationPolicies:
  - { name: p1, steps: [{ channel: {} }] }`, 'escalationPolicies[0].steps[0].channel: name the channel on at least one platform'],
    ['a schedule without layers', `
schedules:
  - { name: s1 }
escalationPolicies:
  - { name: p1, steps: [{ schedule: s1 }] }`, 'schedules[0].layers'],
    ['a policy without steps', `
escalationPolicies:
  - { name: p1 }`, 'escalationPolicies[0].steps'],
    ['too many repeats', `
escalationPolicies:
  - { name: p1, repeat: 50, steps: [{ person: alice }] }`, 'escalationPolicies[0].repeat'],
  ])('rejects %s, naming the path', (_what, yaml, expected) => {
    expect(errorOf(yaml)).toContain(expected);
  });
});
