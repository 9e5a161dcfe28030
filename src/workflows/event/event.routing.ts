/** Routing: where a group's card goes, whether to page, whether to open an incident. Pure (config in, decision out). */
import type { OrgConfig } from '../../core/config/org.js';
import type { Platform, Where } from '../../core/inbound.js';
import type { Severity } from './event.config.js';
import { findRoute, type MatchTarget } from './event.match.js';

/** The decision stored on a group when it opens. */
export interface RouteDecision {
  /** The rule that applied (its name or `#n`), or undefined for the defaults. */
  rule?: string;
  channels: Where[];
  notify: boolean;
  page: boolean;
  policy?: string;
  incident: { impact: 'high' | 'medium' | 'low'; urgency: 'high' | 'medium' | 'low' } | null;
  resolveIncident: boolean;
}

const DEFAULT_INCIDENT = { impact: 'medium', urgency: 'high' } as const;

/** The channels of a service on the platforms that are on (the incident announce channels when it has none). */
export function serviceWheres(config: OrgConfig, service: string | null | undefined, platforms: ReadonlySet<Platform>): Where[] {
  const s = service ? config.services.find((x) => x.name === service) : undefined;
  const out: Where[] = [];
  const announce = config.incident.announce;
  const slack = s?.slack?.channel ?? announce.slack;
  const teams = s?.teams ?? announce.teams;
  if (slack && platforms.has('slack')) out.push({ platform: 'slack', channel: slack, name: slack });
  if (teams && platforms.has('teams')) out.push({ platform: 'teams', tenant: teams.team, channel: teams.channel });
  if (platforms.has('console')) out.push({ platform: 'console', channel: s?.console?.channel ?? 'console', name: s?.console?.channel ?? 'console' });
  return out;
}

/** Applies the routing rules (first match wins) and the defaults to an alert. */
export function decideRoute(config: OrgConfig, platforms: ReadonlySet<Platform>, t: MatchTarget): RouteDecision {
  const found = findRoute(config.routing, t);
  const rule = found?.rule;
  const service = t.service ? config.services.find((s) => s.name === t.service) : undefined;
  let channels: Where[];
  if (rule?.channel) {
    channels = [];
    if (rule.channel.slack && platforms.has('slack')) channels.push({ platform: 'slack', channel: rule.channel.slack, name: rule.channel.slack });
    if (rule.channel.teams && platforms.has('teams')) channels.push({ platform: 'teams', tenant: rule.channel.teams.team, channel: rule.channel.teams.channel });
    if (platforms.has('console')) channels.push({ platform: 'console', channel: rule.channel.console ?? service?.console?.channel ?? 'console' });
  } else {
    channels = serviceWheres(config, t.service, platforms);
  }
  const policy = rule?.escalationPolicy ?? service?.escalationPolicy;
  const severe = t.severity === 'critical' || t.severity === 'error';
  const page = Boolean(policy) && (rule?.page ?? severe);
  let incident: RouteDecision['incident'] = null;
  const wanted = rule?.incident ?? (t.severity === ('critical' satisfies Severity));
  if (wanted === true) incident = { ...DEFAULT_INCIDENT };
  else if (wanted && typeof wanted === 'object') incident = { impact: wanted.impact, urgency: wanted.urgency };
  return {
    rule: found ? rule!.name ?? `#${found.index + 1}` : undefined,
    channels,
    notify: rule?.notify ?? true,
    page,
    policy,
    incident,
    resolveIncident: rule?.resolveIncident ?? config.correlation.resolveIncident,
  };
}
