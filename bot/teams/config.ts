import { z } from 'zod';
import { ConfigError, secretFromEnv } from '../../lib/config.js';

/**
 * Teams' settings, under Warden's own names. Teams is on when TEAMS_APP_ID is set. The Agents SDK
 * would also read `Connections__*`, `clientId`, `clientSecret`, `tenantId` and friends from the
 * environment and let them win over what Warden passes it, so their presence is refused: one
 * place configures the bot, and it is this one.
 */
export interface TeamsConfig {
  /** The bot's Microsoft App ID (Entra app registration client id): the audience of inbound tokens. */
  appId: string;
  /** The app's client secret, for outbound tokens. */
  appPassword: string;
  /** The one Entra tenant whose Teams may talk to this bot. */
  tenantId: string;
  /**
   * Origins (scheme://host[:port]) the bot accepts as an activity's serviceUrl and sends to.
   * Default: https://smba.trafficmanager.net, Teams' public Bot Connector.
   */
  allowedServiceUrls: string[];
  /** Where notifications of no project (or a project without a Teams channel) go; unset: nowhere. */
  defaultChannel: string | undefined;
  /**
   * WARDEN_PUBLIC_URL when it is set (lib/config.ts passes it in): cards link their charts from
   * it (images.ts), and only when it is https, which Teams requires.
   */
  publicUrl: string | undefined;
}

export const TEAMS_SECRET_KEYS = ['TEAMS_APP_PASSWORD'] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_SERVICE_URL = 'https://smba.trafficmanager.net';

const HINTS = {
  TEAMS_APP_ID:
    'copy the Microsoft App ID from the Azure Bot resource (Configuration page) into TEAMS_APP_ID',
  TEAMS_APP_PASSWORD:
    "create a client secret on the bot's Entra app registration (Certificates & secrets) and put it in TEAMS_APP_PASSWORD or TEAMS_APP_PASSWORD_FILE",
  TEAMS_TENANT_ID: 'copy your Entra tenant id (Directory ID) into TEAMS_TENANT_ID; the bot is single-tenant',
};

export const TeamsEnv = z.object({
  TEAMS_APP_ID: z.string().trim().regex(GUID, `must be a GUID; ${HINTS.TEAMS_APP_ID}`).optional(),
  TEAMS_APP_PASSWORD: z.string().min(1).max(1024).optional(),
  TEAMS_TENANT_ID: z.string().trim().regex(GUID, `must be a GUID; ${HINTS.TEAMS_TENANT_ID}`).optional(),
  TEAMS_ALLOWED_SERVICE_URLS: z.string().optional(),
  TEAMS_DEFAULT_CHANNEL: z
    .string()
    .regex(/^19:[A-Za-z0-9_.@-]{1,200}$/, 'must be a Teams channel id, like 19:…@thread.tacv2')
    .optional(),
});
export type TeamsEnv = z.infer<typeof TeamsEnv>;

/**
 * Variables the Agents SDK reads by itself (any letter case). Left set, they would silently
 * replace the bot's identity or secret with something Warden never validated.
 */
function sdkOverride(key: string): boolean {
  const upper = key.toUpperCase();
  return (
    upper.startsWith('CONNECTIONS__') ||
    upper.startsWith('CONNECTIONSMAP__') ||
    ['CLIENTID', 'CLIENTSECRET', 'TENANTID', 'AUTHTYPE', 'AUTHORITYENDPOINT', 'FICCLIENTID'].includes(
      upper,
    ) ||
    ['MICROSOFTAPPID', 'MICROSOFTAPPPASSWORD', 'MICROSOFTAPPTENANTID'].includes(upper)
  );
}

/** One allowed serviceUrl origin; paths are dropped because the check compares origins. */
function parseOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new ConfigError(
      `invalid TEAMS_ALLOWED_SERVICE_URLS: "${text.trim().slice(0, 80)}" is not a URL; list origins such as ${DEFAULT_SERVICE_URL}, separated by commas`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`invalid TEAMS_ALLOWED_SERVICE_URLS: "${url.origin}" must be an https URL`);
  }
  return url.origin;
}

function readSecretFiles(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const key of Object.keys(TeamsEnv.shape)) out[key] = env[key] === '' ? undefined : env[key];
  for (const key of TEAMS_SECRET_KEYS) {
    if (env[`${key}_FILE`]) out[key] = secretFromEnv(env, key);
  }
  return out;
}

/**
 * Teams' part of the configuration, or undefined when TEAMS_APP_ID is not set. Throws a
 * one-line ConfigError naming the key and how to fix it.
 */
/** `publicUrl`: WARDEN_PUBLIC_URL as lib/config.ts validated it (no trailing slash), when it is set. */
export function loadTeamsConfig(
  env: Record<string, string | undefined>,
  publicUrl?: string,
): TeamsConfig | undefined {
  const parsed = TeamsEnv.safeParse(readSecretFiles(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`invalid ${String(issue.path[0] ?? 'TEAMS_*')}: ${issue.message}`);
  }
  const v = parsed.data;
  if (!v.TEAMS_APP_ID) {
    const stray = (
      [
        'TEAMS_APP_PASSWORD',
        'TEAMS_TENANT_ID',
        'TEAMS_ALLOWED_SERVICE_URLS',
        'TEAMS_DEFAULT_CHANNEL',
      ] as const
    ).find((k) => v[k]);
    if (stray) {
      throw new ConfigError(
        `missing required value TEAMS_APP_ID (${stray} is set, so Teams is meant to be on): ${HINTS.TEAMS_APP_ID}`,
      );
    }
    return undefined;
  }
  if (!v.TEAMS_APP_PASSWORD) {
    throw new ConfigError(`missing required value TEAMS_APP_PASSWORD: ${HINTS.TEAMS_APP_PASSWORD}`);
  }
  if (!v.TEAMS_TENANT_ID) {
    throw new ConfigError(`missing required value TEAMS_TENANT_ID: ${HINTS.TEAMS_TENANT_ID}`);
  }
  const stray = Object.keys(env).find((key) => env[key] !== undefined && env[key] !== '' && sdkOverride(key));
  if (stray) {
    throw new ConfigError(
      `remove the environment variable ${stray}: the Teams SDK would read it in place of TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID, which are the only Teams settings Warden uses`,
    );
  }
  const origins = (v.TEAMS_ALLOWED_SERVICE_URLS ?? DEFAULT_SERVICE_URL)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseOrigin);
  if (origins.length === 0) {
    throw new ConfigError(
      `invalid TEAMS_ALLOWED_SERVICE_URLS: list at least one origin, such as ${DEFAULT_SERVICE_URL}`,
    );
  }
  return {
    appId: v.TEAMS_APP_ID.toLowerCase(),
    appPassword: v.TEAMS_APP_PASSWORD,
    tenantId: v.TEAMS_TENANT_ID.toLowerCase(),
    allowedServiceUrls: [...new Set(origins)],
    defaultChannel: v.TEAMS_DEFAULT_CHANNEL,
    publicUrl,
  };
}
