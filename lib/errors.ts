/**
 * The one error type of Warden. `code` decides the HTTP status (see bot/http/errors.ts) and how
 * chat shows it; `message` is written for the person who will read it and says what to do next.
 */
export type ErrorCode =
  | 'bad_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'already_decided'
  | 'expired'
  | 'rate_limited'
  | 'unavailable'
  | 'integration'
  | 'internal';

export interface AppErrorOptions {
  cause?: unknown;
  /** Extra structured detail for API clients (never secrets). */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }
}

/** A failure talking to an outside system; `retryAfter` (seconds) comes from a 429 or 503. */
export class IntegrationError extends AppError {
  readonly integration: string;
  readonly retryAfter: number | undefined;

  constructor(integration: string, message: string, options: AppErrorOptions & { retryAfter?: number } = {}) {
    super('integration', message, options);
    this.name = 'IntegrationError';
    this.integration = integration;
    this.retryAfter = options.retryAfter;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
