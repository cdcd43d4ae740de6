/**
 * SLES and openSUSE: `zypper --xmlout list-updates` for packages (installed and candidate edition,
 * repository), `zypper --xmlout list-patches` for patches (category, severity, CVE ids, reboot),
 * and `zypper info -t patch` of the needed security patches, whose Conflicts lines say exactly
 * which package versions each patch fixes.
 */
import {
  excerpt,
  missingOutput,
  problem,
  truncatedOutput,
  uniqueSorted,
  unknownOutput,
  usableLines,
} from './text.js';
import type {
  Classification,
  CommandOutput,
  CommandOutputs,
  Finding,
  ScanProblem,
  ScanResult,
  Severity,
} from './types.js';
import { childText, findElements } from './zypper-xml.js';

export interface ZypperPackageUpdate {
  name: string;
  edition: string;
  editionOld: string;
  arch: string;
  repo: string;
}

export interface ZypperPatch {
  name: string;
  status: string;
  classification: Classification;
  severity: Severity;
  cves: string[];
  rebootSuggested: boolean;
  summary: string;
  repo: string;
}

function isZypperXml(stdout: string): boolean {
  return /<stream>|<update-status\b/.test(stdout.slice(0, 100_000));
}

export function parseZypperUpdates(stdout: string): ZypperPackageUpdate[] {
  return findElements(stdout, 'update')
    .filter((element) => (element.attributes.kind ?? 'package') === 'package')
    .map((element) => {
      const source = findElements(element.inner, 'source')[0];
      return {
        name: element.attributes.name ?? '',
        edition: element.attributes.edition ?? '',
        editionOld: element.attributes['edition-old'] ?? '',
        arch: element.attributes.arch ?? '',
        repo: source?.attributes.alias ?? '',
      };
    })
    .filter((update) => /^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/.test(update.name) && update.edition !== '');
}

function patchClassification(category: string): Classification {
  switch (category) {
    case 'security':
      return 'security';
    case 'recommended':
      return 'bugfix';
    case 'optional':
    case 'feature':
    case 'enhancement':
      return 'enhancement';
    default:
      return 'other';
  }
}

function patchSeverity(severity: string): Severity {
  return (['critical', 'important', 'moderate', 'low'] as const).find((s) => s === severity) ?? 'unknown';
}

export function parseZypperPatches(stdout: string): ZypperPatch[] {
  return findElements(stdout, 'update')
    .filter((element) => element.attributes.kind === 'patch')
    .map((element) => ({
      name: element.attributes.name ?? '',
      status: element.attributes.status ?? '',
      classification: patchClassification(element.attributes.category ?? ''),
      severity: patchSeverity(element.attributes.severity ?? ''),
      cves: uniqueSorted(
        findElements(element.inner, 'issue')
          .filter(
            (issue) =>
              issue.attributes.type === 'cve' && /^CVE-\d{4}-\d{4,7}$/.test(issue.attributes.id ?? ''),
          )
          .map((issue) => issue.attributes.id!),
      ),
      rebootSuggested: element.attributes.restart === 'true',
      summary: childText(element.inner, 'summary'),
      repo: findElements(element.inner, 'source')[0]?.attributes.alias ?? '',
    }))
    .filter((patch) => patch.name !== '');
}

const RPM_ARCHES = /^(x86_64|noarch|i586|i686|aarch64|ppc64le|ppc64|s390x|armv7hl|riscv64)$/;

/**
 * Reads `zypper info -t patch …`: for each "Information for patch NAME:" block, the indented
 * lines under "Conflicts" name the fixed packages as `name[.arch] < edition`. Returns patch →
 * package names (with arch when given).
 */
export function parsePatchConflicts(stdout: string): Map<string, Array<{ name: string; arch?: string }>> {
  const result = new Map<string, Array<{ name: string; arch?: string }>>();
  let patch: string | null = null;
  let inConflicts = false;
  for (const line of usableLines(stdout).lines) {
    const header = /^Information for patch (\S+):$/.exec(line);
    if (header) {
      patch = header[1]!;
      inConflicts = false;
      result.set(patch, []);
      continue;
    }
    if (patch === null) continue;
    if (/^Conflicts\s*:/.test(line)) {
      inConflicts = true;
      continue;
    }
    if (!inConflicts) continue;
    const cap = /^\s+([A-Za-z0-9_+][A-Za-z0-9._+-]*) < \S+$/.exec(line);
    if (!cap) {
      if (!/^\s/.test(line)) inConflicts = false;
      continue;
    }
    const dot = cap[1]!.lastIndexOf('.');
    const arch = dot > 0 ? cap[1]!.slice(dot + 1) : '';
    result
      .get(patch)!
      .push(RPM_ARCHES.test(arch) ? { name: cap[1]!.slice(0, dot), arch } : { name: cap[1]! });
  }
  return result;
}

/** Fallback when patch details are missing: "Security update for openssl-1_1, libfoo" names packages. */
function namesInSummary(summary: string): string[] {
  const match = /update for (.+)$/i.exec(summary);
  if (!match) return [];
  return match[1]!.split(/,\s*|\s+and\s+/).map((name) => name.trim());
}

const CLASS_RANK: Record<Classification, number> = { security: 3, bugfix: 2, enhancement: 1, other: 0 };
const SEVERITY_RANK: Record<Severity, number> = {
  critical: 4,
  important: 3,
  moderate: 2,
  low: 1,
  unknown: 0,
};

