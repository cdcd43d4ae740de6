import { App } from '@slack/bolt';
import { Hono } from 'hono';
import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import type { Deliverer } from '../../jobs/outbox-worker.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable, Sql } from '../../storage/db.js';
import { createChatDeliverer } from '../chat/deliver.js';
import type { AppEnv } from '../http/context.js';
import type { SlackConfig } from './config.js';
import { createGate } from './gate.js';
import { onAction, onCommand, onViewSubmission, publishHome } from './handlers.js';
import type { HomeSources } from './home.js';
import { createSlackIdentity } from './identity.js';
import { onOptions } from './options.js';
import { createSlackPlatform, type SlackPlatform } from './platform.js';
import { createSlackHttpReceiver, type SlackHttpReceiver } from './receiver.js';
import type { SlackContext } from './respond.js';
import { createSlackSocket, type SlackSocket } from './socket-mode.js';
import { createWebClient, slackLogger } from './web.js';

export type { SlackConfig } from './config.js';
export { loadSlackConfig } from './config.js';
export type { SlackPlatform } from './platform.js';

/**
 * Slack for Warden: a Bolt 5 app behind Warden's own HTTP server (POST /slack/events) or on a
 * Socket Mode WebSocket, translating every request into the command layer, plus the outgoing
 * side (the ChatPlatform the outbox delivers through).
 */
export interface SlackApp {
  /** Mount at /slack: POST /slack/events takes commands, interactivity, options and events. Empty in Socket Mode. */
  routes: Hono<AppEnv>;
  platform: SlackPlatform;
  /** The outbox deliverer for the 'slack' channel. */
  deliverer: Deliverer;
  /** /readyz checks: the bot token works (and, in Socket Mode, the socket is open). */
  readiness: Record<string, () => Promise<boolean>>;
  /** Check the token (auth.test) and, in Socket Mode, connect. Never throws: problems go to the log and /readyz. */
  start(): Promise<void>;
  /** Disconnect and wait for requests in flight (and their after-acknowledgement work). */
  stop(): Promise<void>;
  /** Resolves once every request taken so far has finished, after-acknowledgement work included. */
  idle(): Promise<void>;
}

export interface SlackAppOptions {
  /** Reuse a platform made earlier (main.ts builds the outbox's deliverers before the deps). */
  platform?: SlackPlatform;
  homeSources?: HomeSources;
  /** See SlackContext.fastReplyMs; default 1,500 ms (Slack waits 3 s). */
  fastReplyMs?: number;
  /**
   * A small pool of its own for what must commit before the acknowledgement (replay cache,
   * recording the interaction), so acknowledgements never wait behind decisions and outbox
   * deliveries on the main pool. Default `deps.sql` (embedded PGlite is one session anyway).
   */
  ingressSql?: Sql;
  /** Interactions run at once after their acknowledgement; the rest queue (default 8, below the main pool's 10). */
  concurrency?: number;
}

/** The outgoing side alone: what the outbox worker needs, before the rest of Warden exists. */
export function createSlackChat(
  config: SlackConfig,
  base: { sql: Queryable; clock: Clock; log: Logger },
): SlackPlatform {
  const log = base.log.child({ component: 'slack' });
  return createSlackPlatform({
    sql: base.sql,
    clock: base.clock,
    log,
    client: createWebClient(config.botToken, config.apiUrl, log),
    ...(config.defaultChannel ? { defaultChannel: config.defaultChannel } : {}),
  });
}

/**
 * @example
 * const slack = createSlackApp(config.slack, deps, registry);
 * createApp({ deps, mounts: [{ path: '/slack', app: slack.routes }], readiness: { extra: slack.readiness } });
 * await slack.start();
 */
export function createSlackApp(
  config: SlackConfig,
  deps: Deps,
  registry: Registry,
  options: SlackAppOptions = {},
): SlackApp {
  const log = deps.log.child({ component: 'slack' });
  const platform = options.platform ?? createSlackChat(config, deps);
  const identity = createSlackIdentity({ sql: deps.sql, client: platform.client, clock: deps.clock, log });
  const background = new Set<Promise<unknown>>();
  const ingressSql = options.ingressSql ?? deps.sql;
  const ctx: SlackContext = {
    deps,
    ingressSql,
    gate: createGate(options.concurrency ?? 8),
    registry,
    platform,
    identity,
    log,
    fastReplyMs: options.fastReplyMs ?? 1_500,
    ...(options.homeSources ? { homeSources: options.homeSources } : {}),
    track(work) {
      background.add(work);
      void work.finally(() => background.delete(work)).catch(() => {});
    },
  };

  let http: SlackHttpReceiver | undefined;
  let socket: SlackSocket | undefined;
  if (config.mode === 'socket') {
    socket = createSlackSocket({
      appToken: config.appToken!,
      apiUrl: config.apiUrl,
      sql: ingressSql,
      clock: deps.clock,
      log,
    });
  } else {
    http = createSlackHttpReceiver({
      signingSecret: config.signingSecret!,
      sql: ingressSql,
      clock: deps.clock,
      log,
    });
  }
  const app = new App({
    receiver: socket?.receiver ?? http!,
    logger: slackLogger(log),
    // The token is checked once (auth.test) and remembered; a refused token makes /readyz false.
    authorize: async () => {
      const bot = await platform.bot();
      return { botToken: config.botToken, botUserId: bot.userId, botId: bot.botId, teamId: bot.teamId };
    },
    clientOptions: { ...(config.apiUrl ? { slackApiUrl: config.apiUrl } : {}), retryConfig: { retries: 0 } },
  });
  // Listeners go on after the acknowledgement; idle() and stop() wait for them.
  app.use(async ({ next }) => {
    const listening = next();
    ctx.track(listening);
    await listening;
  });
  socket?.install(app);
  app.error(async (error) => {
    log.error({ err: error }, 'a Slack request failed');
    // Rethrown so that a failure before the acknowledgement reaches Slack as an error, never as a 200.
    throw error;
  });
  app.command(/.*/, async ({ body, ack }) => onCommand(ctx, body, (r) => ack(r as never)));
  app.action(/.*/, async ({ body, ack }) => onAction(ctx, body, (r) => ack(r as never)));
  app.view(/.*/, async ({ body, ack }) => onViewSubmission(ctx, body, (r) => ack(r as never)));
  app.options(/.*/, async ({ body, ack }) => onOptions(ctx, body, (r) => ack(r as never)));
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab === 'home') await publishHome(ctx, event.user);
  });

  const readiness: Record<string, () => Promise<boolean>> = { slack: () => platform.ready() };
  if (socket) readiness['slack-socket'] = async () => socket!.connected();

  return {
    routes: http ? http.routes : new Hono<AppEnv>(),
    platform,
    deliverer: createChatDeliverer({ sql: deps.sql, platform, clock: deps.clock }),
    readiness,
    async start() {
      try {
        const bot = await platform.bot();
        log.info({ botUserId: bot.userId, team: bot.teamId, mode: config.mode }, 'Slack bot token accepted');
      } catch {
        // platform.bot() logged why; /readyz reports it until the token works.
      }
      if (socket) {
        try {
          await app.start();
        } catch (error) {
          log.error(
            { err: error },
            'Slack Socket Mode could not connect: check SLACK_APP_TOKEN (an xapp- token with connections:write)',
          );
        }
      }
    },
    async stop() {
      if (socket)
        await app.stop().catch((error: unknown) => log.warn({ err: error }, 'Slack Socket Mode stop failed'));
      await this.idle();
    },
    async idle() {
      await http?.idle();
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}
