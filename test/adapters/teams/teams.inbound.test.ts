/** Reading Teams activities: mentions, HTML, the leading slash, conversations, reply chains and actors. */
import { describe, expect, it } from 'vitest';
import {
  actorOf, baseConversationId, decodeEntities, isChannelConversation, mentionsOf, normalizeText, parseCommand, submitActionOf,
  threadConversationId, threadOf, whereOf, type TeamsActivity,
} from '../../../adapters/teams/teams.inbound.js';
import { authorizationProblem } from '../../../adapters/teams/teams.auth.js';
import { mapConnectorError, retryAfterMs } from '../../../adapters/teams/teams.port.js';
import { PermanentChatError, RateLimitedError } from '../../../src/core/errors.js';

const BOT = { id: '28:bot', name: 'tread' };

function message(text: string, entities: unknown[] = [], extra: Partial<TeamsActivity> = {}): TeamsActivity {
  return { type: 'message', id: '1', text, entities: entities as TeamsActivity['entities'], recipient: BOT, from: { id: '29:a', name: 'Alice', aadObjectId: 'aad-a' }, conversation: { id: 'a:1' }, ...extra };
}

const command = (a: TeamsActivity, tokens = new Map<string, string>()) => parseCommand(normalizeText(a.text ?? '', mentionsOf(a), tokens));

describe('Teams message text -> command', () => {
  const botMention = { type: 'mention', text: '<at>tread</at>', mentioned: BOT };

  it('reads a command typed to the bot, with or without a slash', () => {
    expect(command(message('incident Payment API down'))).toEqual({ name: 'incident', text: 'Payment API down' });
    expect(command(message('/incident Payment API down'))).toEqual({ name: 'incident', text: 'Payment API down' });
    expect(command(message('Help'))).toEqual({ name: 'help', text: '' });
    expect(command(message('   '))).toEqual({ name: 'help', text: '' });
  });

  it('strips the bot mention wherever the entity says it is, and a leading <at> without an entity', () => {
    expect(command(message('<at>tread</at> incident Payment API down', [botMention]))).toEqual({ name: 'incident', text: 'Payment API down' });
    expect(command(message('<at>tread</at>&nbsp;/incident <b>DB</b> &amp; cache down\n', [botMention]))).toEqual({ name: 'incident', text: 'DB & cache down' });
    expect(command(message('<at>Tread Bot</at> request laptop'))).toEqual({ name: 'request', text: 'laptop' });
    expect(command(message('<p><at>tread</at> incident list</p>', [botMention]))).toEqual({ name: 'incident', text: 'list' });
    expect(command(message('<at>tread</at>', [botMention]))).toEqual({ name: 'help', text: '' });
  });

  it('turns other mentions into @<aadObjectId> tokens, or @name when the id is unknown', () => {
    const bob = { type: 'mention', text: '<at>Bob Builder</at>', mentioned: { id: '29:bob', name: 'Bob Builder' } };
    const carol = { type: 'mention', text: '<at>Carol</at>', mentioned: { id: '29:carol', name: 'Carol', aadObjectId: 'aad-carol' } };
    const a = message('<at>tread</at> incident assign INC-3 <at>Bob Builder</at> and <at>Carol</at>', [botMention, bob, carol]);
    const tokens = new Map([['<at>Bob Builder</at>', '@<aad-bob>'], ['<at>Carol</at>', '@<aad-carol>']]);
    expect(command(a, tokens)).toEqual({ name: 'incident', text: 'assign INC-3 @<aad-bob> and @<aad-carol>' });
    expect(command(a)).toEqual({ name: 'incident', text: 'assign INC-3 @Bob Builder and @Carol' });
    expect(mentionsOf(a).map((m) => [m.id, m.isBot, m.aadObjectId])).toEqual([['28:bot', true, undefined], ['29:bob', false, undefined], ['29:carol', false, 'aad-carol']]);
  });

  it('decodes HTML entities', () => {
    expect(decodeEntities('a &lt;b&gt; &quot;c&quot; &#39;d&#39; &#x1F6A8; &unknown;')).toBe('a <b> "c" \'d\' 🚨 &unknown;');
  });

  it('reads an Action.Submit message as a card action', () => {
    expect(submitActionOf({ verb: 'incident.ack', value: 'INC-1' })).toEqual({ actionId: 'incident.ack', value: 'INC-1' });
    expect(submitActionOf({ foo: 1 })).toBeUndefined();
    expect(submitActionOf('text')).toBeUndefined();
  });
});

