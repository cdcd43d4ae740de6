import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How a receiver knows a webhook came from this Warden. Every delivery carries
 *
 *     X-Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
 *
 * where the HMAC is keyed with the subscription's secret (UTF-8) over `<t>.<raw body>`: the
 * timestamp as sent, a dot, and the request body exactly as received. A receiver recomputes it,
 * compares in constant time, and refuses a `t` more than five minutes from its own clock (which
 * stops replays of an old delivery). `X-Warden-Delivery` is the same on every retry of one
 * delivery, so a receiver that saw it already can answer 2xx and drop the copy.
 */
export const SIGNATURE_HEADER = 'X-Warden-Signature';
export const DELIVERY_HEADER = 'X-Warden-Delivery';
export const EVENT_HEADER = 'X-Warden-Event';
export const DEFAULT_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The header value for `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

/** Check a received signature header against the raw body; `now` is the receiver's clock. */
export function verifyWebhookSignature(
  header: string | null | undefined,
  body: string,
  secret: string,
  options: { now: Date; toleranceSeconds?: number },
): SignatureCheck {
  if (!header) return { ok: false, reason: `no ${SIGNATURE_HEADER} header` };
  const parts = new Map<string, string[]>();
  for (const piece of header.split(',')) {
    const eq = piece.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'malformed signature header' };
    const key = piece.slice(0, eq).trim();
    parts.set(key, [...(parts.get(key) ?? []), piece.slice(eq + 1).trim()]);
  }
  const t = parts.get('t')?.[0];
  if (!t || !/^[0-9]{1,12}$/.test(t)) return { ok: false, reason: 'no timestamp in the signature header' };
  const timestamp = Number(t);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(options.now.getTime() / 1000 - timestamp) > tolerance) {
    return { ok: false, reason: 'the timestamp is outside the tolerance (a replay, or a clock far off)' };
  }
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  // Several v1 values may be present while a secret is being rotated; any match is enough.
  for (const candidate of parts.get('v1') ?? []) {
    if (!/^[0-9a-f]{64}$/.test(candidate)) continue;
    if (timingSafeEqual(Buffer.from(candidate, 'hex'), expected)) return { ok: true, timestamp };
  }
  return { ok: false, reason: 'the signature does not match the body' };
}
