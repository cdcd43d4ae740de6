import {
  bug,
  isAnswer,
  type MethodContext,
  type MethodHandler,
  messageJson,
  miss,
  postable,
  readContent,
  resolveThread,
  type SlackAnswer,
  storeMessage,
  str,
  withWarnings,
} from './slack-api.js';
import { type FakeUser, findMessage, openIm, resolveChannel, type SlackState } from './slack-state.js';

/** auth.test, chat.*, conversations.open and users.* against the fake workspace. */

function authTest(ctx: MethodContext): SlackAnswer {
  const { state } = ctx;
  return {
    ok: true,
    url: `https://${state.teamName.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.slack.com/`,
    team: state.teamName,
    user: 'warden',
    team_id: state.teamId,
    user_id: state.botUserId,
    bot_id: state.botId,
    is_enterprise_install: false,
  };
}

function postMessage(ctx: MethodContext): SlackAnswer {
  const ref = str(ctx.args, 'channel');
  if (!ref) return miss('channel_not_found');
  const channel = resolveChannel(ctx.state, ref);
  const refused = postable(channel);
  if (refused || !channel) return refused ?? miss('channel_not_found');
  const content = readContent(ctx, { requireContent: true, truncate: true });
  if (isAnswer(content)) return content;
  const thread = resolveThread(ctx, channel);
  if ('ok' in thread) return thread as SlackAnswer;
  const message = storeMessage(ctx.state, channel, content, thread.parent);
  return withWarnings(
    { ok: true, channel: channel.id, ts: message.ts, message: messageJson(ctx.state, message) },
    content.warnings,
  );
}

function postEphemeral(ctx: MethodContext): SlackAnswer {
  const ref = str(ctx.args, 'channel');
  const userId = str(ctx.args, 'user');
  if (!ref) return miss('channel_not_found');
  if (!userId) return bug(ctx, 'user_not_found', 'user is required');
  const channel = resolveChannel(ctx.state, ref);
  const refused = postable(channel);
  if (refused || !channel) return refused ?? miss('channel_not_found');
  if (!ctx.state.users.has(userId)) return miss('user_not_found');
  if (channel.members.size > 0 && !channel.members.has(userId)) return miss('user_not_in_channel');
  const content = readContent(ctx, { requireContent: true, truncate: true });
  if (isAnswer(content)) return content;
  const messageTs = ctx.state.nextTs();
  ctx.state.ephemerals.push({
    messageTs,
    channel: channel.id,
    user: userId,
    text: content.text ?? '',
    blocks: content.blocks,
    threadTs: str(ctx.args, 'thread_ts'),
  });
  return withWarnings({ ok: true, message_ts: messageTs }, content.warnings);
}

function update(ctx: MethodContext): SlackAnswer {
  const ref = str(ctx.args, 'channel');
  const ts = str(ctx.args, 'ts');
  if (!ref) return miss('channel_not_found');
  const channel = resolveChannel(ctx.state, ref);
  if (!channel) return miss('channel_not_found');
  if (!ts) return bug(ctx, 'message_not_found', 'ts is required');
  const message = findMessage(ctx.state, channel.id, ts);
  if (!message) return miss('message_not_found');
  if (message.user !== ctx.state.botUserId) return miss('cant_update_message');
  // chat.update documents msg_too_long rather than truncation.
  const content = readContent(ctx, { requireContent: false, truncate: false });
  if (isAnswer(content)) return content;
  if (content.text !== undefined) message.text = content.text;
  if (ctx.args.blocks !== undefined) message.blocks = content.blocks;
  message.edits += 1;
  return {
    ok: true,
    channel: channel.id,
    ts: message.ts,
    text: message.text,
    message: messageJson(ctx.state, message),
  };
}

function remove(ctx: MethodContext): SlackAnswer {
  const ref = str(ctx.args, 'channel');
  const ts = str(ctx.args, 'ts');
  const channel = ref ? resolveChannel(ctx.state, ref) : undefined;
  if (!channel) return miss('channel_not_found');
  const list = ctx.state.messages.get(channel.id) ?? [];
  const index = list.findIndex((m) => m.ts === ts);
  if (index === -1) return miss('message_not_found');
  if (list[index]?.user !== ctx.state.botUserId) return miss('cant_delete_message');
  list.splice(index, 1);
  return { ok: true, channel: channel.id, ts };
}

function conversationsOpen(ctx: MethodContext): SlackAnswer {
  const existing = str(ctx.args, 'channel');
  if (existing) {
    const channel = ctx.state.channels.get(existing);
    return channel
      ? { ok: true, channel: { id: channel.id }, already_open: true }
      : miss('channel_not_found');
  }
  const users = (str(ctx.args, 'users') ?? '').split(',').filter((u) => u.trim() !== '');
  if (users.length === 0) return bug(ctx, 'users_list_not_supplied', 'users is required');
  if (users.length > 1) {
    return bug(
      ctx,
      'fake_unsupported',
      'group DMs are not implemented by the fake; add them if Warden needs them',
    );
  }
  const userId = users[0]?.trim() ?? '';
  if (!ctx.state.users.has(userId)) return miss('user_not_found');
  const { channel, alreadyOpen } = openIm(ctx.state, userId);
  return {
    ok: true,
    channel: { id: channel.id },
    ...(alreadyOpen ? { already_open: true, no_op: true } : {}),
  };
}

function userJson(state: SlackState, user: FakeUser): Record<string, unknown> {
  // The email is only returned with the users:read.email scope, as on Slack.
  const email = state.scopes.has('users:read.email') ? user.email : undefined;
  return {
    id: user.id,
    team_id: state.teamId,
    name: user.name,
    real_name: user.realName,
    deleted: user.deleted,
    is_bot: user.isBot,
    tz: user.tz,
    profile: {
      real_name: user.realName,
      display_name: user.name,
      ...(email ? { email } : {}),
    },
  };
}

function usersInfo(ctx: MethodContext): SlackAnswer {
  const userId = str(ctx.args, 'user');
  const user = userId ? ctx.state.users.get(userId) : undefined;
  if (!user) return miss('user_not_found');
  return { ok: true, user: userJson(ctx.state, user) };
}

function lookupByEmail(ctx: MethodContext): SlackAnswer {
  if (!ctx.state.scopes.has('users:read.email')) {
    return bug(ctx, 'missing_scope', 'users.lookupByEmail needs the users:read.email scope');
  }
  const email = (str(ctx.args, 'email') ?? '').toLowerCase();
  for (const user of ctx.state.users.values()) {
    if (user.email?.toLowerCase() === email) return { ok: true, user: userJson(ctx.state, user) };
  }
  return miss('users_not_found');
}

export const CHAT_METHODS: Record<string, MethodHandler> = {
  'auth.test': authTest,
  'chat.postMessage': postMessage,
  'chat.postEphemeral': postEphemeral,
  'chat.update': update,
  'chat.delete': remove,
  'conversations.open': conversationsOpen,
  'users.info': usersInfo,
  'users.lookupByEmail': lookupByEmail,
};
