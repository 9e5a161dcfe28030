/**
 * Bodies too large or too deep get their 4xx answer on every POST endpoint, read by real clients (fetch streaming a
 * chunked body, curl, node:http) while they are still sending, never a reset connection or a hang; tread keeps serving.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter } from '../../adapters/slack/index.js';
import { createTeamsAdapter } from '../../adapters/teams/index.js';
import { openDatabase, type Database } from '../../db/client.js';
import { loadEnv } from '../../src/core/config/env.js';
import { MAX_BODY_BYTES, MAX_DISCARD_BYTES } from '../../src/http/body.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { signedHeaders } from '../adapters/slack/fake-slack.js';
import { API_TOKEN, GENERIC_TOKEN, PROM_TOKEN, eventConfig } from '../workflows/event/event.fakes.js';

const SECRET = 'bodies-test-signing-secret-0123';
const MB = 1024 * 1024;

/** Every POST endpoint with the headers that get a request past authentication. */
function endpoints(): { path: string; headers: (body: string) => Record<string, string> }[] {
  const bearer = (token: string) => () => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });
  return [
    { path: '/hooks/generic', headers: bearer(GENERIC_TOKEN) },
    { path: '/hooks/alertmanager', headers: bearer(PROM_TOKEN) },
    { path: '/v2/enqueue', headers: () => ({ 'content-type': 'application/json' }) },
    { path: '/api/v1/incidents', headers: bearer(API_TOKEN) },
    { path: '/api/messages', headers: () => ({ 'content-type': 'application/json' }) },
    { path: '/slack/events', headers: (body) => signedHeaders(SECRET, body, 'json') },
  ];
}

/** The sentence of an error answer: tread's `{error: {message}}`, or PagerDuty's `{status, message, errors}` on /v2/enqueue. */
function problem(json: any): string | undefined {
  return json?.error?.message ?? (json?.errors ? `${json.message}: ${json.errors.join('; ')}` : undefined);
}

/** POSTs `total` bytes as a chunked stream (no content-length) with fetch, in 64 KB pieces with a pause between them. */
async function fetchStreaming(url: string, total: number, headers: Record<string, string>): Promise<{ status: number; json: any } | { error: string }> {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= total) return controller.close();
      sent += 64 * 1024;
      await new Promise((r) => setTimeout(r, 1));
      controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
    },
  });
  try {
    const res = await fetch(url, { method: 'POST', body, headers, duplex: 'half', signal: AbortSignal.timeout(15_000) } as RequestInit);
    return { status: res.status, json: await res.json() };
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? (e as Error).message };
  }
}

/** curl --data-binary of a file: answer status and body. */
function curl(url: string, file: string, headers: Record<string, string>): Promise<{ status: number; body: string; stderr: string }> {
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', '--max-time', '15', '--data-binary', `@${file}`, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  return new Promise((resolve) => execFile('curl', args, { maxBuffer: 4 * MB }, (_err, stdout, stderr) => {
    const at = stdout.lastIndexOf('\n');
    resolve({ status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at), stderr });
  }));
}

/** node:http, honouring backpressure, on one keep-alive socket; resolves with the answer or the socket error. */
function nodePost(port: number, path: string, total: number, agent: import('node:http').Agent, headers: Record<string, string> = {}): Promise<{ status?: number; error?: string; sent: number }> {
  return new Promise((resolve) => {
    let sent = 0;
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, sent }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message, sent }));
    const piece = Buffer.alloc(64 * 1024, 0x20);
    const write = () => {
      while (sent < total) {
        sent += piece.length;
        if (!req.write(piece)) { req.once('drain', write); return; }
      }
      req.end();
    };
    write();
  });
}

