import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, IntegrationError, isAppError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { AppEnv } from './context.js';

/** The one mapping from AppError codes to HTTP statuses. */
export const STATUS_BY_CODE: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  already_decided: 409,
  expired: 410,
  rate_limited: 429,
  unavailable: 503,
  integration: 502,
  internal: 500,
};

/** The JSON body of every error response. */
export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    details?: Record<string, unknown>;
    requestId: string;
  };
}

/** Statuses other middlewares (hono's own) may throw, mapped back to our codes. */
function codeForStatus(status: number): ErrorCode {
  const found = (Object.entries(STATUS_BY_CODE) as [ErrorCode, number][]).find(([, s]) => s === status);
  if (found) return found[0];
  return status >= 500 ? 'internal' : 'bad_request';
}

/** The realm and, when a token was presented, RFC 6750's `invalid_token` hint. */
function wwwAuthenticate(details: Record<string, unknown> | undefined): string {
  return details?.tokenPresented === true
    ? 'Bearer realm="warden", error="invalid_token"'
    : 'Bearer realm="warden"';
}

/** Write an error response in the standard shape. */
export function errorResponse(
  c: Context<AppEnv>,
  status: ContentfulStatusCode,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): Response {
  const body: ErrorBody = {
    error: { code, message, ...(details ? { details } : {}), requestId: c.get('requestId') ?? 'unknown' },
  };
  return c.json(body, status);
}

/**
 * The app's onError: an AppError becomes its status and a JSON body that says what to do next;
 * anything else is a bug, logged with its stack and answered with a generic 500 that only
 * carries the request id (never the internal message).
 *
 * @example
 * app.onError(createErrorHandler(deps.log));
 */
export function createErrorHandler(fallbackLog: Logger): ErrorHandler<AppEnv> {
  return (err, c) => {
    const log = c.get('log') ?? fallbackLog;
    if (isAppError(err)) {
      const status = STATUS_BY_CODE[err.code];
      if (status >= 500) log.error({ err, code: err.code }, 'request failed');
      else log.info({ code: err.code, message: err.message }, 'request refused');
      if (err.code === 'unauthenticated') c.header('WWW-Authenticate', wwwAuthenticate(err.details));
      if (err instanceof IntegrationError && err.retryAfter !== undefined) {
        c.header('Retry-After', String(Math.ceil(err.retryAfter)));
      }
      return errorResponse(c, status, err.code, err.message, err.details);
    }
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      return errorResponse(c, status, codeForStatus(status), err.message || 'the request was refused');
    }
    log.error({ err }, 'unexpected error while handling a request');
    return errorResponse(
      c,
      500,
      'internal',
      'something went wrong on our side; retry, and if it keeps failing give this request id to an admin',
    );
  };
}

/** 404 as JSON under /api/ (clients parse it); a plain text 404 elsewhere. */
export const notFound: NotFoundHandler<AppEnv> = (c) => {
  if (c.req.path === '/api' || c.req.path.startsWith('/api/')) {
    return errorResponse(
      c,
      404,
      'not_found',
      `there is no ${c.req.method} ${c.req.path}; see /api/v1/openapi.json for the routes`,
    );
  }
  return c.text('Not found', 404);
};
