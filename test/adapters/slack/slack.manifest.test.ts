/** manifest/slack/manifest.yaml imports as it is: every command tread knows, one URL, only the scopes tread uses. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { plannedCommands } from '../../../src/workflows/index.js';
import { servedCommands, subcommandsOf } from '../../helpers/commands.js';

const manifest = parse(readFileSync(new URL('../../../manifest/slack/manifest.yaml', import.meta.url), 'utf8'));
const URL_ = 'https://YOUR-HOST/slack/events';

describe('the Slack app manifest', () => {
  it('declares a slash command for every command tread serves and no other, with description and usage hint within Slack limits', () => {
    const commands = manifest.features.slash_commands as { command: string; url: string; description: string; usage_hint: string; should_escape: boolean }[];
    expect(commands.map((c) => c.command.slice(1)).sort()).toEqual(servedCommands().sort());
    expect(Object.keys(plannedCommands).filter((p) => commands.some((c) => c.command === `/${p}`))).toEqual([]);
    for (const c of commands) {
      expect(c.url).toBe(URL_);
      expect(c.description.length).toBeGreaterThan(0);
      expect(c.description.length).toBeLessThanOrEqual(2000);
      expect(c.usage_hint.length).toBeLessThanOrEqual(1000);
      // Mentions arrive as <@U…> ids, which tread maps to people.
      expect(c.should_escape).toBe(true);
    }
  });

  it('advertises only subcommands that exist: each word a usage hint offers is in the command\'s own usage', () => {
    const commands = manifest.features.slash_commands as { command: string; usage_hint: string }[];
    for (const c of commands) {
      const known = subcommandsOf(c.command.slice(1));
      const offered = c.usage_hint.split('|').map((alt) => /^\s*([a-z]\w*)/.exec(alt)?.[1]).filter((w): w is string => Boolean(w));
      expect(offered.filter((w) => !known.has(w)), `${c.command}: ${c.usage_hint}`).toEqual([]);
    }
  });

  it('sends interactivity and events to the same URL and ships with Socket Mode off', () => {
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: URL_ });
    expect(manifest.settings.event_subscriptions.request_url).toBe(URL_);
    expect(manifest.settings.event_subscriptions.bot_events.sort()).toEqual(['app_mention', 'message.im']);
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.display_information.name).toBe('tread');
    expect(manifest.display_information.description.length).toBeLessThanOrEqual(140);
  });

  it('asks only for the bot scopes the adapter uses', () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([
      'app_mentions:read', 'channels:manage', 'chat:write', 'chat:write.public', 'commands', 'im:history', 'im:write', 'pins:write', 'users:read', 'users:read.email',
    ]);
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });
});
