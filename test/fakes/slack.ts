import { createHmac } from 'node:crypto';
import type { MethodContext, MethodHandler, SlackAnswer } from './slack-api.js';
import { CHAT_METHODS } from './slack-chat.js';
import { decodeArgs, isRecord, readArgs, responseUrlRoute, uploadRoute } from './slack-routes.js';
import { type FakeSocketMode, startFakeSocketMode } from './slack-socket.js';
import {
  addChannel,
  addUser,
  type ChannelInput,
  createSlackState,
  type FakeChannel,
  type FakeMessage,
  type FakeUser,
  resolveChannel,
  type SlackState,
  type SlackStateOptions,
  type UserInput,
} from './slack-state.js';
import { VIEW_FILE_METHODS } from './slack-views-files.js';
import {
  type FakeResponse,
  type RecordedRequest,
  type StrictServer,
  startStrictServer,
} from './strict-http.js';

export type { SlackAnswer } from './slack-api.js';
export { SLACK_LIMITS } from './slack-blocks.js';
export type { FakeSocketMode, PushInput, SocketAck, SocketEnvelope } from './slack-socket.js';
export type {
  ChannelInput,
  FakeChannel,
  FakeMessage,
  FakeUser,
  SlackState,
  UserInput,
} from './slack-state.js';

export interface FakeSlackOptions extends SlackStateOptions {
  /** The bot token every Web API call must carry; default 'xoxb-test'. */
  token?: string;
  /** The app-level token apps.connections.open needs; default 'xapp-test'. */
  appToken?: string;
  /** Lets sign() make request signatures for the app's own receiver. */
  signingSecret?: string;
  channels?: ChannelInput[];
  users?: UserInput[];
  /** When true, only methods declared with expectCall() are answered; the rest are unexpected. */
  onlyExpectedCalls?: boolean;
}

export interface SlackCall {
  method: string;
  /** Arguments with JSON fields (blocks, view, attachments, files) decoded. */
  args: Record<string, unknown>;
  token: string | undefined;
  status: number | undefined;
  answer: unknown;
  request: RecordedRequest;
}

export interface SlackFailure {
  /** Shorthand for an HTTP 200 `{ ok: false, error }`. */
  error?: string;
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  times?: number;
}

export interface FakeSlack {
  /** Web API base for `slackApiUrl`, ending in /api/. */
  readonly url: string;
  readonly origin: string;
  readonly state: SlackState;
  readonly server: StrictServer;
  readonly socket: FakeSocketMode;
  /** Every Web API call in arrival order, including refused and injected ones. */
  readonly calls: SlackCall[];
  callsTo(method: string): SlackCall[];
  addChannel(input: ChannelInput): FakeChannel;
  addUser(input: UserInput): FakeUser;
  /** Messages in a channel (by id or name), replies included, in posting order. */
  messages(channel: string): FakeMessage[];
  /** Replies under a parent message. */
  thread(channel: string, ts: string): FakeMessage[];
  /** A single-use trigger_id for views.open, to put in a simulated interaction payload. */
  newTriggerId(): string;
  /** A response_url to put in a simulated payload; `message` is what replace_original edits. */
  responseUrl(id: string, message?: { channel: string; ts: string }): string;
  /** What the app posted to a response_url. */
  responses(id: string): Record<string, unknown>[];
  /** From now on every token answers token_revoked. */
  revokeToken(): void;
  /** Declares a call that must happen `times` times (and, with onlyExpectedCalls, admits it). */
  expectCall(method: string, options?: { times?: number; respond?: SlackAnswer }): void;
  /** Declares an error the fake will record as a failure (invalid_blocks, invalid_auth…) as expected. */
  expectError(error: string, times?: number): void;
  /** Fails the next call(s) of a method (or a path starting with /). */
  failNext(method: string, failure: SlackFailure): void;
  /** Answers the next call(s) with 429, Retry-After and `{ ok: false, error: 'ratelimited' }`. */
  rateLimitNext(method: string, options?: { retryAfterSeconds?: number; times?: number }): void;
  waitForCall(method: string, options?: { count?: number; timeoutMs?: number }): Promise<SlackCall[]>;
  /** Slack's v0 request signature headers for a raw body, for tests of the app's receiver. */
  sign(rawBody: string, timestampSeconds?: number): Record<string, string>;
  /** Returns and forgets unexpected calls and violations, for tests that check the fake caught them. */
  takeProblems(): ReturnType<StrictServer['takeProblems']>;
  assertNoUnexpected(): void;
  assertAllExpectedCalled(): void;
  verify(): void;
  stop(): Promise<void>;
}

/**
 * Starts a strict local Slack: the Web API under `url`, upload URLs, response URLs and Socket Mode.
 * Call `verify()` in afterEach so unexpected calls and rendering-limit breaches fail the test.
 *
 * @example
 * const slack = await startFakeSlack({ channels: [{ id: 'C1', name: 'ops' }] });
 * const client = new WebClient('xoxb-test', { slackApiUrl: slack.url });
 * await client.chat.postMessage({ channel: 'C1', text: 'hi' });
 * expect(slack.messages('C1')[0]?.text).toBe('hi');
 */
