import { Activity } from '@microsoft/agents-activity';
import { type CloudAdapter, type ConnectorClient, HttpError } from '@microsoft/agents-hosting';
import type { Clock } from '../../lib/clock.js';
import { AppError, IntegrationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable } from '../../storage/db.js';
import {
  findPersonalTeamsConversation,
  findTeamsIdentity,
  getTeamsPost,
  saveTeamsPost,
} from '../../storage/teams.js';
import type { Reply } from '../chat/model.js';
import type { ChatPlatform } from '../chat/platform.js';
import type { TeamsConfig } from './config.js';
import { createImageLinker } from './images.js';
import { findTarget, storedReference, type Target } from './proactive.js';
import { cardMessage } from './render.js';

/**
 * Teams as a `ChatPlatform` for the outbox worker. Every call starts from a stored conversation
 * reference (proactive.ts) through the SDK's continueConversation, which checks the serviceUrl
 * against the outbound host policy and gets a bot token, and then speaks the Bot Connector's
 * REST API: POST …/activities (a new post), PUT …/activities/{id} (update in place), and a reply
 * to the thread `{channel};messageid={root}`. Posts remember their idempotency key, so an outbox
 * item sent twice posts once.
 *
 * A reply's image (a digest's chart) is drawn inside the reply's own card, under its text, rather
 * than sent by `uploadImage` as a message of its own: in a channel every message starts a thread,
 * so a second post would split the digest from its chart, put two notifications in the activity
 * feed, and let other posts land between them. One card reads as one digest, and a reply in its
 * thread is about both. The picture is linked from Warden (images.ts), since it does not fit in
 * a Teams message.
 */
export interface TeamsPlatformOptions {
  sql: Queryable;
  adapter: CloudAdapter;
  config: TeamsConfig;
  clock: Clock;
  log: Logger;
  /** How long linked images stay fetchable; default 90 days (images.ts). */
  imageTtlMs?: number;
}

