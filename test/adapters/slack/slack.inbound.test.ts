/** Slack payloads -> core Inbound: text normalisation, classification, malformed payloads. */
import { describe, expect, it } from 'vitest';
import {
  blockActionInbound, classifyBody, commandInbound, formValuesOf, messageInbound, normaliseText, SlackPayloadError, viewSubmissionInbound,
} from '../../../adapters/slack/slack.inbound.js';

const BOT = 'U0TREADBOT';

describe('normaliseText', () => {
  it('strips the bot mention, turns user mentions into @<id> tokens and unescapes entities', () => {
    expect(normaliseText(`<@${BOT}> incident assign INC-3 <@U0BOB|bob>`, BOT)).toBe('incident assign INC-3 @U0BOB');
    expect(normaliseText('<@U0BOB>', BOT)).toBe('@U0BOB');
    expect(normaliseText('latency &gt; 5s &amp; errors &lt; 1%')).toBe('latency > 5s & errors < 1%');
    expect(normaliseText('&amp;lt; stays literal')).toBe('&lt; stays literal');
  });

  it('unwraps links, emails, channels and specials', () => {
    expect(normaliseText('see <https://status.example.com|status page>')).toBe('see https://status.example.com');
    expect(normaliseText('ping <mailto:alice@example.com|alice@example.com>')).toBe('ping alice@example.com');
    expect(normaliseText('in <#C0OPS|ops> <!here>')).toBe('in #ops @here');
    expect(normaliseText('team <!subteam^S0DBA|@dba>')).toBe('team @dba');
  });
});

