import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import {
  historyUndoCommand,
  installArgv,
  installCommands,
  rollbackCommands,
  validatePins,
} from './install.js';
import { refreshCommand, scanPlan } from './plan.js';
import { toCommandLine } from './shell.js';
import type { PackagePin, ShellFamily } from './types.js';

const FAMILIES: ShellFamily[] = ['debian', 'rhel', 'suse', 'alpine'];

const VALID: Record<ShellFamily, PackagePin> = {
  debian: { package: 'libssl3', version: '3.0.15-1~deb12u1' },
  rhel: { package: 'openssl-libs', version: '1:3.0.7-27.el9_4', arch: 'x86_64' },
  suse: { package: 'libopenssl1_1', version: '1.1.1l-150500.17.34.1', arch: 'x86_64' },
  alpine: { package: 'busybox', version: '1.36.1-r20' },
};

const HOSTILE = [
  '; rm -rf /',
  '$(reboot)',
  '`reboot`',
  'a b',
  'pkg\nreboot',
  'pkg\r',
  'pkg\u0000',
  '-o=APT::Get::Whatever',
  '--allow-unauthenticated',
  'pkg|sh',
  'pkg&&reboot',
  "pkg'quote",
  'pkg"quote',
  'pkg>file',
  'pkg*',
  '../../etc/passwd',
  'pаckage', // Cyrillic "а"
  '😀',
  '',
  'x'.repeat(200),
];

function rejects(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('bad_request');
    return error as AppError;
  }
  throw new Error('expected a bad_request AppError');
}

describe('installArgv', () => {
  it('pins exact versions in each package manager’s own syntax', () => {
    expect(
      installArgv('debian', [
        VALID.debian,
        { package: 'tzdata', version: '2024b-0+deb12u1', arch: 'all' },
        { package: 'libc6', version: '2.36-9+deb12u9', arch: 'i386' },
      ]),
    ).toEqual([
      'apt-get',
      '-y',
      '-q',
      '-o',
      'DPkg::Lock::Timeout=120',
      '-o',
      'Dpkg::Options::=--force-confdef',
      '-o',
      'Dpkg::Options::=--force-confold',
      '--no-install-recommends',
      '--only-upgrade',
      'install',
      'libssl3=3.0.15-1~deb12u1',
      'tzdata=2024b-0+deb12u1',
      'libc6:i386=2.36-9+deb12u9',
    ]);
    expect(installArgv('rhel', [VALID.rhel, { package: 'tzdata', version: '2024a-1.el9' }])).toEqual([
      'yum',
      '-y',
      'install',
      'openssl-libs-1:3.0.7-27.el9_4.x86_64',
      'tzdata-2024a-1.el9',
    ]);
    expect(installArgv('suse', [VALID.suse])).toEqual([
      'zypper',
      '--non-interactive',
      'install',
      '--no-recommends',
      'libopenssl1_1.x86_64=1.1.1l-150500.17.34.1',
    ]);
    expect(installArgv('alpine', [VALID.alpine])).toEqual(['apk', 'add', 'busybox=1.36.1-r20']);
  });

  it('runs as root, non-interactively, in the C locale', () => {
    const [apt] = installCommands('debian', [VALID.debian]);
    expect(apt).toMatchObject({
      sudo: true,
      env: { LANG: 'C', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'l' },
    });
    for (const family of FAMILIES) {
      for (const command of installCommands(family, [VALID[family]]))
        expect(command.env).toMatchObject({ LANG: 'C', LC_ALL: 'C' });
    }
  });

  it('drops the world pin on Alpine after installing the pinned version', () => {
    expect(installCommands('alpine', [VALID.alpine]).map((c) => c.argv)).toEqual([
      ['apk', 'add', 'busybox=1.36.1-r20'],
      ['apk', 'add', 'busybox'],
    ]);
  });

  it.each(FAMILIES)('rejects hostile package names, versions and arches for %s', (family) => {
    for (const value of HOSTILE) {
      rejects(() => installArgv(family, [{ ...VALID[family], package: value }]));
      rejects(() => installArgv(family, [{ ...VALID[family], version: value }]));
      rejects(() => installArgv(family, [{ ...VALID[family], arch: value }]));
      rejects(() => rollbackCommands(family, [{ ...VALID[family], package: value }]));
    }
  });

  it('says which entry is wrong, without echoing control characters', () => {
    const error = rejects(() =>
      installArgv('debian', [VALID.debian, { package: 'evil\n$(reboot)', version: '1.0' }]),
    );
    expect(error.message).toContain('Package #2 "evil?$(reboot)"');
    expect(error.message).not.toContain('\n');
    expect(error.details).toEqual({ index: 1 });
  });

  it('rejects empty plans, duplicates and values that are not strings', () => {
    rejects(() => installArgv('rhel', []));
    rejects(() => installArgv('rhel', [VALID.rhel, VALID.rhel]));
    rejects(() => validatePins('alpine', [{ package: 'busybox', version: 1 } as unknown as PackagePin]));
    rejects(() => validatePins('windows' as ShellFamily, [VALID.debian]));
    rejects(() => installArgv('rhel', [{ package: 'bash', version: '5.1.8' }])); // rpm versions need a release
  });
});

