import { createHash } from 'node:crypto';
import { AppError, IntegrationError } from '../../lib/errors.js';
import type { TicketSystemName } from './types.js';

/** Pieces both implementations share: key formats, the idempotency marker, HTTP error mapping. */

/** Jira issue keys: project key, dash, number (OPS-12). */
export const JIRA_KEY = /^[A-Z][A-Z0-9_]+-\d+$/;
/** ServiceNow numbers: a table prefix and at least seven digits (CHG0030001). */
export const SERVICENOW_KEY = /^(CHG|INC|RITM|REQ|PRB)\d{7,}$/;

export const SYSTEM_LABEL: Record<TicketSystemName, string> = { jira: 'Jira', servicenow: 'ServiceNow' };

/** A ticket key as a person typed it: trimmed, upper-cased, nothing else touched. */
export function normalizeKey(raw: string): string {
  return raw.trim().toUpperCase();
}

/**
 * `[warden:<key>]`, the text that lets Warden recognise its own comment after a crash. Keys made
 * of safe characters are kept readable; anything else (it could break a ServiceNow query or a
 * Jira search) is replaced by its hash.
 */
export function markerFor(idempotencyKey: string): string {
  const safe = /^[A-Za-z0-9:._-]{1,120}$/.test(idempotencyKey)
    ? idempotencyKey
    : `h-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
  return `[warden:${safe}]`;
}

/** The comment as posted: the text, a blank line, the marker. */
export function withMarker(text: string, idempotencyKey: string): string {
  return `${text.trimEnd()}\n\n${markerFor(idempotencyKey)}`;
}

/** A Jira label for an idempotent create: labels cannot hold spaces, so it is a short hash. */
export function openLabel(idempotencyKey: string): string {
  return `warden-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 20)}`;
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at an hour. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text), 3600);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - now.getTime()) / 1000)), 3600);
}

/** Cut text to `max` characters on a character boundary, marking the cut. */
export function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

export interface HttpFailure {
  status: number;
  /** The system's own words for what went wrong, already extracted from its error body. */
  detail: string;
  retryAfter?: number;
}

/**
 * One mapping of a failed call to Warden's errors. 429 and 5xx are worth retrying (with the
 * server's Retry-After); 400 is a request that will never succeed as sent (the outbox
 * dead-letters it); 401/403 need an admin to fix credentials or permissions.
 */
export function httpError(system: TicketSystemName, what: string, failure: HttpFailure): AppError {
  const label = SYSTEM_LABEL[system];
  const detail = failure.detail ? `: ${clip(failure.detail, 300)}` : '';
  const details = { status: failure.status };
  // Will never succeed as sent (or the ticket is gone): the outbox dead-letters it at once.
  if (failure.status === 400 || failure.status === 404 || failure.status === 422) {
    return new AppError('bad_request', `${label} refused to ${what}${detail}`, { details });
  }
  if (failure.status === 401) {
    return new IntegrationError(
      system,
      `${label} did not accept Warden's credentials when trying to ${what}${detail}; check the service account's token`,
      { details },
    );
  }
  if (failure.status === 403) {
    return new IntegrationError(
      system,
      `${label}'s service account may not ${what}${detail}; grant it the permissions listed in integrations/tickets/${system}/README.md`,
      { details },
    );
  }
  if (failure.status === 429) {
    return new IntegrationError(system, `${label} is rate limiting Warden (${what}); it will retry`, {
      details,
      retryAfter: failure.retryAfter ?? 60,
    });
  }
  return new IntegrationError(system, `${label} failed to ${what} (HTTP ${failure.status})${detail}`, {
    details,
    retryAfter: failure.retryAfter,
  });
}

/** A call that never got an HTTP answer (refused, reset, timed out). */
export function networkError(system: TicketSystemName, what: string, error: unknown): IntegrationError {
  const reason = error instanceof Error ? error.message : String(error);
  return new IntegrationError(
    system,
    `cannot reach ${SYSTEM_LABEL[system]} to ${what} (${clip(reason, 200)}); check its URL and that it is up`,
    { cause: error },
  );
}

/** The HTTP status an error from httpError() carries, if any. */
export function statusOf(error: unknown): number | undefined {
  if (!(error instanceof AppError)) return undefined;
  const status = error.details?.status;
  return typeof status === 'number' ? status : undefined;
}