describe('bodies at the limits, on every POST endpoint', () => {
  let database: Database;
  let tread: Tread;
  const dir = mkdtempSync(join(tmpdir(), 'tread-bodies-'));
  const url = (path: string) => `http://127.0.0.1:${tread.port}${path}`;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    const env = loadEnv({ HOST: '127.0.0.1', SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: 'http://127.0.0.1:9' });
    tread = await startTread({
      database, config: eventConfig(), tickSeconds: 0, apiToken: API_TOKEN, http: { host: '127.0.0.1', port: 0 },
      platforms: async (app, router) => [
        await createSlackAdapter({ env, app, router, bot: { botId: 'B0BOT', botUserId: 'U0BOT' } }),
        await createTeamsAdapter({ env, app, router }),
      ],
    });
  });
  afterAll(async () => {
    await tread?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a 2 MB chunked body streamed by fetch gets 413 with a JSON error on each endpoint', async () => {
    for (const e of endpoints()) {
      const r = await fetchStreaming(url(e.path), 2 * MB, e.headers(''));
      expect(r, e.path).toMatchObject({ status: 413 });
      expect(problem((r as { json: unknown }).json), e.path).toMatch(/too large|larger than/);
    }
  });

  it('curl sending 8 MB with content-length gets 413 with the JSON error', async () => {
    const file = join(dir, 'big.json');
    writeFileSync(file, Buffer.alloc(8 * MB, 0x20));
    for (const e of endpoints()) {
      const r = await curl(url(e.path), file, e.headers(''));
      expect(r.stderr, e.path).toBe('');
      expect(r.status, e.path).toBe(413);
      expect(problem(JSON.parse(r.body)), e.path).toMatch(/too large|larger than/);
    }
  });

  it('after a 413 the keep-alive connection carries the next request; past the discard bound it is closed', async () => {
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const auth = { authorization: `Bearer ${GENERIC_TOKEN}` };
      const first = await nodePost(tread.port, '/hooks/generic', 2 * MB, agent, auth);
      expect(first).toMatchObject({ status: 413 });
      expect(first.error).toBeUndefined();
      const second = await nodePost(tread.port, '/hooks/generic', 64 * 1024, agent);
      expect(second.status).toBe(401); // the same socket, past the body: no token this time
      const endless = await nodePost(tread.port, '/hooks/generic', MAX_BODY_BYTES + MAX_DISCARD_BYTES + 8 * MB, agent, auth);
      // The 413 was sent as soon as the body was too large; the client, still sending, may see the close instead.
      if (endless.error) expect(['ECONNRESET', 'EPIPE']).toContain(endless.error);
      else expect(endless.status).toBe(413);
    } finally {
      agent.destroy();
    }
  });

  it('10 000-deep JSON gets a 4xx naming the problem on each endpoint; nested inside a valid envelope it is never a 5xx', async () => {
    const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const deepArray = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const inField = `{"type":"message","summary":${deepArray},"text":${deepObject}}`;
    for (const e of endpoints()) {
      for (const body of [deepObject, deepArray, inField]) {
        const what = `${e.path} ${body.slice(0, 30)}`;
        const res = await fetch(url(e.path), { method: 'POST', body, headers: e.headers(body), signal: AbortSignal.timeout(15_000) });
        const text = await res.text();
        expect(res.status, `${what}: ${text.slice(0, 200)}`).toBeLessThan(500);
        if (body === inField && e.path === '/api/messages') continue; // a message activity with extra fields: Bot Framework ignores them
        expect(res.status, `${what}: ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(problem(JSON.parse(text)), `${what}: ${text.slice(0, 200)}`).toBeTruthy();
      }
    }
  });

  it('null, [], "x", a number and an empty body get 400 with a sentence on every endpoint', async () => {
    for (const e of endpoints()) {
      for (const body of ['null', '[]', '"x"', '1', '']) {
        const res = await fetch(url(e.path), { method: 'POST', body, headers: e.headers(body) });
        const text = await res.text();
        expect(res.status, `${e.path} ${JSON.stringify(body)}: ${text.slice(0, 200)}`).toBe(400);
        expect(problem(JSON.parse(text)), `${e.path} ${JSON.stringify(body)}`).toBeTruthy();
      }
    }
  });

  it('still serves afterwards', async () => {
    expect((await fetch(url('/healthz'))).status).toBe(200);
    const res = await fetch(url('/hooks/generic'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GENERIC_TOKEN}` }, body: JSON.stringify({ summary: 'after the big bodies', severity: 'info', source: 'test' }) });
    expect(res.status).toBe(202);
  });
});
