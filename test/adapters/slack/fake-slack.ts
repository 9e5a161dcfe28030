/**
 * A local fake of Slack for tests and benchmarks: the Web API, response_url endpoints, and a Socket Mode WebSocket server.
 *
 * Strict (`new FakeSlack({ limits: true, faults })`), it answers like a real workspace under load: each Web API method
 * is limited per workspace as Slack documents its tier (Tier 2: 20 a minute, Tier 3: 50, Tier 4: 100; chat.postMessage
 * about one message per second per channel with short bursts, and several hundred a minute per workspace); a call over
 * the limit gets HTTP 429 with Retry-After, which blocks that method for the workspace until it ends. Every call that
 * arrives inside a Retry-After window the fake announced is counted as a violation. Faults can be injected at random
 * (seeded): 429s, 5xx, and calls that never get an answer; none of them stores anything.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';

/**
 * Budgets for tests that drive tread through Slack without a cron (tickSeconds 0): channels take a post every 20 ms and
 * chat.update is unbounded, so no outbox row is sent back to wait for a wake-up that such a test never has.
 */
export const SLACK_TEST_BUDGETS = { channel: [{ limit: 1, perMs: 20 }], 'chat.update': [] };

/** One recorded Web API call. */
export interface SlackCall {
  method: string;
  args: Record<string, any>;
  token?: string;
  /** HTTP status the fake answered with. */
  status: number;
  at: number;
  /** What the fake answered (`ts` and `channel` of a posted message). */
  result?: Record<string, any>;
}

/** A stored message, as chat.postMessage / chat.update left it. */
export interface StoredMessage {
  channel: string;
  ts: string;
  text?: string;
  blocks?: any[];
  thread_ts?: string;
}

/** A failure to inject into the next call of a method. */
export type Failure = { status: 429; retryAfter: number } | { error: string } | { status: number } | { hang: true };

/**
 * A documented limit: at most `perMinute` calls in any minute (Slack's tiers: "N per minute", bursts welcome), or, with
 * `burst`, evenly spaced at that rate with bursts of `burst` (chat.postMessage in one channel: one a second, short bursts).
 */
export interface SlackLimit {
  perMinute: number;
  burst?: number;
}

/**
 * The limits the strict fake enforces, per workspace, as Slack documents them. chat.postMessage has two: the
 * workspace's ("several hundred messages a minute") and `channel`'s, one a second per channel with short bursts.
 */
export const DOCUMENTED_LIMITS: Record<string, SlackLimit> = {
  'chat.postMessage': { perMinute: 600 },
  channel: { perMinute: 60, burst: 4 },
  'chat.update': { perMinute: 50 }, // Tier 3
  'chat.postEphemeral': { perMinute: 100 }, // Tier 4
  'conversations.open': { perMinute: 50 }, // Tier 3
  'conversations.create': { perMinute: 20 }, // Tier 2
  'conversations.invite': { perMinute: 50 }, // Tier 3
  'pins.add': { perMinute: 20 }, // Tier 2
  'views.open': { perMinute: 100 }, // Tier 4
  'users.info': { perMinute: 100 }, // Tier 4
};

/** Random faults of a strict fake: fractions of the calls of `methods` (default chat.postMessage and chat.update). */
export interface SlackFaults {
  /** Answered 429 with Retry-After: `retryAfter` seconds. */
  rateLimited?: number;
  retryAfter?: number;
  /** Answered HTTP 500 or 503. */
  serverError?: number;
  /** Never answered (the client's timeout ends them). */
  hang?: number;
  methods?: string[];
  /** Seed of the fault generator (runs are repeatable). */
  seed?: number;
}

/** Options of the fake. */
export interface FakeSlackOptions {
  /** Enforce Slack's documented limits (true: DOCUMENTED_LIMITS; or your own by method and `channel`). */
  limits?: boolean | Record<string, SlackLimit>;
  faults?: SlackFaults;
}

