import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.js';
import { createVault, randomToken, sha256Hex } from './crypto.js';
import { AppError } from './errors.js';

const key = () => randomBytes(32).toString('base64');

/** Flip one bit of one dot-separated part of an envelope. */
function flip(sealed: string, part: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0]! ^= 1;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('vault', () => {
  it('opens what it sealed, text or bytes, and never stores the plaintext', () => {
    const vault = createVault(key());
    const secret = '-----BEGIN OPENSSH PRIVATE KEY-----\nzoë 🔑\n';
    const sealed = vault.seal(secret, 'ssh-key:web-01');
    expect(sealed.startsWith(`v1.${vault.keyId}.`)).toBe(true);
    expect(sealed).not.toContain('OPENSSH');
    expect(vault.openText(sealed, 'ssh-key:web-01')).toBe(secret);
    const bytes = randomBytes(100);
    expect(vault.open(vault.seal(bytes))).toEqual(bytes);
  });

  it('seals the same plaintext differently each time', () => {
    const vault = createVault(key());
    expect(vault.seal('same')).not.toBe(vault.seal('same'));
  });

  it('binds a secret to its context: opened under another name it fails', () => {
    const vault = createVault(key());
    const sealed = vault.seal('hunter2', 'ssh-key:web-01');
    expect(() => vault.open(sealed, 'ssh-key:web-02')).toThrow(
      'a stored secret failed its integrity check (wrong key or tampered data)',
    );
    expect(() => vault.open(sealed)).toThrow(AppError);
  });

  it('detects tampering with any part of the envelope', () => {
    const vault = createVault(key());
    const sealed = vault.seal('hunter2', 'ctx');
    // 2..7: data-key iv, tag, wrapped key, body iv, tag, ciphertext
    for (let part = 2; part <= 7; part++) {
      expect(() => vault.open(flip(sealed, part), 'ctx'), `part ${part}`).toThrow(/integrity check/);
    }
    expect(() => vault.open(sealed.split('.').slice(0, 7).join('.'), 'ctx')).toThrow(
      /not in the expected format/,
    );
    expect(() => vault.open(`v2${sealed.slice(2)}`, 'ctx')).toThrow(/not in the expected format/);
  });

  it('fails the integrity check under a different key with the same id slot', () => {
    const a = createVault(key());
    const sealed = a.seal('x');
    // Claim the current key's id on an envelope wrapped by another key.
    const b = createVault(key());
    const forged = sealed.replace(`v1.${a.keyId}.`, `v1.${b.keyId}.`);
    expect(() => b.open(forged)).toThrow(/integrity check/);
  });

  it('re-wraps under the new key while the previous one is configured, leaving the ciphertext alone', () => {
    const oldKey = key();
    const newKey = key();
    const old = createVault(oldKey);
    const sealed = old.seal('rotate me', 'ctx');

    const rotating = createVault(newKey, [oldKey]);
    expect(rotating.needsRewrap(sealed)).toBe(true);
    expect(rotating.openText(sealed, 'ctx')).toBe('rotate me');
    const rewrapped = rotating.rewrap(sealed);
    expect(rotating.needsRewrap(rewrapped)).toBe(false);
    expect(rewrapped.split('.').slice(5)).toEqual(sealed.split('.').slice(5));
    expect(rotating.rewrap(rewrapped)).toBe(rewrapped);

    const retired = createVault(newKey);
    expect(retired.openText(rewrapped, 'ctx')).toBe('rotate me');
  });

  it('names an unknown key id and says where to configure it', () => {
    const stranger = createVault(key());
    const sealed = stranger.seal('x');
    const vault = createVault(key());
    expect(() => vault.open(sealed)).toThrow(
      `a stored secret was encrypted with master key ${stranger.keyId}, which is not configured; add it to WARDEN_MASTER_KEY_PREVIOUS`,
    );
    expect(() => vault.rewrap(sealed)).toThrow(/add it to WARDEN_MASTER_KEY_PREVIOUS/);
  });

  it('refuses a master key of the wrong size with a ConfigError naming the variable', () => {
    expect(() => createVault('too-short')).toThrow(ConfigError);
    expect(() => createVault(key(), ['c2hvcnQ='])).toThrow(/^WARDEN_MASTER_KEY_PREVIOUS must be 32 bytes/);
  });
});

describe('hashing and tokens', () => {
  it('hashes to lowercase hex and makes url-safe random tokens', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const t = randomToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken()).not.toBe(t);
  });
});
