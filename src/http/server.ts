/** tread's one HTTP(S) server: a small route table on node:http. */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';
import type { Request, Route } from '../core/route.js';
import { BadJsonError, BodyTooLargeError } from './body.js';
import { databaseUnavailable, type DatabaseHealth } from '../core/errors.js';
import { Histogram } from '../core/metrics.js';

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes tread's REST error shape: `{"error": {"code", "message", "issues"?}}`. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, issues?: { path: string; message: string }[], headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message, ...(issues ? { issues } : {}) } }, headers);
}

/** Options of the server. */
export interface ServerOptions {
  host: string;
  port: number;
  log: Logger;
  tls?: { certFile: string; keyFile: string };
  /** Where a request that failed on an unavailable database is noted (readiness reports a full disk). */
  health?: DatabaseHealth;
}

/** The HTTP server with its route table and request metrics. */
export class HttpServer {
  readonly routes: Route[] = [];
  readonly durations = new Histogram('tread_http_request_duration_seconds', 'HTTP request durations by route and status', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly options: ServerOptions) {}

  /** Adds routes (first match wins). */
  add(...routes: Route[]): void {
    this.routes.push(...routes);
  }

  /** The node request listener (also usable without listen, in tests). */
  readonly listener = async (rawReq: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const req = rawReq as Request;
    req.params = {};
    let routeName = 'unmatched';
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        req.path = '/';
        sendError(res, 400, 'http.bad_url', 'the request target is not a valid URL');
        return;
      }
      req.path = url.pathname;
      req.query = url.searchParams;
      const route = this.match(req);
      if (!route) {
        const pathExists = this.routes.some((r) => (typeof r.path === 'string' ? r.path === req.path : r.path.test(req.path)));
        if (pathExists) sendError(res, 405, 'http.method_not_allowed', `${req.method} is not allowed on ${req.path}`);
        else sendError(res, 404, 'http.not_found', `nothing at ${req.path}`);
        return;
      }
      routeName = route.name ?? (typeof route.path === 'string' ? route.path : route.path.source);
      await route.handler(req, res);
    } catch (e) {
      const unavailable = this.options.health ? this.options.health.unavailable(e) : databaseUnavailable(e);
      if (e instanceof BodyTooLargeError) {
        if (!res.headersSent) sendError(res, 413, 'http.body_too_large', e.message);
      } else if (e instanceof BadJsonError) {
        if (!res.headersSent) sendError(res, 400, e.code, e.message);
      } else if (unavailable) {
        // Not a bug: the database is away (a restart, a failover, a full disk). 503 tells senders to retry.
        const correlationId = Math.random().toString(36).slice(2, 10);
        this.options.log.warn({ correlationId, reason: unavailable, err: (e as Error).message, path: req.path }, 'database unavailable: answered 503');
        if (!res.headersSent) sendError(res, 503, 'database.unavailable', `tread's database is unavailable right now: ${unavailable}; retry shortly (reference ${correlationId})`, undefined, { 'retry-after': '5' });
        else res.end();
      } else {
        const correlationId = Math.random().toString(36).slice(2, 10);
        this.options.log.error({ correlationId, err: e, path: req.path }, 'unexpected error in HTTP handler');
        if (!res.headersSent) sendError(res, 500, 'internal', `unexpected error; reference ${correlationId}`);
        else res.end();
      }
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const observe = () => this.durations.observe({ route: routeName, method: req.method ?? '', status: String(res.statusCode) }, seconds);
      if (res.writableEnded) observe(); else res.once('finish', observe);
    }
  };

  private match(req: Request): Route | undefined {
    for (const route of this.routes) {
      if (route.method !== '*' && route.method !== req.method) continue;
      if (typeof route.path === 'string') {
        if (route.path === req.path) return route;
      } else {
        const m = route.path.exec(req.path);
        if (m) {
          req.params = { ...(m.groups ?? {}) };
          return route;
        }
      }
    }
    return undefined;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const { tls } = this.options;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.listener(req, res).catch((e) => {
        this.options.log.error({ err: (e as Error).message }, 'HTTP listener failed');
        if (!res.headersSent) sendError(res, 500, 'internal', 'unexpected error');
        else res.end();
      });
    };
    this.server = tls
      ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handler)
      : createHttpServer(handler);
    this.server.keepAliveTimeout = 65_000;
    this.server.on('connection', (s) => { this.sockets.add(s); s.once('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** The bound port (after listen). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Stops accepting connections and waits for in-flight requests (idle keep-alive sockets are closed). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections?.();
    const timer = setTimeout(() => { for (const s of this.sockets) s.destroy(); }, 5000);
    await closed;
    clearTimeout(timer);
  }
}

/** True for loopback host names and addresses. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