describe('rollback', () => {
  it('reinstalls the previous versions as a downgrade', () => {
    expect(rollbackCommands('debian', [VALID.debian])[0]!.argv).toContain('--allow-downgrades');
    expect(rollbackCommands('rhel', [VALID.rhel])[0]!.argv).toEqual([
      'yum',
      '-y',
      'downgrade',
      'openssl-libs-1:3.0.7-27.el9_4.x86_64',
    ]);
    expect(rollbackCommands('suse', [VALID.suse])[0]!.argv).toContain('--oldpackage');
  });

  it('undoes one yum/dnf transaction by its numeric id only', () => {
    expect(historyUndoCommand(42).argv).toEqual(['yum', '-y', 'history', 'undo', '42']);
    for (const id of ['0', '-1', '1;reboot', 'last', '1 2', '01', '$(id)', 1.5])
      rejects(() => historyUndoCommand(id));
  });
});

describe('toCommandLine', () => {
  it('quotes every argument so that the shell gives the argv back unchanged', () => {
    const argv = [
      'printf',
      '%s\\n',
      "it's",
      '$(reboot)',
      '`id`',
      'a b',
      'x\ny',
      '--opt=1',
      'FOO=bar',
      '~',
      '*',
      'ü',
    ];
    const line = toCommandLine({ argv, env: { LANG: 'C', LC_ALL: 'C' } });
    const out = spawnSync('/bin/sh', ['-c', line], { env: { PATH: '/usr/bin:/bin' } });
    expect(out.stdout.toString()).toBe(`${argv.slice(2).join('\n')}\n`);
    expect(line.startsWith("env 'LANG=C' 'LC_ALL=C' printf")).toBe(true);
  });

  it('prefixes sudo -n for commands that need root', () => {
    expect(toCommandLine(refreshCommand('debian'), { sudo: true })).toBe(
      "sudo -n env 'LANG=C' 'LC_ALL=C' apt-get -q update",
    );
  });

  it('refuses environment names it did not define', () => {
    expect(() => toCommandLine({ argv: ['true'], env: { 'A;B': '1' } })).toThrow(AppError);
  });
});

describe('scanPlan', () => {
  it('lists read-only commands in the C locale for every shell family', () => {
    for (const family of FAMILIES) {
      const plan = scanPlan(family);
      expect(plan.commands[0]!.id).toBe('os-release');
      for (const command of plan.commands) {
        expect(command.env).toEqual({ LANG: 'C', LC_ALL: 'C' });
        expect(command.sudo).toBe(false);
      }
    }
    expect(scanPlan('debian').commands.map((c) => c.argv.join(' '))).toEqual([
      'cat /etc/os-release',
      'apt-get -s -o Debug::NoLocking=1 dist-upgrade',
      'apt list --upgradable',
      'dpkg --audit',
      'cat /var/run/reboot-required',
      'cat /var/run/reboot-required.pkgs',
    ]);
    expect(
      scanPlan('rhel', { packageManager: 'yum' }).commands.find((c) => c.id === 'check-update')!.argv,
    ).toEqual(['yum', '-q', 'check-update']);
  });

  it('sends Windows and unknown servers elsewhere with an explanation', () => {
    expect(rejects(() => scanPlan('windows')).message).toContain('SSM or Azure');
    rejects(() => scanPlan('unknown'));
  });
});
