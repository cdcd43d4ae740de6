import { type ErrorThreshold, type PatchPolicy, type PolicyException, SEVERITIES } from './policy.js';

/**
 * What a patch policy means for one finding, server or ring: pure functions of the policy
 * (commands/patching/policy.ts has the schema).
 */
/** `*` and `?` wildcards, whole string, case-sensitive (RPM names are). */
export function globMatch(glob: string, text: string): boolean {
  const pattern = glob
    .replace(/[.+^${}()|[\]-]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`, 's').test(text);
}

export function severityRank(severity: string): number {
  const at = (SEVERITIES as readonly string[]).indexOf(severity);
  return at === -1 ? SEVERITIES.length - 1 : at;
}

/** Does a finding's classification and severity fall under the policy? */
export function wantedByPolicy(
  policy: PatchPolicy,
  finding: { classification: string; severity: string },
): boolean {
  if (!(policy.classifications as readonly string[]).includes(finding.classification)) return false;
  if (finding.severity === 'unknown' && policy.includeUnknownSeverity) return true;
  return severityRank(finding.severity) <= severityRank(policy.minimumSeverity);
}

export function isExcluded(policy: PatchPolicy, pkg: string): boolean {
  return policy.exclusions.some((glob) => globMatch(glob, pkg));
}

/** The exception that keeps `pkg` off `server` now, if any (expired ones no longer count). */
export function activeException(
  policy: PatchPolicy,
  server: string,
  pkg: string,
  now: Date,
): PolicyException | undefined {
  return policy.exceptions.find(
    (e) =>
      new Date(e.expiresAt) > now &&
      globMatch(e.package, pkg) &&
      (e.servers === undefined || e.servers.some((glob) => globMatch(glob, server))),
  );
}

/**
 * How many failed servers a ring of `ringSize` tolerates: the run halts when failures in the ring
 * go above this (so 0 halts at the first failure; "10%" of 25 servers tolerates 2).
 */
export function allowedFailures(threshold: ErrorThreshold, ringSize: number): number {
  if (typeof threshold === 'number') return threshold;
  return Math.floor((ringSize * Number(threshold.slice(0, -1))) / 100);
}

/**
 * The parts of a policy that decide what a run does, and so go into the plan hash. Approval
 * knobs (auto-approval, heads-up, exceptions, exclusion approver rule) change no install and are
 * left out; their effect on the plan shows in its items.
 */
export function policyHashParts(policy: PatchPolicy): Record<string, unknown> {
  return {
    classifications: [...policy.classifications].sort(),
    minimumSeverity: policy.minimumSeverity,
    includeUnknownSeverity: policy.includeUnknownSeverity,
    exclusions: policy.exclusions,
    windows: policy.windows,
    immediateWindow: policy.immediateWindow,
    rings: policy.rings,
    backups: policy.backups,
    reboot: policy.reboot,
    preCommands: policy.preCommands,
    postCommands: policy.postCommands,
    checks: policy.checks,
  };
}
