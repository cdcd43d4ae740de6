import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackSignature } from './verify.js';

const secret = 'secret0123456789';
const body = 'command=%2Fwarden&text=help';
const now = new Date('2026-01-05T09:00:00Z');
const ts = Math.floor(now.getTime() / 1000);

function check(overrides: Partial<Parameters<typeof verifySlackSignature>[0]> = {}) {
  return verifySlackSignature({
    signingSecret: secret,
    rawBody: body,
    timestampHeader: String(ts),
    signatureHeader: signSlackRequest(secret, body, ts),
    now,
    ...overrides,
  });
}

describe('verifySlackSignature', () => {
  it('accepts a request Slack signed now', () => {
    expect(check()).toEqual({ ok: true, timestamp: ts, signature: signSlackRequest(secret, body, ts) });
  });

  it.each([
    [300, true],
    [301, false],
    [-300, true],
    [-301, false],
    [-3600, false],
  ])('with the request signed %i s from now, accepts it: %s', (offset, ok) => {
    const at = ts + offset;
    const result = check({
      timestampHeader: String(at),
      signatureHeader: signSlackRequest(secret, body, at),
    });
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.reason).toBe(offset > 0 ? 'future' : 'stale');
  });

  it.each([
    ['a wrong secret', { signatureHeader: signSlackRequest('other', body, ts) }, 'signature_mismatch'],
    ['a tampered body', { rawBody: `${body}x` }, 'signature_mismatch'],
    ['no headers', { signatureHeader: undefined }, 'missing_headers'],
    [
      'a v1 signature',
      { signatureHeader: signSlackRequest(secret, body, ts).replace('v0=', 'v1=') },
      'bad_signature_format',
    ],
    ['a short signature', { signatureHeader: 'v0=abc' }, 'bad_signature_format'],
    ['a timestamp that is not a number', { timestampHeader: '1e9' }, 'bad_timestamp'],
    ['a hostile timestamp', { timestampHeader: '$(reboot)' }, 'bad_timestamp'],
  ])('refuses %s', (_name, overrides, reason) => {
    expect(check(overrides)).toEqual({ ok: false, reason });
  });
});