describe('classifyBody', () => {
  const command = { command: '/incident', text: 'DB down', user_id: 'U0ALICE', user_name: 'alice', channel_id: 'C0OPS', channel_name: 'ops', team_id: 'T1', trigger_id: 'trig.1', response_url: 'https://hooks.slack.com/commands/1' };

  it('reads a slash command into a core command', () => {
    const c = classifyBody(command);
    expect(c.kind).toBe('command');
    if (c.kind !== 'command') return;
    expect(commandInbound(c.body, { botUserId: BOT })).toEqual({
      kind: 'command', name: 'incident', text: 'DB down',
      actor: { platform: 'slack', id: 'U0ALICE', displayName: 'alice' },
      where: { platform: 'slack', channel: 'C0OPS', tenant: 'T1', name: '#ops' },
      deliveryId: 'trig.1', trigger: 'trig.1',
    });
  });

  it('refuses malformed payloads with the fields named', () => {
    const missing = () => classifyBody({ ...command, user_id: undefined });
    expect(missing).toThrow(SlackPayloadError);
    try { missing(); } catch (e) { expect((e as SlackPayloadError).issues[0]!.path).toBe('user_id'); }
    expect(() => classifyBody({ ...command, command: 'incident' })).toThrow(/command/);
    expect(() => classifyBody({ type: 'block_actions', user: { id: 'U1' }, trigger_id: 't', actions: [] })).toThrow(/at least one action/);
    expect(() => classifyBody({ type: 'view_submission', user: { id: 'U1' }, view: { id: 'V1' } })).toThrow(/view/);
    expect(() => classifyBody({ type: 'nonsense' })).toThrow(/unsupported payload type "nonsense"/);
    expect(() => classifyBody({ hello: 'world' })).toThrow(SlackPayloadError);
    expect(() => classifyBody('text')).toThrow(SlackPayloadError);
  });

  it('acknowledges what tread does not use: view_closed, shortcuts, other events, bot messages', () => {
    expect(classifyBody({ type: 'view_closed' }).kind).toBe('ignore');
    expect(classifyBody({ type: 'shortcut' }).kind).toBe('ignore');
    expect(classifyBody({ type: 'event_callback', event_id: 'Ev1', event: { type: 'reaction_added' } }).kind).toBe('ignore');
    expect(classifyBody({ type: 'event_callback', event_id: 'Ev1', event: { type: 'message', channel_type: 'im', bot_id: 'B1', text: 'hi', user: 'U1', channel: 'D1', ts: '1.1' } }).kind).toBe('ignore');
    expect(classifyBody({ type: 'event_callback', event_id: 'Ev1', event: { type: 'message', channel_type: 'channel', text: 'hi', user: 'U1', channel: 'C1', ts: '1.1' } }).kind).toBe('ignore');
  });

  it('reads a mention as a command whose first word is the command name', () => {
    const c = classifyBody({ type: 'event_callback', event_id: 'Ev9', team_id: 'T1', event: { type: 'app_mention', text: `<@${BOT}> incident Disk full on <@U0BOB>`, user: 'U0ALICE', channel: 'C0OPS', ts: '1.2' } });
    expect(c.kind).toBe('message');
    if (c.kind !== 'message') return;
    expect(messageInbound(c, { botUserId: BOT })).toMatchObject({ kind: 'command', name: 'incident', text: 'Disk full on @U0BOB', deliveryId: 'Ev9', where: { channel: 'C0OPS', tenant: 'T1' } });
    const bare = classifyBody({ type: 'event_callback', event_id: 'Ev10', event: { type: 'app_mention', text: `<@${BOT}>`, user: 'U0ALICE', channel: 'C0OPS', ts: '1.3' } });
    if (bare.kind === 'message') expect(messageInbound(bare, { botUserId: BOT })).toMatchObject({ name: 'tread', text: 'help' });
  });

  it('reads a button press: the presser is the actor, where is the channel and message ts', () => {
    const c = classifyBody({
      type: 'block_actions', user: { id: 'U0BOB', username: 'bob', name: 'bob' }, team: { id: 'T1' }, trigger_id: 'trig.2',
      channel: { id: 'C0OPS', name: 'ops' }, message: { ts: '1700000000.000001' }, container: { type: 'message', message_ts: '1700000000.000001' },
      response_url: 'https://hooks.slack.com/actions/1', actions: [{ type: 'button', action_id: 'incident.ack#2', block_id: 'b', value: 'INC-3' }],
    });
    if (c.kind !== 'block_actions') throw new Error('not block_actions');
    expect(blockActionInbound(c.body)).toEqual({
      kind: 'action', actionId: 'incident.ack', value: 'INC-3',
      actor: { platform: 'slack', id: 'U0BOB', displayName: 'bob' },
      where: { platform: 'slack', channel: 'C0OPS', tenant: 'T1', messageId: '1700000000.000001', name: '#ops' },
      deliveryId: 'trig.2', trigger: 'trig.2',
    });
  });

  it('reads a view submission: callback_id is the action, private_metadata carries value and channel, values by block id', () => {
    const c = classifyBody({
      type: 'view_submission', user: { id: 'U0ALICE', name: 'alice' }, team: { id: 'T1' }, trigger_id: 'trig.3',
      view: {
        id: 'V1', callback_id: 'incident.resolve.submit', private_metadata: JSON.stringify({ v: 'INC-3', c: 'C0OPS' }),
        state: { values: {
          notes: { notes: { type: 'plain_text_input', value: 'restarted' } },
          code: { code: { type: 'static_select', selected_option: { value: 'fixed' } } },
          who: { who: { type: 'users_select', selected_user: 'U0BOB' } },
          when: { when: { type: 'datetimepicker', selected_date_time: 1700000000 } },
          empty: { empty: { type: 'plain_text_input', value: null } },
        } },
      },
    });
    if (c.kind !== 'view_submission') throw new Error('not view_submission');
    expect(formValuesOf(c.body)).toEqual({ notes: 'restarted', code: 'fixed', who: '@U0BOB', when: '2023-11-14T22:13:20.000Z' });
    expect(viewSubmissionInbound(c.body)).toMatchObject({ kind: 'action', actionId: 'incident.resolve.submit', value: 'INC-3', where: { channel: 'C0OPS' }, deliveryId: 'trig.3' });
  });
});
