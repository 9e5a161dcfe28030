/** Where a configured channel is on the platforms that are on (cards and announcements go there). */
import type { ChannelConfig } from './config/schemas.js';
import type { Where } from './inbound.js';

/** The conversations of a channel on the platforms that are on. */
export function channelWheres(channel: ChannelConfig, platforms: ReadonlySet<string>): Where[] {
  const out: Where[] = [];
  if (channel.slack && platforms.has('slack')) out.push({ platform: 'slack', channel: channel.slack, name: channel.slack });
  if (channel.teams && platforms.has('teams')) out.push({ platform: 'teams', tenant: channel.teams.team, channel: channel.teams.channel });
  if (channel.console && platforms.has('console')) out.push({ platform: 'console', channel: channel.console, name: channel.console });
  return out;
}

/** A channel in words: `Slack C0OPS, console it-help`. */
export function channelLabel(channel: ChannelConfig): string {
  return [channel.slack && `Slack ${channel.slack}`, channel.teams && `Teams ${channel.teams.team}/${channel.teams.channel}`, channel.console && `console ${channel.console}`]
    .filter(Boolean).join(', ');
}
