/** Configuration: the environment (zod) and the organisation YAML, with errors that name what to fix. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvError, loadEnv } from '../../src/core/config/env.js';
import { ConfigError, exampleConfigPath } from '../../src/core/config/org.js';
import { parseOrganisation, loadOrganisation } from '../../src/workflows/index.js';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

function configError(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseOrganisation(text, 'tread.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const PEOPLE = `
people:
  - { id: alice, name: Alice Chen }
  - { id: bob, name: Bob Okafor }
`;

describe('loadEnv', () => {
  it('applies the defaults: PORT 3000, HOST 127.0.0.1, TREAD_DATA_DIR ./data, LOG_LEVEL info', () => {
    const env = loadEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.HOST).toBe('127.0.0.1');
    expect(env.TREAD_DATA_DIR).toBe('./data');
    expect(env.LOG_LEVEL).toBe('info');
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.TREAD_API_TOKEN).toBeUndefined();
    expect(env.TREAD_CONSOLE).toBe(false);
  });

  it('treats empty variables as unset', () => {
    expect(loadEnv({ PORT: '', HOST: '', TREAD_DATA_DIR: '' })).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', TREAD_DATA_DIR: './data' });
  });

  it('reads given values', () => {
    const env = loadEnv({
      PORT: '8080', HOST: '0.0.0.0', TREAD_DATA_DIR: '/var/lib/tread', DATABASE_URL: 'postgres://u@db:5432/tread',
      TREAD_API_TOKEN: 'x'.repeat(32), LOG_LEVEL: 'debug', TREAD_CONSOLE: '1', TREAD_CONFIG: 'org.yaml',
    });
    expect(env).toMatchObject({ PORT: 8080, HOST: '0.0.0.0', TREAD_DATA_DIR: '/var/lib/tread', DATABASE_URL: 'postgres://u@db:5432/tread', LOG_LEVEL: 'debug', TREAD_CONSOLE: true, TREAD_CONFIG: 'org.yaml' });
  });

  it.each([
    ['PORT', 'abc'], ['PORT', '70000'], ['PORT', '-1'], ['PORT', '80.5'],
    ['DATABASE_URL', 'mysql://x'], ['TREAD_API_TOKEN', 'short'], ['LOG_LEVEL', 'loud'], ['TREAD_PUBLIC_URL', 'not a url'],
    ['TREAD_CONSOLE', 'maybe'], ['TREAD_TICK_SECONDS', '0'],
  ])('a bad %s (%s) is an EnvError naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadEnv({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as Error).message).toMatch(new RegExp(`^${name}: .+`));
    expect((error as Error).message).not.toContain('\n');
  });

  it('names the missing half of a TLS pair', () => {
    expect(() => loadEnv({ TLS_CERT_FILE: 'cert.pem' })).toThrow(/^TLS_KEY_FILE: /);
    expect(() => loadEnv({ TLS_KEY_FILE: 'key.pem' })).toThrow(/^TLS_CERT_FILE: /);
  });
});

describe('parseOrgConfig', () => {
  it('parses an empty file into the defaults', () => {
    const org = parseOrganisation('', 'tread.yaml', {});
    expect(org.timezone).toBe('UTC');
    expect(org.people).toEqual([]);
    expect(org.sla.P1).toEqual({ response: 15 * M, resolution: 4 * H, businessHours: false });
    expect(org.incident.autoCloseAfter).toBe(3 * D);
    expect(org.incident.statusUpdateEvery).toBe(30 * M);
  });

  it('reads delivery budgets and storm card timing, as the example file shows them (commented out), and names a bad budget', () => {
    const example = readFileSync(new URL('../../tread.example.yaml', import.meta.url), 'utf8');
    // The commented delivery and correlation.cards blocks, uncommented.
    const block = (name: string) => example.match(new RegExp(`^# ${name}:\\n((?:#  .*\\n)+)`, 'm'))![0].replace(/^# ?/gm, '');
    const org = parseOrganisation(`${block('delivery')}${block('correlation')}`, 'tread.yaml', {});
    expect(org.delivery).toEqual({
      concurrency: 16, replicas: 2,
      slack: { 'chat.update': [{ limit: 40, perMs: M, window: true }], channel: [{ limit: 1, perMs: S, burst: 3 }] },
      teams: { conversation: [{ limit: 7, perMs: S, window: true }, { limit: 60, perMs: 30 * S, window: true }], bot: [{ limit: 50, perMs: S, window: true }] },
    });
    expect(org.correlation.cards).toEqual({ stormGroups: 10, settle: 5 * S, settleMax: 25 * S, refresh: 10 * S });
    expect(parseOrganisation('', 'tread.yaml', {}).delivery).toEqual({ concurrency: 16, slack: {}, teams: {} });
    expect(configError('delivery:\n  slack: { chat.update: fast }\n')).toContain('delivery.slack.chat.update: "fast" is not a budget: write calls per time, like 50/1m, 1/1s burst 3 or 60/30s window');
    expect(configError('correlation:\n  cards: { settle: soon }\n')).toMatch(/correlation\.cards\.settle: /);
  });

  it('names the path inside the file of an unknown person', () => {
    const message = configError(`${PEOPLE}
services:
  - { name: checkout, owners: [alice] }
  - { name: payments, owners: [zed] }
`);
    expect(message).toContain('tread.yaml: ');
    expect(message).toContain('services[1].owners[0]: unknown person "zed"');
  });

  it('names nested paths of type errors', () => {
    expect(configError(`${PEOPLE}
services:
  - { name: checkout, owners: alice }
`)).toMatch(/services\[0\]\.owners: /);
    expect(configError(`${PEOPLE}
sla:
  P1: { response: 15m, resolution: 4h }
  P2: { response: 30m, resolution: 8h }
  P3: { response: 30m, resolution: soon }
  P4: { response: 4h, resolution: 3d }
  P5: { response: 1d, resolution: 5d }
`)).toContain('sla.P3.resolution: "soon" is not a duration: write it like 90s, 30m, 2h or 3d');
    expect(configError('people:\n  - { id: Alice, name: A }\n')).toMatch(/people\[0\]\.id: use lower-case/);
    expect(configError('timezone: Mars/Olympus\n')).toMatch(/timezone: not an IANA time zone/);
    expect(configError('businessHours: { start: "18:00", end: "09:00" }\n')).toMatch(/businessHours\.end: start must be before end/);
    expect(configError('businessHours: { days: [mon, funday] }\n')).toMatch(/businessHours\.days\[1\]: /);
  });

  it('reports duplicates with their position', () => {
    expect(configError('people:\n  - { id: a, name: A }\n  - { id: a, name: B }\n')).toContain('people[1].id: duplicate person id "a"');
    expect(configError(`${PEOPLE}services:\n  - { name: x }\n  - { name: x }\n`)).toContain('services[1].name: duplicate service "x"');
  });

  it('says when the file is not YAML', () => {
    expect(configError('people: [\n')).toMatch(/^tread\.yaml: not valid YAML: /);
  });

  it('replaces ${VAR} from the environment, anywhere in a string', () => {
    const org = parseOrganisation(`organisation: "\${ORG} (\${ENV_NAME})"
people:
  - { id: alice, name: Alice, email: "\${ALICE_MAIL}" }
`, 'tread.yaml', { ORG: 'Acme', ENV_NAME: 'prod', ALICE_MAIL: 'alice@example.com' });
    expect(org.organisation).toBe('Acme (prod)');
    expect(org.people[0]!.email).toBe('alice@example.com');
  });

  it('a missing variable is an error naming the variable and the path', () => {
    const message = configError('people:\n  - { id: alice, name: Alice, email: "${ALICE_MAIL}" }\n', {});
    expect(message).toBe('tread.yaml: people[0].email: environment variable ALICE_MAIL is not set');
  });

  it('leaves text that only looks like a variable alone', () => {
    expect(parseOrganisation('organisation: "costs $5 and $HOME"', 'x', {}).organisation).toBe('costs $5 and $HOME');
  });

  it('parses durations in SLA targets and incident settings', () => {
    const org = parseOrganisation(`
sla:
  P1: { response: 90s, resolution: 2h }
  P2: { response: 30m, resolution: 3d }
  P3: { response: 1h30m, resolution: 1w }
  P4: { response: 4h, resolution: 3d, businessHours: true }
  P5: { response: 1d, resolution: 5d }
incident: { autoCloseAfter: 2d, statusUpdateEvery: 15m }
`, 'x', {});
    expect(org.sla.P1).toEqual({ response: 90 * S, resolution: 2 * H, businessHours: false });
    expect(org.sla.P2.resolution).toBe(3 * D);
    expect(org.sla.P3).toMatchObject({ response: 90 * M, resolution: 7 * D });
    expect(org.sla.P4.businessHours).toBe(true);
    expect(org.incident.autoCloseAfter).toBe(2 * D);
    expect(org.incident.statusUpdateEvery).toBe(15 * M);
  });

  it('parses tread.example.yaml', () => {
    const path = exampleConfigPath();
    const org = parseOrganisation(readFileSync(path, 'utf8'), path, {});
    expect(org.people.map((p) => p.id)).toEqual(expect.arrayContaining(['alice', 'bob']));
    expect(org.services.length).toBeGreaterThan(0);
    for (const s of org.services) for (const o of s.owners) expect(org.people.some((p) => p.id === o)).toBe(true);
    const loaded = loadOrganisation(path, {});
    expect(loaded.config.organisation).toBe(org.organisation);
  });

  it('a TREAD_CONFIG that does not exist is a clear error', () => {
    expect(() => loadOrganisation('/nonexistent/tread.yaml', {})).toThrow(/\/nonexistent\/tread\.yaml: file not found/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90 * S], ['30m', 30 * M], ['2h', 2 * H], ['3d', 3 * D], ['1w', 7 * D], ['1h30m', 90 * M], ['1d12h', 36 * H], [' 2H ', 2 * H],
  ])('%s = %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '0s', '90', 'm', '1.5h', '-5m', '30 m', '2x', '1m1h', 'soon'])('"%s" is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('formats back', () => {
    expect(formatDuration(90 * S)).toBe('1m 30s');
    expect(formatDuration(2 * H)).toBe('2h');
    expect(formatDuration(3 * D + 2 * H)).toBe('3d 2h');
  });
});

describe('the organisation file, assembled from the workflows\' sections', () => {
  it('reports every mistake of a file at once, one line each with its path, across sections', () => {
    const message = configError(`${PEOPLE}
timezone: Mars/Olympus
services:
  - { name: checkout, owners: [zed] }
sla: { P1: { response: soon, resolution: 4h } }
correlation: { window: forever }
schedules:
  - { name: primary, layers: [{ people: [nobody], start: 2026-01-05 }] }
escalationPolicies:
  - { name: standard, steps: [{ schedule: missing }] }
`);
    const lines = message.split('\n');
    expect(lines.every((l) => l.startsWith('tread.yaml: '))).toBe(true);
    expect(lines.map((l) => l.replace(/^tread\.yaml: /, '').split(': ')[0]).sort()).toEqual([
      'correlation.window', 'escalationPolicies[0].steps[0].schedule', 'schedules[0].layers[0].people[0]', 'services[0].owners[0]', 'sla.P1.response', 'timezone',
    ]);
    expect(message).toMatch(/timezone: not an IANA time zone/);
  });

  it('two mistakes in different workflows\' sections come together (one restart, not two)', () => {
    const message = configError(`${PEOPLE}
schedules:
  - { name: primary, layers: [{ people: [nobody], start: 2026-01-05 }] }
integrations:
  - { name: prom, kind: alertmanager, token: short-but-ok-123, service: nowhere }
`);
    expect(message.split('\n')).toEqual([
      'tread.yaml: schedules[0].layers[0].people[0]: unknown person "nobody" (not in people)',
      'tread.yaml: integrations[0].service: unknown service "nowhere" (not in services)',
    ]);
  });

  it('names an unknown section (a typo is not silently ignored)', () => {
    expect(configError('escalationPolicys: []\n')).toMatch(/^tread\.yaml: escalationPolicys: unknown section \(known: .*escalationPolicies/);
  });

  it('checks a person\'s manager: a known person, not themselves', () => {
    expect(parseOrganisation(`people:\n  - { id: alice, name: A, manager: bob }\n  - { id: bob, name: B }\n`, 'x', {}).people[0]!.manager).toBe('bob');
    expect(configError('people:\n  - { id: alice, name: A, manager: zed }\n')).toBe('tread.yaml: people[0].manager: unknown person "zed" (not in people)');
    expect(configError('people:\n  - { id: alice, name: A, manager: alice }\n')).toBe('tread.yaml: people[0].manager: a person cannot be their own manager');
  });

  it('reports every missing environment variable, and not the value errors they cause', () => {
    expect(configError('people:\n  - { id: alice, name: "${A_NAME}", email: "${A_MAIL}" }\n').split('\n')).toEqual([
      'tread.yaml: people[0].name: environment variable A_NAME is not set',
      'tread.yaml: people[0].email: environment variable A_MAIL is not set',
    ]);
  });
});
