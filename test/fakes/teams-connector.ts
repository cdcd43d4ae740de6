import { type RecordedRequest, type StrictServer, startStrictServer } from './strict-http.js';

/**
 * A strict local Bot Connector (the Teams side of a bot's outgoing calls), on the wire format of
 * the Bot Framework REST API v3:
 *
 *   POST /v3/conversations/{id}/activities                 a new message (a new channel post)
 *   POST /v3/conversations/{id}/activities/{replyToId}     a reply
 *   PUT  /v3/conversations/{id}/activities/{activityId}    replace a message in place
 *   GET  /v3/conversations/{id}/members/{userId}           one roster member (e-mail, UPN)
 *
 * A channel thread is the conversation id `{channel};messageid={rootId}`. Every call must carry
 * `Authorization: Bearer <token>` with the token the test's token source issued; a card must be
 * an Adaptive Card of a version Teams renders (≤ 1.5) and within Teams' ~28 KB message limit, and
 * its Images must be https URLs or inline PNG/JPEG/GIF `data:` URIs (Teams loads nothing else).
 * Anything else is answered as Teams would and recorded as a violation that fails the test.
 * Failures and throttling (429 + Retry-After) are injected through `server.failNext` /
 * `server.rateLimitNext`.
 */
export const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/**
 * Teams refuses bot messages above about 28 KB with 413 MessageSizeTooBig. Microsoft's pages have
 * since named 40 KB and then 100 KB (counting UTF-16, and leaving base64 images out); Warden keeps
 * to the oldest, strictest figure, and this fake counts every byte of the request body, inline
 * images included, so nothing Warden sends can be refused by any Teams that applies an older rule.
 */
export const TEAMS_MESSAGE_LIMIT_BYTES = 28 * 1024;
/** What an Adaptive Card Image's url may be in Teams. */
const LOADABLE_IMAGE = /^(https:\/\/|data:image\/(png|jpeg|gif);base64,)/;
const SUPPORTED_VERSIONS = new Set(['1.0', '1.1', '1.2', '1.3', '1.4', '1.5']);

export interface RosterMember {
  id: string;
  aadObjectId: string;
  name: string;
  email?: string;
  userPrincipalName?: string;
}

export interface StoredActivity {
  id: string;
  /** The conversation id the call named (with `;messageid=` for thread replies). */
  conversationId: string;
  /** The channel or chat, without the thread suffix. */
  baseConversationId: string;
  /** The root message of the thread this is in, if it is a reply. */
  threadRoot: string | undefined;
  body: Record<string, unknown>;
  /** Every body it had, oldest first (PUTs add one each). */
  history: Record<string, unknown>[];
}

export interface TeamsConnectorFake {
  server: StrictServer;
  /** What activities name as serviceUrl: the fake's origin with a trailing slash. */
  serviceUrl: string;
  /** The bearer token outgoing calls must carry. */
  token: string;
  addConversation(id: string, roster?: RosterMember[]): void;
  /** Forget a conversation, as when the bot was removed: calls to it get 403 BotNotInConversationRoster. */
  removeConversation(id: string): void;
  /** Record a user's message the test sends to the bot, so the bot's replies can thread under it. */
  noteIncoming(activity: { id: string; conversation: { id: string } } & Record<string, unknown>): void;
  activity(id: string): StoredActivity | undefined;
  /** Top-level messages of a conversation, oldest first. */
  posts(conversationId: string): StoredActivity[];
  /** Replies in the thread under `rootId`, oldest first. */
  replies(rootId: string): StoredActivity[];
  /** PUT requests that replaced `activityId`. */
  updates(activityId: string): RecordedRequest[];
  verify(): void;
  stop(): Promise<void>;
}

function splitThread(conversationId: string): { base: string; root: string | undefined } {
  const match = /^(.*);messageid=([^;]+)$/.exec(conversationId);
  return match ? { base: match[1]!, root: match[2]! } : { base: conversationId, root: undefined };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every Image element of a card, however deep (containers, columns, image sets). */
export function cardImages(card: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!isRecord(node)) return;
    if (node.type === 'Image') out.push(node);
    for (const key of ['body', 'items', 'columns', 'images']) walk(node[key]);
  };
  walk(isRecord(card) ? card.body : card);
  return out;
}

