import { createRequire } from 'node:module';
import path from 'node:path';
import type { Activity } from '@microsoft/agents-activity';
import type {
  AuthConfiguration,
  AuthProvider,
  CloudAdapter,
  Connections,
  OutboundHostValidator,
} from '@microsoft/agents-hosting';
import { OutboundHostValidator as HostValidator } from '@microsoft/agents-hosting';
import type { TeamsConfig } from './config.js';

/**
 * How the bot decides whom to believe, in one place. The Agents SDK leaves several checks off by
 * default; every one is turned on here:
 *
 * - inbound JWTs: audience = the app id, RS256 only, expiry (5 min skew, the SDK's), and the
 *   issuer must be the Bot Connector or an Entra issuer of our own tenant (`validateIssuer`);
 * - the activity's serviceUrl must be one of TEAMS_ALLOWED_SERVICE_URLS, and the token's
 *   `serviceurl` claim must name the same origin (bridge.ts adds the exact check; the SDK compares
 *   host names only);
 * - outbound calls go only to allowed hosts (OutboundHostValidator with an explicit list and
 *   without the SDK's long default list of Microsoft hosts).
 */
export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';
/** Where the SDK fetches the Bot Connector's signing keys; fixed in the SDK. */
export const BOT_FRAMEWORK_JWKS = 'https://login.botframework.com/v1/.well-known/keys';
const AUTHORITY = 'https://login.microsoftonline.com';
const CONNECTION = 'serviceConnection';

/** Entra v1 and v2 issuers of the bot's own tenant. */
export function tenantIssuers(tenantId: string): string[] {
  return [`https://sts.windows.net/${tenantId}/`, `${AUTHORITY}/${tenantId}/v2.0`];
}

/**
 * The SDK's auth configuration. Passing `connections` and `connectionsMap` explicitly keeps the
 * SDK from filling them from `Connections__*` variables (config.ts also refuses those).
 */
export function teamsAuthConfiguration(config: TeamsConfig): AuthConfiguration {
  const connection: AuthConfiguration = {
    clientId: config.appId,
    clientSecret: config.appPassword,
    tenantId: config.tenantId,
    authorityEndpoint: `${AUTHORITY}/${config.tenantId}`,
    issuers: [BOT_FRAMEWORK_ISSUER, ...tenantIssuers(config.tenantId)],
    validateIssuer: true,
  };
  return {
    ...connection,
    connections: new Map([[CONNECTION, connection]]),
    connectionsMap: [{ serviceUrl: '*', connection: CONNECTION }],
  };
}

/** Outbound calls (and inbound serviceUrls) only to the configured hosts. */
export function outboundPolicy(config: TeamsConfig): OutboundHostValidator {
  return new HostValidator({
    enabled: true,
    includeDefaultMicrosoftHosts: false,
    hosts: config.allowedServiceUrls.map((origin) => new URL(origin).hostname),
  });
}

/** True when `serviceUrl` is exactly on one of the allowed origins (scheme, host and port). */
export function isAllowedServiceUrl(config: TeamsConfig, serviceUrl: string): boolean {
  let origin: string;
  try {
    origin = new URL(serviceUrl).origin;
  } catch {
    return false;
  }
  return config.allowedServiceUrls.includes(origin);
}

/** Where outgoing bearer tokens come from: MSAL in production, a fake in tests. */
export type TokenSource = (scope: string) => Promise<string>;

/**
 * Replace the adapter's MSAL connection manager with one that asks `source` for tokens. Tests use
 * it so nothing calls login.microsoftonline.com (MSAL also refuses an http authority).
 */
export function useTokenSource(adapter: CloudAdapter, source: TokenSource, auth: AuthConfiguration): void {
  const provider: AuthProvider = {
    connectionSettings: auth,
    getAccessToken(configOrScope: AuthConfiguration | string, scope?: string) {
      return source(typeof configOrScope === 'string' ? configOrScope : (scope ?? ''));
    },
    getAgenticApplicationToken: () => Promise.reject(new Error('agentic tokens are not used by Warden')),
    getAgenticInstanceToken: () => Promise.reject(new Error('agentic tokens are not used by Warden')),
    getAgenticUserToken: () => Promise.reject(new Error('agentic tokens are not used by Warden')),
    acquireTokenOnBehalfOf: () => Promise.reject(new Error('on-behalf-of tokens are not used by Warden')),
  } as AuthProvider;
  const connections: Connections = {
    getConnection: () => provider,
    getDefaultConnection: () => provider,
    getTokenProvider: () => provider,
    getTokenProviderFromActivity: (_identity: unknown, _activity: Activity) => provider,
    getDefaultConnectionConfiguration: () => auth,
  };
  adapter.connectionManager = connections;
}

interface JwksClientLike {
  options: { jwksUri: string };
}

/**
 * For tests only: make the SDK fetch the signing keys it would fetch from `from` (the Bot
 * Connector's fixed login.botframework.com URL, or our tenant's Entra key URL) from `to`, a
 * local JWKS. The SDK keeps one process-wide JWKS client per URL and exports no hook, so this
 * reaches its module (the same instance the SDK uses) and re-points that client.
 */
export function redirectInboundKeys(from: string, to: string): void {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@microsoft/agents-hosting');
  const middleware = require(path.join(path.dirname(entry), 'auth', 'jwt-middleware.js')) as {
    getJwksClient(uri: string): JwksClientLike;
  };
  const client = middleware.getJwksClient(from);
  client.options.jwksUri = to;
}

/** The Entra key URL the SDK uses for tokens issued by our tenant. */
export function tenantJwksUri(config: TeamsConfig): string {
  return `${AUTHORITY}/${config.tenantId}/discovery/v2.0/keys`;
}
