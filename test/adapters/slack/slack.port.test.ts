/** The Slack ChatPort against the local fake Web API: rate limits per method per workspace, permanent errors, pacing, channels, DMs, forms. */
import { webApi } from '@slack/bolt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { channelName, SlackChatPort } from '../../../adapters/slack/slack.port.js';
import { PermanentChatError, RateLimitedError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { FakeSlack } from './fake-slack.js';

let fake: FakeSlack;
const client = () => new webApi.WebClient('xoxb-test', { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
/** A port whose channels take one post per `channelMs` (0: no limit), with bursts of one. */
const portWith = (channelMs = 0, maxInlineWaitMs = 3000) => new SlackChatPort(client(), {
  log: silentLogger, botUserId: 'U0TREADBOT', workspace: 'T0FAKE', maxInlineWaitMs,
  budgets: { channel: channelMs ? [{ limit: 1, perMs: channelMs }] : [] },
});
const card = { title: 'INC-1 · P2 · new · DB down', text: 'service: db', buttons: [{ actionId: 'incident.ack', label: 'Acknowledge', value: 'INC-1', style: 'primary' as const }] };

beforeAll(async () => { fake = await new FakeSlack().start(); });
afterAll(async () => { await fake.stop(); });
beforeEach(() => fake.reset());

describe('SlackChatPort', () => {
  it('posts Block Kit with a fallback text and returns the channel id and ts', async () => {
    fake.channelsByName.set('ops', 'C0OPS');
    const ref = await portWith().post({ platform: 'slack', channel: '#ops', name: '#ops' }, card);
    expect(ref).toEqual({ where: { platform: 'slack', channel: 'C0OPS', name: '#ops' }, messageId: expect.stringMatching(/^\d+\.\d+$/) });
    const [call] = fake.ok('chat.postMessage');
    expect(call!.args.text).toBe('INC-1 · P2 · new · DB down');
    expect(call!.args.blocks[0]).toMatchObject({ type: 'header' });
    expect(call!.token).toBe('xoxb-test');
  });

  it('turns HTTP 429 into RateLimitedError(Retry-After), once, without web-api retrying, and holds the method back in every channel meanwhile', async () => {
    const port = portWith(0, 100);
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 2 });
    const e = await port.post({ platform: 'slack', channel: 'C0RL' }, card).catch((x) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBe(2000);
    expect(fake.calls.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
    // Within the window the port does not even ask Slack: not in that channel, not in another (Slack limits the
    // method for the workspace), and not as a DM.
    for (const channel of ['C0RL', 'C0OTHER']) {
      const again = await port.post({ platform: 'slack', channel }, card).catch((x) => x);
      expect(again).toBeInstanceOf(RateLimitedError);
      expect((again as RateLimitedError).retryAfterMs).toBeGreaterThan(1500);
      expect((again as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(2000);
    }
    expect(await port.dm({ platform: 'slack', userId: 'U0BOB' }, card).catch((x) => x)).toBeInstanceOf(RateLimitedError);
    expect(fake.calls.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
    // Another method is not held back.
    await port.update({ where: { platform: 'slack', channel: 'C0OTHER' }, messageId: '1.1' }, card).catch(() => undefined);
    expect(fake.calls.filter((c) => c.method === 'chat.update')).toHaveLength(1);
  });

  it('throws PermanentChatError for errors retrying cannot fix, and a plain Error for the rest', async () => {
    const port = portWith();
    const notFound = await port.post({ platform: 'slack', channel: '#nowhere' }, card).catch((x) => x);
    expect(notFound).toBeInstanceOf(PermanentChatError);
    expect(notFound.message).toMatch(/channel_not_found: check the channel in the config/);
    fake.failNext('chat.update', { error: 'invalid_blocks' });
    await expect(port.update({ where: { platform: 'slack', channel: 'C0X' }, messageId: '1.1' }, card)).rejects.toBeInstanceOf(PermanentChatError);
    fake.failNext('chat.postMessage', { error: 'internal_error' });
    const transient = await port.post({ platform: 'slack', channel: 'C0X' }, card).catch((x) => x);
    expect(transient).not.toBeInstanceOf(PermanentChatError);
    expect(transient).not.toBeInstanceOf(RateLimitedError);
    expect(transient.message).toMatch(/internal_error/);
    fake.failNext('chat.postMessage', { status: 503 });
    const http = await port.post({ platform: 'slack', channel: 'C0X' }, card).catch((x) => x);
    expect(http.message).toMatch(/HTTP 503/);
    expect(fake.calls.filter((c) => c.status === 503)).toHaveLength(1);
  });

  it('names the fix for a private channel tread was not invited to', async () => {
    fake.failNext('chat.postMessage', { error: 'not_in_channel' });
    const e = await portWith().post({ platform: 'slack', channel: 'G0PRIVATE' }, card).catch((x) => x);
    expect(e).toBeInstanceOf(PermanentChatError);
    expect(e.message).toBe('slack chat.postMessage: not_in_channel: invite the tread app to the private channel (/invite @tread)');
  });

  it('keeps about one message per second per channel (here: one per 150 ms), other channels unaffected', async () => {
    const port = portWith(150);
    const started = Date.now();
    await Promise.all([
      ...[1, 2, 3].map(() => port.post({ platform: 'slack', channel: 'C0PACE' }, card)),
      (async () => { await new Promise((r) => setTimeout(r, 20)); await port.post({ platform: 'slack', channel: 'C0ELSE' }, card); })(),
    ]);
    const times = fake.ok('chat.postMessage').filter((c) => c.args.channel === 'C0PACE').map((c) => c.at - started);
    expect(times).toHaveLength(3);
    // Slots are reserved in order: the second post waits one interval, the third two.
    expect(times[1]!).toBeGreaterThanOrEqual(140);
    expect(times[2]!).toBeGreaterThanOrEqual(290);
    const other = fake.ok('chat.postMessage').find((c) => c.args.channel === 'C0ELSE')!;
    expect(other.at - started).toBeLessThan(times[2]!);
  });

  it('hands a long pacing wait back to the outbox as RateLimitedError', async () => {
    const port = portWith(1000, 100);
    await port.post({ platform: 'slack', channel: 'C0BUSY' }, card);
    const e = await port.post({ platform: 'slack', channel: 'C0BUSY' }, card).catch((x) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBeGreaterThan(800);
  });

  it('creates a channel with a clean name, adds a suffix when the name is taken, invites members but not itself', async () => {
    expect(channelName('INC-7 Payment API down!!')).toBe('inc-7-payment-api-down');
    expect(channelName(`inc-8-${'é'.repeat(10)}${'x'.repeat(100)}`)).toMatch(/^inc-8-e{10}x+$/);
    expect(channelName(`inc-8-${'x'.repeat(100)}`)).toHaveLength(80);
    fake.channelsByName.set('inc-7-payment-api-down', 'C0TAKEN');
    const port = portWith();
    const where = await port.createChannel('inc-7-Payment API down', [
      { platform: 'slack', userId: 'U0ALICE' }, { platform: 'slack', userId: 'U0TREADBOT' }, { platform: 'slack', userId: 'U0ALICE' }, { platform: 'teams', userId: 'x' },
    ]);
    expect(where).toEqual({ platform: 'slack', channel: expect.stringMatching(/^C0NEW/), name: '#inc-7-payment-api-down-2' });
    const invite = fake.ok('conversations.invite')[0]!;
    expect(invite.args).toMatchObject({ channel: where.channel, users: 'U0ALICE' });
    // A retry of the same channel (the card post failed) reuses it.
    expect(await port.createChannel('inc-7-Payment API down', [])).toEqual(where);
    expect(fake.calls.filter((c) => c.method === 'conversations.create')).toHaveLength(2);
  });

  it('messages a person at their user id (no conversations.open, a Tier 3 method) and remembers their DM channel; pins; opens forms as modals', async () => {
    const port = portWith();
    const a = await port.dm({ platform: 'slack', userId: 'U0BOB', name: 'Bob' }, { text: 'You are on call' });
    await port.dm({ platform: 'slack', userId: 'U0BOB' }, { text: 'Again' });
    expect(a.where.channel).toBe('D0BOB');
    expect(fake.ok('chat.postMessage').map((c) => c.args.channel)).toEqual(['U0BOB', 'D0BOB']);
    expect(fake.calls.filter((c) => c.method === 'conversations.open')).toHaveLength(0);
    // A workspace that does not take a user id as the channel: conversations.open once, then the DM channel.
    fake.failNext('chat.postMessage', { error: 'channel_not_found' });
    const c = await port.dm({ platform: 'slack', userId: 'U0CAROL' }, { text: 'You are on call' });
    expect(c.where.channel).toBe('D0CAROL');
    expect(fake.ok('conversations.open')).toHaveLength(1);
    await port.pin(a);
    fake.failNext('pins.add', { error: 'already_pinned' });
    await port.pin(a);
    expect(fake.pins).toContainEqual({ channel: 'D0BOB', timestamp: a.messageId });
    await port.openForm('trig.9', { title: 'Resolve INC-1', inputs: [{ id: 'notes', label: 'Notes', type: 'multiline', required: true }], submit: { actionId: 'incident.resolve.submit', label: 'Resolve', value: 'INC-1' } });
    const open = fake.ok('views.open')[0]!;
    expect(open.args.trigger_id).toBe('trig.9');
    expect(open.args.view).toMatchObject({ type: 'modal', callback_id: 'incident.resolve.submit', private_metadata: JSON.stringify({ v: 'INC-1' }) });
    fake.failNext('views.open', { error: 'expired_trigger_id' });
    await expect(port.openForm('old', { inputs: [], submit: { actionId: 'x', label: 'x' } })).rejects.toBeInstanceOf(PermanentChatError);
  });

  it('looks users up once (name and email) and survives an unknown user', async () => {
    fake.users.set('U0CAROL', { name: 'Carol', email: 'carol@example.com' });
    const port = portWith();
    expect(await port.userInfo('U0CAROL')).toEqual({ name: 'Carol', email: 'carol@example.com' });
    await port.userInfo('U0CAROL');
    expect(fake.ok('users.info')).toHaveLength(1);
    expect(await port.userInfo('U0NOBODY')).toBeUndefined();
  });
});
