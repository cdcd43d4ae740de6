import type { Reply } from './model.js';

/**
 * The port every chat adapter implements for *outgoing* messages. The outbox worker calls it;
 * commands never do. Message ids are the platform's own (Slack ts, Teams activity id, console id).
 */
export interface ChatPlatform {
  readonly name: 'console' | 'slack' | 'teams';
  /** Post a new message to a channel; returns its id. */
  post(channel: string, reply: Reply, options: { idempotencyKey: string }): Promise<{ messageId: string }>;
  /** Replace a message in place (approval decisions). */
  update(channel: string, messageId: string, reply: Reply): Promise<void>;
  /** Reply in the thread under `messageId`. */
  replyInThread(
    channel: string,
    messageId: string,
    reply: Reply,
    options: { idempotencyKey: string },
  ): Promise<{ messageId: string }>;
  /** A direct message to a Warden user (the adapter resolves their platform id). */
  direct(userId: number, reply: Reply, options: { idempotencyKey: string }): Promise<void>;
  /**
   * Optional: send a PNG (a digest's chart) to a channel, after the reply it belongs to. A platform
   * without it gets the image on the reply passed to `post`.
   */
  uploadImage?(
    channel: string,
    png: Buffer,
    title: string,
    options: { idempotencyKey: string; alt: string },
  ): Promise<{ messageId?: string }>;
  /** Which channel a project's notifications go to on this platform, or undefined when it has none. */
  channelFor(
    project: { slug: string; channels: Record<string, string> } | null,
    role?: string,
  ): string | undefined;
}
