import { randomUUID } from 'node:crypto';
import type { Hono } from 'hono';
import type { Registry } from '../../commands/registry.js';
import { createOutboxWorker, type OutboxWorker } from '../../jobs/outbox-worker.js';
import type { Sql } from '../../storage/db.js';
import type { TestDeps } from '../../test/deps.js';
import { startTeamsConnector, type TeamsConnectorFake } from '../../test/fakes/teams-connector.js';
import {
  type MintOptions,
  startTeamsIdentity,
  type TeamsIdentityFake,
} from '../../test/fakes/teams-identity.js';
import { createApp } from '../app.js';
import { createChatDeliverer } from '../chat/deliver.js';
import type { AppEnv } from '../http/context.js';
import { BOT_FRAMEWORK_JWKS, redirectInboundKeys, tenantJwksUri } from './auth.js';
import type { TeamsConfig } from './config.js';
import { createTeamsApp, type TeamsApp } from './index.js';

/**
 * Test support for the Teams adapter: a local identity provider (JWKS + JWT minting), a strict
 * fake Bot Connector, the Teams app wired to both (outgoing tokens from a test token source,
 * inbound keys redirected to the local JWKS), and builders for the activities Teams sends.
 */
export interface TeamsUser {
  aad: string;
  /** The Teams user id (29:…). */
  id: string;
  name: string;
}

export interface TeamsHarness {
  identity: TeamsIdentityFake;
  connector: TeamsConnectorFake;
  config: TeamsConfig;
  teams: TeamsApp;
  app: Hono<AppEnv>;
  worker: OutboxWorker;
  bot: { id: string; name: string };
  tenantId: string;
  /** The project channel (also the team id, as for a team's General channel). */
  channel: string;
  /** Scopes the bot asked the token source for. */
  scopes: string[];
  newUser(name: string): TeamsUser;
  personalChat(user: TeamsUser): string;
  /** POST an activity to /api/messages with a valid token (or `token: null` for none). */
  send(
    activity: Record<string, unknown>,
    options?: { token?: string | null; mint?: MintOptions },
  ): Promise<Response>;
  message(user: TeamsUser, text: string, where: 'personal' | 'channel'): Record<string, unknown>;
  click(
    user: TeamsUser,
    cardId: string,
    verb: string,
    data: Record<string, unknown>,
    conversation?: string,
  ): Record<string, unknown>;
  botAdded(by: TeamsUser, where: 'personal' | 'channel'): Record<string, unknown>;
  stop(): Promise<void>;
}

/** Where the harness's Warden says it lives: https, so cards link their images from it. */
export const TEST_PUBLIC_URL = 'https://warden.example.test';

let seq = 0;
function nextId(): string {
  seq += 1;
  return `${Date.now()}${String(seq).padStart(4, '0')}`;
}

export async function startTeamsHarness(sql: Sql, deps: TestDeps, registry: Registry): Promise<TeamsHarness> {
  const appId = randomUUID();
  const tenantId = randomUUID();
  const identity = await startTeamsIdentity(appId);
  const connector = await startTeamsConnector();
  const config: TeamsConfig = {
    appId,
    appPassword: 'not-used-in-tests',
    tenantId,
    allowedServiceUrls: [connector.server.url],
    defaultChannel: undefined,
    publicUrl: TEST_PUBLIC_URL,
  };
  // The SDK fetches keys from fixed Microsoft URLs; in tests they come from the local JWKS.
  redirectInboundKeys(BOT_FRAMEWORK_JWKS, identity.jwksUrl);
  redirectInboundKeys(tenantJwksUri(config), identity.jwksUrl);
  const scopes: string[] = [];
  const teams = createTeamsApp(config, deps, registry, {
    tokenSource: async (scope) => {
      scopes.push(scope);
      return connector.token;
    },
  });
  const app = createApp({ deps, mounts: [{ path: '/', app: teams.routes }] });
  const worker = createOutboxWorker({
    sql,
    clock: deps.clock,
    log: deps.log,
    deliverers: { teams: createChatDeliverer({ sql, platform: teams.platform, clock: deps.clock }) },
  });
  const bot = { id: `28:${appId}`, name: 'Warden' };
  const channel = `19:${randomUUID().replace(/-/g, '')}@thread.tacv2`;
  connector.addConversation(channel);

  const users: TeamsUser[] = [];
  function personalChat(user: TeamsUser): string {
    return `a:1${user.aad.replace(/-/g, '')}`;
  }
  function common(user: TeamsUser, where: 'personal' | 'channel', conversationId?: string) {
    const personal = where === 'personal';
    return {
      channelId: 'msteams',
      serviceUrl: connector.serviceUrl,
      timestamp: new Date().toISOString(),
      from: { id: user.id, name: user.name, aadObjectId: user.aad },
      recipient: bot,
      conversation: personal
        ? { id: conversationId ?? personalChat(user), conversationType: 'personal', tenantId }
        : { id: conversationId ?? channel, conversationType: 'channel', isGroup: true, tenantId },
      channelData: personal
        ? { tenant: { id: tenantId } }
        : { tenant: { id: tenantId }, team: { id: channel }, channel: { id: channel } },
    };
  }

  return {
    identity,
    connector,
    config,
    teams,
    app,
    worker,
    bot,
    tenantId,
    channel,
    scopes,
    newUser(name) {
      const user = { aad: randomUUID(), id: `29:${randomUUID()}`, name };
      users.push(user);
      connector.addConversation(personalChat(user), [
        { id: user.id, aadObjectId: user.aad, name, email: `${name.toLowerCase()}@example.com` },
      ]);
      // Every user is in the team's roster too.
      connector.addConversation(
        channel,
        users.map((u) => ({
          id: u.id,
          aadObjectId: u.aad,
          name: u.name,
          email: `${u.name.toLowerCase()}@example.com`,
        })),
      );
      return user;
    },
    personalChat,
    async send(activity, options = {}) {
      const token =
        options.token === undefined
          ? identity.mint({ serviceurl: connector.serviceUrl, ...options.mint })
          : options.token;
      if (activity.type === 'message' && typeof activity.id === 'string') {
        connector.noteIncoming(activity as { id: string; conversation: { id: string } });
      }
      return app.request('/api/messages', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(activity),
      });
    },
    message(user, text, where) {
      const id = nextId();
      if (where === 'personal') return { type: 'message', id, text, ...common(user, where) };
      const mention = `<at>${bot.name}</at>`;
      return {
        type: 'message',
        id,
        text: `${mention} ${text}`,
        entities: [{ type: 'mention', text: mention, mentioned: bot }],
        ...common(user, where, `${channel};messageid=${id}`),
      };
    },
    click(user, cardId, verb, data, conversation) {
      const where = conversation?.startsWith('a:') ? 'personal' : 'channel';
      return {
        type: 'invoke',
        name: 'adaptiveCard/action',
        id: nextId(),
        replyToId: cardId,
        value: { action: { type: 'Action.Execute', verb, data }, trigger: 'manual' },
        ...common(user, where, conversation ?? `${channel};messageid=${cardId}`),
      };
    },
    botAdded(by, where) {
      return {
        type: 'conversationUpdate',
        id: nextId(),
        membersAdded: [bot],
        ...common(by, where),
        ...(where === 'channel'
          ? {
              channelData: {
                tenant: { id: tenantId },
                team: { id: channel, name: 'Ops' },
                eventType: 'teamMemberAdded',
              },
            }
          : {}),
      };
    },
    async stop() {
      await worker.stop();
      await Promise.all([identity.stop(), connector.stop()]);
    },
  };
}
