/**
 * The read-only commands a scan runs, per family, as argv arrays. A transport that can run
 * several commands (local, SSM) runs these one by one; the SSH scanner runs the equivalent
 * combined script (combined.ts) in one exec. Both produce the same output ids for `parseScan`.
 */
import { AppError } from '../../lib/errors.js';
import { RELEASE_FILES } from './detect.js';
import { C_LOCALE_ENV } from './shell.js';
import type { CommandSpec, OsFamily, ScanPlan, ShellFamily } from './types.js';

/** rpm query format: `name<TAB>epoch:version-release<TAB>arch`, epoch 0 when the package has none. */
export const RPM_QUERY_FORMAT = '%{NAME}\\t%|EPOCH?{%{EPOCH}}:{0}|:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n';

/** Alpine deletes the old kernel's modules on upgrade; exit 3 means there is no /lib/modules at all. */
export const KERNEL_MODULES_CHECK = '[ -d /lib/modules ] || exit 3; ls -d "/lib/modules/$(uname -r)"';

/**
 * Names of the needed security patches, taken from zypper's own XML and limited to the
 * characters patch names use, then their details (the Conflicts lines map patches to packages).
 * `$w_t` is the combined script's `timeout` prefix; run through `sh -c` it is unset and empty.
 */
export const ZYPPER_PATCH_INFO =
  "set -f; w_names=$($w_t zypper --non-interactive --xmlout list-patches 2>/dev/null | sed -n '" +
  '/<update /!d; /kind="patch"/!d; /status="needed"/!d; /category="security"/!d; ' +
  's/.* name="\\([A-Za-z0-9._:+-]*\\)".*/\\1/p' +
  '\'); [ -n "$w_names" ] || exit 0; exec $w_t zypper --non-interactive info -t patch $w_names';

const SCAN_TIMEOUT_SECONDS = 300;

function command(
  id: string,
  argv: string[],
  description: string,
  options: { optional?: boolean; timeoutSeconds?: number } = {},
): CommandSpec {
  return {
    id,
    argv,
    env: C_LOCALE_ENV,
    sudo: false,
    optional: options.optional ?? false,
    timeoutSeconds: options.timeoutSeconds ?? SCAN_TIMEOUT_SECONDS,
    description,
  };
}

const OS_RELEASE = command('os-release', ['cat', '/etc/os-release'], 'Identify the OS (os-release(5)).', {
  timeoutSeconds: 10,
});

/** Commands that identify the OS: os-release, then the legacy release files (each optional). */
export function detectCommands(): CommandSpec[] {
  return [
    OS_RELEASE,
    ...RELEASE_FILES.map((file) =>
      command(file, ['cat', file], `Legacy release file ${file}.`, { optional: true, timeoutSeconds: 10 }),
    ),
  ];
}

function debianCommands(): CommandSpec[] {
  return [
    OS_RELEASE,
    command(
      'apt-simulate',
      ['apt-get', '-s', '-o', 'Debug::NoLocking=1', 'dist-upgrade'],
      'Simulate a dist-upgrade: installed and candidate versions with their archives. Changes nothing.',
    ),
    command('apt-list', ['apt', 'list', '--upgradable'], 'Fallback list of upgradable packages.', {
      optional: true,
    }),
    command('dpkg-audit', ['dpkg', '--audit'], 'Half-installed or unconfigured packages.', {
      optional: true,
    }),
    command('reboot-required', ['cat', '/var/run/reboot-required'], 'Present when a reboot is pending.', {
      optional: true,
      timeoutSeconds: 10,
    }),
    command(
      'reboot-required-pkgs',
      ['cat', '/var/run/reboot-required.pkgs'],
      'Packages that asked for the pending reboot.',
      { optional: true, timeoutSeconds: 10 },
    ),
  ];
}