export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const botToken = options.token ?? 'xoxb-test';
  const appToken = options.appToken ?? 'xapp-test';
  const state = createSlackState(options);
  for (const channel of options.channels ?? []) addChannel(state, channel);
  for (const user of options.users ?? []) addUser(state, user);

  const server = await startStrictServer({
    name: 'Slack',
    onUnexpected: (req) =>
      req.path.startsWith('/api/')
        ? { status: 200, body: { ok: false, error: 'unknown_method' } }
        : { status: 404, body: { ok: false, error: 'not_found' } },
  });
  const origin = server.url;
  const violation = (kind: string, message: string) => {
    server.recordViolation(kind, message);
  };
  const socket = startFakeSocketMode(server.httpServer, { appId: state.appId, violation });

  const methods: Record<string, MethodHandler> = {
    ...CHAT_METHODS,
    ...VIEW_FILE_METHODS,
    'apps.connections.open': () => ({ ok: true, url: socket.issueUrl() }),
  };

  function authError(method: string, token: string | undefined): SlackAnswer | undefined {
    if (!token) {
      violation('not_authed', `${method} was called without a token`);
      return { ok: false, error: 'not_authed' };
    }
    if (state.tokenRevoked && (token === botToken || token === appToken)) {
      return { ok: false, error: 'token_revoked' };
    }
    const wanted = method === 'apps.connections.open' ? appToken : botToken;
    if (token === wanted) return undefined;
    if (token === botToken || token === appToken) {
      violation(
        'not_allowed_token_type',
        `${method} was called with the ${token === appToken ? 'app' : 'bot'} token`,
      );
      return { ok: false, error: 'not_allowed_token_type' };
    }
    violation('invalid_auth', `${method} was called with an unknown token`);
    return { ok: false, error: 'invalid_auth' };
  }

  function answerMethod(method: string, handler: MethodHandler, req: RecordedRequest): FakeResponse {
    const { args, token } = readArgs(req);
    const ctx: MethodContext = { method, args, state, origin, violation };
    let answer = authError(method, token) ?? handler(ctx);
    if (req.contentType === 'application/json' && !/charset=/i.test(req.headers['content-type'] ?? '')) {
      // Slack warns when a JSON body does not name its charset.
      const metadata = isRecord(answer.response_metadata) ? answer.response_metadata : {};
      const warnings = Array.isArray(metadata.warnings) ? metadata.warnings : [];
      answer = { ...answer, response_metadata: { ...metadata, warnings: [...warnings, 'missing_charset'] } };
    }
    return { status: 200, body: answer };
  }

  for (const [method, handler] of Object.entries(methods)) {
    server.route('*', `/api/${method}`, (req) => answerMethod(method, handler, req), {
      requireExpectation: options.onlyExpectedCalls ?? false,
    });
  }

  server.route('POST', '/upload/v1/:fileId', uploadRoute(state, violation));
  server.route('POST', '/response/:id', responseUrlRoute(state, origin, violation));

  function toCall(req: RecordedRequest): SlackCall {
    const { args, token } = readArgs(req);
    return {
      method: req.path.slice('/api/'.length),
      args: decodeArgs(args),
      token,
      status: req.response?.status,
      answer: req.response?.body,
      request: req,
    };
  }

  const matcherFor = (method: string) => (method.startsWith('/') ? method : `/api/${method}`);

  return {
    url: `${origin}/api/`,
    origin,
    state,
    server,
    socket,
    get calls() {
      return server.requests.filter((req) => req.path.startsWith('/api/')).map(toCall);
    },
    callsTo(method) {
      return server.requestsMatching(matcherFor(method)).map(toCall);
    },
    addChannel: (input) => addChannel(state, input),
    addUser: (input) => addUser(state, input),
    messages(ref) {
      const channel = resolveChannel(state, ref);
      return channel ? [...(state.messages.get(channel.id) ?? [])] : [];
    },
    thread(ref, ts) {
      const channel = resolveChannel(state, ref);
      const list = channel ? (state.messages.get(channel.id) ?? []) : [];
      return list.filter((m) => m.threadTs === ts && m.ts !== ts);
    },
    newTriggerId() {
      const id = `${state.nextTs().replace('.', '')}.${state.nextId('TR')}`;
      state.triggers.set(id, 'fresh');
      return id;
    },
    responseUrl(id, message) {
      state.responseUrls.set(id, { id, message, uses: 0, posts: [] });
      return `${origin}/response/${encodeURIComponent(id)}`;
    },
    responses: (id) => state.responseUrls.get(id)?.posts ?? [],
    revokeToken() {
      state.tokenRevoked = true;
    },
    expectCall(method, callOptions = {}) {
      const respond = callOptions.respond;
      server.expect(matcherFor(method), {
        times: callOptions.times,
        respond: respond ? { status: 200, body: respond } : undefined,
      });
    },
    expectError: (error, times) => server.expectViolation(error, times),
    failNext(method, failure) {
      server.failNext(matcherFor(method), {
        status: failure.status ?? 200,
        headers: failure.headers,
        body: failure.body ?? { ok: false, error: failure.error ?? 'fatal_error' },
        times: failure.times,
      });
    },
    rateLimitNext(method, rateOptions = {}) {
      server.rateLimitNext(matcherFor(method), { ...rateOptions, body: { ok: false, error: 'ratelimited' } });
    },
    async waitForCall(method, waitOptions) {
      return (await server.waitFor(matcherFor(method), waitOptions)).map(toCall);
    },
    sign(rawBody, timestampSeconds = Math.floor(Date.now() / 1000)) {
      if (!options.signingSecret) throw new Error('startFakeSlack needs a signingSecret for sign()');
      const base = `v0:${timestampSeconds}:${rawBody}`;
      const digest = createHmac('sha256', options.signingSecret).update(base).digest('hex');
      return { 'x-slack-request-timestamp': String(timestampSeconds), 'x-slack-signature': `v0=${digest}` };
    },
    takeProblems: () => server.takeProblems(),
    assertNoUnexpected: () => server.assertNoUnexpected(),
    assertAllExpectedCalled: () => server.assertAllExpectedCalled(),
    verify: () => server.verify(),
    async stop() {
      await socket.close();
      await server.stop();
    },
  };
}
