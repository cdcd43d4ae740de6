import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack's v0 request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the
 * app's signing secret. Bolt's own check refuses only timestamps that are too old, so a request
 * signed for an hour from now would pass; this one refuses both sides of the window. Replays
 * inside the window are stopped by the replay cache (storage/slack.ts), not here.
 */

/** Slack's documented tolerance: five minutes either side of the receiver's clock. */
export const SIGNATURE_WINDOW_SECONDS = 300;

export type VerifyFailure =
  | 'missing_headers'
  | 'bad_timestamp'
  | 'stale'
  | 'future'
  | 'bad_signature_format'
  | 'signature_mismatch';

export type VerifyResult =
  | { ok: true; timestamp: number; signature: string }
  | { ok: false; reason: VerifyFailure };

export interface VerifyInput {
  signingSecret: string;
  /** The body exactly as received: a re-serialised body would not match. */
  rawBody: string;
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
  now: Date;
}

const TIMESTAMP = /^\d{1,12}$/;
const SIGNATURE = /^v0=([0-9a-f]{64})$/;

/** The header value Slack would send for `rawBody` at `timestamp` (tests and the benchmark sign with it). */
export function signSlackRequest(signingSecret: string, rawBody: string, timestamp: number): string {
  const digest = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex');
  return `v0=${digest}`;
}

export function verifySlackSignature(input: VerifyInput): VerifyResult {
  const { timestampHeader, signatureHeader } = input;
  if (!timestampHeader || !signatureHeader) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP.test(timestampHeader)) return { ok: false, reason: 'bad_timestamp' };
  const timestamp = Number(timestampHeader);
  const skew = Math.floor(input.now.getTime() / 1000) - timestamp;
  if (skew > SIGNATURE_WINDOW_SECONDS) return { ok: false, reason: 'stale' };
  if (skew < -SIGNATURE_WINDOW_SECONDS) return { ok: false, reason: 'future' };
  const match = SIGNATURE.exec(signatureHeader.trim().toLowerCase());
  if (!match) return { ok: false, reason: 'bad_signature_format' };
  const expected = createHmac('sha256', input.signingSecret)
    .update(`v0:${timestampHeader}:${input.rawBody}`)
    .digest();
  const given = Buffer.from(match[1]!, 'hex');
  // Both are 32 bytes here; timingSafeEqual keeps the comparison from leaking where they differ.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'signature_mismatch' };
  }
  return { ok: true, timestamp, signature: `v0=${match[1]}` };
}

/** A sentence for the log: never the signature or the body. */
export function describeFailure(reason: VerifyFailure): string {
  switch (reason) {
    case 'missing_headers':
      return 'no X-Slack-Signature / X-Slack-Request-Timestamp headers: not a request from Slack';
    case 'bad_timestamp':
      return 'X-Slack-Request-Timestamp is not a Unix time';
    case 'stale':
      return `signed more than ${SIGNATURE_WINDOW_SECONDS} s ago (old or replayed request, or this server's clock is behind)`;
    case 'future':
      return `signed more than ${SIGNATURE_WINDOW_SECONDS} s in the future (forged, or this server's clock is ahead)`;
    case 'bad_signature_format':
      return 'X-Slack-Signature is not a v0 signature';
    case 'signature_mismatch':
      return 'the signature does not match: wrong SLACK_SIGNING_SECRET, or the body was altered';
  }
}