export async function startTeamsConnector(options: { token?: string } = {}): Promise<TeamsConnectorFake> {
  const server = await startStrictServer({ name: 'teams-connector' });
  const token = options.token ?? `test-connector-token-${Math.random().toString(36).slice(2)}`;
  const conversations = new Map<string, Map<string, RosterMember>>();
  const activities = new Map<string, StoredActivity>();
  const order: string[] = [];
  let seq = 0;

  function refuse(req: RecordedRequest): { status: number; body: unknown } | undefined {
    if (req.headers.authorization !== `Bearer ${token}`) {
      server.recordViolation(
        'bad_token',
        `${req.method} ${req.path} carried ${req.headers.authorization ? 'a wrong bearer token' : 'no bearer token'}`,
        req,
      );
      return {
        status: 401,
        body: { error: { code: 'Unauthorized', message: 'Authorization has been denied' } },
      };
    }
    return undefined;
  }

  function checkActivity(req: RecordedRequest): { status: number; body: unknown } | undefined {
    const body = req.body;
    if (req.contentType !== 'application/json' || !isRecord(body)) {
      server.recordViolation(
        'invalid_activity',
        `${req.method} ${req.path} did not send a JSON activity`,
        req,
      );
      return { status: 400, body: { error: { code: 'BadSyntax', message: 'not an activity' } } };
    }
    if (body.type !== 'message') {
      server.recordViolation('invalid_activity', `activity type ${String(body.type)} is not a message`, req);
      return { status: 400, body: { error: { code: 'BadArgument', message: 'unsupported activity type' } } };
    }
    if (req.rawBody.length > TEAMS_MESSAGE_LIMIT_BYTES) {
      server.recordViolation('message_too_large', `${req.rawBody.length} bytes is over Teams' limit`, req);
      return { status: 413, body: { error: { code: 'MessageSizeTooBig', message: 'Message size too big' } } };
    }
    const attachments = Array.isArray(body.attachments) ? body.attachments : [];
    if (!body.text && attachments.length === 0) {
      server.recordViolation('invalid_activity', 'a message with neither text nor attachments', req);
      return { status: 400, body: { error: { code: 'BadArgument', message: 'empty message' } } };
    }
    for (const a of attachments) {
      if (!isRecord(a) || a.contentType !== CARD_CONTENT_TYPE) continue;
      const card = a.content;
      if (!isRecord(card) || card.type !== 'AdaptiveCard' || !SUPPORTED_VERSIONS.has(String(card.version))) {
        server.recordViolation(
          'invalid_card',
          'an attachment that is not an Adaptive Card Teams renders',
          req,
        );
        return { status: 400, body: { error: { code: 'BadArgument', message: 'invalid card' } } };
      }
      const unloadable = cardImages(card).find(
        (image) => typeof image.url !== 'string' || !LOADABLE_IMAGE.test(image.url),
      );
      if (unloadable) {
        server.recordViolation(
          'invalid_card',
          `an Image Teams would not load (${String(unloadable.url).slice(0, 60)}): only https URLs and data: URIs`,
          req,
        );
        return { status: 400, body: { error: { code: 'BadArgument', message: 'invalid card' } } };
      }
    }
    return undefined;
  }

  function known(conversationId: string, req: RecordedRequest) {
    const { base } = splitThread(conversationId);
    if (conversations.has(base)) return undefined;
    server.recordViolation('unknown_conversation', `${req.method} ${req.path}: no conversation ${base}`, req);
    return {
      status: 403,
      body: { error: { code: 'BotNotInConversationRoster', message: 'not in conversation' } },
    };
  }

  function store(
    conversationId: string,
    replyTo: string | undefined,
    body: Record<string, unknown>,
    givenId?: string,
  ) {
    const { base, root } = splitThread(conversationId);
    const parent = replyTo ? activities.get(replyTo) : undefined;
    const threadRoot = root ?? parent?.threadRoot ?? (replyTo && parent ? replyTo : undefined);
    seq += 1;
    const id = givenId ?? `1${String(1_700_000_000_000 + seq)}`;
    // A channel post's own conversation id names its own thread: it is the root, not a reply.
    const inThread = threadRoot === id ? undefined : threadRoot;
    activities.set(id, {
      id,
      conversationId,
      baseConversationId: base,
      threadRoot: inThread,
      body,
      history: [body],
    });
    order.push(id);
    return id;
  }

  const create = (req: RecordedRequest, params: Record<string, string>) => {
    const conversationId = params.conversation!;
    const problem = refuse(req) ?? known(conversationId, req) ?? checkActivity(req);
    if (problem) return problem;
    if (params.replyTo && !activities.has(params.replyTo) && !splitThread(conversationId).root) {
      server.recordViolation('unknown_activity', `reply to ${params.replyTo}, which was never posted`, req);
      return { status: 404, body: { error: { code: 'ActivityNotFoundInConversation', message: 'unknown' } } };
    }
    const id = store(conversationId, params.replyTo, req.body as Record<string, unknown>);
    return { status: 201, body: { id } };
  };

  server.route('POST', '/v3/conversations/:conversation/activities', create);
  server.route('POST', '/v3/conversations/:conversation/activities/:replyTo', create);
  server.route('PUT', '/v3/conversations/:conversation/activities/:activityId', (req, params) => {
    const problem = refuse(req) ?? known(params.conversation!, req) ?? checkActivity(req);
    if (problem) return problem;
    const stored = activities.get(params.activityId!);
    if (!stored || stored.baseConversationId !== splitThread(params.conversation!).base) {
      server.recordViolation(
        'unknown_activity',
        `PUT of ${params.activityId}, not in that conversation`,
        req,
      );
      return { status: 404, body: { error: { code: 'ActivityNotFoundInConversation', message: 'unknown' } } };
    }
    stored.body = req.body as Record<string, unknown>;
    stored.history.push(stored.body);
    return { status: 200, body: { id: stored.id } };
  });
  server.route('GET', '/v3/conversations/:conversation/members/:member', (req, params) => {
    const problem = refuse(req) ?? known(params.conversation!, req);
    if (problem) return problem;
    const roster = conversations.get(splitThread(params.conversation!).base)!;
    const member = roster.get(params.member!);
    if (!member)
      return { status: 404, body: { error: { code: 'MemberNotFoundInConversation', message: 'no' } } };
    return { body: { ...member, givenName: member.name.split(' ')[0], tenantId: 'from-roster' } };
  });

  return {
    server,
    serviceUrl: `${server.url}/`,
    token,
    addConversation(id, roster = []) {
      conversations.set(id, new Map(roster.map((m) => [m.id, m])));
    },
    removeConversation(id) {
      conversations.delete(id);
    },
    noteIncoming(activity) {
      store(activity.conversation.id, undefined, activity, activity.id);
    },
    activity: (id) => activities.get(id),
    posts: (conversationId) =>
      order
        .map((id) => activities.get(id)!)
        .filter((a) => a.conversationId === conversationId && a.threadRoot === undefined),
    replies: (rootId) => order.map((id) => activities.get(id)!).filter((a) => a.threadRoot === rootId),
    updates: (activityId) =>
      server.requests.filter(
        (r) =>
          r.method === 'PUT' && r.path.endsWith(`/activities/${activityId}`) && r.response?.status === 200,
      ),
    verify: () => server.verify(),
    stop: () => server.stop(),
  };
}

