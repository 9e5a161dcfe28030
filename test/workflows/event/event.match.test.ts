import { describe, expect, it } from 'vitest';
import { activeMaintenance } from '../../../src/workflows/event/event.config.js';
import { formatMatchers, groupKeyOf, matchesAll, parseMatcher, type Matcher, type MatchTarget } from '../../../src/workflows/event/event.match.js';
import { decideRoute } from '../../../src/workflows/event/event.routing.js';
import { parseSilenceArgs } from '../../../src/workflows/event/event.commands.js';
import { eventConfig } from './event.fakes.js';

const target = (over: Partial<MatchTarget> = {}): MatchTarget => ({
  labels: { alertname: 'DiskFull', instance: 'db-1' }, service: 'db', severity: 'critical', integration: 'prometheus', source: 'db-1', ...over,
});

describe('matchers', () => {
  it('parses the four operators and quoted values', () => {
    expect(parseMatcher('service=db')).toEqual({ name: 'service', op: '=', value: 'db' });
    expect(parseMatcher('severity!=info')).toEqual({ name: 'severity', op: '!=', value: 'info' });
    expect(parseMatcher('alertname=~Disk.*')).toEqual({ name: 'alertname', op: '=~', value: 'Disk.*' });
    expect(parseMatcher('instance!~"db-[12]"')).toEqual({ name: 'instance', op: '!~', value: 'db-[12]' });
    expect(parseMatcher('no-operator')).toMatch(/not a matcher/);
    expect(parseMatcher('x=~(')).toMatch(/not a valid regular expression/);
  });

  it('matches like Alertmanager: anchored regexes, missing labels are empty', () => {
    const labels = { service: 'db', alertname: 'DiskFull', instance: 'db-1' };
    const m = (...tokens: string[]) => tokens.map((t) => parseMatcher(t) as Matcher);
    expect(matchesAll(m('service=db', 'alertname=DiskFull'), labels)).toBe(true);
    expect(matchesAll(m('alertname=~Disk'), labels)).toBe(false);
    expect(matchesAll(m('alertname=~Disk.*'), labels)).toBe(true);
    expect(matchesAll(m('team='), labels)).toBe(true);
    expect(matchesAll(m('instance!~db-.*'), labels)).toBe(false);
    expect(formatMatchers(m('service=db', 'alertname=~Disk.*'))).toBe('service=db alertname=~Disk.*');
  });

  it('splits /event silence arguments into matchers, duration and reason', () => {
    expect(parseSilenceArgs('service=db alertname=DiskFull 2h disk replaced tonight')).toEqual({
      matchers: [{ name: 'service', op: '=', value: 'db' }, { name: 'alertname', op: '=', value: 'DiskFull' }], durationMs: 7_200_000, reason: 'disk replaced tonight',
    });
    expect(() => parseSilenceArgs('2h reason')).toThrow(/at least one matcher/);
    expect(() => parseSilenceArgs('service=db later reason')).toThrow(/"later" is not a duration/);
    expect(() => parseSilenceArgs('service=db 1h')).toThrow(/Give a reason/);
  });
});

describe('correlation keys', () => {
  const config = eventConfig();
  it('groups by service and alertname within the window, saying why', () => {
    const k = groupKeyOf(config.correlation, target());
    expect(k).toEqual({ key: 'd:service=db,alertname=DiskFull', windowMs: 300_000, reason: 'same service=db, alertname=DiskFull within 5m' });
    expect(groupKeyOf(config.correlation, target({ labels: { alertname: 'DiskFull', instance: 'db-2' } })).key).toBe(k.key);
    expect(groupKeyOf(config.correlation, target({ service: 'checkout' })).key).not.toBe(k.key);
  });
  it('keeps Alertmanager\'s own groups', () => {
    const k = groupKeyOf(config.correlation, target(), '{}:{alertname="DiskFull"}');
    expect(k.key).toBe('am:prometheus:{}:{alertname="DiskFull"}');
    expect(k.windowMs).toBeUndefined();
  });
  it('uses the first correlation rule that matches', () => {
    const c = eventConfig(`${'organisation: x'}
correlation:
  rules:
    - { name: per-host, match: { service: db }, groupBy: [instance], window: 1m }
`).correlation;
    expect(groupKeyOf(c, target())).toMatchObject({ key: 'r0:instance=db-1', windowMs: 60_000, reason: 'same instance=db-1 within 1m (rule per-host)' });
    expect(groupKeyOf(c, target({ service: 'web' })).key).toBe('d:service=web,alertname=DiskFull');
  });
});

describe('routing', () => {
  const config = eventConfig();
  const platforms = new Set(['console', 'slack'] as const);
  it('defaults: the service\'s channels, page for critical/error with a policy, incident for critical', () => {
    const r = decideRoute(config, platforms, target());
    expect(r).toMatchObject({ rule: undefined, page: true, policy: 'standard', incident: { impact: 'medium', urgency: 'high' }, resolveIncident: true, notify: true });
    expect(r.channels).toEqual([{ platform: 'console', channel: 'db-alerts', name: 'db-alerts' }]);
    expect(decideRoute(config, platforms, target({ severity: 'warning' }))).toMatchObject({ page: false, incident: null });
    expect(decideRoute(config, platforms, target({ service: 'payments', severity: 'error' }))).toMatchObject({ page: false, policy: undefined });
  });
  it('a matching rule decides', () => {
    const r = decideRoute(config, platforms, target({ service: 'payments', severity: 'warning' }));
    expect(r).toMatchObject({ rule: 'payments-quiet', incident: null });
    const c = eventConfig(`organisation: x
services: [{ name: db }]
routing:
  - match: { labels: { team: storage } }
    channel: { slack: C0STORAGE }
    page: false
    incident: { impact: high, urgency: high }
`);
    const r2 = decideRoute(c, platforms, target({ labels: { team: 'storage' } }));
    expect(r2).toMatchObject({ rule: '#1', page: false, incident: { impact: 'high', urgency: 'high' } });
    expect(r2.channels).toEqual([{ platform: 'slack', channel: 'C0STORAGE', name: 'C0STORAGE' }, { platform: 'console', channel: 'console' }]);
  });
});

