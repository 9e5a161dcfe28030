/** POST /api/messages on tread's node:http server, through botbuilder's CloudAdapter.process. */
import type { ServerResponse } from 'node:http';
import type { CloudAdapter, TurnContext } from 'botbuilder';
import type { Logger } from '../../src/core/logger.js';
import type { Route } from '../../src/core/route.js';
import { readJson } from '../../src/http/body.js';
import { sendError, sendJson } from '../../src/http/server.js';
import { authState, authorizationProblem, type AuthState } from './teams.auth.js';

/** The largest activity accepted (Teams messages are at most ~100 KB; attachments are links). */
const MAX_ACTIVITY_BYTES = 1024 * 1024;

/** The small Express-like response CloudAdapter.process writes to; it is turned into a real response afterwards. */
export class ProcessResponse {
  statusCode = 200;
  body: unknown;
  ended = false;
  /** botbuilder's Response type names a socket; nothing reads it here. */
  readonly socket: unknown = undefined;
  readonly headers: Record<string, string> = {};

  /** Sets the status code. */
  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  /** Sets the body. */
  send(body?: unknown): this {
    this.body = body;
    return this;
  }

  /** Sets a header. */
  header(name: string, value: unknown): this {
    this.headers[name.toLowerCase()] = String(value);
    return this;
  }

  /** Marks the response complete. */
  end(): this {
    this.ended = true;
    return this;
  }
}

/** Options of the messages route. */
export interface MessagesRouteOptions {
  adapter: CloudAdapter;
  /** True when MICROSOFT_APP_ID is set: requests must carry a valid Bot Framework token. */
  authOn: boolean;
  logic: (context: TurnContext) => Promise<void>;
  log: Logger;
  /** The whole request ends within this (default 12 s; Teams gives up after 15 s). */
  processTimeoutMs?: number;
}

function writeResult(res: ServerResponse, result: ProcessResponse): void {
  const { statusCode, body } = result;
  if (body === undefined || body === null || body === '') {
    res.writeHead(statusCode);
    res.end();
  } else if (typeof body === 'string') {
    sendJson(res, statusCode, statusCode >= 400 ? { error: { code: 'teams.error', message: body } } : body);
  } else {
    sendJson(res, statusCode, body);
  }
}

/** The `/api/messages` route. */
export function messagesRoute(options: MessagesRouteOptions): Route {
  const timeoutMs = options.processTimeoutMs ?? 12_000;
  return {
    method: 'POST',
    path: '/api/messages',
    name: '/api/messages',
    async handler(req, res) {
      if (options.authOn) {
        const problem = authorizationProblem(req.headers.authorization);
        if (problem) return sendError(res, 401, 'teams.unauthorized', problem);
      }
      const body = await readJson(req, MAX_ACTIVITY_BYTES);
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        return sendError(res, 400, 'teams.bad_activity', 'the body must be a Bot Framework activity (a JSON object)');
      }
      const type = (body as Record<string, unknown>).type;
      if (typeof type !== 'string' || !type) {
        return sendError(res, 400, 'teams.bad_activity', 'the activity has no "type"', [{ path: 'type', message: 'required: message, invoke, conversationUpdate, …' }]);
      }
      const state: AuthState = {};
      const result = new ProcessResponse();
      const request = { method: 'POST', headers: req.headers as Record<string, string | string[] | undefined>, body: body as Record<string, unknown> };
      const work = authState.run(state, () => options.adapter.process(request, result, options.logic))
        .then(() => 'done' as const, (e: unknown) => { options.log.error({ err: (e as Error)?.message }, 'Teams activity processing failed'); return 'failed' as const; });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      const outcome = await Promise.race([work, timedOut]);
      clearTimeout(timer);

      if (state.failure === 'unavailable') {
        options.log.warn({ reason: state.reason }, 'Teams token could not be validated: key endpoint unreachable');
        return sendError(res, 503, 'teams.auth_unavailable', 'the Bot Framework token could not be validated right now (its signing keys could not be fetched); try again', undefined, { 'retry-after': '5' });
      }
      if (state.failure === 'unauthorized' || result.statusCode === 401) {
        options.log.info({ reason: state.reason }, 'Teams request refused: token not valid');
        return sendError(res, 401, 'teams.unauthorized', 'the Bot Framework token is not valid for this bot');
      }
      if (outcome === 'timeout') {
        options.log.warn({ type, timeoutMs }, 'Teams activity took too long; answered 503');
        return sendError(res, 503, 'teams.timeout', `tread could not handle the activity within ${timeoutMs} ms`, undefined, { 'retry-after': '1' });
      }
      if (outcome === 'failed' || !result.ended || result.statusCode >= 500) {
        return sendError(res, 503, 'teams.unavailable', 'tread could not handle the activity; try again', undefined, { 'retry-after': '1' });
      }
      writeResult(res, result);
    },
  };
}
