/**
 * Slack's HTTP transport on tread's server (`POST /slack/events`): reads the body within tread's limit, verifies it
 * with Bolt's `verifySlackRequest`, refuses what is not a Slack payload object, and hands the rest to Bolt's
 * `App.processEvent`, awaiting all of it. Bolt's own HTTPReceiver runs each request in a promise nobody awaits, so one
 * signed `payload=null` (Bolt reads `body.ssl_check` of null) was an unhandled rejection that ended the process.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { HTTPModuleFunctions, HTTPResponseAck, verifySlackRequest, type App, type Logger as BoltLogger, type Receiver, type ReceiverEvent } from '@slack/bolt';
import type { Logger } from '../../src/core/logger.js';
import type { Route } from '../../src/core/route.js';
import { MAX_BODY_BYTES, readBody } from '../../src/http/body.js';
import { sendError, sendJson } from '../../src/http/server.js';
import { SlackPayloadError } from './slack.inbound.js';

/** Options of the HTTP receiver. */
export interface SlackHttpReceiverOptions {
  signingSecret: string;
  log: Logger;
  /** Bolt's logger (HTTPResponseAck logs through it). */
  logger: BoltLogger;
  /** Largest body accepted (default tread's 512 KB). */
  bodyLimit?: number;
}

/** The body of a request: a form (slash commands; interactions as `payload=<json>`) or JSON (Events API). */
function parseSlackBody(text: string, contentType: string | undefined): unknown {
  if (/^application\/x-www-form-urlencoded\b/i.test(contentType ?? '')) {
    const fields = parseQuery(text);
    return typeof fields.payload === 'string' ? JSON.parse(fields.payload) : { ...fields };
  }
  return JSON.parse(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** A Bolt receiver whose requests are routes of tread's server; every step is awaited and every failure answered. */
export class SlackHttpReceiver implements Receiver {
  private app: App | undefined;

  constructor(private readonly options: SlackHttpReceiverOptions) {}

  /** Called by Bolt's App constructor. */
  init(app: App): void {
    this.app = app;
  }

  /** Nothing to start: tread's server listens. */
  async start(): Promise<void> {}

  /** Nothing to stop: tread's server closes. */
  async stop(): Promise<void> {}

  /** The `/slack/events` route. */
  route(): Route {
    return { method: 'POST', path: '/slack/events', name: '/slack/events', handler: (req, res) => this.handle(req, res) };
  }

  /** Handles one request; resolves when it is answered (or acknowledged and handed to the listeners). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { log } = this.options;
    // Too large: readBody throws and the server answers 413 (after reading what the client still sends).
    const raw = await readBody(req, this.options.bodyLimit ?? MAX_BODY_BYTES);
    const text = raw.toString('utf8');
    const contentType = header(req, 'content-type');
    // Slack's SSL check is not signed and carries nothing; answer it and ignore whatever else is in the form.
    if (/^application\/x-www-form-urlencoded\b/i.test(contentType ?? '') && parseQuery(text).ssl_check === '1') {
      res.writeHead(200);
      res.end();
      return;
    }
    try {
      verifySlackRequest({
        signingSecret: this.options.signingSecret,
        body: text,
        headers: { 'x-slack-signature': header(req, 'x-slack-signature') ?? '', 'x-slack-request-timestamp': Number(header(req, 'x-slack-request-timestamp')) },
      });
    } catch (e) {
      log.info({ err: (e as Error).message }, 'slack: request refused: signature not valid');
      return sendError(res, 401, 'slack.unauthorized', 'the request is not signed with this app\'s signing secret, or its timestamp is more than 5 minutes off');
    }
    let body: unknown;
    try {
      body = parseSlackBody(text, contentType);
    } catch (e) {
      return this.refuse(res, new SlackPayloadError(`the body is not a Slack payload: ${(e as Error).message}`, [{ path: '(body)', message: 'not valid JSON' }]));
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      const what = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body === 'string' ? 'a string' : typeof body;
      return this.refuse(res, new SlackPayloadError(`the body is not a Slack payload object (it is ${what}): expected a slash command form or a JSON object`, [{ path: '(body)', message: 'expected an object' }]));
    }
    const payload = body as Record<string, unknown>;
    if (payload.type === 'url_verification') return sendJson(res, 200, { challenge: payload.challenge });

    const ack = new HTTPResponseAck({
      logger: this.options.logger, processBeforeResponse: false, httpResponse: res, httpRequestBody: payload,
      httpRequest: Object.assign(req, { rawBody: raw }),
    });
    const event: ReceiverEvent = {
      body: payload,
      ack: ack.bind(),
      retryNum: HTTPModuleFunctions.extractRetryNumFromHTTPRequest(req),
      retryReason: HTTPModuleFunctions.extractRetryReasonFromHTTPRequest(req),
      customProperties: {},
    };
    try {
      if (!this.app) throw new Error('the Slack receiver was not given to a Bolt App');
      await this.app.processEvent(event);
    } catch (e) {
      // Answered here: the unacknowledged-request timer must not write a second response.
      ack.ack();
      if (e instanceof SlackPayloadError) return this.refuse(res, e);
      const correlationId = randomUUID().slice(0, 8);
      log.error({ correlationId, err: e }, 'slack: request failed');
      if (!res.headersSent) sendError(res, 500, 'internal', `unexpected error; reference ${correlationId}`);
      else if (!res.writableEnded) res.end();
    }
  }

  private refuse(res: ServerResponse, e: SlackPayloadError): void {
    this.options.log.warn({ err: e.message }, 'slack: malformed payload refused');
    if (!res.headersSent) sendError(res, 400, e.code, e.message, e.issues);
  }
}
