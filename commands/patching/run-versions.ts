import { isShellFamily, validatePins } from '../../integrations/os/index.js';
import type { ShellFamily } from '../../integrations/os/types.js';
import type { Target } from '../../integrations/targets/types.js';
import type { FindingWrite } from '../../storage/findings.js';

/**
 * Which versions a server has installed now, and whether that is what the plan wanted. On shell
 * targets (ssh, local) the package database is asked directly (dpkg-query, rpm, apk); cloud
 * targets only report what is still pending, so there a package no longer pending counts as done.
 */

export interface VersionItem {
  package: string;
  arch: string;
  fromVersion: string;
  toVersion: string;
}

/** `package\0arch` → installed version, or null when the package is not installed. */
export type InstalledVersions = Map<string, string | null>;

export function itemKey(item: { package: string; arch: string }): string {
  return `${item.package}\u0000${item.arch}`;
}

/** Epoch 0 is the same as no epoch (`0:1.2-3` = `1.2-3`). */
export function sameVersion(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  const strip = (v: string) => v.trim().replace(/^0:/, '');
  return strip(a) === strip(b);
}

/** Targets whose package database Warden can read with a command. */
export function readsPackageDatabase(target: Target): boolean {
  return target.provider === 'ssh' || target.provider === 'local';
}

export function shellFamilyOf(value: string | null | undefined): ShellFamily | undefined {
  return value && isShellFamily(value) ? value : undefined;
}

// A version placeholder only so validatePins checks the names; the query never uses it.
const PLACEHOLDER: Record<ShellFamily, string> = {
  debian: '0',
  rhel: '0-0',
  suse: '0-0',
  alpine: '0-r0',
};

function queryArgv(family: ShellFamily, names: string[]): string[] {
  switch (family) {
    case 'debian':
      // dpkg-query's own ${Field} format, not a template: the argument goes to it as written.
      return [
        'dpkg-query',
        '-W',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
        '-f=${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\n',
        ...names,
      ];
    case 'rhel':
    case 'suse':
      return ['rpm', '-q', '--qf', '%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}\\t%{VERSION}-%{RELEASE}\\n', ...names];
    case 'alpine':
      return ['apk', 'list', '--installed', ...names];
  }
}

interface Row {
  package: string;
  arch: string;
  version: string | null;
}

function parseRows(family: ShellFamily, stdout: string, names: readonly string[]): Row[] {
  const rows: Row[] = [];
  for (const line of stdout.split('\n')) {
    if (family === 'alpine') {
      // busybox-1.36.1-r7 x86_64 {busybox} (GPL-2.0-only) [installed]
      const name = names.find((n) => line.startsWith(`${n}-`));
      const match = name ? /^([0-9][^\s]*-r[0-9]+)\s+(\S+)/.exec(line.slice(name.length + 1)) : null;
      if (name && match && /\[installed\]/.test(line))
        rows.push({ package: name, arch: match[2]!, version: match[1]! });
      continue;
    }
    const fields = line.split('\t');
    if (fields.length !== 4) continue;
    const [pkg, arch, third, fourth] = fields as [string, string, string, string];
    if (family === 'debian') {
      // Status-Abbrev: desired, status, error; status i (installed), W/t (triggers pending) count.
      const installed = /^.[iWt]/.test(fourth);
      rows.push({ package: pkg, arch, version: installed ? third : null });
    } else {
      rows.push({ package: pkg, arch, version: third && third !== '0' ? `${third}:${fourth}` : fourth });
    }
  }
  return rows;
}

/**
 * Installed versions of the items' packages, read from the package database; undefined when the
 * target cannot be asked (cloud) or the family is unknown. Throws when the query cannot run.
 */
export async function installedVersions(
  target: Target,
  family: ShellFamily | undefined,
  items: readonly { package: string; arch: string }[],
): Promise<InstalledVersions | undefined> {
  if (!family || !readsPackageDatabase(target) || items.length === 0) return undefined;
  const names = [...new Set(items.map((i) => i.package))];
  // The same validation as an install: nothing that could be read as an option or shell syntax.
  validatePins(
    family,
    names.map((name) => ({ package: name, version: PLACEHOLDER[family] })),
  );
  const result = await target.exec(queryArgv(family, names), {
    env: { LANG: 'C', LC_ALL: 'C' },
    timeoutMs: 120_000,
  });
  // dpkg-query and rpm exit 1 when one of the names is not installed; the others are still listed.
  if (result.exitCode === null || result.exitCode > 1) {
    throw new Error(
      `reading installed versions failed (exit ${result.exitCode ?? result.signal}): ${result.stderr.trim().slice(-300)}`,
    );
  }
  const rows = parseRows(family, result.stdout, names);
  const found: InstalledVersions = new Map();
  for (const item of items) {
    const same = rows.filter((r) => r.package === item.package);
    const exact = same.find((r) => r.arch === item.arch) ?? (item.arch === '' ? same[0] : undefined);
    // An "all" (noarch) package is reported under its own arch whatever the plan said.
    const row = exact ?? same.find((r) => r.arch === 'all' || r.arch === 'noarch') ?? same[0];
    found.set(itemKey(item), row?.version ?? null);
  }
  return found;
}

export interface Comparison {
  /** Items at their planned version. */
  atTarget: VersionItem[];
  /** Items still at the version they had before (nothing happened to them). */
  atPrevious: VersionItem[];
  /** Items at another version (or not installed): with what was seen. */
  other: { item: VersionItem; seen: string | null }[];
}

export function compareInstalled(
  items: readonly VersionItem[],
  installed: InstalledVersions,
  previous?: ReadonlyMap<string, string>,
): Comparison {
  const result: Comparison = { atTarget: [], atPrevious: [], other: [] };
  for (const item of items) {
    const seen = installed.get(itemKey(item)) ?? null;
    const before = previous?.get(itemKey(item)) ?? item.fromVersion;
    if (sameVersion(seen, item.toVersion)) result.atTarget.push(item);
    else if (sameVersion(seen, before)) result.atPrevious.push(item);
    else result.other.push({ item, seen });
  }
  return result;
}

/**
 * The same comparison from a rescan's pending findings, for targets whose database Warden cannot
 * read: a package no longer pending, or pending from its planned version, is at its target.
 */
export function compareByFindings(items: readonly VersionItem[], open: readonly FindingWrite[]): Comparison {
  const result: Comparison = { atTarget: [], atPrevious: [], other: [] };
  for (const item of items) {
    const pending = open.find(
      (f) => f.package === item.package && (f.arch === item.arch || f.arch === '' || item.arch === ''),
    );
    if (!pending || sameVersion(pending.installedVersion, item.toVersion)) result.atTarget.push(item);
    else if (pending.installedVersion === '' || sameVersion(pending.installedVersion, item.fromVersion))
      result.atPrevious.push(item);
    else result.other.push({ item, seen: pending.installedVersion });
  }
  return result;
}

export function describeMismatch(comparison: Comparison): string {
  const parts = [
    ...comparison.atPrevious.map((i) => `${i.package} is still ${i.fromVersion || 'at its old version'}`),
    ...comparison.other.map(
      ({ item, seen }) => `${item.package} is ${seen ?? 'not installed'} (planned ${item.toVersion})`,
    ),
  ];
  return parts.slice(0, 10).join('; ') + (parts.length > 10 ? `; and ${parts.length - 10} more` : '');
}
