/** tread's Slack HTTP receiver on a real server: whatever the Bolt app throws or rejects is answered, logged, and survived. */
import { Writable } from 'node:stream';
import type { App, ReceiverEvent } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boltLogger } from '../../../adapters/slack/index.js';
import { SlackHttpReceiver } from '../../../adapters/slack/slack.http.js';
import { SlackPayloadError } from '../../../adapters/slack/slack.inbound.js';
import { createLogger } from '../../../src/core/logger.js';
import { HttpServer } from '../../../src/http/server.js';
import { commandBody, signedHeaders } from './fake-slack.js';

const SECRET = 'receiver-test-secret-0123456789';

describe('SlackHttpReceiver', () => {
  const lines: string[] = [];
  const log = createLogger('info', { destination: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) });
  const receiver = new SlackHttpReceiver({ signingSecret: SECRET, log, logger: boltLogger(log) });
  let behaviour: (event: ReceiverEvent) => Promise<void> = async (event) => event.ack();
  receiver.init({ processEvent: (event: ReceiverEvent) => behaviour(event) } as unknown as App);
  const server = new HttpServer({ host: '127.0.0.1', port: 0, log });
  server.add(receiver.route());
  beforeAll(async () => { await server.listen(); });
  afterAll(async () => { await server.close(); });

  async function send(body: string) {
    const res = await fetch(`http://127.0.0.1:${server.port}/slack/events`, { method: 'POST', headers: signedHeaders(SECRET, body, 'form'), body });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  const body = commandBody({ command: '/incident', text: 'x', user_id: 'U1', channel_id: 'C1', trigger_id: 't1' });

  it('a Bolt app that throws is answered 500 with a reference that is in the log', async () => {
    behaviour = () => { throw new Error('listener threw synchronously'); };
    const res = await send(body);
    expect(res.status).toBe(500);
    const reference = /reference (\w+)/.exec(res.json.error.message)?.[1];
    expect(reference).toMatch(/^\w{8}$/);
    const line = lines.find((l) => l.includes(reference!));
    expect(line).toContain('listener threw synchronously');
  });

  it('a Bolt app that rejects is answered 500 too, and a rejection after the ack is logged without a second answer', async () => {
    behaviour = async () => { await new Promise((r) => setTimeout(r, 5)); throw new Error('listener rejected'); };
    const res = await send(body);
    expect(res.status).toBe(500);
    expect(lines.some((l) => l.includes('listener rejected') && l.includes(/reference (\w+)/.exec(res.json.error.message)![1]!))).toBe(true);

    behaviour = async (event) => { await event.ack(); throw new Error('failed after the ack'); };
    const acked = await send(body);
    expect(acked.status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    expect(lines.some((l) => l.includes('failed after the ack'))).toBe(true);
  });

  it('a malformed payload found by the app is 400 with its issues; the server still answers afterwards', async () => {
    behaviour = async () => { throw new SlackPayloadError('malformed slash command: user_id: required', [{ path: 'user_id', message: 'required' }]); };
    const res = await send(body);
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({ code: 'slack.bad_payload', message: 'malformed slash command: user_id: required', issues: [{ path: 'user_id', message: 'required' }] });
    behaviour = async (event) => event.ack();
    expect((await send(body)).status).toBe(200);
    // The unacknowledged-request timer (3 s in Bolt) was cleared: nothing writes to the answered responses later.
  });
});
