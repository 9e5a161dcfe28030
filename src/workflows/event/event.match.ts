/** Label matching: silence matchers (`service=db`, `alertname=~Disk.*`), routing and correlation rules, group keys. Pure. */
import { formatDuration } from '../../core/duration.js';
import type { CorrelationConfig, MatchConfig, RouteConfig, Severity } from './event.config.js';

/** One label matcher, as Alertmanager writes them. */
export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** What matching looks at: an alert's labels plus `service`, `severity`, `integration`, `source`. */
export interface MatchTarget {
  labels: Record<string, string>;
  service?: string | null;
  severity: Severity | string;
  integration: string;
  source?: string | null;
}

const MATCHER = /^([A-Za-z_][A-Za-z0-9_.-]*)(=~|!~|!=|=)(.*)$/;

/** True when the token looks like a matcher (`name=value`). */
export function looksLikeMatcher(token: string): boolean {
  return MATCHER.test(token);
}

/** Parses `name=value`, `name!=value`, `name=~regex`, `name!~regex`; returns a sentence on error. */
export function parseMatcher(token: string): Matcher | string {
  const m = MATCHER.exec(token.trim());
  if (!m) return `"${token}" is not a matcher: write name=value (or name!=value, name=~regex, name!~regex)`;
  const value = m[3]!.replace(/^"(.*)"$/, '$1');
  const op = m[2] as Matcher['op'];
  if (op === '=~' || op === '!~') {
    // Matchers run against every new alert during ingestion: refuse patterns that can backtrack catastrophically.
    if (value.length > 200) return `the regular expression in ${m[1]} is longer than 200 characters`;
    if (/\((?:[^()\\]|\\.)*[+*}]\)\s*[+*{?]/.test(value)) return `"${value}" in ${m[1]} nests repetition (like (a+)+), which can make matching very slow; write it without a repeated group`;
    try { new RegExp(`^(?:${value})$`); } catch (e) { return `"${value}" in ${m[1]} is not a valid regular expression: ${(e as Error).message}`; }
  }
  return { name: m[1]!, op, value };
}

/** The labels a matcher sees. */
export function targetLabels(t: MatchTarget): Record<string, string> {
  const out: Record<string, string> = { ...t.labels };
  if (t.service) out.service = t.service;
  out.severity = t.severity;
  out.integration = t.integration;
  if (t.source && out.source === undefined) out.source = t.source;
  return out;
}

const regexCache = new Map<string, RegExp>();
function anchored(value: string): RegExp {
  let re = regexCache.get(value);
  if (!re) {
    re = new RegExp(`^(?:${value})$`);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(value, re);
  }
  return re;
}

/** True when every matcher holds (a missing label is the empty string, as in Alertmanager). */
export function matchesAll(matchers: readonly Matcher[], labels: Record<string, string>): boolean {
  return matchers.every((m) => {
    const v = labels[m.name] ?? '';
    switch (m.op) {
      case '=': return v === m.value;
      case '!=': return v !== m.value;
      case '=~': return anchored(m.value).test(v);
      case '!~': return !anchored(m.value).test(v);
    }
  });
}

/** Writes matchers back as text: `service=db alertname=DiskFull`. */
export function formatMatchers(matchers: readonly Matcher[]): string {
  return matchers.map((m) => `${m.name}${m.op}${/\s/.test(m.value) ? `"${m.value}"` : m.value}`).join(' ');
}

/** True when a routing or correlation rule's `match` applies. */
export function matchesRule(match: MatchConfig, t: MatchTarget): boolean {
  if (match.service && !match.service.includes(t.service ?? '')) return false;
  if (match.severity && !match.severity.includes(t.severity as Severity)) return false;
  if (match.integration && !match.integration.includes(t.integration)) return false;
  if (match.labels) {
    const labels = targetLabels(t);
    for (const [k, values] of Object.entries(match.labels)) if (!values.includes(labels[k] ?? '')) return false;
  }
  return true;
}

/** The first routing rule that applies, or undefined. */
export function findRoute(routes: readonly RouteConfig[], t: MatchTarget): { rule: RouteConfig; index: number } | undefined {
  const index = routes.findIndex((r) => matchesRule(r.match, t));
  return index >= 0 ? { rule: routes[index]!, index } : undefined;
}

/** Where an alert belongs: the group key, the window, and a sentence saying why alerts with this key are together. */
export interface GroupKey {
  key: string;
  /** Milliseconds a group with this key accepts new alerts; undefined: as long as it is open (Alertmanager groups). */
  windowMs?: number;
  reason: string;
}

/** Computes the group key of an alert from the correlation config (Alertmanager's own groupKey first, when kept). */
export function groupKeyOf(c: CorrelationConfig, t: MatchTarget, alertmanagerGroupKey?: string): GroupKey {
  if (alertmanagerGroupKey && c.alertmanagerGroups) {
    return { key: `am:${t.integration}:${alertmanagerGroupKey}`, reason: `Alertmanager sent them as one group (${alertmanagerGroupKey})` };
  }
  const ruleIndex = c.rules.findIndex((r) => matchesRule(r.match, t));
  const rule = ruleIndex >= 0 ? c.rules[ruleIndex]! : undefined;
  const groupBy = rule?.groupBy ?? c.groupBy;
  const windowMs = rule?.window ?? c.window;
  const labels = targetLabels(t);
  const parts = groupBy.map((l) => `${l}=${labels[l] ?? ''}`);
  const named = rule ? ` (rule ${rule.name ?? `#${ruleIndex + 1}`})` : '';
  return {
    key: `${rule ? `r${ruleIndex}` : 'd'}:${parts.join(',')}`,
    windowMs,
    reason: `same ${parts.map((p) => (p.endsWith('=') ? `${p}(none)` : p)).join(', ')} within ${formatDuration(windowMs)}${named}`,
  };
}
