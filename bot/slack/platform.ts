import { createHash } from 'node:crypto';
import type { webApi } from '@slack/bolt';
import type { Clock } from '../../lib/clock.js';
import type { AppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable } from '../../storage/db.js';
import {
  findSlackIdentity,
  getSlackPost,
  getSlackUpload,
  saveSlackPost,
  saveSlackUpload,
} from '../../storage/slack.js';
import type { Reply } from '../chat/model.js';
import type { ChatPlatform } from '../chat/platform.js';
import { renderReply } from './render.js';
import { AUTH_ERRORS, slackErrorCode, toWardenError } from './web.js';

/**
 * Slack as a `ChatPlatform` for the outbox worker: posts, in-place updates, thread replies and
 * DMs through the Web API, plus PNG uploads for charts (`uploadImage`, once per outbox item). It
 * also keeps the bot's health: a
 * revoked or invalid token turns /readyz false until Slack accepts the token again.
 */
export interface SlackBot {
  userId: string;
  botId: string | undefined;
  teamId: string | undefined;
}

export type SlackAuthState = 'unknown' | 'ok' | 'refused';

export interface SlackPlatform extends ChatPlatform {
  readonly name: 'slack';
  readonly client: webApi.WebClient;
  /**
   * Upload a PNG (a chart) to a channel, optionally in a thread: files.uploadV2's three calls.
   * Not idempotent by itself; the outbox goes through `uploadImage`, which is.
   */
  uploadPng(
    channel: string,
    png: Buffer,
    title: string,
    options?: { threadTs?: string; comment?: string; alt?: string },
  ): Promise<{ fileId: string | undefined }>;
  /** The outbox's way to send a digest's chart: `uploadPng` once per idempotency key; returns the file id. */
  uploadImage(
    channel: string,
    png: Buffer,
    title: string,
    options: { idempotencyKey: string; alt: string },
  ): Promise<{ messageId?: string }>;
  /** The bot's own ids (auth.test, asked once and remembered; asked again after a failure). */
  bot(): Promise<SlackBot>;
  /** /readyz: false while Slack refuses the token (re-checked at most once a minute). */
  ready(): Promise<boolean>;
  readonly authState: SlackAuthState;
  /** Translate (and log) a Web API failure, noting a refused token. */
  fail(error: unknown, what: string, channel?: string): AppError;
}

export interface SlackPlatformOptions {
  sql: Queryable;
  client: webApi.WebClient;
  clock: Clock;
  log: Logger;
  /** Channel for notifications of no project, or of a project without a Slack channel. */
  defaultChannel?: string;
}

const RECHECK_MS = 60_000;
/** How long this process trusts that a message it just edited still shows what it set. */
const SHOWN_TTL_MS = 30_000;
const SHOWN_MAX = 2_000;