function zypperProblems(output: CommandOutput, commandId: string): ScanProblem[] {
  const text = `${output.stderr}\n${output.stdout}`.slice(0, 200_000);
  const problems: ScanProblem[] = [];
  if (output.exitCode === 7 || /System management is locked by the application/.test(text)) {
    const pid = /with pid (\d+)/.exec(text)?.[1];
    problems.push(
      problem(
        'lock_held',
        'error',
        `Another package operation holds the zypp lock${pid ? ` (process ${pid})` : ''}; the scan will be retried with backoff.`,
        { commandId, retryable: true, retryAfterSeconds: 15 },
      ),
    );
  }
  const repo =
    /(Problem retrieving files from '[^'\n]{1,100}'|Repository '[^'\n]{1,100}' is invalid|Download \(curl\) error[^\n<]{0,160}|Valid metadata not found at specified URL)/.exec(
      text,
    );
  if (repo || output.exitCode === 106) {
    problems.push(
      problem(
        'repos_unreachable',
        output.exitCode === 0 || output.exitCode === 106 || output.exitCode === 100 ? 'warning' : 'error',
        `Some repositories could not be read${repo ? ` ("${excerpt(repo[0], 200)}")` : ''}, so the findings may be stale or incomplete. ` +
          'Check the network and run `zypper refresh` as root, then scan again.',
        { commandId, retryable: true, retryAfterSeconds: 300 },
      ),
    );
  }
  return problems;
}

/** `zypper needs-rebooting`: exit 102 = reboot needed, 0 = not; else the /run/reboot-needed file. */
function zypperReboot(outputs: CommandOutputs): boolean | null {
  const command = outputs['needs-rebooting'];
  if (command?.exitCode === 102) return true;
  if (command?.exitCode === 0) return false;
  const file = outputs['reboot-needed'];
  if (file?.exitCode === 0) return true;
  if (file && /No such file or directory/.test(file.stderr)) return false;
  return null;
}

/** Scan result for a SUSE server from the outputs of `scanPlan('suse')`. */
export function parseSuseScan(outputs: CommandOutputs): ScanResult {
  const method = 'zypper list-updates';
  const problems: ScanProblem[] = [];
  const updatesOutput = outputs['zypper-updates'];
  let updates: ZypperPackageUpdate[] = [];
  if (!updatesOutput) problems.push(missingOutput('zypper-updates'));
  else {
    problems.push(...zypperProblems(updatesOutput, 'zypper-updates'));
    const okExit =
      updatesOutput.exitCode === 0 || updatesOutput.exitCode === 106 || updatesOutput.exitCode === null;
    if (okExit && isZypperXml(updatesOutput.stdout)) {
      updates = parseZypperUpdates(updatesOutput.stdout);
      if (!/<\/stream>/.test(updatesOutput.stdout)) problems.push(truncatedOutput('zypper-updates'));
    } else if (!problems.some((p) => p.severity === 'error')) {
      problems.push(
        okExit
          ? unknownOutput('zypper-updates', updatesOutput)
          : problem(
              'command_failed',
              'error',
              `zypper list-updates failed (exit ${updatesOutput.exitCode}). Run it on the server to see the error, fix it, then scan again.`,
              {
                commandId: 'zypper-updates',
              },
            ),
      );
    }
  }

  const patchesOutput = outputs['zypper-patches'];
  const patches =
    patchesOutput && isZypperXml(patchesOutput.stdout) ? parseZypperPatches(patchesOutput.stdout) : [];
  const needed = patches.filter((patch) => patch.status === 'needed');
  const conflicts = parsePatchConflicts(outputs['zypper-patch-info']?.stdout ?? '');
  const securityUnmapped = needed.filter((p) => p.classification === 'security' && !conflicts.has(p.name));
  if (patchesOutput && securityUnmapped.length > 0 && updates.length > 0) {
    problems.push(
      problem(
        'missing_output',
        'warning',
        `Details of ${securityUnmapped.length} security patch(es) were not available, so their packages were ` +
          'matched by the patch summary only; some security updates may be classified as "other".',
        { commandId: 'zypper-patch-info' },
      ),
    );
  }

  const findings = updates.map((update) => {
    const fixing = needed.filter((patch) => {
      const packages = conflicts.get(patch.name);
      if (packages)
        return packages.some(
          (p) => p.name === update.name && (!p.arch || p.arch === update.arch || update.arch === 'noarch'),
        );
      return namesInSummary(patch.summary).includes(update.name);
    });
    return suseFinding(update, fixing);
  });
  return { family: 'suse', method, findings, rebootRequired: zypperReboot(outputs), problems };
}

function suseFinding(update: ZypperPackageUpdate, patches: ZypperPatch[]): Finding {
  let classification: Classification = 'other';
  let severity: Severity = 'unknown';
  for (const patch of patches) {
    if (CLASS_RANK[patch.classification] > CLASS_RANK[classification]) classification = patch.classification;
    if (SEVERITY_RANK[patch.severity] > SEVERITY_RANK[severity]) severity = patch.severity;
  }
  const finding: Finding = {
    package: update.name,
    installedVersion: update.editionOld,
    candidateVersion: update.edition,
    classification,
    severity,
    cves: uniqueSorted(patches.flatMap((patch) => patch.cves)),
    arch: update.arch,
  };
  if (update.repo) finding.source = update.repo;
  if (patches.length > 0) finding.advisories = uniqueSorted(patches.map((patch) => patch.name));
  if (
    patches.some((patch) => patch.rebootSuggested) ||
    /^kernel-(default|azure|rt|64kb)$/.test(update.name)
  ) {
    finding.rebootRequired = true;
  }
  return finding;
}