/** The Adaptive Card of an activity, if it has one. */
export function cardOf(activity: Record<string, unknown>): Record<string, unknown> | undefined {
  const attachments = Array.isArray(activity.attachments) ? activity.attachments : [];
  const card = attachments.find((a) => isRecord(a) && a.contentType === CARD_CONTENT_TYPE);
  return isRecord(card) && isRecord(card.content) ? card.content : undefined;
}

/** Every piece of text a person sees on a card (TextBlocks, facts, RichText runs), in order. */
export function cardText(card: unknown): string {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!isRecord(node)) return;
    if ((node.type === 'TextBlock' || node.type === 'TextRun') && typeof node.text === 'string')
      out.push(node.text);
    if (node.type === 'FactSet' && Array.isArray(node.facts)) {
      for (const f of node.facts) if (isRecord(f)) out.push(`${String(f.title)} ${String(f.value)}`);
    }
    for (const key of ['body', 'items', 'columns', 'inlines', 'card']) walk(node[key]);
  };
  walk(isRecord(card) ? card.body : card);
  return out.join('\n');
}

/** The Action.Execute buttons of a card: title, verb and data. */
export function cardActions(card: unknown): { title: string; verb: string; data: Record<string, unknown> }[] {
  const out: { title: string; verb: string; data: Record<string, unknown> }[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!isRecord(node)) return;
    if (node.type === 'Action.Execute') {
      out.push({
        title: String(node.title ?? ''),
        verb: String(node.verb ?? ''),
        data: isRecord(node.data) ? node.data : {},
      });
    }
    for (const key of ['body', 'items', 'columns', 'actions']) walk(node[key]);
  };
  walk(card);
  return out;
}
