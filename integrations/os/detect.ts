import { MAX_LINE_LENGTH, splitLines } from './text.js';
import type { OsFamily, OsInfo } from './types.js';

/**
 * Reads os-release(5): `KEY=value` lines, values optionally in single or double quotes, with
 * backslash escapes inside double quotes. Comments, blank lines and malformed lines are skipped.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const rawLine of splitLines(text).lines) {
    if (rawLine.length > MAX_LINE_LENGTH) continue;
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    const value = unquote(match[2]!);
    if (value !== null) fields[match[1]!] = value;
  }
  return fields;
}

function unquote(value: string): string | null {
  if (value.startsWith('"')) {
    if (value.length < 2 || !value.endsWith('"')) return null;
    return value.slice(1, -1).replace(/\\(["\\`$])/g, '$1');
  }
  if (value.startsWith("'")) {
    if (value.length < 2 || !value.endsWith("'")) return null;
    return value.slice(1, -1);
  }
  // Unquoted values may not contain spaces or shell specials; anything else is not os-release.
  return /^[A-Za-z0-9._:/+~@%,-]*$/.test(value) ? value : null;
}

const FAMILY_BY_ID: Readonly<Record<string, OsFamily>> = {
  debian: 'debian',
  ubuntu: 'debian',
  raspbian: 'debian',
  linuxmint: 'debian',
  pop: 'debian',
  kali: 'debian',
  devuan: 'debian',
  rhel: 'rhel',
  centos: 'rhel',
  rocky: 'rhel',
  almalinux: 'rhel',
  ol: 'rhel',
  fedora: 'rhel',
  amzn: 'rhel',
  scientific: 'rhel',
  cloudlinux: 'rhel',
  eurolinux: 'rhel',
  sles: 'suse',
  sled: 'suse',
  sles_sap: 'suse',
  sle_hpc: 'suse',
  'sle-micro': 'suse',
  opensuse: 'suse',
  'opensuse-leap': 'suse',
  'opensuse-tumbleweed': 'suse',
  suse: 'suse',
  alpine: 'alpine',
};

function familyOf(id: string, idLike: readonly string[]): OsFamily {
  const direct = FAMILY_BY_ID[id];
  if (direct) return direct;
  for (const like of idLike) {
    const family = FAMILY_BY_ID[like];
    if (family) return family;
  }
  return 'unknown';
}

const UNKNOWN: OsInfo = { family: 'unknown', id: '', versionId: '', prettyName: '', idLike: [] };

/** Release files older systems have instead of (or beside) /etc/os-release, by path. */
export const RELEASE_FILES = [
  '/etc/redhat-release',
  '/etc/system-release',
  '/etc/SuSE-release',
  '/etc/alpine-release',
  '/etc/debian_version',
] as const;

/**
 * Recognises the OS from /etc/os-release, falling back to the legacy release files
 * (CentOS 6, Amazon Linux AMI, SLES 11, very old Debian). Never throws: anything it cannot
 * read gives `family: 'unknown'`.
 */
export function detectOs(
  osRelease: string | null,
  releaseFiles: Readonly<Record<string, string>> = {},
): OsInfo {
  const fields = osRelease ? parseOsRelease(osRelease) : {};
  const id = (fields.ID ?? '').toLowerCase();
  if (id !== '') {
    const idLike = (fields.ID_LIKE ?? '')
      .toLowerCase()
      .split(/\s+/)
      .filter((word) => word !== '');
    const info: OsInfo = {
      family: familyOf(id, idLike),
      id,
      versionId: fields.VERSION_ID ?? '',
      prettyName: fields.PRETTY_NAME ?? fields.NAME ?? id,
      idLike,
    };
    const codename = fields.VERSION_CODENAME || fields.UBUNTU_CODENAME;
    if (codename) info.codename = codename;
    return info;
  }
  return detectFromReleaseFiles(releaseFiles);
}

function firstLine(text: string | undefined): string {
  if (text === undefined) return '';
  const line = splitLines(text).lines[0] ?? '';
  return line.length > 200 ? '' : line.trim();
}

const REDHAT_NAMES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Amazon Linux/i, 'amzn'],
  [/^CentOS/i, 'centos'],
  [/^Rocky/i, 'rocky'],
  [/^AlmaLinux/i, 'almalinux'],
  [/^Oracle/i, 'ol'],
  [/^Fedora/i, 'fedora'],
  [/^Red Hat/i, 'rhel'],
];

function detectFromReleaseFiles(files: Readonly<Record<string, string>>): OsInfo {
  const redhat = firstLine(files['/etc/redhat-release']) || firstLine(files['/etc/system-release']);
  if (redhat !== '') {
    const version = /release (\d+(?:\.\d+)*)/.exec(redhat)?.[1] ?? '';
    const id = REDHAT_NAMES.find(([pattern]) => pattern.test(redhat))?.[1] ?? '';
    if (id !== '') return { family: 'rhel', id, versionId: version, prettyName: redhat, idLike: [] };
  }
  const suseText = files['/etc/SuSE-release'];
  const suse = firstLine(suseText);
  if (suse !== '' && /SUSE/i.test(suse)) {
    const version = /^VERSION\s*=\s*(\d+)/m.exec(suseText ?? '')?.[1] ?? '';
    const patchLevel = /^PATCHLEVEL\s*=\s*(\d+)/m.exec(suseText ?? '')?.[1];
    const id = /openSUSE/i.test(suse) ? 'opensuse' : 'sles';
    const versionId = patchLevel && version ? `${version}.${patchLevel}` : version;
    return { family: 'suse', id, versionId, prettyName: suse, idLike: [] };
  }
  const alpine = firstLine(files['/etc/alpine-release']);
  if (/^\d+(\.\d+)*$/.test(alpine)) {
    return {
      family: 'alpine',
      id: 'alpine',
      versionId: alpine,
      prettyName: `Alpine Linux v${alpine}`,
      idLike: [],
    };
  }
  const debian = firstLine(files['/etc/debian_version']);
  if (/^[0-9a-z][0-9a-z./+~-]*$/.test(debian)) {
    const versionId = /^\d+/.exec(debian)?.[0] ?? '';
    return {
      family: 'debian',
      id: 'debian',
      versionId,
      prettyName: `Debian GNU/Linux ${debian}`,
      idLike: [],
    };
  }
  return { ...UNKNOWN };
}

/**
 * yum or dnf for an rpm-based OS: dnf from RHEL 8, Fedora 22 and Amazon Linux 2023 on; yum on
 * RHEL/CentOS 7 and Amazon Linux 2. RHEL 8+ also answers to `yum` (an alias of dnf).
 */
export function rhelPackageManager(os: OsInfo): 'dnf' | 'yum' {
  const major = Number.parseInt(os.versionId, 10);
  if (os.id === 'amzn') return major >= 2022 ? 'dnf' : 'yum';
  if (os.id === 'fedora') return major >= 22 || Number.isNaN(major) ? 'dnf' : 'yum';
  return Number.isNaN(major) || major >= 8 ? 'dnf' : 'yum';
}
