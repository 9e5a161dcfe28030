/**
 * The access sections of the organisation file: the example's three resources (one per connector kind, the postgres
 * one skipped with a clear line at start when ACCESS_PG_URL is unset), defaults, and every mistake named by its path.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/client.js';
import { ConfigError, exampleConfigPath } from '../../../src/core/config/org.js';
import { createLogger } from '../../../src/core/logger.js';
import { startTread } from '../../../src/runtime.js';
import { unavailableReason } from '../../../src/workflows/access/access.config.js';
import { loadOrganisation, parseOrganisation } from '../../../src/workflows/index.js';

const BASE = `
people:
  - { id: alice, name: Alice }
  - { id: bob, name: Bob }
teams:
  - { id: dba, members: [alice] }
approvalPolicies:
  - { name: owners, stages: [{ approvers: [{ owners: true }] }] }
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
  it('has three resources, one per connector kind; the postgres one waits for ACCESS_PG_URL', () => {
    const { config } = loadOrganisation(exampleConfigPath(), {});
    expect(config.resources.map((r) => [r.name, r.connector.kind, unavailableReason(r) ?? 'available'])).toEqual([
      ['crm', 'manual', 'available'],
      ['payments-console', 'webhook', 'available'],
      ['prod-db', 'postgres', 'the environment variable ACCESS_PG_URL is not set'],
    ]);
    expect(config.access).toEqual({ securityChannel: { slack: 'C0SECURITY', console: 'security' }, expiryWarning: 15 * 60_000, breakGlassMax: 3_600_000, breakGlassRemindAfter: 4 * 3_600_000, breakGlassRemindEvery: 86_400_000, reconcileEvery: 15 * 60_000 });
    const withPg = loadOrganisation(exampleConfigPath(), { ACCESS_PG_URL: 'postgres://tread@db.example.com:5432/app' }).config;
    expect(withPg.resources.map(unavailableReason)).toEqual([undefined, undefined, undefined]);
    expect(withPg.resources[2]!.review).toEqual({ every: 90 * 86_400_000, deadline: 14 * 86_400_000, remindEvery: 86_400_000, reviewers: [{ kind: 'owners' }], revokeUnreviewed: true });
  });

  it('a skipped resource is one clear line at start, and the connection string is never in a log line', async () => {
    const lines: string[] = [];
    const log = createLogger('info', { pretty: false, destination: new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } }) });
    const database = await openDatabase({ dataDir: 'memory://' });
    const { config } = loadOrganisation(exampleConfigPath(), {});
    const tread = await startTread({ database, config, log, tickSeconds: 0 });
    await tread.stop();
    const skipped = lines.map((l) => JSON.parse(l) as { msg: string; resource?: string }).filter((l) => l.resource);
    expect(skipped.map((l) => l.msg)).toEqual(['access: resource prod-db is skipped: the environment variable ACCESS_PG_URL is not set']);
    const secret = createLogger('info', { pretty: false, destination: new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } }) });
    secret.warn({ connector: { connectionString: 'postgres://u:hunter22@h/db' } }, 'x');
    expect(lines.at(-1)).not.toContain('hunter22');
  });
});

describe('resources and access', () => {
  it('applies defaults: no resources; the access clocks', () => {
    const c = parseOrganisation(BASE, 't', {});
    expect(c.resources).toEqual([]);
    expect(c.access).toEqual({ expiryWarning: 15 * 60_000, breakGlassMax: 3_600_000, breakGlassRemindAfter: 4 * 3_600_000, breakGlassRemindEvery: 86_400_000, reconcileEvery: 15 * 60_000 });
    const r = parseOrganisation(`${BASE}
resources: [{ name: db, title: DB, owners: [alice], roles: [{ name: read, title: Read, sensitivity: low }], approvalPolicy: owners, connector: { kind: postgres, connectionString: "postgres://x@h/db" } }]
access: { securityChannel: { console: security } }
`, 't', {}).resources[0]!;
    expect(r).toMatchObject({ defaultDuration: 4 * 3_600_000, maxDuration: 7 * 86_400_000, requireReason: true, requireTicket: false, conflicts: [], selfExtend: false, connector: { login: '{person}' } });
  });

  /** Three resources full of mistakes; the values that fail parsing itself are parameters. */
  const mistakes = (v: { sensitivity: string; url: string; secret: string; connector: string }) => `
resources:
  - name: list
    title: Reserved
    owners: [zed]
    roles:
      - { name: read, title: Read, sensitivity: low }
      - { name: read, title: Again, sensitivity: ${v.sensitivity} }
    approvalPolicy: nobody
    defaultDuration: 2d
    maxDuration: 1d
    conflicts: [[read, write], [read, read]]
    connector: { kind: manual }
  - name: hook
    title: Hook
    owners: [alice]
    roles: [{ name: r, title: R, sensitivity: low, approvalPolicy: missing }]
    approvalPolicy: owners
    connector: { kind: webhook, url: "${v.url}", secret: "${v.secret}" }
    review: { every: 30d, reviewers: [{ person: nobody }, { team: ghosts }, { schedule: nowhere }, { manager: true }] }
  - name: hook
    title: Twice
    owners: [alice]
    roles: [{ name: r, title: R, sensitivity: low }]
    approvalPolicy: owners
    connector: ${v.connector}
`;

  it('names every mistake of a resource with its path, all at once: first those of each value', () => {
    expect(problems(mistakes({ sensitivity: 'extreme', url: 'ftp://x', secret: 'short', connector: '{ kind: postgres, connectionString: "mysql://x", login: "fixed", colour: red }' }))).toEqual([
      'resources[0].roles[1].sensitivity: Invalid option: expected one of "low"|"medium"|"high"',
      'resources[1].connector.url: write the URL as http(s)://…',
      'resources[1].connector.secret: use a secret of at least 16 characters',
      'resources[2].connector.connectionString: write it as postgres://user@host:5432/db (better: ${VAR} from the environment)',
      'resources[2].connector.login: use {person} or {email} in the login, like "{person}" or "app_{person}"',
      'resources[2].connector: Unrecognized key: "colour"',
    ]);
  });

  it('names every mistake of a resource with its path, all at once: then those against the rest of the file', () => {
    expect(problems(mistakes({ sensitivity: 'high', url: 'https://x.example.com/hook', secret: '${HOOK_SECRET}', connector: '{ kind: postgres, connectionString: "${PG}" }' }))).toEqual([
      'resources[0].name: "list" is an /access subcommand; name the resource otherwise',
      'resources[0].owners[0]: unknown person "zed" (not in people)',
      'resources[0].team: a manual connector needs the team that grants and removes access by hand',
      'resources[0].approvalPolicy: unknown approval policy "nobody" (not in approvalPolicies)',
      'resources[0].roles[1].name: duplicate role "read"',
      'resources[0].defaultDuration: defaultDuration is longer than maxDuration',
      'resources[0].conflicts[0][1]: no role "write" in this resource (roles: read, read)',
      'resources[0].conflicts[1]: a role does not conflict with itself',
      'resources[1].roles[0].approvalPolicy: unknown approval policy "missing" (not in approvalPolicies)',
      'resources[1].review.reviewers[0].person: unknown person "nobody" (not in people)',
      'resources[1].review.reviewers[1].team: unknown team "ghosts" (not in teams)',
      'resources[1].review.reviewers[2].schedule: unknown schedule "nowhere" (not in schedules)',
      'resources[2].name: duplicate resource "hook"',
      'access.securityChannel: name the security channel (break-glass, failures, drift and reviews are announced there)',
    ]);
  });

  it('a missing variable elsewhere than a connector secret is still a mistake of the file', () => {
    expect(problems(`
resources:
  - { name: db, title: "\${TITLE}", owners: [alice], roles: [{ name: r, title: R, sensitivity: low }], approvalPolicy: owners, connector: { kind: manual }, team: dba }
access: { securityChannel: { console: security } }
`)).toEqual(['resources[0].title: environment variable TITLE is not set']);
  });

  it('event management reserves tread.* integrations for the alerts tread raises itself', () => {
    expect(problems(`
integrations: [{ name: tread.access, kind: generic, token: a-long-token }]
`)).toEqual(['integrations[0].name: names starting with "tread." are reserved for alerts tread raises itself']);
  });
});
