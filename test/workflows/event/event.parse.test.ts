import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IntegrationConfig } from '../../../src/workflows/event/event.config.js';
import { cleanStrings, jsonDepth } from '../../../src/http/body.js';
import { labelFingerprint, parseAlertmanager, parseGeneric, parseGrafana, parsePagerDuty } from '../../../src/workflows/event/event.parse.js';

const fixture = (path: string) => JSON.parse(readFileSync(new URL(`../../fixtures/${path}`, import.meta.url), 'utf8'));
const am: IntegrationConfig = { name: 'prometheus', kind: 'alertmanager', token: 'x'.repeat(10), service: 'checkout' };
const gen: IntegrationConfig = { name: 'scripts', kind: 'generic', token: 'x'.repeat(10) };

describe('Alertmanager bodies', () => {
  it('reads the firing fixture: fingerprints as dedup keys, labels, annotations, links, group key', () => {
    const r = parseAlertmanager(fixture('alertmanager/firing.json'), am);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.events).toHaveLength(2);
    expect(r.events[0]).toMatchObject({
      integration: 'prometheus', dedupKey: '02c3d136ca659bfa', action: 'trigger', summary: 'Primary database down', severity: 'critical',
      source: 'db-1:5432', service: 'db', groupKey: '{}:{alertname="DBDown", service="db"}', details: { runbook_url: 'https://runbooks.example/db', summary: 'Primary database down' },
    });
    expect(r.events[1]!.summary).toBe('Replica down');
  });
  it('reads the resolved fixture as resolves', () => {
    const r = parseAlertmanager(fixture('alertmanager/resolved.json'), am);
    expect(r.ok && r.events.map((e) => e.action)).toEqual(['resolve', 'resolve']);
  });
  it('falls back to the integration\'s service and a label fingerprint', () => {
    const r = parseAlertmanager({ version: '4', alerts: [{ status: 'firing', labels: { alertname: 'X' } }] }, am);
    expect(r.ok && r.events[0]).toMatchObject({ service: 'checkout', dedupKey: labelFingerprint({ alertname: 'X' }), summary: 'X', severity: 'warning' });
  });
  it('names the field that is wrong', () => {
    const r = parseAlertmanager({ version: '4', alerts: [{ status: 'burning', labels: { a: 1 } }] }, am);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toEqual(['alerts[0].status', 'alerts[0].labels.a']);
    const v = parseAlertmanager({ version: '3', alerts: [] }, am);
    expect(!v.ok && v.issues[0]).toEqual({ path: 'version', message: 'expected "4" (Alertmanager webhook version 4)' });
  });
});

describe('PagerDuty Events v2', () => {
  it('reads the pdjs fixture', () => {
    const r = parsePagerDuty(fixture('pagerduty/pdjs-trigger-request.json').body);
    if (!r.ok) throw new Error(r.errors.join());
    expect(r).toMatchObject({ routingKey: 'R0UTINGKEY0000000000000000000000', generatedKey: false });
    expect(r.event).toMatchObject({ dedupKey: 'inc-1', action: 'trigger', summary: 'DB primary down', severity: 'critical', source: 'db-1', labels: { component: 'postgres', source: 'db-1' }, details: { replicas: 2 } });
  });
  it('generates a dedup key for a trigger without one', () => {
    const r = parsePagerDuty({ routing_key: 'k', event_action: 'trigger', payload: { summary: 's', source: 'x', severity: 'info' } });
    expect(r.ok && r.generatedKey).toBe(true);
    expect(r.ok && r.event.dedupKey).toMatch(/^[0-9a-f]{32}$/);
  });
  it.each([
    [[], ['Event object is invalid: expected a JSON object']],
    [{}, ["'routing_key' is missing or blank", "'event_action' is missing or blank"]],
    [{ routing_key: 'k', event_action: 'page' }, ["'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"]],
    [{ routing_key: 'k', event_action: 'trigger' }, ["'payload' is missing or blank"]],
    [{ routing_key: 'k', event_action: 'resolve' }, ["'dedup_key' is missing or blank"]],
    [{ routing_key: 'k', event_action: 'trigger', dedup_key: 'x'.repeat(256), payload: { summary: 's', source: 'x', severity: 'info' } }, ["'dedup_key' is too long (maximum is 255 characters)"]],
    [{ routing_key: 'k', event_action: 'trigger', payload: { summary: 's', source: 'x', severity: 'info', timestamp: 'yesterday' } }, ["'payload.timestamp' is invalid (must be an ISO 8601 date-time)"]],
    [{ routing_key: 'k', event_action: 'trigger', payload: { summary: 's', source: 'x', severity: 'info' }, links: [{ text: 'no href' }] }, ["'links[0].href' is missing or blank"]],
  ])('rejects %j with PagerDuty\'s messages', (body, errors) => {
    const r = parsePagerDuty(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual(errors);
  });
});

describe('Grafana and generic bodies', () => {
  it('reads a legacy Grafana body', () => {
    const r = parseGrafana({ ruleId: 7, ruleName: 'CPU high', state: 'alerting', title: '[Alerting] CPU high', message: 'cpu', tags: { service: 'web' } }, { ...gen, kind: 'grafana', name: 'grafana' });
    expect(r.ok && r.events[0]).toMatchObject({ dedupKey: 'rule-7', action: 'trigger', service: 'web', summary: '[Alerting] CPU high', severity: 'error' });
    const ok = parseGrafana({ ruleId: 7, ruleName: 'CPU high', state: 'ok' }, { ...gen, kind: 'grafana', name: 'grafana' });
    expect(ok.ok && ok.events[0]!.action).toBe('resolve');
  });
  it('keys generic events by source and summary unless given a key', () => {
    const a = parseGeneric({ summary: 'Queue backlog', severity: 'warning', source: 'w1' }, gen);
    const b = parseGeneric({ summary: 'Queue backlog', severity: 'warning', source: 'w1', status: 'resolved' }, gen);
    expect(a.ok && b.ok && a.events[0]!.dedupKey === b.events[0]!.dedupKey).toBe(true);
    const c = parseGeneric({ summary: 'x', severity: 'info', source: 's', dedupKey: 'mine' }, gen);
    expect(c.ok && c.events[0]!.dedupKey).toBe('mine');
    const bad = parseGeneric({ summary: '', severity: 'info' }, gen);
    expect(!bad.ok && bad.issues.map((i) => i.path)).toEqual(['summary', 'source']);
  });
});

describe('body hygiene', () => {
  it('measures nesting outside strings', () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[["}]}')).toBe(3);
    expect(jsonDepth('"\\"{"')).toBe(0);
  });
  it('replaces NUL and lone surrogates that PostgreSQL refuses', () => {
    expect(cleanStrings({ 'k\u0000': ['a\u0000b', '\ud800x', '😀'] })).toEqual({ 'k\uFFFD': ['a\uFFFDb', '\uFFFDx', '😀'] });
  });
});
