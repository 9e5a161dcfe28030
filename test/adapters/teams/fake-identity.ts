/**
 * A local fake of the Microsoft identity side of the Bot Framework, as strict as the real endpoints:
 * - Azure AD's v2 client-credentials token endpoint (`POST /<tenant>/oauth2/v2.0/token`, form body) that checks the
 *   tenant, grant, client id, client secret and scope and answers `{token_type, expires_in, ext_expires_in,
 *   access_token}`, or Azure AD's error shape (`invalid_client` 401, `unauthorized_client`, `invalid_scope`, … 400);
 * - the channel's OpenID metadata and signing keys (what `login.botframework.com` publishes), so activities sent to the
 *   bot carry JWTs signed by a key the bot trusts (RS256, issuer `https://api.botframework.com`, audience the app id,
 *   the `serviceurl` claim);
 * - a check of the bot's tokens for the connector fake: signed here, for `https://api.botframework.com`, this app id, not
 *   expired.
 */
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ConfigurationBotFrameworkAuthenticationOptions } from 'botbuilder';

export const CHANNEL_ISSUER = 'https://api.botframework.com';
export const CONNECTOR_AUDIENCE = 'https://api.botframework.com';
/** The tenant id Azure AD puts in tokens of multi-tenant bots (botframework.com). */
const BOTFRAMEWORK_TENANT_ID = 'd6d49420-f39b-4df7-a1dc-d59a935871db';

/** One request the token endpoint received, its form fields decoded. */
export interface TokenRequest {
  tenant: string;
  contentType: string | undefined;
  form: Record<string, string>;
  status: number;
}

/** Signs a compact RS256 JWT. */
export function signJwt(payload: Record<string, unknown>, key: KeyObject, kid: string): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'RS256', typ: 'JWT', kid, x5t: kid })}.${enc(payload)}`;
  return `${head}.${sign('sha256', Buffer.from(head), key).toString('base64url')}`;
}

const aadError = (error: string, code: number, description: string) => ({
  error, error_description: `AADSTS${code}: ${description}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: ${new Date().toISOString()}`,
  error_codes: [code], timestamp: new Date().toISOString(), trace_id: '00000000-0000-0000-0000-000000000000', correlation_id: '00000000-0000-0000-0000-000000000000',
});

/** The fake identity endpoints of one bot registration (app id + client secret). */
export class FakeIdentity {
  readonly keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  /** A key nobody trusts, for forged tokens. */
  readonly otherKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly kid = 'tread-test-key';
  readonly tokenRequests: TokenRequest[] = [];
  /** Token endpoint behaviour: answer, or accept the connection and never answer. */
  tokenMode: 'answer' | 'hang' = 'answer';
  /** Lifetime of issued tokens in seconds (Azure AD: about an hour). */
  tokenLifetimeS = 3599;
  url = '';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly appId: string, readonly secret: string, readonly tenants: readonly string[] = ['botframework.com']) {}

  /** Starts on 127.0.0.1 with a free port. */
  async start(): Promise<this> {
    this.server = createServer((req, res) => { void this.handle(req, res); });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Stops, dropping hung requests. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The login URL (authority) the bot asks for tokens (ToChannelFromBotLoginUrl). */
  get loginUrl(): string {
    return `${this.url}/botframework.com`;
  }

  /** The channel's OpenID metadata document (ToBotFromChannelOpenIdMetadataUrl). */
  get openIdUrl(): string {
    return `${this.url}/v1/.well-known/openidconfiguration`;
  }

  /** The `auth` settings of createTeamsAdapter that point botbuilder here. */
  authOptions(): Partial<ConfigurationBotFrameworkAuthenticationOptions> {
    return { ToChannelFromBotLoginUrl: this.loginUrl, ToBotFromChannelOpenIdMetadataUrl: this.openIdUrl, ToBotFromEmulatorOpenIdMetadataUrl: this.openIdUrl };
  }

  /** The Authorization header the Bot Framework channel sends with an activity for `serviceUrl`. */
  channelAuthorization(serviceUrl: string, overrides: Record<string, unknown> = {}, key: KeyObject = this.keys.privateKey): string {
    const now = Math.floor(Date.now() / 1000);
    return `Bearer ${signJwt({ iss: CHANNEL_ISSUER, aud: this.appId, serviceurl: serviceUrl, iat: now, nbf: now - 5, exp: now + 3600, ...overrides }, key, this.kid)}`;
  }

  /** Why an Authorization header does not carry a token this registration's bot got here, or undefined when it does. */
  checkBotToken(header: string | undefined): string | undefined {
    const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(header ?? '');
    if (!m) return 'no bearer token';
    const ok = verify('sha256', Buffer.from(`${m[1]}.${m[2]}`), this.keys.publicKey, Buffer.from(m[3]!, 'base64url'));
    if (!ok) return 'bad signature';
    const claims = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (claims.aud !== CONNECTOR_AUDIENCE) return `audience ${String(claims.aud)}`;
    if (claims.appid !== this.appId) return `app ${String(claims.appid)}`;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return 'expired';
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && path === '/v1/.well-known/openidconfiguration') {
      return send(200, {
        issuer: CHANNEL_ISSUER, authorization_endpoint: 'https://invalid.botframework.com', jwks_uri: `${this.url}/v1/.well-known/keys`,
        id_token_signing_alg_values_supported: ['RS256'], token_endpoint_auth_methods_supported: ['private_key_jwt'],
      });
    }
    if (req.method === 'GET' && path === '/v1/.well-known/keys') {
      const jwk = this.keys.publicKey.export({ format: 'jwk' });
      return send(200, { keys: [{ kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e, endorsements: ['msteams'] }] });
    }
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (!token || req.method !== 'POST') return send(404, { error: 'not_found', error_description: `${req.method} ${path}` });
    const contentType = req.headers['content-type'];
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const record = (status: number) => { this.tokenRequests.push({ tenant: decodeURIComponent(token[1]!), contentType, form, status }); };
    if (this.tokenMode === 'hang') return record(0);
    const fail = (status: number, error: string, code: number, description: string) => { record(status); send(status, aadError(error, code, description)); };
    const tenant = decodeURIComponent(token[1]!);
    if (!this.tenants.includes(tenant)) return fail(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    if (!contentType?.startsWith('application/x-www-form-urlencoded')) return fail(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (form.grant_type !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${form.grant_type ?? ''}'.`);
    if (form.client_id !== this.appId) return fail(400, 'unauthorized_client', 700016, `Application with identifier '${form.client_id ?? ''}' was not found in the directory '${tenant}'.`);
    if (form.client_secret !== this.secret) return fail(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
    if (form.scope !== `${CONNECTOR_AUDIENCE}/.default`) return fail(400, 'invalid_scope', 1002012, `The provided value for scope ${form.scope ?? ''} is not valid.`);
    record(200);
    const now = Math.floor(Date.now() / 1000);
    const accessToken = signJwt({
      aud: CONNECTOR_AUDIENCE, iss: `https://sts.windows.net/${BOTFRAMEWORK_TENANT_ID}/`, iat: now, nbf: now - 5, exp: now + this.tokenLifetimeS,
      appid: this.appId, appidacr: '1', idp: `https://sts.windows.net/${BOTFRAMEWORK_TENANT_ID}/`, tid: BOTFRAMEWORK_TENANT_ID, ver: '1.0',
    }, this.keys.privateKey, this.kid);
    send(200, { token_type: 'Bearer', expires_in: this.tokenLifetimeS, ext_expires_in: this.tokenLifetimeS, access_token: accessToken });
  }
}
