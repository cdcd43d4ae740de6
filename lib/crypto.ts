import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { decodeKey } from './config.js';
import { AppError } from './errors.js';

/**
 * Envelope encryption for secrets at rest (AES-256-GCM).
 *
 * Each secret gets its own random data key; the data key is wrapped by the master key.
 * Rotating the master key only re-wraps data keys (`rewrap`), and while that happens the
 * previous keys still decrypt. Sealed format (all base64url, dot-separated):
 *   v1.<kekId>.<dekIv>.<dekTag>.<wrappedDek>.<iv>.<tag>.<ciphertext>
 */
export interface Vault {
  /** Identifier of the current master key (first 8 hex chars of its SHA-256). */
  readonly keyId: string;
  seal(plaintext: string | Buffer, context?: string): string;
  open(sealed: string, context?: string): Buffer;
  openText(sealed: string, context?: string): string;
  /** Re-wrap the data key under the current master key; the ciphertext itself is untouched. */
  rewrap(sealed: string): string;
  /** True when `sealed` was wrapped by an older master key. */
  needsRewrap(sealed: string): boolean;
}

const b64 = (b: Buffer) => b.toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url');

function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function gcmEncrypt(key: Buffer, data: Buffer, aad: string) {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(data), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ct };
}

function gcmDecrypt(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]);
}

/**
 * @example
 * const vault = createVault(config.masterKey!, config.previousMasterKeys);
 * const sealed = vault.seal(privateKeyPem, 'ssh-key:web-01');
 * vault.openText(sealed, 'ssh-key:web-01');
 */
export function createVault(masterKey: string, previousKeys: string[] = []): Vault {
  const current = decodeKey(masterKey);
  const currentId = keyIdOf(current);
  const keys = new Map<string, Buffer>([[currentId, current]]);
  for (const k of previousKeys) {
    const buf = decodeKey(k, 'WARDEN_MASTER_KEY_PREVIOUS');
    keys.set(keyIdOf(buf), buf);
  }

  function parse(sealed: string) {
    const parts = sealed.split('.');
    if (parts.length !== 8 || parts[0] !== 'v1') {
      throw new AppError('internal', 'a stored secret is not in the expected format (v1 envelope)');
    }
    const [, kekId, dekIv, dekTag, wrapped, iv, tag, ct] = parts as [string, ...string[]] & string[];
    return { kekId: kekId!, dekIv: dekIv!, dekTag: dekTag!, wrapped: wrapped!, iv: iv!, tag: tag!, ct: ct! };
  }

  function unwrapDek(p: ReturnType<typeof parse>): Buffer {
    const kek = keys.get(p.kekId);
    if (!kek) {
      throw new AppError(
        'internal',
        `a stored secret was encrypted with master key ${p.kekId}, which is not configured; add it to WARDEN_MASTER_KEY_PREVIOUS`,
      );
    }
    return gcmDecrypt(kek, unb64(p.dekIv), unb64(p.dekTag), unb64(p.wrapped), `dek:${p.kekId}`);
  }

  function wrapDek(dek: Buffer) {
    return gcmEncrypt(current, dek, `dek:${currentId}`);
  }

  return {
    keyId: currentId,
    seal(plaintext, context = '') {
      const dek = randomBytes(32);
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const body = gcmEncrypt(dek, data, `ctx:${context}`);
      const w = wrapDek(dek);
      return [
        'v1',
        currentId,
        b64(w.iv),
        b64(w.tag),
        b64(w.ct),
        b64(body.iv),
        b64(body.tag),
        b64(body.ct),
      ].join('.');
    },
    open(sealed, context = '') {
      const p = parse(sealed);
      try {
        const dek = unwrapDek(p);
        return gcmDecrypt(dek, unb64(p.iv), unb64(p.tag), unb64(p.ct), `ctx:${context}`);
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw new AppError(
          'internal',
          'a stored secret failed its integrity check (wrong key or tampered data)',
          {
            cause: error,
          },
        );
      }
    },
    openText(sealed, context = '') {
      return this.open(sealed, context).toString('utf8');
    },
    rewrap(sealed) {
      const p = parse(sealed);
      if (p.kekId === currentId) return sealed;
      const w = wrapDek(unwrapDek(p));
      return ['v1', currentId, b64(w.iv), b64(w.tag), b64(w.ct), p.iv, p.tag, p.ct].join('.');
    },
    needsRewrap(sealed) {
      return parse(sealed).kekId !== currentId;
    },
  };
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
