import { randomUUID } from 'node:crypto';
import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import { handleInteraction } from '../../commands/router.js';
import {
  type ConsoleMessage,
  getConsoleMessage,
  insertConsoleMessage,
  publishConsoleMessage,
  updateConsoleMessage,
} from '../../storage/console.js';
import { findUserByIdentity, type User } from '../../storage/users.js';
import type { Interaction, Reply } from '../chat/model.js';
import { CONSOLE_BOT_AUTHOR } from './platform.js';

/**
 * What the console does with a typed line, a click or a submitted form: build the neutral
 * `Interaction`, hand it to the router, and turn the result into console messages. The page
 * only ever sees `ConsoleMessageView`s.
 */
export interface ConsoleContext {
  deps: Deps;
  registry: Registry;
}

/** A message as the page receives it. Ids are strings, as on every chat platform. */
export interface ConsoleMessageView {
  id: string;
  channel: string;
  threadId: string | null;
  author: string;
  /** Only the viewer sees it ("only visible to you"). */
  private: boolean;
  /** Never stored: an answer to someone the console does not know, shown once to them. */
  transient?: true;
  body: Reply;
  createdAt: string;
  updatedAt: string;
}

export function toView(m: ConsoleMessage): ConsoleMessageView {
  return {
    id: String(m.id),
    channel: m.channel,
    threadId: m.threadId === null ? null : String(m.threadId),
    author: m.author,
    private: m.visibleTo !== null,
    body: m.body,
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
  };
}

interface Emit {
  channel: string;
  user: User | undefined;
  author: string;
  reply: Reply;
  key: string;
  threadId?: number | null;
  /** Force private (forms, command echoes) whatever the reply says. */
  private?: boolean;
}

/** Store a message (or, for a user the console does not know, make a transient one). */
async function emit(ctx: ConsoleContext, e: Emit): Promise<ConsoleMessageView> {
  const isPrivate = e.private === true || e.reply.visibility === 'private' || e.reply.form !== undefined;
  if (!e.user && isPrivate) {
    const at = ctx.deps.clock.now().toISOString();
    return {
      id: `t-${e.key}`,
      channel: e.channel,
      threadId: e.threadId == null ? null : String(e.threadId),
      author: e.author,
      private: true,
      transient: true,
      body: e.reply,
      createdAt: at,
      updatedAt: at,
    };
  }
  const { id } = await insertConsoleMessage(ctx.deps.sql, {
    channel: e.channel,
    author: e.author,
    body: e.reply,
    createdAt: ctx.deps.clock.now(),
    threadId: e.threadId ?? null,
    visibleTo: isPrivate && e.user ? e.user.id : null,
    idempotencyKey: `console:${e.key}`,
  });
  return toView((await getConsoleMessage(ctx.deps.sql, id))!);
}

function consoleUser(handle: string) {
  return { platform: 'console' as const, externalId: handle, displayName: handle };
}

const WARDEN_PREFIX = /^\s*\/warden(?=\s|$)/i;

/**
 * A line typed in the channel. `/warden …` runs a command: the echo is private until the reply
 * turns out public (as on Slack). Anything else is an ordinary chat message.
 */
export async function consoleCommand(
  ctx: ConsoleContext,
  input: { as: string; channel: string; text: string; requestId?: string },
): Promise<ConsoleMessageView[]> {
  const requestId = input.requestId ?? randomUUID();
  const user = await findUserByIdentity(ctx.deps.sql, 'console', input.as);
  const isCommand = WARDEN_PREFIX.test(input.text);
  const echo = await emit(ctx, {
    channel: input.channel,
    user,
    author: input.as,
    reply: { visibility: isCommand ? 'private' : 'public', text: input.text },
    key: `${requestId}:echo`,
    private: isCommand || !user,
  });
  if (!isCommand) {
    if (user) return [echo];
    const note: Reply = {
      visibility: 'private',
      tone: 'warning',
      text: `The console does not know @${input.as}, so nobody else sees this. Pick a user from the list.`,
    };
    return [
      echo,
      await emit(ctx, {
        channel: input.channel,
        user,
        author: CONSOLE_BOT_AUTHOR,
        reply: note,
        key: `${requestId}:note`,
      }),
    ];
  }
  const interaction: Interaction = {
    kind: 'command',
    text: input.text.replace(WARDEN_PREFIX, '').trim(),
    dedupeKey: requestId,
    user: consoleUser(input.as),
    channel: input.channel,
    receivedAt: ctx.deps.clock.now(),
  };
  const result = await handleInteraction(interaction, ctx.deps, ctx.registry);
  const out = [echo];
  if (result.reply) {
    const reply = await emit(ctx, {
      channel: input.channel,
      user,
      author: CONSOLE_BOT_AUTHOR,
      reply: result.reply,
      key: `${requestId}:reply`,
    });
    if (!reply.private && !echo.transient) {
      await publishConsoleMessage(ctx.deps.sql, Number(echo.id));
      out[0] = toView((await getConsoleMessage(ctx.deps.sql, Number(echo.id)))!);
    }
    out.push(reply);
  }
  return out;
}