/** A Bot Connector failure as Warden's error: 429 and 503 carry Retry-After for the outbox. */
export function connectorError(error: unknown, what: string): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof HttpError) {
    const header = error.response?.headers?.get?.('retry-after');
    const seconds = header && /^\d{1,6}$/.test(header) ? Number(header) : undefined;
    const status = error.status;
    const reason =
      status === 429
        ? 'Teams is throttling Warden'
        : status === 401 || status === 403
          ? 'Teams refused the bot (check TEAMS_APP_ID / TEAMS_APP_PASSWORD, and that the app is still in the team)'
          : status === 404
            ? 'Teams does not know that conversation or message'
            : `the Bot Connector answered ${status}`;
    return new IntegrationError('teams', `${what}: ${reason}`, {
      cause: error,
      ...(seconds === undefined ? {} : { retryAfter: seconds }),
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new IntegrationError('teams', `${what}: ${message.slice(0, 300)}`, { cause: error });
}

export function createTeamsPlatform(options: TeamsPlatformOptions): ChatPlatform {
  const { sql, adapter, config, clock, log } = options;
  const linkImage = createImageLinker({
    sql,
    clock,
    publicUrl: config.publicUrl,
    ...(options.imageTtlMs === undefined ? {} : { ttlMs: options.imageTtlMs }),
  });

  async function target(conversationId: string, what: string): Promise<Target> {
    const found = await findTarget(sql, config, conversationId);
    if (found.target) return found.target;
    throw new IntegrationError(
      'teams',
      found.removed
        ? `${what}: Warden was removed from Teams conversation ${conversationId}; add the Warden app to the team again, or change the project's Teams channel`
        : `${what}: Warden has never been added to Teams conversation ${conversationId}; add the Warden app to that team (or chat) first`,
    );
  }

  /** Run `call` with a connector client for the target's serviceUrl and the bot's token. */
  async function withClient<T>(
    t: Target,
    what: string,
    call: (client: ConnectorClient) => Promise<T>,
  ): Promise<T> {
    let result: { value: T } | undefined;
    let failure: unknown;
    try {
      await adapter.continueConversation(config.appId, t.reference, async (ctx) => {
        try {
          result = { value: await call(ctx.turnState.get<ConnectorClient>(adapter.ConnectorClientKey)) };
        } catch (error) {
          failure = error;
        }
      });
    } catch (error) {
      failure = error;
    }
    if (result) return result.value;
    const translated = connectorError(failure ?? new Error('no answer'), what);
    log.warn({ err: translated.message, conversation: t.reference.conversation.id }, 'Teams call failed');
    throw translated;
  }

  /**
   * The reply as a card activity; its image (if any) is stored and linked first, once per
   * idempotency key when the send has one (a retry reuses the row).
   */
  async function activity(t: Target, reply: Reply, conversationId: string, key?: string): Promise<Activity> {
    const image = reply.image ? await linkImage(reply.image, key) : undefined;
    return Activity.fromObject({
      ...cardMessage(reply, image ? { image } : {}),
      channelId: 'msteams',
      serviceUrl: t.reference.serviceUrl,
      from: t.reference.agent ?? { id: `28:${config.appId}` },
      conversation: { ...t.reference.conversation, id: conversationId },
    });
  }

  async function once(
    key: string,
    conversationId: string,
    send: () => Promise<string | undefined>,
  ): Promise<{ messageId: string }> {
    const earlier = await getTeamsPost(sql, key);
    if (earlier) return { messageId: earlier.activityId };
    const id = await send();
    if (!id) throw new IntegrationError('teams', 'the Bot Connector accepted the message but returned no id');
    await saveTeamsPost(sql, { idempotencyKey: key, conversationId, activityId: id, at: clock.now() });
    return { messageId: id };
  }

  async function post(channel: string, reply: Reply, opts: { idempotencyKey: string }) {
    const what = `posting to Teams conversation ${channel}`;
    const t = await target(channel, what);
    return once(opts.idempotencyKey, channel, async () => {
      const body = await activity(t, reply, channel, opts.idempotencyKey);
      const sent = await withClient(t, what, (client) => client.sendToConversation(channel, body));
      return sent.id;
    });
  }

  return {
    name: 'teams',
    post,

    async update(channel: string, messageId: string, reply: Reply) {
      const what = `updating message ${messageId} in Teams conversation ${channel}`;
      const t = await target(channel, what);
      const body = await activity(t, reply, channel);
      body.id = messageId;
      await withClient(t, what, (client) => client.updateActivity(channel, messageId, body));
    },

    async replyInThread(channel: string, messageId: string, reply: Reply, opts: { idempotencyKey: string }) {
      const what = `replying in thread ${messageId} of Teams conversation ${channel}`;
      const t = await target(channel, what);
      // A channel's threads are conversations of their own; chats have no threads.
      const conversation = t.kind === 'channel' ? `${channel};messageid=${messageId}` : channel;
      return once(opts.idempotencyKey, conversation, async () => {
        const body = await activity(t, reply, conversation, opts.idempotencyKey);
        body.replyToId = messageId;
        const sent = await withClient(t, what, (client) =>
          client.replyToActivity(conversation, messageId, body),
        );
        return sent.id;
      });
    },

    async direct(userId: number, reply: Reply, opts: { idempotencyKey: string }) {
      const aad = await findTeamsIdentity(sql, userId);
      const chat = aad ? await findPersonalTeamsConversation(sql, aad) : undefined;
      const reference = chat ? storedReference(chat) : undefined;
      if (!chat || !reference) {
        // Nothing to retry: Teams lets a bot open a personal chat only after the user installed it.
        log.info({ userId }, 'direct message not sent on Teams: the user has no personal chat with Warden');
        return;
      }
      const t: Target = { reference, kind: 'personal' };
      const what = `sending a direct message to Warden user ${userId} on Teams`;
      await once(opts.idempotencyKey, chat.conversationId, async () => {
        const body = await activity(t, reply, chat.conversationId, opts.idempotencyKey);
        const sent = await withClient(t, what, (client) =>
          client.sendToConversation(chat.conversationId, body),
        );
        return sent.id;
      });
    },

    channelFor(project) {
      return project?.channels.teams ?? config.defaultChannel;
    },
  };
}