/** What a strict fake counted. */
export interface StrictStats {
  /** 429s answered, by method. */
  rateLimited: Record<string, number>;
  /** Calls that arrived inside a Retry-After window this fake announced for their method, by method. */
  violations: Record<string, number>;
  /** Calls answered with a 5xx, and calls never answered. */
  serverErrors: number;
  hung: number;
}

/** A small seeded generator (mulberry32), so fault runs are repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The fake Slack. */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly responses: { id: string; body: any }[] = [];
  readonly messages = new Map<string, StoredMessage>();
  readonly socketMessages: any[] = [];
  readonly pins: { channel: string; timestamp: string }[] = [];
  readonly users = new Map<string, { name: string; email?: string }>();
  readonly channelsByName = new Map<string, string>([['general', 'C0GENERAL']]);
  private readonly failures = new Map<string, Failure[]>();
  private server: Server | undefined;
  private wss: WebSocket.Server | undefined;
  private sockets = new Set<WebSocket>();
  private tsCounter = 0;
  private channelCounter = 0;
  port = 0;
  /** What the strict fake counted. */
  readonly strict: StrictStats = { rateLimited: {}, violations: {}, serverErrors: 0, hung: 0 };
  private readonly limits: Record<string, SlackLimit> | undefined;
  /** GCRA theoretical arrival times, and the calls of the last minute, by limit key; Retry-After windows by method. */
  private readonly tat = new Map<string, number>();
  private readonly window = new Map<string, number[]>();
  private readonly blockedUntil = new Map<string, number>();
  private readonly random: () => number;
  private readonly hanging = new Set<ServerResponse>();

  constructor(private readonly options: FakeSlackOptions = {}) {
    this.limits = options.limits === true ? DOCUMENTED_LIMITS : options.limits || undefined;
    this.random = seeded(options.faults?.seed ?? 14);
  }

  /** Every request (Web API and response_url) is accepted and never answered, while set. */
  hangAll = false;

  /** Starts the fake on 127.0.0.1 (random port, or `port` to come back where it was after stop()). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => { void this.handle(req, res); });
    this.wss = new WebSocket.Server({ server: this.server, path: '/socket' });
    this.wss.on('connection', (ws) => {
      this.sockets.add(ws);
      ws.on('message', (data) => { this.socketMessages.push(JSON.parse(String(data))); });
      ws.on('close', () => this.sockets.delete(ws));
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A0TREAD' } }));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The Web API base URL (SLACK_API_URL). */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /** A response_url on the fake. */
  responseUrl(id: string): string {
    return `http://127.0.0.1:${this.port}/response/${id}`;
  }

  /** Stops the fake. */
  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }

  /** Makes the next call(s) of `method` fail. */
  failNext(method: string, ...failures: Failure[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...failures]);
  }

  /** Forgets recorded calls and responses. */
  reset(): void {
    this.calls.length = 0;
    this.responses.length = 0;
    this.socketMessages.length = 0;
    this.failures.clear();
    Object.assign(this.strict, { rateLimited: {}, violations: {}, serverErrors: 0, hung: 0 });
    this.tat.clear();
    this.window.clear();
    this.blockedUntil.clear();
  }

  /** Successful calls of a method. */
  ok(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method && c.status === 200 && c.result?.ok === true);
  }

  /** Number of open Socket Mode connections. */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Sends a Socket Mode envelope to every connected client. */
  sendEnvelope(envelope: Record<string, unknown>): void {
    for (const ws of this.sockets) ws.send(JSON.stringify(envelope));
  }

  /** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
  async waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    if (this.hangAll) {
      if (url.pathname.startsWith('/api/')) this.calls.push({ method: url.pathname.slice('/api/'.length), args: parseArgs(raw, req.headers['content-type'] ?? ''), status: 0, at: Date.now() });
      this.strict.hung++;
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (url.pathname.startsWith('/response/')) {
      this.responses.push({ id: url.pathname.slice('/response/'.length), body: raw ? JSON.parse(raw) : {} });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (!url.pathname.startsWith('/api/')) {
      res.writeHead(404);
      res.end();
      return;
    }
    const method = url.pathname.slice('/api/'.length);
    const args = parseArgs(raw, req.headers['content-type'] ?? '');
    const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '') || (args.token as string | undefined);
    const call: SlackCall = { method, args, token, status: 200, at: Date.now() };
    this.calls.push(call);
    const failure = this.failures.get(method)?.shift() ?? this.strictFailure(method, args, call.at);
    if (failure) {
      if ('hang' in failure) {
        // Never answered, nothing stored: the client's timeout ends it.
        call.status = 0;
        this.strict.hung++;
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      if ('retryAfter' in failure) {
        const { retryAfter } = failure as { retryAfter: number };
        call.status = 429;
        this.rateLimit(method, retryAfter);
        res.writeHead(429, { 'retry-after': String(retryAfter), 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: 'ratelimited' }));
        return;
      }
      if ('error' in failure) return json(res, { ok: false, error: failure.error });
      call.status = failure.status;
      if (failure.status >= 500) this.strict.serverErrors++;
      res.writeHead(failure.status);
      res.end('upstream trouble');
      return;
    }
    call.result = this.answer(method, args, token);
    json(res, call.result);
  }

  /** A 429 for `method`: the method is blocked for the workspace until Retry-After has passed. */
  private rateLimit(method: string, retryAfter: number): void {
    this.strict.rateLimited[method] = (this.strict.rateLimited[method] ?? 0) + 1;
    this.blockedUntil.set(method, Math.max(this.blockedUntil.get(method) ?? 0, Date.now() + retryAfter * 1000));
  }

  /** What a strict fake does with a call: answer it, or a 429 / 5xx / no answer. */
  private strictFailure(method: string, args: Record<string, any>, at: number): Failure | undefined {
    if (!this.limits && !this.options.faults) return undefined;
    const blocked = (this.blockedUntil.get(method) ?? 0) - at;
    if (blocked > 0) {
      // Inside a Retry-After window this fake announced: counted, and answered 429 again, as Slack does.
      this.strict.violations[method] = (this.strict.violations[method] ?? 0) + 1;
      return { status: 429, retryAfter: Math.max(1, Math.ceil(blocked / 1000)) };
    }
    const faults = this.options.faults;
    if (faults && (faults.methods ?? ['chat.postMessage', 'chat.update']).includes(method)) {
      const r = this.random();
      const limited = faults.rateLimited ?? 0;
      const errors = faults.serverError ?? 0;
      if (r < limited) return { status: 429, retryAfter: faults.retryAfter ?? 2 };
      if (r < limited + errors) return { status: this.random() < 0.5 ? 500 : 503 };
      if (r < limited + errors + (faults.hang ?? 0)) return { hang: true };
    }
    if (!this.limits) return undefined;
    const keys: [string, SlackLimit | undefined][] = [[method, this.limits[method] ?? { perMinute: 20 }]];
    if (method === 'chat.postMessage') keys.push([`channel:${args.channel}`, this.limits.channel]);
    let wait = 0;
    for (const [key, limit] of keys) {
      if (!limit) continue;
      if (limit.burst === undefined) {
        const recent = (this.window.get(key) ?? []).filter((t) => t > at - 60_000);
        this.window.set(key, recent);
        if (recent.length >= limit.perMinute) wait = Math.max(wait, recent[recent.length - limit.perMinute]! + 60_000 - at);
        continue;
      }
      const interval = 60_000 / limit.perMinute;
      const tat = Math.max(this.tat.get(key) ?? 0, at);
      wait = Math.max(wait, tat - (limit.burst - 1) * interval - at);
    }
    if (wait > 0) return { status: 429, retryAfter: Math.max(1, Math.ceil(wait / 1000)) };
    for (const [key, limit] of keys) {
      if (!limit) continue;
      if (limit.burst === undefined) this.window.get(key)!.push(at);
      else this.tat.set(key, Math.max(this.tat.get(key) ?? 0, at) + 60_000 / limit.perMinute);
    }
    return undefined;
  }

  private nextTs(): string {
    this.tsCounter += 1;
    return `1700000000.${String(this.tsCounter).padStart(6, '0')}`;
  }

  private channelId(channel: string): string | undefined {
    if (/^[CDGU][A-Z0-9]+$/.test(channel)) return channel.startsWith('U') ? `D${channel.slice(1)}` : channel;
    return this.channelsByName.get(channel.replace(/^#/, ''));
  }

  private answer(method: string, a: Record<string, any>, token?: string): Record<string, unknown> {
    if (method === 'apps.connections.open') {
      if (!token?.startsWith('xapp-')) return { ok: false, error: 'not_allowed_token_type' };
      return { ok: true, url: `ws://127.0.0.1:${this.port}/socket` };
    }
    if (!token?.startsWith('xoxb-')) return { ok: false, error: 'not_authed' };
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.com/', team: 'Fake', user: 'tread', team_id: 'T0FAKE', user_id: 'U0TREADBOT', bot_id: 'B0TREADBOT' };
      case 'chat.postMessage': {
        const channel = this.channelId(String(a.channel ?? ''));
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (!a.text && !a.blocks) return { ok: false, error: 'no_text' };
        if (String(a.text ?? '').length > 40_000) return { ok: false, error: 'msg_too_long' };
        const blockError = checkBlocks(a.blocks);
        if (blockError) return { ok: false, error: 'invalid_blocks', response_metadata: { messages: [blockError] } };
        const ts = this.nextTs();
        const msg: StoredMessage = { channel, ts, text: a.text, blocks: a.blocks, ...(a.thread_ts ? { thread_ts: a.thread_ts } : {}) };
        this.messages.set(`${channel}/${ts}`, msg);
        return { ok: true, channel, ts, message: { ...msg, type: 'message', bot_id: 'B0TREADBOT' } };
      }
      case 'chat.update': {
        const key = `${a.channel}/${a.ts}`;
        const msg = this.messages.get(key);
        if (!msg) return { ok: false, error: 'message_not_found' };
        if (String(a.text ?? '').length > 40_000) return { ok: false, error: 'msg_too_long' };
        const blockError = checkBlocks(a.blocks);
        if (blockError) return { ok: false, error: 'invalid_blocks', response_metadata: { messages: [blockError] } };
        Object.assign(msg, { text: a.text, blocks: a.blocks });
        return { ok: true, channel: a.channel, ts: a.ts, text: a.text };
      }
      case 'chat.postEphemeral':
        if (!this.channelId(String(a.channel ?? ''))) return { ok: false, error: 'channel_not_found' };
        return { ok: true, message_ts: this.nextTs() };
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(a.users).replace(/^U/, '')}` } };
      case 'conversations.create': {
        const name = String(a.name ?? '');
        if (!/^[a-z0-9_-]{1,80}$/.test(name)) return { ok: false, error: 'invalid_name_specials' };
        if (this.channelsByName.has(name)) return { ok: false, error: 'name_taken' };
        this.channelCounter += 1;
        const id = `C0NEW${this.channelCounter}`;
        this.channelsByName.set(name, id);
        return { ok: true, channel: { id, name } };
      }
      case 'conversations.invite':
      case 'conversations.join':
        return { ok: true, channel: { id: a.channel } };
      case 'pins.add':
        this.pins.push({ channel: a.channel, timestamp: a.timestamp });
        return { ok: true };
      case 'views.open':
      case 'views.update':
      case 'views.push':
        if (!a.trigger_id && method !== 'views.update') return { ok: false, error: 'invalid_arguments' };
        if (a.view?.title?.text?.length > 24) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] must be less than 25 characters [json-pointer:/view/title/text]'] } };
        return { ok: true, view: { id: 'V0FAKE', ...a.view } };
      case 'users.info': {
        const u = this.users.get(String(a.user));
        if (!u) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: { id: a.user, name: u.name.toLowerCase(), real_name: u.name, profile: { display_name: u.name, real_name: u.name, email: u.email } } };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

function json(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(text);
}

/** Web API bodies are form-encoded with JSON-encoded objects (blocks, view); JSON bodies are accepted too. */
function parseArgs(raw: string, contentType: string): Record<string, any> {
  if (contentType.includes('application/json')) return raw ? JSON.parse(raw) : {};
  const out: Record<string, any> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    out[k] = /^[[{]/.test(v) ? safeJson(v) : v;
  }
  return out;
}

function safeJson(v: string): unknown {
  try { return JSON.parse(v); } catch { return v; }
}

/** The Block Kit limits Slack checks, so a renderer bug shows up as invalid_blocks like in Slack. */
export function checkBlocks(blocks: unknown): string | undefined {
  if (blocks === undefined) return undefined;
  if (!Array.isArray(blocks)) return 'blocks must be an array';
  if (blocks.length > 50) return `no more than 50 items allowed [json-pointer:/blocks]`;
  for (const [i, b] of blocks.entries()) {
    const block = b as any;
    if (block.type === 'header' && block.text?.text?.length > 150) return `header text too long [json-pointer:/blocks/${i}/text]`;
    if (block.type === 'section') {
      if (block.text && block.text.text.length > 3000) return `section text too long [json-pointer:/blocks/${i}/text]`;
      if (block.fields && block.fields.length > 10) return `too many fields [json-pointer:/blocks/${i}/fields]`;
      if (block.fields?.some((f: any) => f.text.length > 2000)) return `field too long [json-pointer:/blocks/${i}/fields]`;
    }
    if (block.type === 'actions') {
      if (block.elements.length > 25) return `too many elements [json-pointer:/blocks/${i}/elements]`;
      const ids = new Set<string>();
      for (const el of block.elements) {
        if (el.text?.text?.length > 75) return `button text too long [json-pointer:/blocks/${i}/elements]`;
        if (ids.has(el.action_id)) return `duplicate action_id [json-pointer:/blocks/${i}/elements]`;
        ids.add(el.action_id);
      }
    }
  }
  return undefined;
}

/** Signs a body like Slack does: `v0=` + HMAC-SHA256 of `v0:<ts>:<body>`. */
export function slackSignature(secret: string, body: string, timestamp: number): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** Headers of a signed Slack request. */
export function signedHeaders(secret: string, body: string, contentType: 'form' | 'json', timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'content-type': contentType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': slackSignature(secret, body, timestamp),
  };
}

/** A slash command body (form-encoded). */
export function commandBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** An interaction body (`payload=<json>`). */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

let pressSeq = 0;

/**
 * A block_actions interaction for a button of a message (posted, updated, or an ephemeral response), as Slack sends it
 * when the button is pressed; `value` picks among buttons that share an action id. Returns its trigger id and body.
 */
export function buttonPress(fake: FakeSlack, message: { channel: string; ts?: string; blocks: any[]; text?: string; ephemeral?: boolean }, actionId: string, user: { id: string; name: string }, value?: string): { trigger: string; body: string } {
  const trigger = `press.${Date.now()}.${++pressSeq}`;
  const matches = (e: any) => e.action_id === actionId && (value === undefined || e.value === value);
  const block = message.blocks.find((b: any) => b.type === 'actions' && b.elements.some(matches));
  if (!block) throw new Error(`no button ${actionId} on ${JSON.stringify(message.blocks).slice(0, 400)}`);
  const element = block.elements.find(matches);
  return {
    trigger,
    body: interactionBody({
      type: 'block_actions', user: { id: user.id, username: user.name, name: user.name, team_id: 'T0FAKE' }, api_app_id: 'A0TREAD', token: 'legacy',
      container: message.ephemeral ? { type: 'message', message_ts: '1700000000.999999', channel_id: message.channel, is_ephemeral: true } : { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
      trigger_id: trigger, team: { id: 'T0FAKE', domain: 'fake' }, channel: { id: message.channel, name: 'x' },
      ...(message.ephemeral ? {} : { message: { type: 'message', ts: message.ts, text: message.text, blocks: message.blocks, bot_id: 'B0TREADBOT' } }),
      response_url: fake.responseUrl(trigger),
      actions: [{ action_id: element.action_id, block_id: block.block_id, text: element.text, value: element.value, type: 'button', action_ts: '1700000001.000' }],
    }),
  };
}
