/** The request and approval sections of the organisation file: what parses, and every mistake named by its path. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/config/org.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { exampleConfig } from './request.fakes.js';

const BASE = `
people:
  - { id: alice, name: Alice }
  - { id: bob, name: Bob, manager: alice }
teams:
  - { id: it, members: [alice] }
`;

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseOrganisation(`${BASE}${yaml}`, 'tread.yaml', env);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message.split('\n').map((l) => l.replace(/^tread\.yaml: /, ''));
  }
}

describe('the example organisation', () => {
  it('has a small realistic catalog, two approval policies for it (and one for access resources) and a knowledge folder', () => {
    const c = exampleConfig();
    expect(c.catalog.map((i) => i.name)).toEqual(['laptop', 'software-licence', 'new-starter', 'something-else']);
    expect(c.approvalPolicies.map((p) => p.name)).toEqual(['manager', 'licence', 'resource-owners']);
    expect(c.catalog.find((i) => i.name === 'new-starter')!.fulfilment.tasks!.filter((t) => !t.after).length).toBe(3); // in parallel
    expect(c.catalog.filter((i) => i.generic).map((i) => i.name)).toEqual(['something-else']);
    expect(c.knowledge).toEqual({ folder: 'knowledge', reindexEvery: 300_000 });
    expect(c.approvalPolicies[0]).toMatchObject({ expireAfter: 3 * 86_400_000, remindAfter: 4 * 3_600_000, remindEvery: 86_400_000, allowSelfApproval: false });
  });
});

describe('catalog, request and knowledge', () => {
  it('applies defaults: no catalog, request settings, no knowledge', () => {
    const c = parseOrganisation(BASE, 't', {});
    expect(c.catalog).toEqual([]);
    expect(c.request).toEqual({ closeAfter: 3 * 86_400_000, slaWarnAt: 0.75 });
    expect(c.knowledge).toBeUndefined();
  });

  it('names every mistake of an item with its path, all at once', () => {
    expect(problems(`
catalog:
  - name: laptop
    title: Laptop
    fields:
      - { id: model, label: Model, type: dropdown }
      - { id: Bad Id, label: X, type: text }
    fulfilment: { team: nobody, tasks: [{ title: Order }, { title: Ship, after: [Orderr] }] }
  - name: list
    title: Listed
    approvalPolicy: ghost
    fulfilment: { team: it }
`)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^catalog\[0\]\.fields\[0\]\.type: /),
      expect.stringMatching(/^catalog\[0\]\.fields\[1\]\.id: use lower-case letters/),
      'catalog[1].fulfilment: give either tasks: [...] (with team) or webhook: {url, secret}',
    ]));
    expect(problems(`
catalog:
  - name: laptop
    title: Laptop
    fulfilment: { team: nobody, tasks: [{ title: Order }, { title: Ship, after: [Orderr] }] }
  - name: list
    title: Listed
    approvalPolicy: ghost
    fulfilment: { team: it, tasks: [{ title: A }] }
`)).toEqual([
      'catalog[0].fulfilment.team: unknown team "nobody" (not in teams)',
      'catalog[0].fulfilment.tasks[1].after[0]: no task "Orderr" in this item (tasks: Order, Ship)',
      'catalog[1].name: "list" is a /request subcommand; name the item otherwise',
      'catalog[1].approvalPolicy: unknown approval policy "ghost" (not in approvalPolicies)',
    ]);
  });

  it('refuses tasks that wait for each other in a circle, two generic items, webhook and tasks together', () => {
    expect(problems(`
catalog:
  - { name: a, title: A, generic: true, fulfilment: { team: it, tasks: [{ title: X, after: [Y] }, { title: Y, after: [X] }] } }
  - { name: b, title: B, generic: true, fulfilment: { team: it, tasks: [{ title: X }], webhook: { url: "https://x.example/h", secret: 0123456789abcdef } } }
  - { name: c, title: C, fulfilment: { webhook: { url: "ftp://x.example/h", secret: short } } }
`)).toEqual([
      'catalog[1].fulfilment.webhook: give either tasks or webhook, not both',
      expect.stringMatching(/^catalog\[2\]\.fulfilment\.webhook\.url: /),
      'catalog[2].fulfilment.webhook.secret: use a secret of at least 16 characters',
    ]);
    expect(problems(`
catalog:
  - { name: a, title: A, generic: true, fulfilment: { team: it, tasks: [{ title: X, after: [Y] }, { title: Y, after: [X] }] } }
  - { name: b, title: B, generic: true, fulfilment: { team: it, tasks: [{ title: X }] } }
`)).toEqual([
      'catalog[0].fulfilment.tasks: the tasks wait for each other in a circle: nothing could start',
      'catalog[1].generic: only one item may be generic (catalog[0] already is)',
    ]);
  });

  it('takes the webhook secret from the environment and reports a missing variable by its path', () => {
    const yaml = `
catalog:
  - { name: lic, title: Licence, fulfilment: { webhook: { url: "https://lic.example/hook", secret: "\${LIC_SECRET}" } } }
`;
    expect(parseOrganisation(`${BASE}${yaml}`, 't', { LIC_SECRET: 'a-very-long-secret-0123' }).catalog[0]!.fulfilment.webhook!.secret).toBe('a-very-long-secret-0123');
    expect(problems(yaml)).toContain('catalog[0].fulfilment.webhook.secret: environment variable LIC_SECRET is not set');
  });

  it('checks request settings and the knowledge section', () => {
    expect(problems(`
request: { closeAfter: soon, slaWarnAt: 1.5, announce: {} }
knowledge: { reindexEvery: 5m }
`)).toEqual(expect.arrayContaining([
      'request.closeAfter: "soon" is not a duration: write it like 90s, 30m, 2h or 3d',
      expect.stringMatching(/^request\.slaWarnAt: /),
      'request.announce: name the channel on at least one platform: slack, teams or console',
      expect.stringMatching(/^knowledge\.folder: /),
    ]));
  });
});

describe('approval policies', () => {
  it('parses targets, rules and durations', () => {
    const c = parseOrganisation(`${BASE}
approvalPolicies:
  - name: p
    stages:
      - { approvers: [{ manager: true }, { person: alice }], rule: { n: 2 }, escalateAfter: 1d, fallback: [{ team: it }] }
      - { approvers: [{ owners: true }], rule: all }
    expireAfter: 2d
`, 't', {});
    expect(c.approvalPolicies[0]).toEqual({
      name: 'p', expireAfter: 2 * 86_400_000, remindAfter: 4 * 3_600_000, remindEvery: 86_400_000, allowSelfApproval: false,
      stages: [
        { approvers: [{ kind: 'manager' }, { kind: 'person', person: 'alice' }], rule: { kind: 'n', n: 2 }, escalateAfter: 86_400_000, fallback: [{ kind: 'team', team: 'it' }] },
        { approvers: [{ kind: 'owners' }], rule: { kind: 'all' } },
      ],
    });
  });

  it('names every mistake with its path', () => {
    expect(problems(`
approvalPolicies:
  - name: p
    stages:
      - { approvers: [{ person: zed }, { team: ghosts }, { schedule: nightly }], escalateAfter: 1h }
      - { approvers: [{ person: alice }, { person: bob }], rule: { n: 3 } }
      - { approvers: [{ person: alice, team: it }], rule: most }
  - { name: p, stages: [] }
`)).toEqual(expect.arrayContaining([
      'approvalPolicies[0].stages[2].approvers[0]: a target is exactly one of {person: id}, {team: id}, {schedule: name}, {manager: true} or {owners: true}',
      'approvalPolicies[0].stages[2].rule: write the rule as any, all or {n: 2}',
      'approvalPolicies[1].stages: a policy needs at least one stage',
    ]));
    expect(problems(`
approvalPolicies:
  - name: p
    stages:
      - { approvers: [{ person: zed }, { team: ghosts }, { schedule: nightly }], escalateAfter: 1h }
      - { approvers: [{ person: alice }, { person: bob }], rule: { n: 3 } }
  - { name: p, stages: [{ approvers: [{ manager: true }] }] }
`)).toEqual([
      'approvalPolicies[0].stages[0].approvers[0].person: unknown person "zed" (not in people)',
      'approvalPolicies[0].stages[0].approvers[1].team: unknown team "ghosts" (not in teams)',
      'approvalPolicies[0].stages[0].approvers[2].schedule: unknown schedule "nightly" (not in schedules)',
      'approvalPolicies[0].stages[0].escalateAfter: escalateAfter needs fallback approvers to escalate to',
      'approvalPolicies[0].stages[1].rule: n is 3 but the stage names only 2 approvers',
      'approvalPolicies[1].name: duplicate approval policy "p"',
    ]);
  });
});