/** The clicked message, if it exists in the channel and the clicker may see it. */
async function visibleMessage(
  ctx: ConsoleContext,
  channel: string,
  messageId: string,
  user: User | undefined,
) {
  const message = await getConsoleMessage(ctx.deps.sql, Number(messageId));
  if (!message || message.channel !== channel) return undefined;
  if (message.visibleTo !== null && message.visibleTo !== user?.id) return undefined;
  return message;
}

/**
 * A button click. `replaceOriginal` rewrites the clicked message in place (keeping who may see
 * it); a reply is posted next to it. Returns undefined when the message is not there to click.
 */
export async function consoleAction(
  ctx: ConsoleContext,
  input: {
    as: string;
    channel: string;
    actionId: string;
    value: string;
    messageId: string;
    requestId?: string;
  },
): Promise<ConsoleMessageView[] | undefined> {
  const requestId = input.requestId ?? randomUUID();
  const user = await findUserByIdentity(ctx.deps.sql, 'console', input.as);
  const clicked = await visibleMessage(ctx, input.channel, input.messageId, user);
  if (!clicked) return undefined;
  const result = await handleInteraction(
    {
      kind: 'action',
      actionId: input.actionId,
      value: input.value,
      messageId: input.messageId,
      dedupeKey: requestId,
      user: consoleUser(input.as),
      channel: input.channel,
      receivedAt: ctx.deps.clock.now(),
    },
    ctx.deps,
    ctx.registry,
  );
  return applyResult(ctx, { ...input, requestId, user, target: clicked, result });
}

/** A submitted form; on success the form message is replaced so it cannot be sent twice. */
export async function consoleForm(
  ctx: ConsoleContext,
  input: {
    as: string;
    channel: string;
    formId: string;
    values: Record<string, string>;
    state?: string;
    messageId?: string;
    requestId?: string;
  },
): Promise<ConsoleMessageView[] | undefined> {
  const requestId = input.requestId ?? randomUUID();
  const user = await findUserByIdentity(ctx.deps.sql, 'console', input.as);
  let target: ConsoleMessage | undefined;
  if (input.messageId) {
    target = await visibleMessage(ctx, input.channel, input.messageId, user);
    if (!target) return undefined;
  }
  const result = await handleInteraction(
    {
      kind: 'form',
      formId: input.formId,
      values: input.values,
      ...(input.state === undefined ? {} : { state: input.state }),
      dedupeKey: requestId,
      user: consoleUser(input.as),
      channel: input.channel,
      receivedAt: ctx.deps.clock.now(),
    },
    ctx.deps,
    ctx.registry,
  );
  if (target && !result.replaceOriginal && result.reply?.tone !== 'error') {
    const title = target.body.form?.title ?? 'the form';
    result.replaceOriginal = { visibility: target.body.visibility, text: `Sent: ${title}.`, tone: 'info' };
  }
  return applyResult(ctx, { ...input, requestId, user, target, result });
}

async function applyResult(
  ctx: ConsoleContext,
  input: {
    channel: string;
    requestId: string;
    user: User | undefined;
    target: ConsoleMessage | undefined;
    result: Awaited<ReturnType<typeof handleInteraction>>;
  },
): Promise<ConsoleMessageView[]> {
  const out: ConsoleMessageView[] = [];
  const { target, result } = input;
  if (target && result.replaceOriginal) {
    await updateConsoleMessage(ctx.deps.sql, {
      id: target.id,
      channel: input.channel,
      body: result.replaceOriginal,
    });
    out.push(toView((await getConsoleMessage(ctx.deps.sql, target.id))!));
  }
  if (result.reply) {
    out.push(
      await emit(ctx, {
        channel: input.channel,
        user: input.user,
        author: CONSOLE_BOT_AUTHOR,
        reply: result.reply,
        key: `${input.requestId}:reply`,
        threadId: target?.threadId ?? null,
      }),
    );
  }
  return out;
}
