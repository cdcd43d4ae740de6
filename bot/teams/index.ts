import { CloudAdapter } from '@microsoft/agents-hosting';
import type { Hono } from 'hono';
import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import type { ChatPlatform } from '../chat/platform.js';
import { outboundPolicy, type TokenSource, teamsAuthConfiguration, useTokenSource } from './auth.js';
import { createTeamsRoutes } from './bridge.js';
import type { TeamsConfig } from './config.js';
import { createTeamsPlatform } from './platform.js';
import { createTurnHandler } from './turn.js';

export type { TeamsConfig } from './config.js';

/** The scope of Bot Connector tokens. */
const CONNECTOR_SCOPE = 'https://api.botframework.com';

export interface TeamsAppOptions {
  /** Replaces MSAL as the source of outgoing tokens (tests; nothing then calls Entra). */
  tokenSource?: TokenSource;
}

export interface TeamsApp {
  /** `POST /api/messages`; mount at `/`. */
  routes: Hono;
  /** For the outbox worker (createChatDeliverer). */
  platform: ChatPlatform;
  /** For /readyz: true while a Bot Connector token can be had. */
  readiness: Record<string, () => Promise<boolean>>;
  /** The SDK adapter, for tests that need to reach into it. */
  adapter: CloudAdapter;
}

/**
 * Warden on Microsoft Teams: the bot endpoint, the outgoing platform and a readiness check, all
 * on one Agents SDK adapter configured with every token check on.
 *
 * @example
 * const teams = createTeamsApp(config.teams, deps, registry);
 * mounts.push({ path: '/', app: teams.routes });
 * deliverers.teams = createChatDeliverer({ sql, platform: teams.platform, clock });
 */
export function createTeamsApp(
  config: TeamsConfig,
  deps: Deps,
  registry: Registry,
  options: TeamsAppOptions = {},
): TeamsApp {
  const log = deps.log.child({ component: 'teams' });
  const auth = teamsAuthConfiguration(config);
  const adapter = new CloudAdapter(
    auth,
    undefined,
    undefined,
    { validateServiceUrl: true, emitStackTrace: false },
    outboundPolicy(config),
  );
  // The SDK's default posts "The agent encountered an error or bug" into the chat.
  adapter.onTurnError = async (_ctx, error) => {
    log.error({ err: error }, 'Teams turn failed');
  };
  if (options.tokenSource) useTokenSource(adapter, options.tokenSource, auth);

  const onActivity = createTurnHandler({ deps, registry, config, adapter });
  const routes = createTeamsRoutes({ adapter, config, log, onActivity });
  const platform = createTeamsPlatform({ sql: deps.sql, adapter, config, clock: deps.clock, log });
  return {
    routes,
    platform,
    adapter,
    readiness: {
      async teams() {
        const token = await adapter.connectionManager.getDefaultConnection().getAccessToken(CONNECTOR_SCOPE);
        return typeof token === 'string' && token.length > 0;
      },
    },
  };
}
