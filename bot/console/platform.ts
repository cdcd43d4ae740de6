import type { Clock } from '../../lib/clock.js';
import { IntegrationError } from '../../lib/errors.js';
import { getConsoleMessage, insertConsoleMessage, updateConsoleMessage } from '../../storage/console.js';
import type { Queryable } from '../../storage/db.js';
import type { Reply } from '../chat/model.js';
import type { ChatPlatform } from '../chat/platform.js';

/** Direct messages land here, visible only to their recipient. */
export const CONSOLE_GENERAL = 'general';
export const CONSOLE_BOT_AUTHOR = 'warden';

function parseMessageId(messageId: string): number {
  if (!/^\d{1,15}$/.test(messageId)) {
    throw new IntegrationError('console', `"${messageId.slice(0, 40)}" is not a console message id`);
  }
  return Number(messageId);
}

/**
 * The console as a `ChatPlatform` for the outbox worker: every outgoing message becomes a row
 * in console_messages, which the page polls. Repeating a call with the same idempotency key
 * writes nothing new and returns the first message's id, so a redelivered outbox item is harmless.
 *
 * @example
 *   const chat = createConsolePlatform(deps.sql, deps.clock);
 *   const { messageId } = await chat.post('demo', { visibility: 'public', text: 'hi' }, { idempotencyKey: 'k1' });
 */
export function createConsolePlatform(sql: Queryable, clock: Clock): ChatPlatform {
  async function parentIn(channel: string, messageId: string) {
    const parent = await getConsoleMessage(sql, parseMessageId(messageId));
    if (!parent || parent.channel !== channel) {
      throw new IntegrationError('console', `message ${messageId} is not in console channel ${channel}`);
    }
    return parent;
  }

  return {
    name: 'console',

    async post(channel: string, reply: Reply, options: { idempotencyKey: string }) {
      const { id } = await insertConsoleMessage(sql, {
        channel,
        author: CONSOLE_BOT_AUTHOR,
        body: reply,
        createdAt: clock.now(),
        idempotencyKey: options.idempotencyKey,
      });
      return { messageId: String(id) };
    },

    async update(channel: string, messageId: string, reply: Reply) {
      const updated = await updateConsoleMessage(sql, {
        id: parseMessageId(messageId),
        channel,
        body: reply,
      });
      if (!updated)
        throw new IntegrationError('console', `message ${messageId} is not in console channel ${channel}`);
    },

    async replyInThread(
      channel: string,
      messageId: string,
      reply: Reply,
      options: { idempotencyKey: string },
    ) {
      const parent = await parentIn(channel, messageId);
      // Threads are one level deep, as on Slack: a reply to a reply joins the same thread.
      const { id } = await insertConsoleMessage(sql, {
        channel,
        author: CONSOLE_BOT_AUTHOR,
        body: reply,
        createdAt: clock.now(),
        threadId: parent.threadId ?? parent.id,
        visibleTo: parent.visibleTo,
        idempotencyKey: options.idempotencyKey,
      });
      return { messageId: String(id) };
    },

    async direct(userId: number, reply: Reply, options: { idempotencyKey: string }) {
      await insertConsoleMessage(sql, {
        channel: CONSOLE_GENERAL,
        author: CONSOLE_BOT_AUTHOR,
        body: { ...reply, visibility: 'private' },
        createdAt: clock.now(),
        visibleTo: userId,
        idempotencyKey: options.idempotencyKey,
      });
    },

    // The page shows it as a data: URL (its Content-Security-Policy allows img-src data:).
    async uploadImage(
      channel: string,
      png: Buffer,
      title: string,
      options: { idempotencyKey: string; alt: string },
    ) {
      const { id } = await insertConsoleMessage(sql, {
        channel,
        author: CONSOLE_BOT_AUTHOR,
        body: { visibility: 'public', image: { png: png.toString('base64'), alt: options.alt, title } },
        createdAt: clock.now(),
        idempotencyKey: options.idempotencyKey,
      });
      return { messageId: String(id) };
    },

    channelFor(project) {
      return project?.channels.console ?? project?.slug ?? CONSOLE_GENERAL;
    },
  };
}