describe('Teams conversations and people', () => {
  it('splits a channel conversation id into channel and reply chain', () => {
    expect(baseConversationId('19:x@thread.tacv2;messageid=123')).toBe('19:x@thread.tacv2');
    expect(threadOf('19:x@thread.tacv2;messageid=123')).toBe('123');
    expect(threadOf('a:personal')).toBeUndefined();
    expect(threadConversationId('19:x@thread.tacv2;messageid=1', '2')).toBe('19:x@thread.tacv2;messageid=2');
    expect(isChannelConversation({ id: '19:x@thread.tacv2' })).toBe(true);
    expect(isChannelConversation({ id: '19:x@thread.v2' })).toBe(false);
    expect(isChannelConversation({ id: 'a:1', conversationType: 'personal' })).toBe(false);
  });

  it('builds where and actor from an activity', () => {
    const a = message('x', [], {
      type: 'invoke', replyToId: 'm-9', serviceUrl: 'https://smba.example/emea/',
      conversation: { id: '19:x@thread.tacv2;messageid=5', conversationType: 'channel', tenantId: 't1' },
      channelData: { channel: { id: '19:x@thread.tacv2', name: 'ops' } },
    });
    expect(whereOf(a)).toEqual({ platform: 'teams', channel: '19:x@thread.tacv2', tenant: 't1', thread: '5', messageId: 'm-9', serviceUrl: 'https://smba.example/emea/', name: 'ops' });
    expect(actorOf(a)).toEqual({ platform: 'teams', id: 'aad-a', displayName: 'Alice' });
    expect(actorOf({ ...a, from: { id: 'emulator-user' } })).toEqual({ platform: 'teams', id: 'emulator-user' });
  });
});

describe('Teams transport checks', () => {
  it('refuses a missing or malformed Authorization header before any validation', () => {
    expect(authorizationProblem(undefined)).toBe('send the Bot Framework token: Authorization: Bearer <jwt>');
    expect(authorizationProblem('')).toBe('send the Bot Framework token: Authorization: Bearer <jwt>');
    expect(authorizationProblem(['Bearer a.b.c', 'Bearer d.e.f'])).toBe('send one Authorization header');
    expect(authorizationProblem('Basic abc')).toBe('the Authorization header is not "Bearer <jwt>"');
    expect(authorizationProblem('Bearer only-one-part')).toBe('the Authorization header is not "Bearer <jwt>"');
    expect(authorizationProblem('Bearer x.y.z')).toBe('the bearer token is not a JWT');
    expect(authorizationProblem(`Bearer ${Buffer.from('"a string"').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.sig`)).toBe('the bearer token is not a JWT');
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect(authorizationProblem(`Bearer ${part({ alg: 'RS256' })}.${part({ iss: 'x' })}.sig`)).toBeUndefined();
  });

  it('maps connector errors: 429 waits, 4xx is permanent, 5xx and network errors are retried', () => {
    const err = (statusCode: number | undefined, headers: Record<string, string> = {}) => Object.assign(new Error('boom'), { statusCode, response: { headers: { get: (n: string) => headers[n] } } });
    const limited = mapConnectorError(err(429, { 'retry-after': '3' }), 'posting');
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(3000);
    expect((mapConnectorError(err(429), 'posting') as RateLimitedError).retryAfterMs).toBe(2000);
    expect(mapConnectorError(err(403), 'posting')).toBeInstanceOf(PermanentChatError);
    expect(mapConnectorError(err(408), 'posting')).not.toBeInstanceOf(PermanentChatError);
    expect(mapConnectorError(err(503), 'posting')).not.toBeInstanceOf(PermanentChatError);
    expect(mapConnectorError(err(undefined), 'posting').message).toMatch(/^posting: request failed/);
    expect(retryAfterMs({ 'retry-after': new Date(Date.UTC(2026, 0, 1, 0, 0, 10)).toUTCString() }, Date.UTC(2026, 0, 1))).toBe(10_000);
  });
});
