import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalTarget } from '../../integrations/targets/index.js';
import { AppError } from '../../lib/errors.js';
import { sshdUnavailableReason } from '../../test/sshd.js';
import { installCaOnServer, pushCaFiles } from './ca-script.js';
import { type AccessPolicy, accessPolicy } from './policy.js';

const dir = mkdtempSync(path.join(tmpdir(), 'wd-ca-files-'));
const local = createLocalTarget({ name: 'local-test' });
const CA = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl warden-user-ca';
const USER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDMR37/IqeSaq9NjcamLtHAbKODunoOUFuafV6k90A3x gina';
const noSshd = sshdUnavailableReason();

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function paths(sub = '', extra: Partial<AccessPolicy['ca']> = {}): AccessPolicy['ca'] {
  const base = sub ? path.join(dir, sub) : dir;
  mkdirSync(`${base}/sshd_config.d`, { recursive: true });
  return {
    trustedKeysPath: `${base}/ca.pub`,
    revokedKeysPath: `${base}/revoked`,
    sshdConfigPath: `${base}/sshd_config`,
    dropInPath: `${base}/sshd_config.d/50-warden-ca.conf`,
    sudo: false,
    ...extra,
  };
}

function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** A config `sshd -t` accepts (a host key of its own), including the drop-in directory when asked. */
function sshdConfig(ca: AccessPolicy['ca'], options: { include: boolean; before?: string }): string {
  const base = path.dirname(ca.sshdConfigPath);
  if (!existsSync(`${base}/host_key`)) {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${base}/host_key`]);
  }
  const text = [
    options.before ?? '',
    options.include ? `Include ${base}/sshd_config.d/*.conf` : '',
    `HostKey ${base}/host_key`,
    'UsePAM no',
    '',
  ].join('\n');
  writeFileSync(ca.sshdConfigPath, text);
  return text;
}

const content = { caPublicKey: CA, revokedKeys: [USER] };
const dropIn = (ca: AccessPolicy['ca']) => readFileSync(ca.dropInPath, 'utf8');

describe('the CA files script', () => {
  it('writes the CA key and the revocation list, and a later revocation push rewrites only the list', async () => {
    const ca = paths('files');
    writeFileSync(ca.sshdConfigPath, 'Port 22\n');
    const first = await installCaOnServer(local, ca, content);
    expect(first.state).toBe('needs-manual-include');
    expect(readFileSync(ca.trustedKeysPath, 'utf8')).toBe(`${CA}\n`);
    expect(readFileSync(ca.revokedKeysPath, 'utf8')).toBe(`${USER.split(' ').slice(0, 2).join(' ')}\n`);
    await pushCaFiles(local, ca, { caPublicKey: null, revokedKeys: [] });
    expect(readFileSync(ca.revokedKeysPath, 'utf8')).toBe('');
    expect(readFileSync(ca.trustedKeysPath, 'utf8')).toBe(`${CA}\n`);
  });

  it('edits no sshd config without an Include of the drop-in directory, and prints the two lines to add', async () => {
    const ca = paths('plain');
    const text = sshdConfig(ca, { include: false });
    const result = await installCaOnServer(local, ca, content);
    expect(result.state).toBe('needs-manual-include');
    expect(result.detail).toContain(`\`TrustedUserCAKeys ${ca.trustedKeysPath}\``);
    expect(result.detail).toContain(`\`RevokedKeys ${ca.revokedKeysPath}\``);
    expect(readFileSync(ca.sshdConfigPath, 'utf8')).toBe(text);
    expect(existsSync(ca.dropInPath)).toBe(false);
  });

  it('counts lines an admin put in sshd_config by hand as configured, then as already current', async () => {
    const ca = paths('by-hand');
    writeFileSync(
      ca.sshdConfigPath,
      `TrustedUserCAKeys ${ca.trustedKeysPath}\nRevokedKeys ${ca.revokedKeysPath}\n`,
    );
    expect(await installCaOnServer(local, ca, content)).toMatchObject({ state: 'installed' });
    const again = await installCaOnServer(local, ca, content);
    expect(again).toMatchObject({ state: 'already-current' });
    expect(again.detail).toContain(`named in ${ca.sshdConfigPath}`);
    expect(existsSync(ca.dropInPath)).toBe(false);
  });

  it.each([
    ['a command separator', `${dir}/x;touch ${dir}/pwned`],
    ['a substitution', `${dir}/$(touch ${dir}/pwned)`],
    ['a relative path', 'revoked'],
    ['a parent directory', `${dir}/../etc/revoked`],
    ['a newline', `${dir}/a\ntouch ${dir}/pwned`],
    ['unicode', `${dir}/révoqué`],
  ])('refuses %s in a path and runs nothing', async (_label, bad) => {
    for (const ca of [paths('', { revokedKeysPath: bad }), paths('', { dropInPath: bad })]) {
      const error = await failure(installCaOnServer(local, ca, content));
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).message).toMatch(/not absolute|will not write/);
    }
    expect(existsSync(`${dir}/pwned`)).toBe(false);
  });

  it('refuses a hostile reload argument even when it skipped the policy check', async () => {
    const ca = paths('hostile', { reloadArgv: ['kill', `$(touch ${dir}/pwned)`] });
    const error = await failure(installCaOnServer(local, ca, content));
    expect((error as AppError).message).toContain('will not run');
    expect(existsSync(`${dir}/pwned`)).toBe(false);
    expect(existsSync(ca.revokedKeysPath)).toBe(false);
  });

  it('takes from a policy only a service tool with plain arguments as the reload command', () => {
    const reload = (reloadArgv: unknown) => accessPolicy({ settings: { access: { ca: { reloadArgv } } } }).ca;
    expect(reload(['systemctl', 'reload', 'ssh']).reloadArgv).toEqual(['systemctl', 'reload', 'ssh']);
    expect(reload(['/bin/kill', '-HUP', '42']).reloadArgv).toEqual(['/bin/kill', '-HUP', '42']);
    for (const bad of [
      ['sh', '-c', 'reboot'],
      ['/tmp/kill', '-HUP', '1'],
      ['kill', '$(reboot)'],
      ['kill', 'a b'],
      [],
    ]) {
      expect(reload(bad).reloadArgv).toBeUndefined();
    }
  });

  it('refuses to write through a symbolic link', async () => {
    writeFileSync(`${dir}/elsewhere`, 'keep\n');
    symlinkSync(`${dir}/elsewhere`, `${dir}/linked`);
    const error = await failure(
      pushCaFiles(local, paths('', { revokedKeysPath: `${dir}/linked` }), {
        caPublicKey: null,
        revokedKeys: [USER],
      }),
    );
    expect((error as AppError).message).toContain('symbolic link');
    expect(readFileSync(`${dir}/elsewhere`, 'utf8')).toBe('keep\n');
  });
});

describe.skipIf(Boolean(noSshd))(`the sshd drop-in${noSshd ? ` (skipped: ${noSshd})` : ''}`, () => {
  // `kill -0` on this process: a reload that succeeds and changes nothing
  const harmless = ['kill', '-0', String(process.pid)];

  it('writes the drop-in, checks it with sshd -t, reloads, and is already current the second time', async () => {
    const ca = paths('include', { reloadArgv: harmless });
    sshdConfig(ca, { include: true });
    const first = await installCaOnServer(local, ca, content);
    expect(first).toMatchObject({ state: 'installed' });
    expect(first.detail).toContain('sshd reloaded');
    expect(dropIn(ca)).toContain(
      `\nTrustedUserCAKeys ${ca.trustedKeysPath}\nRevokedKeys ${ca.revokedKeysPath}\n`,
    );
    expect(await installCaOnServer(local, ca, content)).toMatchObject({ state: 'already-current' });
  });

  it('removes its new drop-in when sshd -t refuses the result', async () => {
    const ca = paths('broken-new', { reloadArgv: harmless });
    sshdConfig(ca, { include: true });
    writeFileSync(`${path.dirname(ca.dropInPath)}/40-other.conf`, 'NoSuchKeyword yes\n');
    const error = await failure(installCaOnServer(local, ca, content));
    expect((error as AppError).message).toMatch(/sshd -t refused .*NoSuchKeyword/);
    expect(existsSync(ca.dropInPath)).toBe(false);
  });

  it('puts the previous drop-in back when sshd -t, the effective config or the reload fails', async () => {
    const ca = paths('broken-old', { reloadArgv: harmless });
    sshdConfig(ca, { include: true });
    await installCaOnServer(local, ca, content);
    const before = dropIn(ca);
    const moved = { ...ca, revokedKeysPath: `${path.dirname(ca.revokedKeysPath)}/revoked-2` };

    const other = `${path.dirname(ca.dropInPath)}/40-other.conf`;
    writeFileSync(other, 'NoSuchKeyword yes\n');
    expect(String(await failure(installCaOnServer(local, moved, content)))).toContain('sshd -t refused');
    expect(dropIn(ca)).toBe(before);
    unlinkSync(other);

    sshdConfig(ca, { include: true, before: 'TrustedUserCAKeys /etc/ssh/someone-elses-ca.pub' });
    expect(String(await failure(installCaOnServer(local, moved, content)))).toContain(
      'read before the Include',
    );
    expect(dropIn(ca)).toBe(before);
    sshdConfig(ca, { include: true });

    const failingReload = { ...moved, reloadArgv: ['kill', '-HUP', '2147483646'] };
    expect(String(await failure(installCaOnServer(local, failingReload, content)))).toContain(
      "reloading sshd with 'kill -HUP 2147483646' failed",
    );
    expect(dropIn(ca)).toBe(before);
    // nothing left behind that sshd's Include could pick up
    expect(execFileSync('ls', ['-A', path.dirname(ca.dropInPath)], { encoding: 'utf8' }).trim()).toBe(
      '50-warden-ca.conf',
    );
  });
});
