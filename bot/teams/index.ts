import { CloudAdapter } from '@microsoft/agents-hosting';
import type { Hono } from 'hono';
import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable } from '../../storage/db.js';
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

/** Teams' outgoing side: the SDK adapter and the platform the outbox worker posts through. */
export interface TeamsChat {
  adapter: CloudAdapter;
  platform: ChatPlatform;
  /** For /readyz: true while a Bot Connector token can be had. */
  readiness: Record<string, () => Promise<boolean>>;
}

export interface TeamsApp extends TeamsChat {
  /** `POST /api/messages`; mount at `/`. */
  routes: Hono;
}

/**
 * The adapter (every token check on) and the outgoing platform. main.ts makes it before the
 * deps, because the outbox worker needs its deliverer; createTeamsApp then adds the endpoint.
 */
export function createTeamsChat(
  config: TeamsConfig,
  base: { sql: Queryable; clock: Clock; log: Logger },
  options: TeamsAppOptions = {},
): TeamsChat {
  const log = base.log.child({ component: 'teams' });
  const auth = teamsAuthConfiguration(config);
  const adapter = new CloudAdapter(
    auth,
    undefined,
    undefined,
    { validateServiceUrl: true, emitStackTrace: false },
    outboundPolicy(config),
  );
  // The SDK's default posts "The agent encountered an error or bug" into the chat and answers 200.
  // Warden says nothing in chat and fails the request instead, so Teams retries an activity that
  // could not even be recorded (the retry is deduplicated by activity id).
  adapter.onTurnError = async (_ctx, error) => {
    log.error({ err: error }, 'Teams turn failed');
    throw error;
  };
  if (options.tokenSource) useTokenSource(adapter, options.tokenSource, auth);
  const platform = createTeamsPlatform({ sql: base.sql, adapter, config, clock: base.clock, log });
  return {
    adapter,
    platform,
    readiness: {
      async teams() {
        const token = await adapter.connectionManager.getDefaultConnection().getAccessToken(CONNECTOR_SCOPE);
        return typeof token === 'string' && token.length > 0;
      },
    },
  };
}

/**
 * Warden on Microsoft Teams: the bot endpoint, the outgoing platform and a readiness check, all
 * on one Agents SDK adapter.
 *
 * @example
 * const chat = createTeamsChat(config.teams, { sql, clock, log });
 * deliverers.teams = createChatDeliverer({ sql, platform: chat.platform, clock });
 * const teams = createTeamsApp(config.teams, deps, registry, { chat });
 * mounts.push({ path: '/', app: teams.routes });
 */
export function createTeamsApp(
  config: TeamsConfig,
  deps: Deps,
  registry: Registry,
  options: TeamsAppOptions & { chat?: TeamsChat } = {},
): TeamsApp {
  const chat = options.chat ?? createTeamsChat(config, deps, options);
  const onActivity = createTurnHandler({ deps, registry, config, adapter: chat.adapter });
  const routes = createTeamsRoutes({
    adapter: chat.adapter,
    config,
    log: deps.log.child({ component: 'teams' }),
    onActivity,
  });
  return { ...chat, routes };
}
