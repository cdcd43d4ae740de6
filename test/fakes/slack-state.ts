/** The fake Slack workspace: channels with membership, users, messages with threads, views, files. */

export interface FakeChannel {
  id: string;
  name: string;
  /** Whether the bot is a member; posting elsewhere answers not_in_channel. */
  isMember: boolean;
  isIm: boolean;
  isArchived: boolean;
  /** User ids in the channel; empty means "anyone" for ephemeral messages. */
  members: Set<string>;
  /** For a DM: the other person. */
  user?: string;
}

export interface FakeUser {
  id: string;
  name: string;
  realName: string;
  email?: string;
  isBot: boolean;
  deleted: boolean;
  tz: string;
}

export interface FakeMessage {
  ts: string;
  channel: string;
  text: string;
  blocks?: unknown[];
  /** Set on replies (and on a parent once it has replies, as Slack does). */
  threadTs?: string;
  user: string;
  botId?: string;
  files?: string[];
  /** How many times chat.update changed it. */
  edits: number;
}

export interface FakeEphemeral {
  messageTs: string;
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
}

export interface FakeView {
  id: string;
  type: string;
  view: Record<string, unknown>;
  hash: string;
  externalId?: string;
  /** The person whose Home tab this is (views.publish). */
  userId?: string;
  /** Every version, oldest first. */
  history: Record<string, unknown>[];
}

export interface FakeFile {
  id: string;
  filename: string;
  length: number;
  title?: string;
  data?: Buffer;
  completed: boolean;
  channel?: string;
}

export interface FakeResponseUrl {
  id: string;
  /** The message the interaction came from, for replace_original / delete_original. */
  message?: { channel: string; ts: string };
  uses: number;
  posts: Record<string, unknown>[];
}

export interface ChannelInput {
  id?: string;
  name: string;
  isMember?: boolean;
  isArchived?: boolean;
  members?: string[];
}

export interface UserInput {
  id?: string;
  name: string;
  realName?: string;
  email?: string;
  isBot?: boolean;
  deleted?: boolean;
  tz?: string;
}

export interface SlackState {
  teamId: string;
  teamName: string;
  botUserId: string;
  botId: string;
  appId: string;
  scopes: Set<string>;
  tokenRevoked: boolean;
  channels: Map<string, FakeChannel>;
  users: Map<string, FakeUser>;
  /** Per channel, in posting order; replies are in the same list with threadTs set. */
  messages: Map<string, FakeMessage[]>;
  ephemerals: FakeEphemeral[];
  views: Map<string, FakeView>;
  /** Home tab per user id. */
  homeViews: Map<string, FakeView>;
  files: Map<string, FakeFile>;
  triggers: Map<string, 'fresh' | 'used'>;
  responseUrls: Map<string, FakeResponseUrl>;
  nextTs(): string;
  nextId(prefix: string): string;
}

export interface SlackStateOptions {
  teamId?: string;
  teamName?: string;
  botUserId?: string;
  botId?: string;
  appId?: string;
  scopes?: string[];
}

export const DEFAULT_SCOPES = [
  'chat:write',
  'commands',
  'im:write',
  'users:read',
  'users:read.email',
  'files:write',
  'channels:read',
];

export function createSlackState(options: SlackStateOptions = {}): SlackState {
  // Real ts values are "<unix seconds>.<6 digits>" and only grow; start where the brief's examples do.
  let tsSeconds = 1_700_000_000;
  let tsMicros = 0;
  let idCounter = 0;
  return {
    teamId: options.teamId ?? 'T0FAKE001',
    teamName: options.teamName ?? 'Fake Workspace',
    botUserId: options.botUserId ?? 'U0BOT0001',
    botId: options.botId ?? 'B0BOT0001',
    appId: options.appId ?? 'A0APP0001',
    scopes: new Set(options.scopes ?? DEFAULT_SCOPES),
    tokenRevoked: false,
    channels: new Map(),
    users: new Map(),
    messages: new Map(),
    ephemerals: [],
    views: new Map(),
    homeViews: new Map(),
    files: new Map(),
    triggers: new Map(),
    responseUrls: new Map(),
    nextTs() {
      tsMicros += 100;
      if (tsMicros > 999_999) {
        tsSeconds += 1;
        tsMicros = 100;
      }
      return `${tsSeconds}.${String(tsMicros).padStart(6, '0')}`;
    },
    nextId(prefix) {
      idCounter += 1;
      return `${prefix}0${idCounter.toString(36).toUpperCase().padStart(8, '0')}`;
    },
  };
}

export function addChannel(state: SlackState, input: ChannelInput): FakeChannel {
  const channel: FakeChannel = {
    id: input.id ?? state.nextId('C'),
    name: input.name.replace(/^#/, ''),
    isMember: input.isMember ?? true,
    isIm: false,
    isArchived: input.isArchived ?? false,
    members: new Set(input.members ?? []),
  };
  state.channels.set(channel.id, channel);
  return channel;
}

export function addUser(state: SlackState, input: UserInput): FakeUser {
  const user: FakeUser = {
    id: input.id ?? state.nextId('U'),
    name: input.name,
    realName: input.realName ?? input.name,
    email: input.email,
    isBot: input.isBot ?? false,
    deleted: input.deleted ?? false,
    tz: input.tz ?? 'Europe/London',
  };
  state.users.set(user.id, user);
  return user;
}

/** The DM between the bot and a user, opened on first use as conversations.open does. */
export function openIm(state: SlackState, userId: string): { channel: FakeChannel; alreadyOpen: boolean } {
  for (const channel of state.channels.values()) {
    if (channel.isIm && channel.user === userId) return { channel, alreadyOpen: true };
  }
  const channel: FakeChannel = {
    id: state.nextId('D'),
    name: userId,
    isMember: true,
    isIm: true,
    isArchived: false,
    members: new Set([userId, state.botUserId]),
    user: userId,
  };
  state.channels.set(channel.id, channel);
  return { channel, alreadyOpen: false };
}

/** By id, by name (with or without #), or by user id (the DM with that user). */
export function resolveChannel(state: SlackState, ref: string): FakeChannel | undefined {
  const byId = state.channels.get(ref);
  if (byId) return byId;
  const name = ref.replace(/^#/, '');
  for (const channel of state.channels.values()) {
    if (!channel.isIm && channel.name === name) return channel;
  }
  if (state.users.has(ref)) return openIm(state, ref).channel;
  return undefined;
}

export function channelMessages(state: SlackState, channelId: string): FakeMessage[] {
  let list = state.messages.get(channelId);
  if (!list) {
    list = [];
    state.messages.set(channelId, list);
  }
  return list;
}

export function findMessage(state: SlackState, channelId: string, ts: string): FakeMessage | undefined {
  return state.messages.get(channelId)?.find((m) => m.ts === ts);
}
