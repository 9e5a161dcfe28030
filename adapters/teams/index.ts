/** The Microsoft Teams adapter: botbuilder's CloudAdapter on POST /api/messages, Adaptive Cards, proactive messages. */
import { CloudAdapter, ConfigurationBotFrameworkAuthentication, type ConfigurationBotFrameworkAuthenticationOptions } from 'botbuilder';
import type { AppContext } from '../../src/core/app.js';
import type { Env } from '../../src/core/config/env.js';
import type { PlatformAdapter } from '../../src/core/platform.js';
import type { Router } from '../../src/core/router.js';
import { isLoopback } from '../../src/http/server.js';
import { CONNECTOR_REQUEST_TIMEOUT_MS, guardAuthentication } from './teams.auth.js';
import { TeamsBot } from './teams.bot.js';
import { messagesRoute } from './teams.http.js';
import { TeamsChatPort } from './teams.port.js';
import { ReferenceStore } from './teams.references.js';
import { ClientSecretCredentialsFactory } from './teams.token.js';

/** Raised for a Teams configuration that cannot work; the message names the variable. */
export class TeamsConfigError extends Error {
  /** main.ts prints a PlatformConfigError as one line and stops. */
  override readonly name = 'PlatformConfigError';
  readonly code = 'teams.config';
}

/** What createTeamsAdapter needs. The timing and `auth` knobs exist for tests and sovereign clouds. */
export interface TeamsAdapterDeps {
  env: Env;
  app: AppContext;
  router: Router;
  /** ConfigurationBotFrameworkAuthentication settings that replace the public cloud's (e.g. ToBotFromChannelOpenIdMetadataUrl). */
  auth?: Partial<ConfigurationBotFrameworkAuthenticationOptions>;
  /** Token validation ends within this (default 5 s). */
  authTimeoutMs?: number;
  /** A request to /api/messages ends within this (default 12 s). */
  processTimeoutMs?: number;
  /** A card action is answered within this (default 4.5 s). */
  invokeDeadlineMs?: number;
  /** Each outbound connector call ends within this (default 15 s). */
  sendTimeoutMs?: number;
  /** Each request for the bot's outbound token ends within this (default 10 s). */
  tokenTimeoutMs?: number;
}

/** The public Azure cloud's Bot Framework settings: botbuilder wants all of them as soon as one is overridden. */
export const PUBLIC_CLOUD: Partial<ConfigurationBotFrameworkAuthenticationOptions> = {
  ToChannelFromBotLoginUrl: 'https://login.microsoftonline.com/botframework.com',
  ToChannelFromBotOAuthScope: 'https://api.botframework.com',
  ToBotFromChannelTokenIssuer: 'https://api.botframework.com',
  OAuthUrl: 'https://api.botframework.com',
  ToBotFromChannelOpenIdMetadataUrl: 'https://login.botframework.com/v1/.well-known/openidconfiguration',
  ToBotFromEmulatorOpenIdMetadataUrl: 'https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration',
  CallerId: 'urn:botframework:azure',
};

/** Checks the MICROSOFT_* variables against each other; throws TeamsConfigError naming what is missing. */
export function checkTeamsEnv(env: Env): void {
  const type = env.MICROSOFT_APP_TYPE ?? 'MultiTenant';
  if (!env.MICROSOFT_APP_ID) {
    if (env.MICROSOFT_APP_PASSWORD || env.MICROSOFT_APP_TENANT_ID) throw new TeamsConfigError('MICROSOFT_APP_ID: required when MICROSOFT_APP_PASSWORD or MICROSOFT_APP_TENANT_ID is set');
    if (!isLoopback(env.HOST)) {
      throw new TeamsConfigError(`MICROSOFT_APP_ID: not set, so Teams authentication would be off; tread serves /api/messages without authentication only on a loopback HOST (not ${env.HOST})`);
    }
    return;
  }
  if ((type === 'SingleTenant' || type === 'UserAssignedMSI') && !env.MICROSOFT_APP_TENANT_ID) throw new TeamsConfigError(`MICROSOFT_APP_TENANT_ID: required when MICROSOFT_APP_TYPE is ${type}`);
  if (type === 'UserAssignedMSI' && env.MICROSOFT_APP_PASSWORD) throw new TeamsConfigError('MICROSOFT_APP_PASSWORD: must not be set when MICROSOFT_APP_TYPE is UserAssignedMSI');
  if (type !== 'UserAssignedMSI' && !env.MICROSOFT_APP_PASSWORD) throw new TeamsConfigError(`MICROSOFT_APP_PASSWORD: required with MICROSOFT_APP_ID (the bot's client secret) when MICROSOFT_APP_TYPE is ${type}`);
}

/** Builds the Teams adapter: its ChatPort and the /api/messages route. */
export async function createTeamsAdapter(deps: TeamsAdapterDeps): Promise<PlatformAdapter> {
  const { env, app, router } = deps;
  checkTeamsEnv(env);
  const appId = env.MICROSOFT_APP_ID ?? '';
  const authOn = Boolean(appId);
  // With a client secret, outbound tokens come from tread's own bounded client-credentials request (teams.token.ts);
  // a managed identity keeps botbuilder's factory.
  const credentials = authOn && env.MICROSOFT_APP_PASSWORD && (env.MICROSOFT_APP_TYPE ?? 'MultiTenant') !== 'UserAssignedMSI'
    ? new ClientSecretCredentialsFactory({ appId, password: env.MICROSOFT_APP_PASSWORD, tenantId: env.MICROSOFT_APP_TENANT_ID, ...(deps.tokenTimeoutMs ? { timeoutMs: deps.tokenTimeoutMs } : {}) })
    : undefined;
  const auth = guardAuthentication(new ConfigurationBotFrameworkAuthentication({
    MicrosoftAppId: appId,
    ...(env.MICROSOFT_APP_PASSWORD ? { MicrosoftAppPassword: env.MICROSOFT_APP_PASSWORD } : {}),
    ...(env.MICROSOFT_APP_TENANT_ID ? { MicrosoftAppTenantId: env.MICROSOFT_APP_TENANT_ID } : {}),
    MicrosoftAppType: env.MICROSOFT_APP_TYPE ?? 'MultiTenant',
    ...(deps.auth ? { ...PUBLIC_CLOUD, ...deps.auth } : {}),
  }, credentials), deps.authTimeoutMs ?? 5000, Math.min(deps.sendTimeoutMs ?? 15_000, CONNECTOR_REQUEST_TIMEOUT_MS));
  const adapter = new CloudAdapter(auth);
  adapter.onTurnError = async (_ctx, error) => {
    app.log.error({ err: error }, 'Teams turn failed');
  };
  const refs = new ReferenceStore(app);
  const port = new TeamsChatPort({ app, adapter, appId, refs, budgets: app.config.delivery.teams, ...(deps.sendTimeoutMs ? { sendTimeoutMs: deps.sendTimeoutMs } : {}) });
  const bot = new TeamsBot({ app, router, refs, port, ...(deps.invokeDeadlineMs ? { invokeDeadlineMs: deps.invokeDeadlineMs } : {}) });
  const route = messagesRoute({ adapter, authOn, logic: bot.onTurn, log: app.log, ...(deps.processTimeoutMs ? { processTimeoutMs: deps.processTimeoutMs } : {}) });
  app.log.info({ authentication: authOn ? 'on' : 'off (loopback, Bot Framework Emulator)' }, 'Teams: serving POST /api/messages');
  return { platform: 'teams', port, pacer: port.pacer, routes: [route], stop: () => bot.drain() };
}