export function createSlackPlatform(options: SlackPlatformOptions): SlackPlatform {
  const { sql, client, clock, log } = options;
  let authState: SlackAuthState = 'unknown';
  let lastCheck = 0;
  let botPromise: Promise<SlackBot> | undefined;
  // What this process last set each message to, and when. A decision edits the clicked message at
  // once and then again through the outbox (the durable path) with the same content; the second
  // chat.update is skipped when this process set exactly that content moments ago.
  const shown = new Map<string, { digest: string; at: number }>();

  function fail(error: unknown, what: string, channel?: string): AppError {
    const code = slackErrorCode(error);
    const translated = toWardenError(error, what, channel);
    if (code && AUTH_ERRORS.has(code)) {
      if (authState !== 'refused') log.error({ slack: code }, translated.message);
      authState = 'refused';
      botPromise = undefined;
    } else if (code === 'ratelimited') {
      log.warn({ slack: code, channel }, translated.message);
    } else {
      log.error({ slack: code, channel }, translated.message);
    }
    return translated;
  }

  function bot(): Promise<SlackBot> {
    botPromise ??= (async () => {
      lastCheck = clock.now().getTime();
      try {
        const answer = await client.auth.test();
        authState = 'ok';
        return {
          userId: String(answer.user_id ?? ''),
          botId: answer.bot_id ? String(answer.bot_id) : undefined,
          teamId: answer.team_id ? String(answer.team_id) : undefined,
        };
      } catch (error) {
        botPromise = undefined;
        throw fail(error, 'checking the bot token (auth.test)');
      }
    })();
    return botPromise;
  }

  async function postOnce(
    channel: string,
    message: { text: string; blocks: unknown[]; thread_ts?: string },
    idempotencyKey: string,
    what: string,
  ): Promise<{ messageId: string }> {
    // An outbox item re-sent after a crash finds the message it already posted.
    const earlier = await getSlackPost(sql, idempotencyKey);
    if (earlier) return { messageId: earlier.ts };
    let ts: string;
    try {
      const answer = await client.chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks as never,
        unfurl_links: false,
        unfurl_media: false,
        ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      });
      ts = String(answer.ts);
      authState = 'ok';
    } catch (error) {
      throw fail(error, what, channel);
    }
    await saveSlackPost(sql, { idempotencyKey, channel, ts, at: clock.now() });
    return { messageId: ts };
  }

  async function uploadPng(
    channel: string,
    png: Buffer,
    title: string,
    opts: { threadTs?: string; comment?: string; alt?: string } = {},
  ): Promise<{ fileId: string | undefined }> {
    const base =
      title
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'chart';
    try {
      const common = {
        channel_id: channel,
        file: png,
        filename: `${base.slice(0, 60)}.png`,
        title: title.slice(0, 250),
        ...(opts.comment ? { initial_comment: opts.comment } : {}),
        // What a screen reader says instead of the picture.
        ...(opts.alt ? { alt_text: opts.alt.slice(0, 1000) } : {}),
      };
      const upload = opts.threadTs
        ? client.files.uploadV2({ ...common, thread_ts: opts.threadTs })
        : client.files.uploadV2(common);
      const answer = (await upload) as { files?: { files?: { id?: string }[] }[] };
      authState = 'ok';
      return { fileId: answer.files?.[0]?.files?.[0]?.id };
    } catch (error) {
      throw fail(error, `uploading ${title} to ${channel}`, channel);
    }
  }

  return {
    name: 'slack',
    client,
    get authState() {
      return authState;
    },
    fail,
    bot,

    post(channel: string, reply: Reply, opts: { idempotencyKey: string }) {
      return postOnce(channel, renderReply(reply), opts.idempotencyKey, `posting to ${channel}`);
    },

    async update(channel: string, messageId: string, reply: Reply) {
      const { text, blocks } = renderReply(reply);
      const key = `${channel}\n${messageId}`;
      const digest = createHash('sha256')
        .update(JSON.stringify([text, blocks]))
        .digest('base64');
      const now = clock.now().getTime();
      const last = shown.get(key);
      if (last && last.digest === digest && now - last.at < SHOWN_TTL_MS) return;
      shown.delete(key);
      try {
        await client.chat.update({ channel, ts: messageId, text, blocks: blocks as never });
        authState = 'ok';
      } catch (error) {
        throw fail(error, `updating message ${messageId} in ${channel}`, channel);
      }
      shown.set(key, { digest, at: now });
      if (shown.size > SHOWN_MAX) shown.delete(shown.keys().next().value as string);
    },

    replyInThread(channel: string, messageId: string, reply: Reply, opts: { idempotencyKey: string }) {
      const rendered = { ...renderReply(reply), thread_ts: messageId };
      return postOnce(
        channel,
        rendered,
        opts.idempotencyKey,
        `replying in thread ${messageId} of ${channel}`,
      );
    },

    async direct(userId: number, reply: Reply, opts: { idempotencyKey: string }) {
      const slackUser = await findSlackIdentity(sql, userId);
      if (!slackUser) {
        // Nothing to retry: this person has never used Warden from Slack.
        log.info({ userId }, 'direct message not sent on Slack: the user has no linked Slack identity');
        return;
      }
      let dm: string;
      try {
        const opened = await client.conversations.open({ users: slackUser });
        dm = String(opened.channel?.id ?? '');
      } catch (error) {
        throw fail(error, `opening a direct message with ${slackUser}`);
      }
      await postOnce(dm, renderReply(reply), opts.idempotencyKey, `sending a direct message to ${slackUser}`);
    },

    channelFor(project) {
      return project?.channels.slack ?? options.defaultChannel;
    },

    uploadPng,

    async uploadImage(channel, png, title, opts) {
      // An outbox item sent again (a crash, or a failure to mark it delivered) finds the file it
      // already uploaded, exactly as postOnce finds its message. As with posts, a crash
      // in the instant between Slack's answer and this row's commit still sends the file again.
      const earlier = await getSlackUpload(sql, opts.idempotencyKey);
      if (earlier) return earlier.fileId ? { messageId: earlier.fileId } : {};
      // Top level, right after the digest's text, not in its thread: a digest is read by scrolling
      // the channel, and a chart in a thread hides behind "1 reply" where few people open it. The
      // deliverer posts the text first, so the two still arrive together and in order.
      const { fileId } = await uploadPng(channel, png, title, { alt: opts.alt });
      // Recorded even without an id (Slack always gives one): the file is there, so never again.
      await saveSlackUpload(sql, {
        idempotencyKey: opts.idempotencyKey,
        channel,
        fileId: fileId ?? '',
        at: clock.now(),
      });
      return fileId ? { messageId: fileId } : {};
    },

    async ready() {
      const now = clock.now().getTime();
      if (authState === 'ok') return true;
      if (authState === 'refused' && now - lastCheck < RECHECK_MS) return false;
      try {
        await bot();
        return true;
      } catch {
        return false;
      }
    },
  };
}