function rhelCommands(pm: 'dnf' | 'yum'): CommandSpec[] {
  return [
    OS_RELEASE,
    command('rpm-installed', ['rpm', '-qa', '--qf', RPM_QUERY_FORMAT], 'Installed packages and versions.'),
    command('check-update', [pm, '-q', 'check-update'], 'Available updates (exit 100 = some, 0 = none).'),
    command('updateinfo', [pm, '-q', 'updateinfo', 'list', 'updates'], 'Advisories: type and severity.', {
      optional: true,
    }),
    command('updateinfo-cves', [pm, '-q', 'updateinfo', 'list', 'updates', 'cves'], 'CVE ids per package.', {
      optional: true,
    }),
    command(
      'needs-restarting',
      pm === 'dnf' ? ['dnf', '-q', 'needs-restarting', '-r'] : ['needs-restarting', '-r'],
      'Whether a reboot is pending (exit 1 = yes).',
      { optional: true },
    ),
  ];
}

function suseCommands(): CommandSpec[] {
  return [
    OS_RELEASE,
    command(
      'zypper-updates',
      ['zypper', '--non-interactive', '--xmlout', 'list-updates'],
      'Package updates with installed and candidate editions.',
    ),
    command(
      'zypper-patches',
      ['zypper', '--non-interactive', '--xmlout', 'list-patches'],
      'Needed patches: category, severity, CVE ids, reboot flag.',
      { optional: true },
    ),
    command(
      'zypper-patch-info',
      ['sh', '-c', ZYPPER_PATCH_INFO],
      'Packages fixed by each needed security patch.',
      {
        optional: true,
      },
    ),
    command(
      'needs-rebooting',
      ['zypper', '--non-interactive', 'needs-rebooting'],
      'Exit 102 = reboot pending.',
      {
        optional: true,
      },
    ),
    command('reboot-needed', ['cat', '/run/reboot-needed'], 'Present when zypp asked for a reboot.', {
      optional: true,
      timeoutSeconds: 10,
    }),
  ];
}

function alpineCommands(): CommandSpec[] {
  return [
    OS_RELEASE,
    command(
      'apk-version',
      ['apk', 'version', '-l', '<'],
      'Installed packages with a newer version available.',
    ),
    command('apk-list', ['apk', 'list', '-u'], 'Fallback list of upgradable packages.', { optional: true }),
    command(
      'kernel-modules',
      ['sh', '-c', KERNEL_MODULES_CHECK],
      'Whether the running kernel was replaced.',
      {
        optional: true,
        timeoutSeconds: 10,
      },
    ),
  ];
}

export function isShellFamily(family: string): family is ShellFamily {
  return family === 'debian' || family === 'rhel' || family === 'suse' || family === 'alpine';
}

/**
 * The scan commands for one family. rpm-based systems take `packageManager` (see
 * `rhelPackageManager`); Windows is scanned through SSM or Azure and has no shell plan.
 */
export function scanPlan(family: OsFamily, options: { packageManager?: 'dnf' | 'yum' } = {}): ScanPlan {
  switch (family) {
    case 'debian':
      return { family, commands: debianCommands() };
    case 'rhel':
      return { family, commands: rhelCommands(options.packageManager ?? 'dnf') };
    case 'suse':
      return { family, commands: suseCommands() };
    case 'alpine':
      return { family, commands: alpineCommands() };
    case 'windows':
      throw new AppError(
        'bad_request',
        'Windows servers are scanned through AWS SSM or Azure Update Manager, not over a shell. Add the server through its cloud account.',
      );
    default:
      throw new AppError(
        'bad_request',
        'This server runs an OS Warden does not recognise, so there is nothing to scan it with. Supported: Debian, Ubuntu, RHEL and its rebuilds, Amazon Linux, SUSE, Alpine.',
      );
  }
}

/**
 * Metadata refresh, run before a scan when the caller wants fresh lists. Needs root; the scan
 * itself does not. apt and apk only read their caches; dnf, yum and zypper refresh expired
 * metadata on their own when they can.
 */
export function refreshCommand(family: ShellFamily): CommandSpec {
  const argv: Record<ShellFamily, string[]> = {
    debian: ['apt-get', '-q', 'update'],
    rhel: ['yum', '-q', 'makecache'],
    suse: ['zypper', '--non-interactive', 'refresh'],
    alpine: ['apk', 'update'],
  };
  return {
    ...command('refresh', argv[family], 'Refresh package metadata.', { timeoutSeconds: 600 }),
    sudo: true,
  };
}
