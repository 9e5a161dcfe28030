/**
 * The bot's outbound Bot Framework token: Azure AD's v2 client-credentials grant (`POST <authority>/oauth2/v2.0/token`),
 * made with fetch and bounded in time, one request at a time per scope, cached until five minutes before it expires.
 *
 * botbuilder's own factory goes through MSAL, which has no time limit of its own and refuses any authority that is not
 * https, so the outbound path could not be pointed at a local identity endpoint and tested end to end. This factory
 * speaks the same documented protocol to the same endpoints (the public cloud's `login.microsoftonline.com/<tenant>`,
 * the US Government cloud's, or the configured `ToChannelFromBotLoginUrl` of a private cloud).
 */
import { z } from 'zod';
import type { ConfigurationBotFrameworkAuthentication } from 'botbuilder';

/** botbuilder's ServiceClientCredentialsFactory (the second argument of ConfigurationBotFrameworkAuthentication). */
export type CredentialsFactory = NonNullable<ConstructorParameters<typeof ConfigurationBotFrameworkAuthentication>[1]>;
type Credentials = Awaited<ReturnType<CredentialsFactory['createCredentials']>>;

const PUBLIC_LOGIN_PREFIX = 'https://login.microsoftonline.com/';
const GOVERNMENT_LOGIN_PREFIX = 'https://login.microsoftonline.us/';
/** botbuilder's default tenants for a multi-tenant bot, by cloud. */
const PUBLIC_DEFAULT_TENANT = 'botframework.com';
const GOVERNMENT_DEFAULT_TENANT = 'MicrosoftServices.onmicrosoft.us';
/** A token is fetched again this long before it expires. */
const REFRESH_BEFORE_MS = 5 * 60_000;

/** Raised when no token could be had: transient for the outbox (no `statusCode`), with Azure AD's reason. */
export class TeamsTokenError extends Error {
  override readonly name = 'TeamsTokenError';
  constructor(message: string, readonly httpStatus?: number) {
    super(message);
  }
}

const tokenResponse = z.object({
  token_type: z.string().refine((t) => t.toLowerCase() === 'bearer', 'expected "Bearer"'),
  access_token: z.string().min(1),
  expires_in: z.coerce.number().int().positive(),
});
const errorResponse = z.object({ error: z.string(), error_description: z.string().optional() });

/** The authority the token is asked of, as botbuilder's password factory chooses it. */
export function tokenAuthority(loginEndpoint: string, tenantId?: string): string {
  const endpoint = loginEndpoint.replace(/\/+$/, '');
  const lower = endpoint.toLowerCase();
  if (lower.startsWith(PUBLIC_LOGIN_PREFIX)) return `${PUBLIC_LOGIN_PREFIX}${tenantId || PUBLIC_DEFAULT_TENANT}`;
  if (lower.startsWith(GOVERNMENT_LOGIN_PREFIX)) return `${GOVERNMENT_LOGIN_PREFIX}${tenantId || GOVERNMENT_DEFAULT_TENANT}`;
  return endpoint;
}

/** The `.default` scope of an audience (`https://api.botframework.com` -> `https://api.botframework.com/.default`). */
export function scopeOf(audience: string): string {
  return audience.endsWith('/.default') ? audience : `${audience.replace(/\/+$/, '')}/.default`;
}

/** What the factory needs. */
export interface TokenFactoryOptions {
  appId: string;
  password: string;
  tenantId?: string | undefined;
  /** One token request ends within this (default 10 s). */
  timeoutMs?: number;
}

interface Cached {
  token: string;
  refreshAt: number;
}

/** Creates the credentials botbuilder signs connector requests with. */
export class ClientSecretCredentialsFactory implements CredentialsFactory {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly timeoutMs: number;

  constructor(private readonly options: TokenFactoryOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** True for this bot's app id. */
  async isValidAppId(appId: string): Promise<boolean> {
    return appId === this.options.appId;
  }

  /** Never: this factory is only used with an app id. */
  async isAuthenticationDisabled(): Promise<boolean> {
    return !this.options.appId;
  }

  /** Credentials for calls to `audience`, with tokens from the authority `loginEndpoint` names. */
  async createCredentials(appId: string, audience: string | undefined, loginEndpoint: string): Promise<Credentials> {
    if (appId !== this.options.appId) throw new Error('Invalid appId.');
    const authority = tokenAuthority(loginEndpoint, this.options.tenantId);
    const scope = scopeOf(audience || 'https://api.botframework.com');
    const token = (forceRefresh = false) => this.token(authority, scope, forceRefresh);
    // The shape of botbuilder's AppCredentials that the connector client and TeamsInfo use.
    return {
      appId,
      oAuthScope: scope.replace(/\/\.default$/, ''),
      oAuthEndpoint: authority,
      getToken: token,
      async signRequest(webResource: { headers: { set(name: string, value: string): void } }) {
        webResource.headers.set('authorization', `Bearer ${await token()}`);
        return webResource;
      },
    } as unknown as Credentials;
  }

  /** A valid token for the scope: cached, or one request shared by every caller asking meanwhile. */
  async token(authority: string, scope: string, forceRefresh = false): Promise<string> {
    const key = `${authority} ${scope}`;
    const cached = this.cache.get(key);
    if (!forceRefresh && cached && Date.now() < cached.refreshAt) return cached.token;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetchToken(authority, scope).then((c) => {
        this.cache.set(key, c);
        return c.token;
      }).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async fetchToken(authority: string, scope: string): Promise<Cached> {
    const url = `${authority}/oauth2/v2.0/token`;
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.options.appId, client_secret: this.options.password, scope });
    const what = `getting the bot's token from ${url}`;
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
    } catch (e) {
      const err = e as Error;
      const why = err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : `${err.message}${(err.cause as Error | undefined)?.message ? ` (${(err.cause as Error).message})` : ''}`;
      throw new TeamsTokenError(`${what}: ${why}`);
    }
    const text = await res.text().catch(() => '');
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    if (!res.ok) {
      const error = errorResponse.safeParse(json);
      const reason = error.success ? `${error.data.error}${error.data.error_description ? `: ${error.data.error_description.split('\n')[0]!.slice(0, 300)}` : ''}` : text.slice(0, 200);
      const hint = error.success && /invalid_client|unauthorized_client/.test(error.data.error) ? ' (check MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID)' : '';
      throw new TeamsTokenError(`${what}: Azure AD answered HTTP ${res.status} ${reason}${hint}`, res.status);
    }
    const parsed = tokenResponse.safeParse(json);
    if (!parsed.success) throw new TeamsTokenError(`${what}: the answer is not a token (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
    const lifetimeMs = parsed.data.expires_in * 1000;
    // A short-lived token is refreshed at half its life rather than never being used.
    const refreshAt = Date.now() + (lifetimeMs > 2 * REFRESH_BEFORE_MS ? lifetimeMs - REFRESH_BEFORE_MS : lifetimeMs / 2);
    return { token: parsed.data.access_token, refreshAt };
  }
}
