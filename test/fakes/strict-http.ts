import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSelfSignedCertificate } from './strict-http-tls.js';

/**
 * A strict fake HTTP server that the fakes of outside services (Slack, Jira, ServiceNow, SSM, Azure,
 * the Teams connector) build on. It records every request, answers from routes or expectations, can
 * inject failures, and turns anything it did not expect into a test failure: call `verify()` (or
 * `assertNoUnexpected()` and `assertAllExpectedCalled()`) from `afterEach`.
 *
 * @example
 * const fake = await startStrictServer({ name: 'jira' });
 * fake.route('POST', '/rest/api/2/issue', () => ({ status: 201, body: { key: 'OPS-1' } }));
 * fake.failNext('POST /rest/api/2/issue', { status: 503, times: 1 });
 * afterEach(() => fake.verify());
 */

export interface UploadedPart {
  filename: string;
  type: string;
  data: Buffer;
}

export interface FakeResponse {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON, a string as text, a Buffer as bytes. */
  body?: unknown;
}

export type RequestOutcome = 'routed' | 'expected' | 'injected' | 'unexpected';

export interface RecordedRequest {
  seq: number;
  method: string;
  /** The path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The media type without parameters, in lower case ('' when absent). */
  contentType: string;
  rawBody: Buffer;
  /** JSON → value, form → Record<string,string>, multipart → Record<string, string | UploadedPart>, text → string. */
  body: unknown;
  outcome?: RequestOutcome;
  response?: FakeResponse;
}

export type RouteHandler = (
  req: RecordedRequest,
  params: Record<string, string>,
) => FakeResponse | Promise<FakeResponse>;

/** 'POST /path', '/path' (any method), a RegExp tested on 'METHOD /path', or a predicate. */
export type RequestMatcher = string | RegExp | ((req: RecordedRequest) => boolean);

export interface FailureInjection {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests fail; default 1. */
  times?: number;
}

export interface ExpectOptions {
  /** Exactly this many matching requests must arrive; default 1. */
  times?: number;
  /** How to answer; without it the matching route answers. */
  respond?: FakeResponse | RouteHandler;
}

export interface RouteOptions {
  /** Default: the opposite of the server's routesAreExpected. */
  requireExpectation?: boolean;
}

export interface Violation {
  kind: string;
  message: string;
  request?: RecordedRequest;
}

export interface StrictServerOptions {
  /** Names the fake in failure messages. */
  name: string;
  /** Serve https with a self-signed certificate made at start; `ca` then holds it. */
  https?: boolean;
  /** When false, a route alone does not admit a request: it must also be expected. Default true. */
  routesAreExpected?: boolean;
  /** The answer to a request nobody expected; default 404 with a JSON explanation. */
  onUnexpected?: (req: RecordedRequest) => FakeResponse;
  /** Bodies above this size are refused with 413; default 10 MiB. */
  maxBodyBytes?: number;
}

export interface StrictServer {
  /** Origin without a trailing slash, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly port: number;
  /** PEM certificate to trust in https mode. */
  readonly ca: string | undefined;
  readonly httpServer: http.Server;
  readonly requests: readonly RecordedRequest[];
  readonly unexpected: readonly RecordedRequest[];
  readonly violations: readonly Violation[];
  /** `:name` path segments become params. With requireExpectation, the route only answers expected calls. */
  route(method: string, path: string | RegExp, handler: RouteHandler, options?: RouteOptions): void;
  expect(matcher: RequestMatcher, options?: ExpectOptions): void;
  failNext(matcher: RequestMatcher, failure: FailureInjection): void;
  rateLimitNext(
    matcher: RequestMatcher,
    options?: { retryAfterSeconds?: number; times?: number; body?: unknown },
  ): void;
  /** Declares that a violation of this kind will happen; it then does not fail the test (and must happen). */
  expectViolation(kind: string, times?: number): void;
  /** Records a protocol or limit breach; returns true when the test had declared it. */
  recordViolation(kind: string, message: string, request?: RecordedRequest): boolean;
  requestsMatching(matcher: RequestMatcher): RecordedRequest[];
  /** Resolves once `count` matching requests have been answered; rejects after `timeoutMs`. */
  waitFor(
    matcher: RequestMatcher,
    options?: { count?: number; timeoutMs?: number },
  ): Promise<RecordedRequest[]>;
  /** Returns and forgets unexpected requests and violations, for tests that check the fake caught them. */
  takeProblems(): { unexpected: RecordedRequest[]; violations: Violation[] };
  assertNoUnexpected(): void;
  assertAllExpectedCalled(): void;
  verify(): void;
  stop(): Promise<void>;
}

interface Route {
  admitted: boolean;
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: RouteHandler;
}

interface PendingExpectation {
  matcher: RequestMatcher;
  remaining: number;
  times: number;
  respond?: FakeResponse | RouteHandler;
}

interface PendingFailure {
  matcher: RequestMatcher;
  remaining: number;
  response: FakeResponse;
}

