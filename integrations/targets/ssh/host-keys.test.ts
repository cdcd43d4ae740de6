import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrationError } from '../../../lib/errors.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../../test/sshd.js';
import { classifyTargetError } from '../errors.js';
import { type HostKeyInfo, hostKeyFingerprint, normalizeFingerprint } from './host-keys.js';
import { createSshConnectionPool, createSshTarget, type SshTargetConfig } from './index.js';

describe('host key fingerprints', () => {
  it('are SHA256: and unpadded base64 of the SHA-256 of the blob', () => {
    // The SHA-256 of empty input is the well-known 47DEQ…FU= (padding dropped, as OpenSSH prints).
    expect(hostKeyFingerprint(Buffer.alloc(0))).toBe('SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU');
  });

  it('accept a pinned fingerprint with or without prefix and padding', () => {
    expect(normalizeFingerprint('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=')).toBe(
      'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
    );
    expect(normalizeFingerprint(' sha256:abc ')).toBe('SHA256:abc');
  });
});

const reason = sshdUnavailableReason();
if (reason) console.warn(`ssh host key tests skipped: ${reason}`);

describe.skipIf(Boolean(reason))(`ssh host key pinning${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let sshd: SshdHandle;
  const pool = createSshConnectionPool();
  const config = (overrides: Partial<SshTargetConfig> = {}): SshTargetConfig => ({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: sshd.clientKey.privateKey,
    connectTimeoutMs: 5_000,
    ...overrides,
  });

  beforeAll(async () => {
    sshd = await startSshd({ users: ['wardenhk'] });
  });
  afterAll(async () => {
    pool.close();
    await sshd?.stop();
  });

  it('computes the same fingerprint as ssh-keygen -l for the server key', () => {
    const blob = Buffer.from(sshd.hostKeyPublic.split(' ')[1]!, 'base64');
    expect(hostKeyFingerprint(blob)).toBe(sshd.hostKeyFingerprint);
  });

  it('connects when the pinned fingerprint matches the server key', async () => {
    const target = createSshTarget(config({ hostKey: sshd.hostKeyFingerprint }), { pool });
    const result = await target.exec(['id', '-un']);
    expect(result.stdout).toBe('wardenhk\n');
    await target.close();
  });

  it('refuses a changed host key and reports both fingerprints without running anything', async () => {
    const pinned = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const target = createSshTarget(config({ hostKey: pinned }), { pool });
    const error = await target.exec(['touch', '/tmp/warden-should-not-exist']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrationError);
    const failure = error as IntegrationError;
    expect(classifyTargetError(failure)).toBe('host-key-changed');
    expect(failure.message).toContain(pinned);
    expect(failure.message).toContain(sshd.hostKeyFingerprint);
    expect(failure.details).toMatchObject({ expected: pinned, actual: sshd.hostKeyFingerprint });
    // The refusal happens before authentication, so the server never saw a login.
    expect(sshd.count(/Accepted publickey for wardenhk/)).toBe(1);
  });

  it('reports the fingerprint on first contact through the callback and then connects', async () => {
    const seen: HostKeyInfo[] = [];
    const target = createSshTarget(config({ trustOnFirstUse: true, name: 'first-contact' }), {
      pool,
      onNewHostKey: (info) => {
        seen.push(info);
      },
    });
    expect((await target.exec(['true'])).exitCode).toBe(0);
    expect(seen).toEqual([
      {
        host: sshd.host,
        port: sshd.port,
        fingerprint: sshd.hostKeyFingerprint,
        publicKey: sshd.hostKeyPublic,
        keyType: 'ssh-ed25519',
      },
    ]);
    await target.close();
  });

  it('refuses the key when the first-contact callback declines it', async () => {
    const target = createSshTarget(config({ trustOnFirstUse: true }), {
      pool,
      onNewHostKey: async () => false,
    });
    const error = await target.exec(['true']).catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('host-key-unknown');
  });

  it('refuses an unpinned host when first-contact trust is off, naming the key it saw', async () => {
    const target = createSshTarget(config(), { pool });
    const error = await target.exec(['true']).catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('host-key-unknown');
    expect((error as Error).message).toContain(sshd.hostKeyFingerprint);
  });

  it('will not trust on first use without a callback to record the key', () => {
    expect(() => createSshTarget(config({ trustOnFirstUse: true }), { pool })).toThrow(/onNewHostKey/);
  });
});
