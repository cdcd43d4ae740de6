import type http from 'node:http';

/** The shapes shared by every strict fake built on strict-http.ts. */

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
