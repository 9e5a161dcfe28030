/** Bot Framework authentication around botbuilder: fast refusals, bounded token validation, no pipeline retries. */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConfigurationBotFrameworkAuthentication } from 'botbuilder';

/** What went wrong validating a request's token, for the request being handled. */
export interface AuthState {
  failure?: 'unauthorized' | 'unavailable';
  reason?: string;
}

/** Per-request authentication outcome, set inside botbuilder's pipeline and read by the route. */
export const authState = new AsyncLocalStorage<AuthState>();

/** Why an Authorization header cannot be a Bot Framework token, or undefined when it has the right shape. */
export function authorizationProblem(header: string | string[] | undefined): string | undefined {
  if (header === undefined || header === '') return 'send the Bot Framework token: Authorization: Bearer <jwt>';
  if (Array.isArray(header)) return 'send one Authorization header';
  const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/.exec(header.trim());
  if (!m) return 'the Authorization header is not "Bearer <jwt>"';
  for (const part of [m[1]!, m[2]!]) {
    try {
      const json: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
      if (!json || typeof json !== 'object') return 'the bearer token is not a JWT';
    } catch {
      return 'the bearer token is not a JWT';
    }
  }
  return undefined;
}

/** Raised when token validation takes longer than allowed. */
class AuthTimeoutError extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new AuthTimeoutError(`token validation took longer than ${ms} ms`)), ms); });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** True for errors that say the key endpoint could not be reached (network, DNS, its 5xx), not that the token is bad. */
function isUnavailable(e: unknown): boolean {
  if (e instanceof AuthTimeoutError) return true;
  const err = e as { name?: string; code?: string; type?: string; message?: string; statusCode?: number };
  if (err?.name === 'FetchError' || err?.type === 'system') return true;
  if (typeof err?.code === 'string' && /^E[A-Z]+/.test(err.code)) return true;
  if (err?.statusCode && err.statusCode >= 500) return true;
  return /Failed to load (openID config|Keys)/i.test(err?.message ?? '');
}

/** A core-rest-pipeline request policy (only what is used here). */
interface Policy {
  name: string;
  sendRequest(request: { timeout: number }, next: (request: { timeout: number }) => Promise<unknown>): Promise<unknown>;
}
/** A connector client's core-client pipeline (only what is touched here). */
interface WithPipeline { client?: { pipeline?: { removePolicy(options: { name: string }): unknown; addPolicy(policy: Policy): void } } }

/** Each connector request ends within this unless told otherwise (Teams gives a bot 15 s for the whole turn). */
export const CONNECTOR_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Removes the connector client's own retry policy (the outbox owns retries and honours Retry-After itself), and gives
 * every request a timeout: a connector that accepts a request and never answers would otherwise hold a reply inside a
 * turn (and so the answer to Teams) until the whole request times out.
 */
export function boundedConnectorClient<T>(client: T, requestTimeoutMs = CONNECTOR_REQUEST_TIMEOUT_MS): T {
  const pipeline = (client as WithPipeline).client?.pipeline;
  pipeline?.removePolicy({ name: 'defaultRetryPolicy' });
  pipeline?.removePolicy({ name: 'treadRequestTimeout' });
  // Added last, so it runs after the compat policies that rebuild the request, just before the HTTP client.
  pipeline?.addPolicy({ name: 'treadRequestTimeout', sendRequest: (request, next) => { request.timeout = requestTimeoutMs; return next(request); } });
  return client;
}

type ConnectorFactoryLike = { create(serviceUrl: string, audience?: string): Promise<unknown> };

function wrapFactory<F>(factory: F, requestTimeoutMs: number): F {
  const f = factory as unknown as ConnectorFactoryLike | undefined;
  if (!f || typeof f.create !== 'function') return factory;
  const create = f.create.bind(f);
  f.create = async (serviceUrl: string, audience?: string) => boundedConnectorClient(await create(serviceUrl, audience), requestTimeoutMs);
  return factory;
}

/**
 * Bounds token validation: a validation that cannot reach its key endpoint ends within `timeoutMs` and is recorded as
 * `unavailable` (the route answers 503), any other failure as `unauthorized` (401). Outbound clients lose their retries
 * and each of their requests ends within `requestTimeoutMs`.
 */
export function guardAuthentication(auth: ConfigurationBotFrameworkAuthentication, timeoutMs: number, requestTimeoutMs = CONNECTOR_REQUEST_TIMEOUT_MS): ConfigurationBotFrameworkAuthentication {
  const authenticateRequest = auth.authenticateRequest.bind(auth);
  auth.authenticateRequest = async (activity, authHeader) => {
    try {
      const result = await withTimeout(authenticateRequest(activity, authHeader), timeoutMs);
      wrapFactory(result.connectorFactory, requestTimeoutMs);
      return result;
    } catch (e) {
      const state = authState.getStore();
      if (state) {
        state.failure = isUnavailable(e) ? 'unavailable' : 'unauthorized';
        state.reason = (e as Error)?.message;
      }
      // CloudAdapter.process prints the error it catches: one line per refused request, not a stack trace.
      if (e instanceof Error) e.stack = `${e.name}: ${e.message}`;
      throw e;
    }
  };
  const createConnectorFactory = auth.createConnectorFactory.bind(auth);
  auth.createConnectorFactory = (claimsIdentity) => wrapFactory(createConnectorFactory(claimsIdentity), requestTimeoutMs);
  return auth;
}
