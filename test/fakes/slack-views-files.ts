import { createHash } from 'node:crypto';
import {
  bug,
  jsonArg,
  type MethodContext,
  type MethodHandler,
  miss,
  postable,
  resolveThread,
  type SlackAnswer,
  storeMessage,
  str,
} from './slack-api.js';
import { describeProblems, validateView } from './slack-blocks.js';
import { type FakeView, resolveChannel } from './slack-state.js';

/** views.open / push / update / publish and the files.uploadV2 pair of methods. */

type ViewOrError = { view: Record<string, unknown> } | { error: SlackAnswer };

function readView(ctx: MethodContext, surface: 'modal' | 'home'): ViewOrError {
  const parsed = jsonArg(ctx.args, 'view');
  if (parsed.invalid || typeof parsed.value !== 'object' || parsed.value === null) {
    const messages = ['must be a view object [json-pointer:/view]'];
    return { error: bug(ctx, 'invalid_arguments', 'view is not a JSON object', messages) };
  }
  const view = parsed.value as Record<string, unknown>;
  const problems = validateView(view);
  if (view.type !== surface) {
    problems.push({ pointer: '/view/type', message: `must be ${surface} for ${ctx.method}` });
  }
  if (problems.length > 0) {
    // Views answer schema problems with invalid_arguments and the same json-pointer messages.
    const messages = describeProblems(problems);
    return { error: bug(ctx, 'invalid_arguments', messages.join('; '), messages) };
  }
  return { view };
}

function viewJson(ctx: MethodContext, stored: FakeView): Record<string, unknown> {
  return {
    ...stored.view,
    id: stored.id,
    team_id: ctx.state.teamId,
    app_id: ctx.state.appId,
    bot_id: ctx.state.botId,
    hash: stored.hash,
    root_view_id: stored.id,
    state: { values: {} },
    ...(stored.externalId ? { external_id: stored.externalId } : {}),
  };
}

function nextHash(ctx: MethodContext): string {
  return `${ctx.state.nextTs()}.${createHash('sha1').update(ctx.state.nextId('H')).digest('hex').slice(0, 8)}`;
}

function store(ctx: MethodContext, view: Record<string, unknown>, userId?: string): FakeView {
  const stored: FakeView = {
    id: ctx.state.nextId('V'),
    type: String(view.type),
    view,
    hash: nextHash(ctx),
    externalId: typeof view.external_id === 'string' ? view.external_id : undefined,
    userId,
    history: [view],
  };
  ctx.state.views.set(stored.id, stored);
  return stored;
}

/** A trigger_id is single use; the fake hands them out with newTriggerId(). */
function useTrigger(ctx: MethodContext): SlackAnswer | undefined {
  const trigger = str(ctx.args, 'trigger_id');
  if (!trigger) return bug(ctx, 'invalid_arguments', 'trigger_id is required');
  const status = ctx.state.triggers.get(trigger);
  if (status === undefined) return bug(ctx, 'invalid_trigger_id', `trigger_id ${trigger} was never issued`);
  if (status === 'used') return bug(ctx, 'exchanged_trigger_id', `trigger_id ${trigger} was already used`);
  ctx.state.triggers.set(trigger, 'used');
  return undefined;
}

function viewsOpen(ctx: MethodContext): SlackAnswer {
  const read = readView(ctx, 'modal');
  if ('error' in read) return read.error;
  const refused = useTrigger(ctx);
  if (refused) return refused;
  return { ok: true, view: viewJson(ctx, store(ctx, read.view)) };
}

function viewsUpdate(ctx: MethodContext): SlackAnswer {
  const viewId = str(ctx.args, 'view_id');
  const externalId = str(ctx.args, 'external_id');
  if (!viewId && !externalId) return bug(ctx, 'invalid_arguments', 'view_id or external_id is required');
  const stored = viewId
    ? ctx.state.views.get(viewId)
    : [...ctx.state.views.values()].find((v) => v.externalId === externalId);
  if (!stored) return miss('not_found');
  const hash = str(ctx.args, 'hash');
  if (hash && hash !== stored.hash) return miss('hash_conflict');
  const read = readView(ctx, stored.type === 'home' ? 'home' : 'modal');
  if ('error' in read) return read.error;
  stored.view = read.view;
  stored.history.push(read.view);
  stored.hash = nextHash(ctx);
  return { ok: true, view: viewJson(ctx, stored) };
}

