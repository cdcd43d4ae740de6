import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalTarget } from '../../integrations/targets/index.js';
import { AppError } from '../../lib/errors.js';
import { pushCaFiles } from './ca-install.js';

const dir = mkdtempSync(path.join(tmpdir(), 'wd-ca-files-'));
const local = createLocalTarget({ name: 'local-test' });
const CA = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl warden-user-ca';
const USER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDMR37/IqeSaq9NjcamLtHAbKODunoOUFuafV6k90A3x gina';

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function paths(name = 'sshd_config') {
  return {
    trustedKeysPath: `${dir}/ca.pub`,
    revokedKeysPath: `${dir}/revoked`,
    sshdConfigPath: `${dir}/${name}`,
    sudo: false,
  };
}

describe('the CA files script', () => {
  it('writes the CA key and revocation list, reads them back, and says whether sshd names them', async () => {
    writeFileSync(`${dir}/sshd_config`, 'Port 22\n');
    const first = await pushCaFiles(local, paths(), { caPublicKey: CA, revokedKeys: [USER] });
    expect(first.configured).toBe(false);
    expect(readFileSync(`${dir}/ca.pub`, 'utf8')).toBe(`${CA}\n`);
    expect(readFileSync(`${dir}/revoked`, 'utf8')).toBe(`${USER.split(' ').slice(0, 2).join(' ')}\n`);

    writeFileSync(`${dir}/sshd_config`, `TrustedUserCAKeys ${dir}/ca.pub\nRevokedKeys ${dir}/revoked\n`);
    const second = await pushCaFiles(local, paths(), { caPublicKey: null, revokedKeys: [] });
    expect(second.configured).toBe(true);
    expect(readFileSync(`${dir}/revoked`, 'utf8')).toBe('');
    expect(readFileSync(`${dir}/ca.pub`, 'utf8')).toBe(`${CA}\n`);
  });

  it.each([
    ['a command separator', `${dir}/x;touch ${dir}/pwned`],
    ['a substitution', `${dir}/$(touch ${dir}/pwned)`],
    ['a relative path', 'revoked'],
    ['a parent directory', `${dir}/../etc/revoked`],
    ['a newline', `${dir}/a\ntouch ${dir}/pwned`],
  ])('refuses %s in a path and runs nothing', async (_label, revokedKeysPath) => {
    const error = await pushCaFiles(
      local,
      { ...paths(), revokedKeysPath },
      { caPublicKey: null, revokedKeys: [] },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toMatch(/not absolute|will not write/);
    expect(existsSync(`${dir}/pwned`)).toBe(false);
  });

  it('refuses to write through a symbolic link', async () => {
    writeFileSync(`${dir}/elsewhere`, 'keep\n');
    symlinkSync(`${dir}/elsewhere`, `${dir}/linked`);
    const error = await pushCaFiles(
      local,
      { ...paths(), revokedKeysPath: `${dir}/linked` },
      { caPublicKey: null, revokedKeys: [USER] },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as AppError).message).toContain('symbolic link');
    expect(readFileSync(`${dir}/elsewhere`, 'utf8')).toBe('keep\n');
  });
});
