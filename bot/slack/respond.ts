import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import type { Logger } from '../../lib/logger.js';
import type { Sql } from '../../storage/db.js';
import type { Reply } from '../chat/model.js';
import type { Gate } from './gate.js';
import type { HomeSources } from './home.js';
import type { SlackIdentity } from './identity.js';
import type { SlackReplyHandle } from './parse.js';
import type { SlackPlatform } from './platform.js';
import { renderReply } from './render.js';

/**
 * How Warden answers on Slack after (or instead of) the acknowledgement: a private answer goes to
 * the interaction's response_url (or chat.postEphemeral), a replaced message is edited with
 * chat.update (or replace_original on an ephemeral one).
 */
export interface SlackContext {
  deps: Deps;
  /** Where interactions are recorded before the acknowledgement (a pool of their own, or deps.sql). */
  ingressSql: Sql;
  registry: Registry;
  platform: SlackPlatform;
  identity: SlackIdentity;
  log: Logger;
  /** A slash command whose answer is ready this fast is answered in the acknowledgement itself. */
  fastReplyMs: number;
  homeSources?: HomeSources;
  /** Bounds how much after-acknowledgement work runs at once (see gate.ts). */
  gate: Gate;
  /** Work that continues after the acknowledgement; stop() waits for it. */
  track(work: Promise<unknown>): void;
}

export interface SlashResponse {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
  blocks: unknown[];
  replace_original?: boolean;
}

/** The body of a slash-command acknowledgement or a response_url post. */
export function responseBody(reply: Reply): SlashResponse {
  const { text, blocks } = renderReply(reply);
  return { response_type: reply.visibility === 'public' ? 'in_channel' : 'ephemeral', text, blocks };
}

/** POST JSON to a response_url (valid 30 minutes, five times). False when Slack refused it. */
export async function postToResponseUrl(
  ctx: Pick<SlackContext, 'log'>,
  url: string,
  body: Record<string, unknown>,
): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.ok) return true;
    ctx.log.warn(
      { status: res.status },
      'Slack refused a response_url post (expired after 30 minutes, or used 5 times)',
    );
  } catch (error) {
    ctx.log.warn({ err: error }, 'could not post to a Slack response_url');
  }
  return false;
}

/** Tell one user something only they see, where they asked. */
export async function answerPrivately(
  ctx: SlackContext,
  handle: SlackReplyHandle,
  slackUser: string,
  reply: Reply,
): Promise<void> {
  const body = { ...responseBody({ ...reply, visibility: 'private' }), replace_original: false };
  if (handle.responseUrl && (await postToResponseUrl(ctx, handle.responseUrl, { ...body }))) return;
  try {
    if (!handle.channel) {
      // A modal opened from nowhere in particular: the answer goes to the app's DM with the user.
      await ctx.platform.client.chat.postMessage({
        channel: slackUser,
        text: body.text,
        blocks: body.blocks as never,
      });
      return;
    }
    await ctx.platform.client.chat.postEphemeral({
      channel: handle.channel,
      user: slackUser,
      text: body.text,
      blocks: body.blocks as never,
    });
  } catch (error) {
    ctx.platform.fail(error, `answering ${slackUser} privately in ${handle.channel}`, handle.channel);
  }
}

/** Answer a slash command after its acknowledgement (public answers go to the channel). */
export async function answerLater(
  ctx: SlackContext,
  handle: SlackReplyHandle,
  slackUser: string,
  reply: Reply,
) {
  if (reply.visibility === 'private') return answerPrivately(ctx, handle, slackUser, reply);
  if (handle.responseUrl && (await postToResponseUrl(ctx, handle.responseUrl, { ...responseBody(reply) })))
    return;
  const { text, blocks } = renderReply(reply);
  try {
    await ctx.platform.client.chat.postMessage({ channel: handle.channel, text, blocks: blocks as never });
  } catch (error) {
    ctx.platform.fail(error, `answering in ${handle.channel}`, handle.channel);
  }
}

/** Edit the clicked message in place so everyone sees the new state (who decided, and when). */
export async function replaceClicked(
  ctx: SlackContext,
  handle: SlackReplyHandle,
  reply: Reply,
): Promise<void> {
  if (handle.ephemeral || !handle.messageTs) {
    if (handle.responseUrl) {
      await postToResponseUrl(ctx, handle.responseUrl, { ...responseBody(reply), replace_original: true });
    }
    return;
  }
  try {
    await ctx.platform.update(handle.channel, handle.messageTs, reply);
  } catch {
    // Already logged by the platform; the outbox update of the subject's message follows anyway.
  }
}