export function matchesRequest(matcher: RequestMatcher, req: RecordedRequest): boolean {
  if (typeof matcher === 'function') return matcher(req);
  if (matcher instanceof RegExp) return matcher.test(`${req.method} ${req.path}`);
  const space = matcher.indexOf(' ');
  if (space === -1) return req.path === matcher;
  return req.method === matcher.slice(0, space).toUpperCase() && req.path === matcher.slice(space + 1);
}

function describeMatcher(matcher: RequestMatcher): string {
  return typeof matcher === 'function' ? 'a predicate' : String(matcher);
}

function compilePath(path: string | RegExp): { pattern: RegExp; keys: string[] } {
  if (path instanceof RegExp) return { pattern: path, keys: [] };
  const keys: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      keys.push(segment.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}$`), keys };
}

async function parseBody(contentType: string, fullType: string, raw: Buffer): Promise<unknown> {
  if (raw.length === 0) return undefined;
  if (contentType === 'application/json') return JSON.parse(raw.toString('utf8'));
  if (contentType === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  if (contentType === 'multipart/form-data') {
    // The platform's own multipart parser, so the fake does not carry one of its own.
    const form = await new Response(new Uint8Array(raw), {
      headers: { 'content-type': fullType },
    }).formData();
    const entries: [string, FormDataEntryValue][] = [];
    form.forEach((value, key) => {
      entries.push([key, value]);
    });
    const parts: Record<string, string | UploadedPart> = {};
    for (const [key, value] of entries) {
      parts[key] =
        typeof value === 'string'
          ? value
          : { filename: value.name, type: value.type, data: Buffer.from(await value.arrayBuffer()) };
    }
    return parts;
  }
  if (contentType.startsWith('text/') || contentType === '') return raw.toString('utf8');
  return raw;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, response: FakeResponse): void {
  const headers: Record<string, string> = { ...response.headers };
  const hasType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  let payload: Buffer | string = '';
  if (Buffer.isBuffer(response.body)) payload = response.body;
  else if (typeof response.body === 'string') {
    payload = response.body;
    if (!hasType) headers['content-type'] = 'text/plain; charset=utf-8';
  } else if (response.body !== undefined) {
    payload = JSON.stringify(response.body);
    if (!hasType) headers['content-type'] = 'application/json; charset=utf-8';
  }
  res.writeHead(response.status ?? 200, headers);
  res.end(payload);
}

/** Starts a strict fake on 127.0.0.1 and a free port. */
export async function startStrictServer(options: StrictServerOptions): Promise<StrictServer> {
  const routesAreExpected = options.routesAreExpected ?? true;
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const onUnexpected =
    options.onUnexpected ??
    ((req: RecordedRequest) => ({
      status: 404,
      body: { error: `${options.name} fake did not expect ${req.method} ${req.path}` },
    }));
  const routes: Route[] = [];
  const expectations: PendingExpectation[] = [];
  const failures: PendingFailure[] = [];
  const declaredViolations = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const unexpected: RecordedRequest[] = [];
  const violations: Violation[] = [];
  const answered = new EventEmitter();
  let seq = 0;

  function findRoute(req: RecordedRequest): { route: Route; params: Record<string, string> } | undefined {
    for (const route of routes) {
      if (route.method !== '*' && route.method !== req.method) continue;
      const match = route.pattern.exec(req.path);
      if (!match) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, index) => {
        params[key] = decodeURIComponent(match[index + 1] ?? '');
      });
      return { route, params };
    }
    return undefined;
  }

  async function dispatch(req: RecordedRequest): Promise<FakeResponse> {
    const failure = failures.find((f) => f.remaining > 0 && matchesRequest(f.matcher, req));
    if (failure) {
      failure.remaining -= 1;
      req.outcome = 'injected';
      return failure.response;
    }
    const found = findRoute(req);
    const expectation = expectations.find((e) => e.remaining > 0 && matchesRequest(e.matcher, req));
    if (expectation) {
      expectation.remaining -= 1;
      req.outcome = 'expected';
      const respond = expectation.respond;
      if (typeof respond === 'function') return respond(req, found?.params ?? {});
      if (respond) return respond;
      return found ? found.route.handler(req, found.params) : { status: 200, body: {} };
    }
    if (found?.route.admitted) {
      req.outcome = 'routed';
      return found.route.handler(req, found.params);
    }
    req.outcome = 'unexpected';
    unexpected.push(req);
    return onUnexpected(req);
  }

  async function handle(incoming: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = new URL(incoming.url ?? '/', 'http://127.0.0.1');
    const fullType = String(incoming.headers['content-type'] ?? '');
    const contentType = fullType.split(';')[0]?.trim().toLowerCase() ?? '';
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const raw = await readBody(incoming, maxBodyBytes);
    const req: RecordedRequest = {
      seq: ++seq,
      method: (incoming.method ?? 'GET').toUpperCase(),
      path: target.pathname,
      query: Object.fromEntries(target.searchParams),
      headers,
      contentType,
      rawBody: raw ?? Buffer.alloc(0),
      body: undefined,
    };
    requests.push(req);
    let response: FakeResponse;
    if (raw === undefined) {
      recordViolation(
        'body_too_large',
        `${req.method} ${req.path} sent more than ${maxBodyBytes} bytes`,
        req,
      );
      response = { status: 413, body: { error: 'body too large' } };
    } else {
      try {
        req.body = await parseBody(contentType, fullType, raw);
        response = await dispatch(req);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        recordViolation('handler_error', `${req.method} ${req.path} could not be answered: ${reason}`, req);
        response = { status: 500, body: { error: reason } };
      }
    }
    req.response = response;
    send(res, response);
    answered.emit('request', req);
  }

  function recordViolation(kind: string, message: string, request?: RecordedRequest): boolean {
    const declared = declaredViolations.get(kind) ?? 0;
    if (declared > 0) {
      declaredViolations.set(kind, declared - 1);
      return true;
    }
    violations.push({ kind, message, request });
    return false;
  }

  let ca: string | undefined;
  let httpServer: http.Server;
  const listener = (incoming: http.IncomingMessage, res: http.ServerResponse) => {
    handle(incoming, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, { status: 500, body: { error: String(error) } });
    });
  };
  if (options.https) {
    const pair = await createSelfSignedCertificate();
    ca = pair.cert;
    httpServer = https.createServer({ key: pair.key, cert: pair.cert }, listener);
  } else {
    httpServer = http.createServer(listener);
  }
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;

  function requestsMatching(matcher: RequestMatcher): RecordedRequest[] {
    return requests.filter((req) => matchesRequest(matcher, req));
  }

  function describe(req: RecordedRequest): string {
    const body = req.rawBody.length > 0 ? ` ${req.rawBody.toString('utf8').slice(0, 300)}` : '';
    return `#${req.seq} ${req.method} ${req.path}${body}`;
  }

  function assertNoUnexpected(): void {
    const lines = [
      ...unexpected.map((req) => `unexpected request ${describe(req)}`),
      ...violations.map((v) => `${v.kind}: ${v.message}`),
    ];
    if (lines.length > 0) {
      throw new Error(`${options.name} fake saw problems:\n  ${lines.join('\n  ')}`);
    }
  }

  function assertAllExpectedCalled(): void {
    const lines = [
      ...expectations
        .filter((e) => e.remaining > 0)
        .map(
          (e) => `expected ${describeMatcher(e.matcher)} ${e.times} time(s), got ${e.times - e.remaining}`,
        ),
      ...[...declaredViolations]
        .filter(([, left]) => left > 0)
        .map(([kind, left]) => `declared violation ${kind} did not happen (${left} left)`),
    ];
    if (lines.length > 0) {
      throw new Error(`${options.name} fake is still waiting for:\n  ${lines.join('\n  ')}`);
    }
  }

  return {
    url: `${options.https ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    ca,
    httpServer,
    requests,
    unexpected,
    violations,
    route(method, path, handler, routeOptions = {}) {
      const admitted = !(routeOptions.requireExpectation ?? !routesAreExpected);
      routes.push({ admitted, method: method.toUpperCase(), handler, ...compilePath(path) });
    },
    expect(matcher, expectOptions = {}) {
      const times = expectOptions.times ?? 1;
      expectations.push({ matcher, times, remaining: times, respond: expectOptions.respond });
    },
    failNext(matcher, failure) {
      failures.push({
        matcher,
        remaining: failure.times ?? 1,
        response: { status: failure.status ?? 500, headers: failure.headers, body: failure.body },
      });
    },
    rateLimitNext(matcher, rateOptions = {}) {
      const retryAfter = rateOptions.retryAfterSeconds ?? 1;
      failures.push({
        matcher,
        remaining: rateOptions.times ?? 1,
        response: {
          status: 429,
          headers: { 'retry-after': String(retryAfter) },
          body: rateOptions.body ?? { error: 'rate limited' },
        },
      });
    },
    expectViolation(kind, times = 1) {
      declaredViolations.set(kind, (declaredViolations.get(kind) ?? 0) + times);
    },
    recordViolation,
    requestsMatching,
    waitFor(matcher, waitOptions = {}) {
      const count = waitOptions.count ?? 1;
      const timeoutMs = waitOptions.timeoutMs ?? 5000;
      const done = () => requestsMatching(matcher).filter((req) => req.response !== undefined);
      if (done().length >= count) return Promise.resolve(done());
      return new Promise((resolve, reject) => {
        const onRequest = () => {
          if (done().length < count) return;
          clearTimeout(timer);
          answered.off('request', onRequest);
          resolve(done());
        };
        const timer = setTimeout(() => {
          answered.off('request', onRequest);
          reject(
            new Error(
              `${options.name} fake: waited ${timeoutMs} ms for ${count} request(s) matching ${describeMatcher(matcher)}, got ${done().length}`,
            ),
          );
        }, timeoutMs);
        answered.on('request', onRequest);
      });
    },
    takeProblems() {
      return { unexpected: unexpected.splice(0), violations: violations.splice(0) };
    },
    assertNoUnexpected,
    assertAllExpectedCalled,
    verify() {
      assertNoUnexpected();
      assertAllExpectedCalled();
    },
    stop() {
      return new Promise((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}
