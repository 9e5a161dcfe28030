/** Teams with MICROSOFT_APP_ID set: requests without a valid Bot Framework token are refused quickly and change nothing. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'drizzle-orm';
import { checkTeamsEnv, createTeamsAdapter, TeamsConfigError } from '../../../adapters/teams/index.js';
import type { Database } from '../../../db/client.js';
import { loadEnv } from '../../../src/core/config/env.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { FakeConnector } from './fake-connector.js';

const APP_ID = '11111111-2222-3333-4444-555555555555';
const CHANNEL_ISSUER = 'https://api.botframework.com';
const EMULATOR_ISSUER = 'https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/';

function jwt(payload: Record<string, unknown>, key: KeyObject, kid = 'k1'): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'RS256', typ: 'JWT', kid })}.${enc(payload)}`;
  return `${head}.${sign('sha256', Buffer.from(head), key).toString('base64url')}`;
}

/** An OpenID metadata endpoint with a JWKS, one that accepts connections and never answers, and a closed port. */
class KeyEndpoints {
  readonly good = generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private server!: Server;
  private hanging!: Server;
  private readonly sockets = new Set<Socket>();
  base = '';
  hangingUrl = '';
  closedUrl = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/openid') return res.end(JSON.stringify({ issuer: CHANNEL_ISSUER, jwks_uri: `${this.base}/keys` }));
      const jwk = this.good.publicKey.export({ format: 'jwk' });
      res.end(JSON.stringify({ keys: [{ ...jwk, kid: 'k1', use: 'sig', endorsements: ['msteams'] }] }));
    });
    this.hanging = createServer(() => { /* never answers */ });
    this.hanging.on('connection', (s) => { this.sockets.add(s); });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.hanging.listen(0, '127.0.0.1', () => r()));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.hangingUrl = `http://127.0.0.1:${(this.hanging.address() as AddressInfo).port}/openid`;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    this.closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/openid`;
    await new Promise<void>((r) => closed.close(() => r()));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    await new Promise<void>((r) => this.hanging.close(() => r()));
  }
}

describe('Teams environment checks', () => {
  it('names the variable that is missing or wrong', () => {
    expect(() => checkTeamsEnv(loadEnv({ MICROSOFT_APP_ID: APP_ID }))).toThrow(/MICROSOFT_APP_PASSWORD/);
    expect(() => checkTeamsEnv(loadEnv({ MICROSOFT_APP_ID: APP_ID, MICROSOFT_APP_PASSWORD: 'x', MICROSOFT_APP_TYPE: 'SingleTenant' }))).toThrow(/MICROSOFT_APP_TENANT_ID/);
    expect(() => checkTeamsEnv(loadEnv({ HOST: '0.0.0.0' }))).toThrow(TeamsConfigError);
    expect(() => checkTeamsEnv(loadEnv({ HOST: '0.0.0.0' }))).toThrow(/loopback/);
    expect(() => checkTeamsEnv(loadEnv({ HOST: '127.0.0.1' }))).not.toThrow();
    expect(() => checkTeamsEnv(loadEnv({ MICROSOFT_APP_ID: APP_ID, MICROSOFT_APP_PASSWORD: 'x', MICROSOFT_APP_TYPE: 'SingleTenant', MICROSOFT_APP_TENANT_ID: 't' }))).not.toThrow();
  });
});

for (const driver of drivers) {
  describe(`Teams with authentication on (${driver})`, () => {
    let database: Database;
    let keys: KeyEndpoints;
    let connector: FakeConnector;
    const trads: Tread[] = [];

    beforeAll(async () => {
      // botbuilder prints every refused token with console.error; the assertions below check the answers instead.
      vi.spyOn(console, 'error').mockImplementation(() => {});
      database = await openTestDatabase(driver);
      keys = new KeyEndpoints();
      await keys.start();
      connector = await new FakeConnector().start();
    });

    afterAll(async () => {
      vi.restoreAllMocks();
      for (const t of trads) await t.stop({ closeDatabase: false });
      await database?.close();
      await keys?.stop();
      await connector?.stop();
    });

    /** tread with an app id; the channel's key endpoint is `channelKeys`, the Emulator's `emulatorKeys`. */
    async function start(channelKeys: string, emulatorKeys: string): Promise<Tread> {
      const env = loadEnv({ HOST: '127.0.0.1', MICROSOFT_APP_ID: APP_ID, MICROSOFT_APP_PASSWORD: 'not-a-real-secret' });
      const t = await startTread({
        database, config: parseOrganisation('organisation: Example', 'test', {}), http: { host: '127.0.0.1', port: 0 }, tickSeconds: 0,
        platforms: async (app, router) => [await createTeamsAdapter({
          env, app, router, authTimeoutMs: 1500,
          auth: { ToBotFromChannelOpenIdMetadataUrl: channelKeys, ToBotFromEmulatorOpenIdMetadataUrl: emulatorKeys },
        })],
      });
      trads.push(t);
      return t;
    }

    const activity = (type = 'message') => ({
      type, id: `auth-${Math.random().toString(36).slice(2)}`, channelId: 'msteams', serviceUrl: connector.url, text: 'incident Stolen token',
      from: { id: '29:mallory', name: 'Mallory', aadObjectId: 'aad-mallory' }, recipient: { id: `28:${APP_ID}`, name: 'tread' },
      conversation: { id: 'a:personal-mallory', conversationType: 'personal', tenantId: 't1' },
    });

    async function send(t: Tread, authorization: string | undefined, body: unknown = activity()): Promise<{ status: number; ms: number; body: any }> {
      const started = Date.now();
      const res = await fetch(`http://127.0.0.1:${t.port}/api/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, ms: Date.now() - started, body: text ? JSON.parse(text) : undefined };
    }

    async function nothingStored(): Promise<void> {
      const [counts] = await database.rows<Record<string, number>>(sql`select
        (select count(*)::int from conversations) as conversations, (select count(*)::int from incidents) as incidents,
        (select count(*)::int from deliveries) as deliveries, (select count(*)::int from people) as people, (select count(*)::int from outbox) as outbox`);
      expect(counts).toEqual({ conversations: 0, incidents: 0, deliveries: 0, people: 0, outbox: 0 });
      expect(connector.calls).toHaveLength(0);
    }

    const now = () => Math.floor(Date.now() / 1000);

    it('answers 401 at once without a token, with a malformed one, and with another scheme', async () => {
      const t = await start(`${keys.base}/openid`, keys.closedUrl);
      for (const header of [undefined, 'Bearer', 'Bearer not-a-jwt', 'Basic dXNlcjpwYXNz', 'Bearer a.b.c']) {
        const res = await send(t, header);
        expect(res.status, String(header)).toBe(401);
        expect(res.body.error.code).toBe('teams.unauthorized');
        expect(res.ms).toBeLessThan(1000);
      }
      await nothingStored();
    });

    it('answers 401 for tokens that are well-formed but not valid for this bot', async () => {
      const t = await start(`${keys.base}/openid`, keys.closedUrl);
      const cases = {
        'unknown issuer': jwt({ iss: 'https://evil.example', aud: APP_ID, exp: now() + 600 }, keys.good.privateKey),
        'signed with another key': jwt({ iss: CHANNEL_ISSUER, aud: APP_ID, exp: now() + 600, serviceurl: connector.url }, keys.other.privateKey),
        'for another bot': jwt({ iss: CHANNEL_ISSUER, aud: 'another-app', exp: now() + 600, serviceurl: connector.url }, keys.good.privateKey),
        expired: jwt({ iss: CHANNEL_ISSUER, aud: APP_ID, exp: now() - 3600, serviceurl: connector.url }, keys.good.privateKey),
        'for another service url': jwt({ iss: CHANNEL_ISSUER, aud: APP_ID, exp: now() + 600, serviceurl: 'https://smba.example/' }, keys.good.privateKey),
      };
      for (const [name, token] of Object.entries(cases)) {
        const res = await send(t, `Bearer ${token}`);
        expect(res.status, name).toBe(401);
      }
      await nothingStored();
    });

    it('answers 503 within a few seconds when the key endpoint is unreachable or hangs, never 500', async () => {
      const t = await start(keys.closedUrl, keys.hangingUrl);
      const refused = await send(t, `Bearer ${jwt({ iss: CHANNEL_ISSUER, aud: APP_ID, exp: now() + 600, serviceurl: connector.url }, keys.good.privateKey)}`);
      expect([401, 503]).toContain(refused.status);
      expect(refused.status).toBe(503);
      expect(refused.ms).toBeLessThan(5000);
      const hanging = await send(t, `Bearer ${jwt({ iss: EMULATOR_ISSUER, aud: APP_ID, appid: APP_ID, ver: '1.0', exp: now() + 600 }, keys.good.privateKey)}`);
      expect(hanging.status).toBe(503);
      expect(hanging.ms).toBeGreaterThanOrEqual(1400);
      expect(hanging.ms).toBeLessThan(5000);
      expect(hanging.body.error.code).toBe('teams.auth_unavailable');
      await nothingStored();
    });

    it('accepts a valid channel token and stores the conversation reference', async () => {
      const t = await start(`${keys.base}/openid`, keys.closedUrl);
      const token = jwt({ iss: CHANNEL_ISSUER, aud: APP_ID, exp: now() + 600, nbf: now() - 10, serviceurl: connector.url }, keys.good.privateKey);
      // A conversationUpdate needs no reply, so nothing here asks Azure AD for an outbound token.
      const res = await send(t, `Bearer ${token}`, { ...activity('conversationUpdate'), membersAdded: [{ id: '29:mallory' }] });
      expect(res.status).toBe(200);
      const rows = await database.rows<{ key: string }>(sql`select key from conversations where platform = 'teams'`);
      expect(rows.map((r) => r.key)).toContain('a:personal-mallory');
    });
  });
}