describe('maintenance windows', () => {
  const windows = eventConfig(`organisation: x
services: [{ name: db }, { name: web }]
maintenance:
  - { service: db, start: "2026-01-10T22:00:00Z", end: "2026-01-11T02:00:00Z", reason: failover }
  - { service: web, weekly: { days: [sun], start: "23:00", end: "01:00", timezone: Europe/Berlin } }
`).maintenance;
  it('one-off windows', () => {
    expect(activeMaintenance(windows, 'db', new Date('2026-01-10T21:59:00Z'))).toBeUndefined();
    expect(activeMaintenance(windows, 'db', new Date('2026-01-10T23:00:00Z'))).toEqual({ endsAt: new Date('2026-01-11T02:00:00Z'), reason: 'failover' });
    expect(activeMaintenance(windows, 'web', new Date('2026-01-10T23:00:00Z'))).toBeUndefined();
  });
  it('weekly windows across midnight in their time zone', () => {
    // Sunday 11 Jan 2026 23:30 Berlin = 22:30 UTC; ends Monday 01:00 Berlin = 00:00 UTC
    expect(activeMaintenance(windows, 'web', new Date('2026-01-11T22:30:00Z'))?.endsAt).toEqual(new Date('2026-01-12T00:00:00Z'));
    expect(activeMaintenance(windows, 'web', new Date('2026-01-11T23:30:00Z'))?.endsAt).toEqual(new Date('2026-01-12T00:00:00Z'));
    expect(activeMaintenance(windows, 'web', new Date('2026-01-12T00:30:00Z'))).toBeUndefined();
    expect(activeMaintenance(windows, 'web', new Date('2026-01-10T22:30:00Z'))).toBeUndefined(); // Saturday
  });
});

describe('the event sections of the config', () => {
  const bad = (yaml: string) => () => eventConfig(`organisation: x\n${yaml}`);
  it('names the path of what is wrong', () => {
    expect(bad('integrations: [{ name: a, kind: pagerduty }]')).toThrow(/integrations\[0\]\.routingKey: a pagerduty integration needs a routingKey/);
    expect(bad('integrations: [{ name: a, kind: alertmanager }]')).toThrow(/integrations\[0\]\.token: a alertmanager integration needs a token/);
    expect(bad('integrations: [{ name: a, kind: nagios, token: abcdefghij }]')).toThrow(/integrations\[0\]\.kind/);
    expect(bad('integrations: [{ name: a, kind: generic, token: abcdefghij }, { name: a, kind: generic, token: abcdefghik }]')).toThrow(/integrations\[1\]\.name: duplicate integration "a"/);
    expect(bad('heartbeats: [{ name: b, timeout: soon }]')).toThrow(/heartbeats\[0\]\.timeout: "soon" is not a duration/);
    expect(bad('routing: [{ match: { severity: fatal } }]')).toThrow(/routing\[0\]\.match\.severity/);
    expect(bad('services: [{ name: db }]\nmaintenance: [{ service: db }]')).toThrow(/maintenance\[0\]\.start: give a window/);
    expect(bad('correlation: { window: 0 }')).toThrow(/correlation\.window/);
    expect(bad('integrations: [{ name: a, kind: generic, token: abcdefghij, service: nope }]')).toThrow(/integrations\[0\]\.service: unknown service "nope"/);
    expect(bad('routing: [{ escalationPolicy: nope }]')).toThrow(/routing\[0\]\.escalationPolicy: unknown escalation policy "nope"/);
  });
  it('expands ${VAR} in tokens', async () => {
    const { parseOrganisation } = await import('../../../src/workflows/index.js');
    const c = parseOrganisation('integrations: [{ name: p, kind: alertmanager, token: "${PROM_TOKEN}" }]', 'x', { PROM_TOKEN: 'from-the-environment' });
    expect(c.integrations[0]!.token).toBe('from-the-environment');
  });
});

describe('silence regexes that could stall ingestion', () => {
  it('refuses nested repetition and very long patterns, and keeps ordinary ones', () => {
    expect(parseMatcher('alertname=~(a+)+b')).toMatch(/nests repetition/);
    expect(parseMatcher('alertname=~(x*)*')).toMatch(/nests repetition/);
    expect(parseMatcher(`alertname=~${'a'.repeat(201)}`)).toMatch(/longer than 200/);
    expect(parseMatcher('alertname=~(Disk|Mem).*')).toEqual({ name: 'alertname', op: '=~', value: '(Disk|Mem).*' });
    expect(parseMatcher('alertname=~(ab){2}')).toEqual({ name: 'alertname', op: '=~', value: '(ab){2}' });
  });
});
