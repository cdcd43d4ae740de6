/**
 * Install and rollback commands that pin exact versions. Every package name, version and arch is
 * checked against the strict character set its package manager allows before it goes into an
 * argv, so nothing from a scan, a plan or a chat message can become an option or shell syntax.
 */
import { AppError } from '../../lib/errors.js';
import { C_LOCALE_ENV } from './shell.js';
import type { CommandSpec, PackagePin, ShellFamily } from './types.js';

interface Rules {
  label: string;
  name: RegExp;
  nameHelp: string;
  version: RegExp;
  versionHelp: string;
  arch: RegExp;
}

const RPM_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/;
const RPM_EVR = /^(?:[0-9]{1,10}:)?[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+$/;

const RULES: Readonly<Record<ShellFamily, Rules>> = {
  debian: {
    label: 'Debian',
    name: /^[a-z0-9][a-z0-9+.-]+$/,
    nameHelp: 'lowercase letters, digits, "+", "." and "-", starting with a letter or digit',
    version: /^[0-9][0-9A-Za-z.+~:-]*$/,
    versionHelp: '[epoch:]upstream[-revision] of letters, digits and . + ~ : -, starting with a digit',
    arch: /^[a-z0-9][a-z0-9-]*$/,
  },
  rhel: {
    label: 'RPM',
    name: RPM_NAME,
    nameHelp: 'letters, digits and . _ + -, not starting with "-" or "."',
    version: RPM_EVR,
    versionHelp: '[epoch:]version-release of letters, digits and . _ + ~ ^',
    arch: /^[a-z0-9_]+$/,
  },
  suse: {
    label: 'RPM',
    name: RPM_NAME,
    nameHelp: 'letters, digits and . _ + -, not starting with "-" or "."',
    version: RPM_EVR,
    versionHelp: '[epoch:]version-release of letters, digits and . _ + ~ ^',
    arch: /^[a-z0-9_]+$/,
  },
  alpine: {
    label: 'Alpine',
    name: /^[A-Za-z0-9][A-Za-z0-9._+-]*$/,
    nameHelp: 'letters, digits and . _ + -, starting with a letter or digit',
    version: /^[0-9][0-9A-Za-z._]*-r[0-9]+$/,
    versionHelp: 'version-rN, e.g. 1.36.1-r7',
    arch: /^[a-z0-9_]+$/,
  },
};

const MAX_PINS = 1000;

function bad(message: string, index: number): AppError {
  return new AppError('bad_request', `${message} Nothing was installed; fix the plan and try again.`, {
    details: { index },
  });
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  // Echo hostile input safely: printable ASCII only, short.
  const shown = text.slice(0, 60).replace(/[^\x20-\x7e]/g, '?');
  return `"${shown}${text.length > 60 ? '…' : ''}"`;
}

/** Throws AppError('bad_request') unless every pin is valid for the family; returns them unchanged. */
export function validatePins(family: ShellFamily, pins: readonly PackagePin[]): PackagePin[] {
  const rules = RULES[family];
  if (!rules)
    throw new AppError(
      'bad_request',
      `Installing on "${String(family)}" servers is not supported over a shell.`,
    );
  if (!Array.isArray(pins) || pins.length === 0) throw bad('The plan lists no packages.', -1);
  if (pins.length > MAX_PINS)
    throw bad(`The plan lists ${pins.length} packages; at most ${MAX_PINS} go in one command.`, -1);
  const seen = new Set<string>();
  pins.forEach((pin, index) => {
    const { package: name, version, arch } = pin ?? ({} as PackagePin);
    if (typeof name !== 'string' || name.length > 128 || !rules.name.test(name)) {
      throw bad(
        `Package #${index + 1} ${describe(name)} is not a valid ${rules.label} package name (${rules.nameHelp}).`,
        index,
      );
    }
    if (typeof version !== 'string' || version.length > 128 || !rules.version.test(version)) {
      throw bad(
        `Version ${describe(version)} of ${name} is not a valid ${rules.label} version (${rules.versionHelp}).`,
        index,
      );
    }
    if (arch !== undefined && (typeof arch !== 'string' || arch.length > 32 || !rules.arch.test(arch))) {
      throw bad(`Architecture ${describe(arch)} of ${name} is not valid.`, index);
    }
    const key = `${name}.${arch ?? ''}`;
    if (seen.has(key)) throw bad(`Package ${name} is listed twice.`, index);
    seen.add(key);
  });
  return [...pins];
}

function spec(family: ShellFamily, pin: PackagePin): string {
  switch (family) {
    case 'debian':
      return pin.arch && pin.arch !== 'all'
        ? `${pin.package}:${pin.arch}=${pin.version}`
        : `${pin.package}=${pin.version}`;
    case 'rhel':
      return `${pin.package}-${pin.version}${pin.arch ? `.${pin.arch}` : ''}`;
    case 'suse':
      return `${pin.package}${pin.arch ? `.${pin.arch}` : ''}=${pin.version}`;
    case 'alpine':
      return `${pin.package}=${pin.version}`;
  }
}

const APT_ENV = Object.freeze({
  ...C_LOCALE_ENV,
  DEBIAN_FRONTEND: 'noninteractive',
  // Ubuntu's needrestart would otherwise wait for an answer after the install.
  NEEDRESTART_MODE: 'l',
  APT_LISTCHANGES_FRONTEND: 'none',
});

const APT_OPTIONS = [
  '-y',
  '-q',
  '-o',
  'DPkg::Lock::Timeout=120',
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
  '--no-install-recommends',
];

function rootCommand(
  id: string,
  argv: string[],
  description: string,
  env: Readonly<Record<string, string>> = C_LOCALE_ENV,
): CommandSpec {
  return { id, argv, env, sudo: true, optional: false, timeoutSeconds: 3600, description };
}

/**
 * The commands that install exactly these versions, in order. One command for apt, dnf/yum and
 * zypper; on Alpine a second `apk add name` drops the `=version` pin that `apk add name=version`
 * writes to /etc/apk/world, so later upgrades are not blocked.
 */
export function installCommands(family: ShellFamily, pins: readonly PackagePin[]): CommandSpec[] {
  const specs = validatePins(family, pins).map((pin) => spec(family, pin));
  switch (family) {
    case 'debian':
      return [
        rootCommand(
          'install',
          ['apt-get', ...APT_OPTIONS, '--only-upgrade', 'install', ...specs],
          'Upgrade to the pinned versions.',
          APT_ENV,
        ),
      ];
    case 'rhel':
      return [rootCommand('install', ['yum', '-y', 'install', ...specs], 'Upgrade to the pinned versions.')];
    case 'suse':
      return [
        rootCommand(
          'install',
          ['zypper', '--non-interactive', 'install', '--no-recommends', ...specs],
          'Upgrade to the pinned versions.',
        ),
      ];
    case 'alpine':
      return [
        rootCommand('install', ['apk', 'add', ...specs], 'Upgrade to the pinned versions.'),
        rootCommand(
          'unpin-world',
          ['apk', 'add', ...pins.map((pin) => pin.package)],
          'Drop the version pins from /etc/apk/world.',
        ),
      ];
  }
}

/** argv of the install command (see `installCommands` for the full sequence). */
export function installArgv(family: ShellFamily, pins: readonly PackagePin[]): string[] {
  return [...installCommands(family, pins)[0]!.argv];
}

/**
 * Rollback by reinstalling the previous versions (downgrade). The old versions must still be in
 * the repositories: true for Debian, RHEL and SUSE update repositories, rarely for Alpine.
 */
export function rollbackCommands(family: ShellFamily, previous: readonly PackagePin[]): CommandSpec[] {
  const specs = validatePins(family, previous).map((pin) => spec(family, pin));
  switch (family) {
    case 'debian':
      return [
        rootCommand(
          'rollback',
          ['apt-get', ...APT_OPTIONS, '--allow-downgrades', 'install', ...specs],
          'Reinstall the previous versions.',
          APT_ENV,
        ),
      ];
    case 'rhel':
      return [
        rootCommand('rollback', ['yum', '-y', 'downgrade', ...specs], 'Reinstall the previous versions.'),
      ];
    case 'suse':
      return [
        rootCommand(
          'rollback',
          ['zypper', '--non-interactive', 'install', '--oldpackage', '--no-recommends', ...specs],
          'Reinstall the previous versions.',
        ),
      ];
    case 'alpine':
      return [
        rootCommand('rollback', ['apk', 'add', ...specs], 'Reinstall the previous versions.'),
        rootCommand(
          'unpin-world',
          ['apk', 'add', ...previous.map((pin) => pin.package)],
          'Drop the version pins from /etc/apk/world.',
        ),
      ];
  }
}

/** `yum history undo <id>` (dnf on RHEL 8+): reverts one whole transaction, whatever it changed. */
export function historyUndoCommand(transactionId: number | string): CommandSpec {
  const id = String(transactionId);
  if (!/^[1-9][0-9]{0,8}$/.test(id)) {
    throw new AppError(
      'bad_request',
      `Transaction id ${describe(transactionId)} is not a dnf/yum history id (a positive number). Nothing was undone.`,
    );
  }
  return rootCommand('history-undo', ['yum', '-y', 'history', 'undo', id], `Undo transaction ${id}.`);
}

/** `yum history list` output, whose first column is the id `historyUndoCommand` takes. */
export function historyListCommand(): CommandSpec {
  return {
    ...rootCommand('history-list', ['yum', '-q', 'history', 'list'], 'Recent dnf/yum transactions.'),
    timeoutSeconds: 120,
  };
}
