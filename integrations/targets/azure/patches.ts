import type { Classification, Finding, OsInfo, Severity } from '../../os/types.js';
import { osFromPlatform } from '../aws-ssm/patches.js';

/**
 * Azure's assessPatches words turned into Warden's. Azure reports classifications only, no
 * severity and no CVE ids. Linux patches are Critical, Security or Other (the Linux patch
 * extension puts security updates of the highest vendor severity under Critical); Windows ones
 * use Microsoft's update classifications, where Critical means a critical non-security fix.
 */

export interface AzurePatchData {
  patchId?: string;
  name?: string;
  version?: string;
  kbId?: string;
  classifications?: string[];
  rebootBehavior?: string;
}

// Keys are the classification lower-cased without spaces: the API spells both "UpdateRollUp"
// (installPatches input) and "Update Rollups" (assessment output, Microsoft's category names).
const WINDOWS: Record<string, Classification> = {
  security: 'security',
  securityupdates: 'security',
  critical: 'bugfix',
  criticalupdates: 'bugfix',
  updaterollup: 'bugfix',
  updaterollups: 'bugfix',
  servicepack: 'bugfix',
  servicepacks: 'bugfix',
  updates: 'bugfix',
  drivers: 'bugfix',
  featurepack: 'enhancement',
  featurepacks: 'enhancement',
  definition: 'other',
  definitionupdates: 'other',
  tools: 'other',
  other: 'other',
};

const RANK: Classification[] = ['security', 'bugfix', 'enhancement', 'other'];

/** The most pressing class among the patch's classifications. */
export function azureClassification(
  classifications: readonly string[] | undefined,
  osType: 'Linux' | 'Windows',
): Classification {
  const mapped = (classifications ?? []).map((value) => {
    const key = value.toLowerCase().replace(/[^a-z]/g, '');
    if (osType === 'Linux') return key === 'critical' || key === 'security' ? 'security' : 'other';
    return WINDOWS[key] ?? 'other';
  });
  return RANK.find((rank) => mapped.includes(rank)) ?? 'other';
}

/** Only Linux Critical says anything about severity; everything else is unknown. */
export function azureSeverity(
  classifications: readonly string[] | undefined,
  osType: 'Linux' | 'Windows',
): Severity {
  const critical = (classifications ?? []).some((value) => value.trim().toLowerCase() === 'critical');
  return osType === 'Linux' && critical ? 'critical' : 'unknown';
}

export function azurePatchToFinding(patch: AzurePatchData, osType: 'Linux' | 'Windows'): Finding {
  const base = {
    installedVersion: '',
    classification: azureClassification(patch.classifications, osType),
    severity: azureSeverity(patch.classifications, osType),
    cves: [],
    rebootRequired: patch.rebootBehavior === 'AlwaysRequiresReboot' ? true : undefined,
  };
  if (osType === 'Windows' && patch.kbId) {
    const kb = `KB${patch.kbId.replace(/^KB/i, '')}`;
    return { ...base, package: kb, candidateVersion: kb, source: patch.name };
  }
  return { ...base, package: patch.name ?? patch.patchId ?? '', candidateVersion: patch.version ?? '' };
}

export interface ImageFacts {
  osType?: string;
  publisher?: string;
  offer?: string;
  sku?: string;
}

/** OS facts from the VM's marketplace image (offer and sku), e.g. 0001-com-ubuntu-server-jammy / 22_04-lts-gen2. */
export function osFromImage(image: ImageFacts): OsInfo {
  const text = `${image.publisher ?? ''} ${image.offer ?? ''}`;
  const version = /^(\d+)[._-](\d+)/.exec(image.sku ?? '') ?? /^(\d+)/.exec(image.sku ?? '');
  const versionId = version ? version.slice(1).filter(Boolean).join('.') : '';
  // The OS disk's osType is authoritative; the image name only refines a Linux distribution.
  const os = /^windows$/i.test(image.osType ?? '')
    ? osFromPlatform('Windows', versionId, 'Windows')
    : osFromPlatform(text, versionId, image.osType);
  return { ...os, prettyName: [image.offer, image.sku].filter(Boolean).join(' ') || os.prettyName };
}
