/**
 * One tread per test file with the Teams adapter against the fake Bot Framework connector, for conversation tests:
 * activities into tread's real /api/messages (personal chats, team channels, Action.Execute presses), and readers of
 * what went out (cards posted to a conversation, the newest version of a card edited in place).
 */
import { afterAll, beforeAll } from 'vitest';
import { createTeamsAdapter } from '../../../adapters/teams/index.js';
import { sql } from 'drizzle-orm';
import { queryRows, type Database } from '../../../db/client.js';
import type { Clock } from '../../../src/core/clock.js';
import { loadEnv } from '../../../src/core/config/env.js';
import type { OrgConfig } from '../../../src/core/config/org.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { openTestDatabase, type Driver } from '../../helpers/db.js';
import { cardOf, FakeConnector, type ConnectorCall } from './fake-connector.js';

export const TENANT = 'tenant-1';
export const BOT = { id: '28:tread-bot', name: 'tread' };

/** A Teams user as activities name them. */
export interface TeamsUser {
  id: string;
  name: string;
  aadObjectId: string;
}

/** A team's channel: its id (also the team's General channel id here) and the team's AAD group. */
export interface TeamsChannel {
  id: string;
  name: string;
  aadGroupId: string;
}

/** The personal chat of a person with the bot. */
export const personalOf = (who: string) => `a:personal-${who}`;

/** What a Teams conversation test works with. */
export interface TeamsTread {
  tread: Tread;
  database: Database;
  connector: FakeConnector;
  /** Posts an activity, then runs due timers and sends the outbox; the answer (an invoke's card), parsed. */
  post(activity: Record<string, unknown>): Promise<{ status: number; body: any }>;
  /** A message typed in the person's personal chat with the bot. */
  personal(who: string, text: string): Record<string, unknown> & { id: string };
  /** A message in a channel, @mentioning the bot. */
  inChannel(who: string, channel: TeamsChannel, text: string): Record<string, unknown> & { id: string };
  /** An Action.Execute press on the card `replyToId`, in the person's personal chat or in a channel. */
  press(who: string, verb: string, data: Record<string, unknown>, replyToId: string, channel?: TeamsChannel): Record<string, unknown>;
  /** Cards posted (not updated) to a conversation whose card mentions `text`. */
  cardPosts(conversationId: string, text: string): ConnectorCall[];
  /** The newest version of a posted card (its last PUT, else the post). */
  latest(posted: ConnectorCall): any;
}

/** The card's actions, also those behind a confirmation (a danger button is an Action.ShowCard asking "are you sure?"). */
export function actionsOf(card: any): any[] {
  return [...(card.actions ?? []), ...(card.body ?? []).flatMap((e: any) => (e.type === 'ActionSet' ? e.actions : []))]
    .flatMap((a: any) => (a.type === 'Action.ShowCard' ? [a, ...actionsOf(a.card)] : [a]));
}

/** The action of a card with that verb; throws naming the card when there is none. */
export function actionOf(card: any, verb: string): any {
  const found = actionsOf(card).find((a: any) => a.verb === verb);
  if (!found) throw new Error(`no ${verb} on ${JSON.stringify(card)}`);
  return found;
}

let seq = 0;

/** Registers beforeAll/afterAll in the current describe; `use` receives the running tread, connector and helpers. */
export function teamsTreadPerFile(driver: Driver, options: { config: OrgConfig; people: Record<string, TeamsUser>; clock?: Clock }, use: (t: TeamsTread) => void): void {
  let started: TeamsTread | undefined;
  beforeAll(async () => {
    const database = await openTestDatabase(driver);
    const connector = await new FakeConnector().start();
    const tread = await startTread({
      database, config: options.config, http: { host: '127.0.0.1', port: 0 }, tickSeconds: 0, ...(options.clock ? { clock: options.clock } : {}),
      platforms: async (app, router) => [await createTeamsAdapter({ env: loadEnv({ HOST: '127.0.0.1' }), app, router })],
    });
    const from = (who: string) => {
      const user = options.people[who];
      if (!user) throw new Error(`no Teams user ${who} in this test`);
      return user;
    };
    /**
     * Runs due timers and sends the outbox, also what Teams' per-conversation budget (8 in 2 s) made wait a moment: a
     * test pressing buttons faster than that would otherwise read a card whose update is still waiting its turn.
     */
    const settle = async () => {
      for (let i = 0; i < 60; i++) {
        await tread.scheduler.tick();
        await tread.dispatcher.flush();
        const [soon] = await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from outbox
          where status in ('pending', 'sending') and available_at < now() + interval '3 seconds' and last_error like 'rate limited%'`);
        if (!soon?.n) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const channelData = (c: TeamsChannel) => ({ team: { id: c.id, name: c.name, aadGroupId: c.aadGroupId }, channel: { id: c.id, name: c.name }, tenant: { id: TENANT } });
    started = {
      tread, database, connector,
      async post(activity) {
        const res = await fetch(`http://127.0.0.1:${tread.port}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
        const text = await res.text();
        await settle();
        return { status: res.status, body: text ? JSON.parse(text) : undefined };
      },
      personal: (who, text) => ({
        type: 'message', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, text, from: from(who), recipient: BOT,
        conversation: { id: personalOf(who), conversationType: 'personal', tenantId: TENANT }, channelData: { tenant: { id: TENANT } },
      }),
      inChannel(who, channel, text) {
        const id = `act-${++seq}`;
        return {
          type: 'message', id, channelId: 'msteams', serviceUrl: connector.url, text: `<at>tread</at> ${text}`, from: from(who), recipient: BOT,
          entities: [{ type: 'mention', text: '<at>tread</at>', mentioned: BOT }],
          conversation: { id: `${channel.id};messageid=${id}`, conversationType: 'channel', isGroup: true, tenantId: TENANT }, channelData: channelData(channel),
        };
      },
      press: (who, verb, data, replyToId, channel) => ({
        type: 'invoke', name: 'adaptiveCard/action', id: `act-${++seq}`, channelId: 'msteams', serviceUrl: connector.url, replyToId, from: from(who), recipient: BOT,
        conversation: { id: channel ? channel.id : personalOf(who), conversationType: channel ? 'channel' : 'personal', tenantId: TENANT },
        channelData: channel ? channelData(channel) : { tenant: { id: TENANT } },
        value: { action: { type: 'Action.Execute', verb, data }, trigger: 'manual' },
      }),
      cardPosts: (conversationId, text) => connector.activityCalls()
        .filter((c) => c.method === 'POST' && c.conversationId === conversationId && JSON.stringify(cardOf(c) ?? {}).includes(text)),
      latest: (posted) => cardOf(connector.activityCalls().filter((c) => c.method === 'PUT' && c.activityId === posted.answeredId).at(-1) ?? posted),
    };
    use(started);
  });
  afterAll(async () => {
    await started?.tread.stop();
    await started?.connector.stop();
  });
}
