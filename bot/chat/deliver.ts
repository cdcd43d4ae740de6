import { z } from 'zod';
import type { Deliverer } from '../../jobs/outbox-worker.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { Queryable } from '../../storage/db.js';
import { getMessageRef, getProjectChannels, type OutboxItem, saveMessageRef } from '../../storage/outbox.js';
import type { Notification, Reply } from './model.js';
import type { ChatPlatform } from './platform.js';

/**
 * The outbox deliverer for one chat platform: it turns a `Notification` into post / update /
 * thread reply / DM calls on the platform's port, and remembers where each subject's message
 * lives (message_refs) so later events update it in place and reply in its thread.
 */
export interface ProjectChannels {
  slug: string;
  channels: Record<string, string>;
}

export interface ChatDelivererOptions {
  sql: Queryable;
  platform: ChatPlatform;
  /** Where a project talks; default reads the projects table. */
  projectLookup?: (projectId: number) => Promise<ProjectChannels | undefined>;
  /** Stamps message_refs.created_at; default the system clock. */
  clock?: Clock;
}

const subject = z.object({ type: z.string().min(1), id: z.string().min(1) });
// The reply is Warden's own neutral model, written by commands/; only its envelope is checked here.
const reply = z.looseObject({ visibility: z.enum(['private', 'public']) });
const projectId = z.number().int().nullable();

/** The notification shapes the trail writes (bot/chat/model.ts `Notification`). */
const notificationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('subject-message'), subject, projectId, reply }),
  z.object({ kind: z.literal('thread-reply'), subject, projectId, reply }),
  z.object({
    kind: z.literal('channel-post'),
    projectId,
    reply,
    channelRole: z.enum(['default', 'security', 'approvals']).optional(),
  }),
  z.object({ kind: z.literal('direct'), userId: z.number().int(), reply }),
]);

function parseNotification(item: OutboxItem): Notification {
  const parsed = notificationSchema.safeParse(item.payload);
  if (!parsed.success) {
    // Permanent: the worker dead-letters it instead of retrying a payload that can never be sent.
    throw new AppError(
      'bad_request',
      `outbox item ${item.id} is not a chat notification Warden can send (${parsed.error.issues[0]?.message ?? 'bad shape'}); it was written by a newer or broken version`,
    );
  }
  return parsed.data as unknown as Notification;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The image's bytes, or undefined when they are not a PNG (the text still goes out). */
export function pngOf(base64: unknown): Buffer | undefined {
  if (typeof base64 !== 'string') return undefined;
  const bytes = Buffer.from(base64, 'base64');
  return bytes.subarray(0, 8).equals(PNG_SIGNATURE) ? bytes : undefined;
}

/**
 * @example
 * const deliverers = { console: createChatDeliverer({ sql, platform: consoleChat }) };
 * createOutboxWorker({ sql, clock, log, deliverers });
 */
export function createChatDeliverer(options: ChatDelivererOptions): Deliverer {
  const { sql, platform } = options;
  const lookup = options.projectLookup ?? ((id: number) => getProjectChannels(sql, id));
  const now = () => (options.clock ? options.clock.now() : new Date());

  async function channelOf(id: number | null, role?: string): Promise<string | undefined> {
    const project = id === null ? null : ((await lookup(id)) ?? null);
    return platform.channelFor(project, role);
  }

  const skipped = { skipped: 'no channel' };

  return {
    async deliver(item) {
      const n = parseNotification(item);
      const idempotencyKey = item.idempotencyKey;
      const body: Reply = n.reply;
      switch (n.kind) {
        case 'subject-message': {
          const ref = await getMessageRef(sql, n.subject, platform.name);
          if (ref) {
            await platform.update(ref.channel, ref.messageId, body);
            return { updated: ref.messageId, channel: ref.channel };
          }
          const channel = await channelOf(n.projectId);
          if (channel === undefined) return skipped;
          const { messageId } = await platform.post(channel, body, { idempotencyKey });
          await saveMessageRef(sql, {
            subject: n.subject,
            platform: platform.name,
            channel,
            messageId,
            at: now(),
          });
          return { posted: messageId, channel };
        }
        case 'thread-reply': {
          const ref = await getMessageRef(sql, n.subject, platform.name);
          if (ref) {
            const { messageId } = await platform.replyInThread(ref.channel, ref.messageId, body, {
              idempotencyKey,
            });
            return { replied: messageId, thread: ref.messageId, channel: ref.channel };
          }
          // The subject never got a message here (no channel then, or it was dead-lettered):
          // the reply still reaches the project's channel rather than nowhere.
          const channel = await channelOf(n.projectId);
          if (channel === undefined) return skipped;
          const { messageId } = await platform.post(channel, body, { idempotencyKey });
          return { posted: messageId, channel };
        }
        case 'channel-post': {
          const channel = await channelOf(n.projectId, n.channelRole);
          if (channel === undefined) return skipped;
          if (!body.image || !platform.uploadImage) {
            const { messageId } = await platform.post(channel, body, { idempotencyKey });
            return { posted: messageId, channel };
          }
          // The platform sends pictures its own way (a file upload): the text first, then the image.
          const { image, ...text } = body;
          const { messageId } = await platform.post(channel, text, { idempotencyKey });
          const png = pngOf(image.png);
          if (!png) return { posted: messageId, channel, image: 'not a PNG; skipped' };
          const uploaded = await platform.uploadImage(channel, png, image.title, {
            idempotencyKey: `${idempotencyKey}:image`,
            alt: image.alt,
          });
          return { posted: messageId, channel, image: uploaded.messageId ?? 'uploaded' };
        }
        case 'direct': {
          await platform.direct(n.userId, body, { idempotencyKey });
          return { direct: n.userId };
        }
      }
    },
  };
}
