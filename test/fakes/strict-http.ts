import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSelfSignedCertificate } from './strict-http-tls.js';
import type {
  FakeResponse,
  RecordedRequest,
  RequestMatcher,
  RouteHandler,
  StrictServer,
  StrictServerOptions,
  Violation,
} from './strict-http-types.js';
import {
  compilePath,
  describeMatcher,
  matchesRequest,
  parseBody,
  parseTarget,
  readBody,
  send,
} from './strict-http-wire.js';

export type * from './strict-http-types.js';
export { matchesRequest } from './strict-http-wire.js';

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
    const target = parseTarget(incoming.url ?? '/');
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
      let parsed = true;
      try {
        req.body = await parseBody(contentType, fullType, raw);
      } catch (error) {
        parsed = false;
        const reason = error instanceof Error ? error.message : String(error);
        recordViolation(
          'invalid_body',
          `${req.method} ${req.path} sent a malformed ${contentType} body: ${reason}`,
          req,
        );
        req.body = raw.toString('utf8');
      }
      try {
        response = parsed ? await dispatch(req) : { status: 400, body: { error: 'malformed body' } };
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
