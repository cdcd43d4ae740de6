import type { Classification, Finding, OsFamily, OsInfo, Severity } from '../../os/types.js';

/**
 * Patch Manager's words turned into Warden's. SSM reports each patch with a Classification and
 * a Severity taken from the vendor: Windows uses Microsoft's (SecurityUpdates, CriticalUpdates,
 * UpdateRollups… / Critical, Important, Moderate, Low, Unspecified), Linux the repository's
 * (Security, Bugfix, Enhancement, Recommended, Newpackage… / Critical, Important, Medium, Low).
 */

/** The wire shape of one DescribeInstancePatches entry (SDK names). */
export interface SsmPatchData {
  Title?: string;
  KBId?: string;
  Classification?: string;
  Severity?: string;
  State?: string;
  CVEIds?: string;
}

const CLASSIFICATIONS: Record<string, Classification> = {
  security: 'security',
  securityupdates: 'security',
  // Microsoft's "Critical Updates" are fixes for critical non-security bugs.
  criticalupdates: 'bugfix',
  bugfix: 'bugfix',
  recommended: 'bugfix',
  updaterollups: 'bugfix',
  updates: 'bugfix',
  servicepacks: 'bugfix',
  drivers: 'bugfix',
  enhancement: 'enhancement',
  featurepacks: 'enhancement',
  feature: 'enhancement',
  newpackage: 'enhancement',
  upgrades: 'enhancement',
};

export function ssmClassification(value: string | undefined): Classification {
  return CLASSIFICATIONS[(value ?? '').toLowerCase().replace(/[^a-z]/g, '')] ?? 'other';
}

const SEVERITIES: Record<string, Severity> = {
  critical: 'critical',
  important: 'important',
  high: 'important',
  moderate: 'moderate',
  medium: 'moderate',
  low: 'low',
};

export function ssmSeverity(value: string | undefined): Severity {
  return SEVERITIES[(value ?? '').toLowerCase().trim()] ?? 'unknown';
}

/** The API documents INSTALLED_PENDING_REBOOT, its examples show InstalledPendingReboot: accept both. */
export function ssmPatchState(value: string | undefined): string {
  return (value ?? '').toUpperCase().replace(/_/g, '');
}

const CVE = /^CVE-\d{4}-\d{4,}$/;

export function parseCveIds(value: string | undefined): string[] {
  const ids = (value ?? '')
    .split(/[\s,;]+/)
    .map((id) => id.trim().toUpperCase())
    .filter((id) => CVE.test(id));
  return [...new Set(ids)].sort();
}

// Linux titles read name.arch:epoch:version-release, e.g. "kernel-modules.x86_64:0:4.18.0-305.10.2.el8_4".
const LINUX_TITLE = /^(.+)\.([A-Za-z0-9_]+):(\d+):(.+)$/;

/** A pending patch as a Finding. SSM does not say which version is installed now, so that is ''. */
export function ssmPatchToFinding(patch: SsmPatchData): Finding {
  const title = (patch.Title ?? '').trim();
  const kbId = (patch.KBId ?? '').trim();
  const base = {
    installedVersion: '',
    classification: ssmClassification(patch.Classification),
    severity: ssmSeverity(patch.Severity),
    cves: parseCveIds(patch.CVEIds),
  };
  const linux = LINUX_TITLE.exec(title);
  if (linux) {
    const [, name, arch, epoch, version] = linux;
    return {
      ...base,
      package: name!,
      arch,
      candidateVersion: epoch === '0' ? version! : `${epoch}:${version}`,
    };
  }
  if (/^KB\d+$/i.test(kbId)) {
    // A Windows update is named by its KB article, which is also what an install asks for.
    return {
      ...base,
      package: kbId.toUpperCase(),
      candidateVersion: kbId.toUpperCase(),
      source: title || undefined,
    };
  }
  return { ...base, package: kbId || title, candidateVersion: '' };
}

const DISTROS: [RegExp, string, OsFamily][] = [
  [/amazon linux/i, 'amzn', 'rhel'],
  [/ubuntu/i, 'ubuntu', 'debian'],
  [/debian/i, 'debian', 'debian'],
  [/red ?hat|rhel/i, 'rhel', 'rhel'],
  [/centos/i, 'centos', 'rhel'],
  [/rocky/i, 'rocky', 'rhel'],
  [/alma/i, 'almalinux', 'rhel'],
  [/oracle/i, 'ol', 'rhel'],
  [/opensuse/i, 'opensuse-leap', 'suse'],
  [/sles|suse/i, 'sles', 'suse'],
  [/alpine/i, 'alpine', 'alpine'],
  [/windows/i, 'windows', 'windows'],
];

/** OS facts from a platform name and version as SSM (PlatformName) or an image offer states them. */
export function osFromPlatform(name: string, version: string, platformType?: string): OsInfo {
  const found = DISTROS.find(([pattern]) => pattern.test(name));
  const windows = /^windows$/i.test(platformType ?? '');
  const [id, family]: [string, OsFamily] = found
    ? [found[1], found[2]]
    : windows
      ? ['windows', 'windows']
      : [
          name
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, '-')
            .replace(/^-|-$/g, ''),
          'unknown',
        ];
  return {
    family,
    id,
    versionId: version,
    prettyName: [name, version].filter(Boolean).join(' '),
    idLike: [],
  };
}
