import { createHash } from 'node:crypto';
import type { IntegrationError } from '../../../lib/errors.js';
import { targetError } from '../errors.js';

/** What Warden learns about a host key on first contact; the caller records and audits it. */
export interface HostKeyInfo {
  host: string;
  port: number;
  /** OpenSSH style, e.g. `SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU`. */
  fingerprint: string;
  /** The key as an OpenSSH public key line without comment, e.g. `ssh-ed25519 AAAA…`. */
  publicKey: string;
  keyType: string;
}

/**
 * Called when a host without a pinned key is first reached and trust on first use is allowed.
 * Returning false (or a promise of false) refuses the key after all.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a recorder usually returns nothing; only `false` refuses.
export type OnNewHostKey = (info: HostKeyInfo) => void | boolean | Promise<void | boolean>;

/** `SHA256:` followed by unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -l` prints. */
export function hostKeyFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Accepts a fingerprint with or without the `SHA256:` prefix or base64 padding. */
export function normalizeFingerprint(fingerprint: string): string {
  const bare = fingerprint
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
  return `SHA256:${bare}`;
}

/** The algorithm name at the start of an SSH key blob (a length-prefixed string). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  if (length > 64 || 4 + length > keyBlob.length) return 'unknown';
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

export interface HostKeyPolicy {
  host: string;
  port: number;
  /** The pinned fingerprint; when set, any other key is refused. */
  pinned?: string;
  /** Accept and report an unpinned host's key (first contact). */
  trustOnFirstUse: boolean;
  onNewHostKey?: OnNewHostKey;
}

export interface HostKeyCheck {
  /** For ssh2's `hostVerifier`: calls `verify` with the decision. */
  verifier(keyBlob: Buffer, verify: (accept: boolean) => void): void;
  /** Why the key was refused, once `verifier` said no. */
  refusal(): IntegrationError | undefined;
  /** The fingerprint the server presented, once seen. */
  seen(): string | undefined;
}

/** Decides whether a server's host key is accepted, and remembers why not for the error. */
export function createHostKeyCheck(policy: HostKeyPolicy): HostKeyCheck {
  let refused: IntegrationError | undefined;
  let seenFingerprint: string | undefined;
  const where = `${policy.host}:${policy.port}`;
  return {
    verifier(keyBlob, verify) {
      const fingerprint = hostKeyFingerprint(keyBlob);
      seenFingerprint = fingerprint;
      if (policy.pinned) {
        const expected = normalizeFingerprint(policy.pinned);
        if (expected === fingerprint) return verify(true);
        refused = targetError(
          'ssh',
          'host-key-changed',
          `The host key of ${where} changed: Warden pinned ${expected} but the server presented ${fingerprint}. ` +
            'The connection was refused. If the server was rebuilt, check the new fingerprint with its owner and update the pin.',
          { details: { host: policy.host, port: policy.port, expected, actual: fingerprint } },
        );
        return verify(false);
      }
      if (!policy.trustOnFirstUse) {
        refused = targetError(
          'ssh',
          'host-key-unknown',
          `${where} has no pinned host key and first-contact trust is off. Its key is ${fingerprint}; pin it after checking.`,
          { details: { host: policy.host, port: policy.port, actual: fingerprint } },
        );
        return verify(false);
      }
      const info: HostKeyInfo = {
        host: policy.host,
        port: policy.port,
        fingerprint,
        publicKey: `${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}`,
        keyType: keyTypeOf(keyBlob),
      };
      Promise.resolve()
        .then(() => policy.onNewHostKey?.(info))
        .then(
          (answer) => {
            if (answer === false) {
              refused = targetError(
                'ssh',
                'host-key-unknown',
                `The host key ${fingerprint} of ${where} was not accepted.`,
                {
                  details: { host: policy.host, port: policy.port, actual: fingerprint },
                },
              );
            }
            verify(answer !== false);
          },
          (cause: unknown) => {
            refused = targetError(
              'ssh',
              'host-key-unknown',
              `Could not record the host key ${fingerprint} of ${where}, so it was not trusted.`,
              { cause, details: { host: policy.host, port: policy.port, actual: fingerprint } },
            );
            verify(false);
          },
        );
    },
    refusal: () => refused,
    seen: () => seenFingerprint,
  };
}
