/**
 * A local fake of the Bot Framework connector (the service Teams activities' serviceUrl points at). With `authorize`
 * it refuses requests without a valid bot token with 401, as the real service does; `hang` makes it accept requests
 * and never answer; `stop()` then `start(samePort)` makes it unreachable for a while.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the connector received. */
export interface ConnectorCall {
  method: string;
  path: string;
  /** The conversation id, URL-decoded (`19:x@thread.tacv2;messageid=1`). */
  conversationId?: string;
  /** POST …/activities/{replyToId} */
  replyToId?: string;
  /** PUT …/activities/{activityId} */
  activityId?: string;
  body: any;
  /** The id the fake answered with. */
  answeredId?: string;
  /** The Authorization header it came with. */
  authorization?: string;
}

/** Options of the fake connector. */
export interface FakeConnectorOptions {
  /** Why a request's Authorization header is not acceptable (it is answered 401), or undefined when it is. */
  authorize?: (authorization: string | undefined) => string | undefined;
}

/** A programmed failure for the next matching request. */
interface Failure {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The fake connector: records calls, answers `{id}`. */
export class FakeConnector {
  readonly calls: ConnectorCall[] = [];
  /** Members returned by GET /v3/conversations/{id}/members/{userId}. */
  readonly members = new Map<string, { id: string; name: string; aadObjectId: string }>();
  /** Requests refused with 401 (not in `calls`), with the reason. */
  readonly refused: { path: string; reason: string }[] = [];
  /** Accept requests and never answer them. */
  hang = false;
  /** Requests received while hanging. */
  hung = 0;
  private readonly failures: Failure[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private next = 1;
  url = '';

  constructor(private readonly options: FakeConnectorOptions = {}) {}

  /** Starts listening on 127.0.0.1, on `port` (to come back where it was) or a free one. */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => { void this.handle(req, res); });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this;
  }

  /** The port it listens on. */
  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Stops the server (connections are refused until it starts again), dropping hung requests. */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The next request fails with this status (and headers, like Retry-After). */
  failNext(status: number, headers: Record<string, string> = {}, body: unknown = { error: { code: 'Throttled', message: 'slow down' } }): void {
    this.failures.push({ status, headers, body });
  }

  /** Calls that sent or updated activities (not lookups). */
  activityCalls(): ConnectorCall[] {
    return this.calls.filter((c) => c.path.includes('/activities'));
  }

  /** Forgets recorded calls. */
  clear(): void {
    this.calls.length = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: any;
    try { body = text ? JSON.parse(text) : undefined; } catch { body = text; }
    const path = (req.url ?? '/').split('?')[0]!;
    if (this.options.authorize) {
      const reason = this.options.authorize(req.headers.authorization);
      if (reason) {
        this.refused.push({ path, reason });
        res.writeHead(401, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ message: 'Authorization has been denied for this request.' }));
        return;
      }
    }
    if (this.hang) {
      this.hung++;
      return;
    }
    const call: ConnectorCall = { method: req.method ?? '', path, body, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
    const m = /^\/v3\/conversations(?:\/([^/]+)(?:\/(activities|members)(?:\/([^/]+))?)?)?$/.exec(path);
    if (m?.[1]) call.conversationId = decodeURIComponent(m[1]);
    if (m?.[2] === 'activities' && m[3]) {
      if (req.method === 'PUT') call.activityId = decodeURIComponent(m[3]);
      else call.replyToId = decodeURIComponent(m[3]);
    }
    this.calls.push(call);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      const out = JSON.stringify(payload ?? {});
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(out);
    };
    const failure = this.failures.shift();
    if (failure) return send(failure.status, failure.body, failure.headers);
    if (!m) return send(404, { error: { code: 'NotFound', message: path } });
    if (m[2] === 'members' && req.method === 'GET') {
      const member = this.members.get(decodeURIComponent(m[3] ?? ''));
      return member ? send(200, member) : send(404, { error: { code: 'MemberNotFound', message: 'no such member' } });
    }
    if (!m[1] && req.method === 'POST') {
      const id = `a:created-${this.next++}`;
      call.answeredId = id;
      return send(201, { id });
    }
    if (m[2] === 'activities' && (req.method === 'POST' || req.method === 'PUT')) {
      const id = req.method === 'PUT' ? call.activityId! : `m-${this.next++}`;
      call.answeredId = id;
      return send(200, { id });
    }
    send(405, { error: { code: 'MethodNotAllowed', message: `${req.method} ${path}` } });
  }
}

/** The Adaptive Card of a recorded activity, if it carries one. */
export function cardOf(call: ConnectorCall): any {
  return call.body?.attachments?.find((a: any) => a.contentType === 'application/vnd.microsoft.card.adaptive')?.content;
}
