import { describeProblems, SLACK_LIMITS, validateBlocks } from './slack-blocks.js';
import {
  channelMessages,
  type FakeChannel,
  type FakeMessage,
  findMessage,
  type SlackState,
} from './slack-state.js';

/** Helpers shared by the fake's Web API methods: arguments, errors, and message content checks. */

export type SlackAnswer = Record<string, unknown> & { ok: boolean };

export interface MethodContext {
  method: string;
  args: Record<string, unknown>;
  state: SlackState;
  /** Origin of the fake, for URLs it hands out (upload URLs). */
  origin: string;
  /** Records a test failure unless the test declared it with expectError(kind). */
  violation(kind: string, message: string): void;
}

export type MethodHandler = (ctx: MethodContext) => SlackAnswer;

export function str(args: Record<string, unknown>, key: string): string | undefined {
  const value = args[key];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : String(value);
}

/** Form bodies carry JSON fields as strings; JSON bodies carry them as values. */
export function jsonArg(args: Record<string, unknown>, key: string): { value?: unknown; invalid?: boolean } {
  const value = args[key];
  if (typeof value !== 'string') return { value };
  if (value === '') return { value: undefined };
  try {
    return { value: JSON.parse(value) };
  } catch {
    return { invalid: true };
  }
}

/** An error the workspace state explains (unknown channel, not a member): the test set it up. */
export function miss(error: string, extra: Record<string, unknown> = {}): SlackAnswer {
  return { ok: false, error, ...extra };
}

/** An error that means the caller is wrong (bad arguments, limits): a test failure unless declared. */
export function bug(ctx: MethodContext, error: string, detail: string, messages: string[] = []): SlackAnswer {
  ctx.violation(error, `${ctx.method}: ${detail}`);
  const answer: SlackAnswer = { ok: false, error };
  if (messages.length > 0) {
    answer.errors = messages;
    answer.response_metadata = { messages: messages.map((m) => `[ERROR] ${m}`) };
  }
  return answer;
}

export interface MessageContent {
  text?: string;
  blocks?: unknown[];
  warnings: string[];
}

/**
 * Reads and checks `text`, `blocks` and `attachments` the way chat.postMessage does: blocks within
 * the Block Kit limits, some content present, text over 40,000 characters truncated with a warning
 * (or refused with msg_too_long where `truncate` is false).
 */
export function readContent(
  ctx: MethodContext,
  options: { requireContent: boolean; truncate: boolean },
): MessageContent | SlackAnswer {
  const blocksArg = jsonArg(ctx.args, 'blocks');
  if (blocksArg.invalid || (blocksArg.value !== undefined && !Array.isArray(blocksArg.value))) {
    return bug(ctx, 'invalid_blocks_format', 'blocks is not a JSON array');
  }
  const blocks = blocksArg.value as unknown[] | undefined;
  if (blocks !== undefined) {
    const problems = validateBlocks(blocks, SLACK_LIMITS.messageBlocks);
    if (problems.length > 0) {
      const messages = describeProblems(problems);
      return bug(ctx, 'invalid_blocks', messages.join('; '), messages);
    }
  }
  let text = str(ctx.args, 'text');
  const hasAttachments = ctx.args.attachments !== undefined && ctx.args.attachments !== '';
  if (options.requireContent && !text && (blocks === undefined || blocks.length === 0) && !hasAttachments) {
    return bug(ctx, 'no_text', 'neither text nor blocks nor attachments were given');
  }
  const warnings: string[] = [];
  if (text !== undefined && [...text].length > SLACK_LIMITS.messageText) {
    if (!options.truncate) {
      return bug(ctx, 'msg_too_long', `text has ${[...text].length} characters`);
    }
    ctx.violation(
      'message_truncated',
      `${ctx.method}: text has ${[...text].length} characters; Slack truncates`,
    );
    text = [...text].slice(0, SLACK_LIMITS.messageText).join('');
    warnings.push('message_truncated');
  }
  return { text, blocks, warnings };
}

export function isAnswer(value: MessageContent | SlackAnswer): value is SlackAnswer {
  return 'ok' in value;
}

export function withWarnings(answer: SlackAnswer, warnings: string[]): SlackAnswer {
  if (warnings.length === 0) return answer;
  return {
    ...answer,
    warning: warnings.join(','),
    response_metadata: {
      warnings,
      messages: warnings.map(
        (w) =>
          `[WARN] ${w === 'message_truncated' ? 'Your message was truncated but still posted. The `text` field accepts up to 40,000 characters.' : w}`,
      ),
    },
  };
}

/** Checks that the bot may post into the channel. */
export function postable(channel: FakeChannel | undefined): SlackAnswer | undefined {
  if (!channel) return miss('channel_not_found');
  if (channel.isArchived) return miss('is_archived');
  if (!channel.isMember) return miss('not_in_channel');
  return undefined;
}

/**
 * Resolves thread_ts to the parent message. Slack's docs say to reply to the parent, never to a reply,
 * so a reply's ts is a test failure (the reply still lands in the thread, as Slack does).
 */
export function resolveThread(
  ctx: MethodContext,
  channel: FakeChannel,
): { threadTs?: string; parent?: FakeMessage } | SlackAnswer {
  const threadTs = str(ctx.args, 'thread_ts');
  if (!threadTs) return {};
  const target = findMessage(ctx.state, channel.id, threadTs);
  if (!target) return bug(ctx, 'thread_not_found', `thread_ts ${threadTs} is not a message in ${channel.id}`);
  if (target.threadTs && target.threadTs !== target.ts) {
    ctx.violation('thread_ts_is_reply', `${ctx.method}: thread_ts ${threadTs} is a reply; use its parent`);
    const parent = findMessage(ctx.state, channel.id, target.threadTs);
    return { threadTs: target.threadTs, parent };
  }
  return { threadTs, parent: target };
}

export function storeMessage(
  state: SlackState,
  channel: FakeChannel,
  content: { text?: string; blocks?: unknown[]; files?: string[] },
  parent: FakeMessage | undefined,
): FakeMessage {
  const message: FakeMessage = {
    ts: state.nextTs(),
    channel: channel.id,
    text: content.text ?? '',
    blocks: content.blocks,
    user: state.botUserId,
    botId: state.botId,
    files: content.files,
    edits: 0,
  };
  if (parent) {
    message.threadTs = parent.ts;
    parent.threadTs = parent.ts;
  }
  channelMessages(state, channel.id).push(message);
  return message;
}

export function messageJson(state: SlackState, message: FakeMessage): Record<string, unknown> {
  return {
    type: 'message',
    text: message.text,
    user: message.user,
    bot_id: message.botId,
    app_id: state.appId,
    team: state.teamId,
    ts: message.ts,
    ...(message.blocks ? { blocks: message.blocks } : {}),
    ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
    ...(message.files ? { files: message.files.map((id) => ({ id })) } : {}),
  };
}
