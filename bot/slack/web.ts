import { webApi } from '@slack/bolt';
import { AppError, IntegrationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

/**
 * The Web API client Warden uses, and what a Slack failure means for Warden: a 429 carries its
 * Retry-After to the outbox, a refused token makes the replica unready, a missing channel says
 * how to fix the project, and a rendering refusal is permanent (sending it again cannot help).
 */

/** Error codes meaning the bot token no longer works; /readyz turns false until a call succeeds. */
export const AUTH_ERRORS = new Set([
  'token_revoked',
  'invalid_auth',
  'account_inactive',
  'not_authed',
  'token_expired',
]);

/** Errors that no retry can fix: the request itself is wrong. */
const PERMANENT_ERRORS = new Set([
  'invalid_blocks',
  'invalid_blocks_format',
  'invalid_arguments',
  'msg_too_long',
  'no_text',
  'message_not_found',
  'cant_update_message',
  'thread_not_found',
  'user_not_found',
]);

/** Slack's Logger interface over pino, quieter than Slack's default. */
export function slackLogger(log: Logger): webApi.Logger {
  let level = webApi.LogLevel.WARN;
  return {
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => log.warn({ component: 'slack-sdk' }, msg.map(String).join(' ')),
    error: (...msg: unknown[]) => log.error({ component: 'slack-sdk' }, msg.map(String).join(' ')),
    setLevel: (l: webApi.LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

/** A WebClient that never retries on its own (the outbox does) and hands 429s back to the caller. */
export function createWebClient(token: string, apiUrl: string | undefined, log: Logger): webApi.WebClient {
  return new webApi.WebClient(token, {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: slackLogger(log),
    timeout: 10_000,
  });
}

/** The Slack error code of a Web API failure (`channel_not_found`, `ratelimited`, …), if any. */
export function slackErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: string; data?: { error?: unknown } };
  if (e.code === webApi.ErrorCode.RateLimitedError) return 'ratelimited';
  return typeof e.data?.error === 'string' ? e.data.error : undefined;
}

function hint(code: string, channel: string | undefined): string {
  const where = channel ? `channel ${channel}` : 'the channel';
  switch (code) {
    case 'not_in_channel':
      return `Warden is not a member of ${where}: invite it there (/invite @Warden), or set the project's Slack channel to one it is in`;
    case 'channel_not_found':
      return `${where} does not exist or Warden cannot see it (a private channel needs an invite first): check the project's Slack channel id`;
    case 'is_archived':
      return `${where} is archived: set the project's Slack channel to a live one`;
    case 'token_revoked':
    case 'invalid_auth':
    case 'account_inactive':
    case 'not_authed':
    case 'token_expired':
      return 'Slack refused the bot token: reinstall the Slack app and set SLACK_BOT_TOKEN to its new Bot User OAuth Token';
    case 'missing_scope':
      return 'the Slack app lacks a scope this needs: compare its scopes with manifest/slack.yaml and reinstall it';
    default:
      return 'see https://api.slack.com/methods for what this error means';
  }
}

/**
 * Translate a Web API failure into Warden's errors. `what` names the call for the message
 * ("posting to C0123").
 */
export function toWardenError(error: unknown, what: string, channel?: string): AppError {
  const e = error as { code?: string; retryAfter?: number; message?: string };
  if (e?.code === webApi.ErrorCode.RateLimitedError) {
    const retryAfter = typeof e.retryAfter === 'number' && e.retryAfter > 0 ? e.retryAfter : 30;
    return new IntegrationError(
      'slack',
      `Slack rate-limited ${what}; it will be retried after ${retryAfter} s`,
      {
        retryAfter,
        cause: error,
      },
    );
  }
  const code = slackErrorCode(error);
  if (code) {
    const message = `Slack refused ${what} (${code}): ${hint(code, channel)}`;
    if (PERMANENT_ERRORS.has(code))
      return new AppError('bad_request', message, { cause: error, details: { slack: code } });
    return new IntegrationError('slack', message, { cause: error, details: { slack: code } });
  }
  return new IntegrationError(
    'slack',
    `could not reach Slack while ${what} (${e?.message ?? String(error)}); it will be retried`,
    {
      cause: error,
    },
  );
}
