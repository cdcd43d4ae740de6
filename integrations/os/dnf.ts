/**
 * RHEL, Rocky, Alma, Oracle, CentOS, Fedora and Amazon Linux: `dnf|yum check-update` (exit 100 =
 * updates, 0 = none, 1 = error) for candidates, `rpm -qa` for installed versions,
 * `updateinfo list updates` (+ `cves`) for classification, severity and CVE ids, and
 * `needs-restarting -r` for the reboot state. yum 3 (RHEL 7, Amazon Linux 2) prints the same formats.
 */
import type { ParsedFindings } from './apt.js';
import { detectRpmProblems } from './rpm-problems.js';
import { dropZeroEpoch, evrCompare, parseNevra } from './rpm-version.js';
import {
  excerpt,
  missingOutput,
  overlongLines,
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

/** `name<TAB>epoch:version-release<TAB>arch` per line, from the plan's rpm query format. */
export function parseRpmInstalled(stdout: string): Map<string, string> {
  const newest = new Map<string, string>();
  for (const line of usableLines(stdout).lines) {
    const [name, evr, arch] = line.split('\t');
    if (!name || !evr || !arch || arch === '(none)' || !/^\d+:\S+-\S+$/.test(evr)) continue;
    for (const key of [`${name}.${arch}`, name]) {
      const known = newest.get(key);
      if (known === undefined || evrCompare(evr, known) > 0) newest.set(key, evr);
    }
  }
  return newest;
}

export interface CheckUpdateEntry {
  name: string;
  arch: string;
  evr: string;
  repo: string;
}

const SKIPPED_LINE =
  /^(Security: |Last metadata expiration check|Loaded plugins|Loading mirror speeds|\d+ package\(s\) needed for security|Repository .* is listed more than once|\s*\* )/;

/**
 * Parses `check-update`: `name.arch  evr  repo` columns. A value wider than its column pushes the
 * rest onto the next, indented line, so entries are read as a stream of three tokens. Everything
 * after "Obsoleting Packages" restates obsoletes and is not read.
 */
export function parseCheckUpdate(
  output: CommandOutput,
  commandId = 'check-update',
): ParsedFindings & {
  entries: CheckUpdateEntry[];
} {
  const { lines, cutShort, dropped } = usableLines(output.stdout);
  const entries: CheckUpdateEntry[] = [];
  const malformed: string[] = overlongLines(dropped);
  let pending: string[] = [];
  let pendingLine = '';
  const flushPartial = () => {
    if (pending.length > 0) malformed.push(pendingLine);
    pending = [];
  };
  for (const line of lines) {
    if (/^Obsoleting Packages/.test(line)) break;
    if (line.trim() === '' || SKIPPED_LINE.test(line)) continue;
    // A line that starts in column 0 begins a new entry; an indented one continues the last.
    if (!/^\s/.test(line)) {
      flushPartial();
      pendingLine = line;
    }
    pending.push(...line.trim().split(/\s+/));
    if (pending.length < 3) continue;
    const [na, evr, repo, ...extra] = pending;
    const dot = na!.lastIndexOf('.');
    if (
      extra.length > 0 ||
      dot <= 0 ||
      !/^[a-z0-9_]+$/.test(na!.slice(dot + 1)) ||
      !/^(\d+:)?\S+-\S+$/.test(evr!)
    ) {
      malformed.push(pendingLine);
    } else {
      entries.push({ name: na!.slice(0, dot), arch: na!.slice(dot + 1), evr: evr!, repo: repo! });
    }
    pending = [];
  }
  if (pending.length > 0 && !cutShort) malformed.push(pendingLine);
  const problems: ScanProblem[] = [];
  if (cutShort) problems.push(truncatedOutput(commandId));
  if (malformed.length > 0 && entries.length > 0) {
    problems.push(
      problem(
        'unknown_output',
        'warning',
        `${malformed.length} line(s) of ${commandId} did not follow the documented format and were ignored ` +
          `(first: "${excerpt(malformed[0]!, 120)}").`,
        { commandId },
      ),
    );
  }
  // Exit 0 with nothing listed is a healthy, up-to-date server.
  const recognised = entries.length > 0 || (malformed.length === 0 && output.exitCode === 0);
  return { findings: [], problems, recognised, entries };
}

export interface Advisory {
  id: string;
  classification: Classification;
  severity: Severity;
  name: string;
  arch: string;
  evr: string;
}

function classify(label: string): { classification: Classification; severity: Severity } | null {
  const security = /^([A-Za-z]+)\/Sec\.$/.exec(label);
  if (security) return { classification: 'security', severity: severityOf(security[1]!) };
  switch (label.toLowerCase()) {
    case 'security':
      return { classification: 'security', severity: 'unknown' };
    case 'bugfix':
      return { classification: 'bugfix', severity: 'unknown' };
    case 'enhancement':
      return { classification: 'enhancement', severity: 'unknown' };
    case 'newpackage':
    case 'unknown':
      return { classification: 'other', severity: 'unknown' };
    default:
      return null;
  }
}

export function severityOf(word: string): Severity {
  switch (word.toLowerCase()) {
    case 'critical':
      return 'critical';
    case 'important':
    case 'high':
      return 'important';
    case 'moderate':
    case 'medium':
      return 'moderate';
    case 'low':
      return 'low';
    default:
      return 'unknown';
  }
}

/**
 * Parses `updateinfo list` lines: `ID  Label  name-[epoch:]version-release.arch`, the label being
 * `Important/Sec.`-style for security advisories and `bugfix`/`enhancement` otherwise. With
 * `cves` the first column is a CVE id instead of the advisory id.
 */
export function parseUpdateinfoList(stdout: string): Advisory[] {
  const advisories: Advisory[] = [];
  for (const line of usableLines(stdout).lines) {
    const match = /^(?:i {1,2}| {2})?(\S+)\s+(\S+)\s+(\S+)\s*$/.exec(line);
    if (!match) continue;
    const kind = classify(match[2]!);
    const nevra = parseNevra(match[3]!);
    if (!kind || !nevra) continue;
    advisories.push({ id: match[1]!, ...kind, ...nevra });
  }
  return advisories;
}

const CLASS_RANK: Record<Classification, number> = { security: 3, bugfix: 2, enhancement: 1, other: 0 };
const SEVERITY_RANK: Record<Severity, number> = {
  critical: 4,
  important: 3,
  moderate: 2,
  low: 1,
  unknown: 0,
};

/** `needs-restarting -r`: exit 1 and "Reboot is required" → true; exit 0 → false. */
export function parseNeedsRestarting(output: CommandOutput | undefined): boolean | null {
  if (!output) return null;
  if (/Reboot is required/.test(output.stdout)) return true;
  if (output.exitCode === 0 && /Reboot should not be necessary|No core libraries/.test(output.stdout))
    return false;
  return null;
}

const REBOOT_PACKAGES =
  /^(kernel(-core|-rt|-uek)?|glibc|linux-firmware|systemd|dbus|dbus-broker|dbus-daemon|microcode_ctl)$/;

/** Scan result for an rpm/dnf/yum server from the outputs of `scanPlan('rhel')`. */
export function parseRhelScan(outputs: CommandOutputs): ScanResult {
  // The combined script says which one it ran; a plan run command by command may not.
  const announced = outputs.pm?.stdout.trim();
  const pm = announced === 'yum' || announced === 'dnf' ? announced : 'dnf/yum';
  const method = `${pm} check-update`;
  const problems: ScanProblem[] = [];
  const check = outputs['check-update'];
  if (!check) {
    problems.push(missingOutput('check-update'));
    return {
      family: 'rhel',
      method,
      findings: [],
      rebootRequired: parseNeedsRestarting(outputs['needs-restarting']),
      problems,
    };
  }
  const failed = check.exitCode !== 0 && check.exitCode !== 100 && check.exitCode !== null;
  problems.push(...detectRpmProblems(check, 'check-update', failed));
  const parsed = parseCheckUpdate(check);
  let entries = parsed.entries;
  if (failed || !parsed.recognised) {
    entries = [];
    if (!problems.some((p) => p.severity === 'error')) {
      problems.push(
        failed
          ? problem(
              'command_failed',
              'error',
              `${method} failed (exit ${check.exitCode}): "${excerpt(check.stderr, 200)}". Fix the ${pm} error on the server, then scan again.`,
              { commandId: 'check-update' },
            )
          : unknownOutput('check-update', check),
      );
    }
  } else {
    problems.push(...parsed.problems);
  }

  const installed = parseRpmInstalled(outputs['rpm-installed']?.stdout ?? '');
  if (entries.length > 0 && installed.size === 0) {
    problems.push(
      problem(
        'missing_output',
        'warning',
        'The installed package list (rpm -qa) was missing or empty, so installed versions are unknown.',
        {
          commandId: 'rpm-installed',
        },
      ),
    );
  }
  const advisories = parseUpdateinfoList(outputs.updateinfo?.stdout ?? '');
  const cveRows = parseUpdateinfoList(outputs['updateinfo-cves']?.stdout ?? '');
  const findings = entries.map((entry) => rhelFinding(entry, installed, advisories, cveRows));

  const restart = outputs['needs-restarting'];
  const rebootRequired = parseNeedsRestarting(restart);
  if (restart && rebootRequired === null) {
    problems.push(
      problem(
        'command_missing',
        'warning',
        'needs-restarting is not available, so the reboot state is unknown. Install dnf-utils (or yum-utils on RHEL 7 and Amazon Linux 2).',
        {
          commandId: 'needs-restarting',
        },
      ),
    );
  }
  return { family: 'rhel', method, findings, rebootRequired, problems };
}

function matches(advisory: Advisory, entry: CheckUpdateEntry): boolean {
  return (
    advisory.name === entry.name &&
    (advisory.arch === entry.arch || advisory.arch === 'noarch' || entry.arch === 'noarch')
  );
}

function rhelFinding(
  entry: CheckUpdateEntry,
  installed: Map<string, string>,
  advisories: Advisory[],
  cveRows: Advisory[],
): Finding {
  const own = advisories.filter((advisory) => matches(advisory, entry));
  let classification: Classification = 'other';
  let severity: Severity = 'unknown';
  for (const advisory of own) {
    if (CLASS_RANK[advisory.classification] > CLASS_RANK[classification])
      classification = advisory.classification;
    if (SEVERITY_RANK[advisory.severity] > SEVERITY_RANK[severity]) severity = advisory.severity;
  }
  const installedEvr = installed.get(`${entry.name}.${entry.arch}`) ?? installed.get(entry.name);
  const finding: Finding = {
    package: entry.name,
    installedVersion: installedEvr ? dropZeroEpoch(installedEvr) : '',
    candidateVersion: dropZeroEpoch(entry.evr),
    classification,
    severity,
    cves: uniqueSorted(
      cveRows.filter((row) => matches(row, entry) && /^CVE-/.test(row.id)).map((row) => row.id),
    ),
    source: entry.repo,
    arch: entry.arch,
  };
  if (own.length > 0) finding.advisories = uniqueSorted(own.map((advisory) => advisory.id));
  if (REBOOT_PACKAGES.test(entry.name)) finding.rebootRequired = true;
  return finding;
}