function viewsPublish(ctx: MethodContext): SlackAnswer {
  const userId = str(ctx.args, 'user_id');
  if (!userId) return bug(ctx, 'invalid_arguments', 'user_id is required');
  if (!ctx.state.users.has(userId)) return miss('user_not_found');
  const read = readView(ctx, 'home');
  if ('error' in read) return read.error;
  const { view } = read;
  const existing = ctx.state.homeViews.get(userId);
  const hash = str(ctx.args, 'hash');
  if (existing && hash && hash !== existing.hash) return miss('hash_conflict');
  if (existing) {
    existing.view = view;
    existing.history.push(view);
    existing.hash = nextHash(ctx);
    return { ok: true, view: viewJson(ctx, existing) };
  }
  const stored = store(ctx, view, userId);
  ctx.state.homeViews.set(userId, stored);
  return { ok: true, view: viewJson(ctx, stored) };
}

function getUploadUrl(ctx: MethodContext): SlackAnswer {
  const filename = str(ctx.args, 'filename');
  const length = Number(str(ctx.args, 'length'));
  if (!filename) return bug(ctx, 'invalid_arguments', 'filename is required');
  if (!Number.isInteger(length) || length <= 0) {
    return bug(ctx, 'invalid_arguments', `length must be a positive integer, got ${String(ctx.args.length)}`);
  }
  const id = ctx.state.nextId('F');
  ctx.state.files.set(id, { id, filename, length, completed: false });
  return { ok: true, upload_url: `${ctx.origin}/upload/v1/${id}`, file_id: id };
}

function completeUpload(ctx: MethodContext): SlackAnswer {
  const parsed = jsonArg(ctx.args, 'files');
  if (parsed.invalid || !Array.isArray(parsed.value) || parsed.value.length === 0) {
    return bug(ctx, 'invalid_arguments', 'files must be a JSON array of {id, title}');
  }
  const entries = parsed.value as { id?: unknown; title?: unknown }[];
  const files = [];
  for (const entry of entries) {
    const file = ctx.state.files.get(String(entry.id));
    if (!file) return bug(ctx, 'file_not_found', `file ${String(entry.id)} was never requested`);
    if (!file.data)
      return bug(ctx, 'file_not_uploaded', `file ${file.id} was completed before its bytes arrived`);
    files.push({ file, title: typeof entry.title === 'string' ? entry.title : undefined });
  }
  const channelRef = str(ctx.args, 'channel_id') ?? str(ctx.args, 'channels');
  if (channelRef) {
    const channel = resolveChannel(ctx.state, channelRef);
    const refused = postable(channel);
    if (refused || !channel) return refused ?? miss('channel_not_found');
    const thread = resolveThread(ctx, channel);
    if ('ok' in thread) return thread as SlackAnswer;
    storeMessage(
      ctx.state,
      channel,
      { text: str(ctx.args, 'initial_comment') ?? '', files: files.map(({ file }) => file.id) },
      thread.parent,
    );
    for (const { file } of files) file.channel = channel.id;
  }
  return {
    ok: true,
    files: files.map(({ file, title }) => {
      file.completed = true;
      file.title = title ?? file.filename;
      return {
        id: file.id,
        name: file.filename,
        title: file.title,
        size: file.data?.length ?? 0,
        channels: file.channel ? [file.channel] : [],
      };
    }),
  };
}

export const VIEW_FILE_METHODS: Record<string, MethodHandler> = {
  'views.open': viewsOpen,
  'views.push': viewsOpen,
  'views.update': viewsUpdate,
  'views.publish': viewsPublish,
  'files.getUploadURLExternal': getUploadUrl,
  'files.completeUploadExternal': completeUpload,
};
