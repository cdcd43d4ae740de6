/**
 * Alpine: `apk version -l '<'` (header, then `name-version  < candidate [repo-tag]` per line),
 * with `apk list -u` as the fallback format. apk has no classification, severity or CVE data.
 */
import type { ParsedFindings } from './apt.js';
import {
  excerpt,
  missingOutput,
  overlongLines,
  problem,
  truncatedOutput,
  unknownOutput,
  usableLines,
} from './text.js';
import type { CommandOutput, CommandOutputs, Finding, ScanProblem, ScanResult } from './types.js';

const APK_NAME_VERSION = /^([A-Za-z0-9_+][A-Za-z0-9._+-]*?)-(\d[0-9A-Za-z._]*-r\d+)$/;

/** Splits `busybox-1.36.1-r5` into name and version; null when it is not that shape. */
export function splitApkNameVersion(text: string): { name: string; version: string } | null {
  // Real name-version strings are short; the cap keeps the lazy match linear on hostile input.
  if (text.length > 256) return null;
  const match = APK_NAME_VERSION.exec(text);
  return match ? { name: match[1]!, version: match[2]! } : null;
}

const REBOOT_PACKAGES = /^linux-(lts|virt|edge|rpi\d*|stable)$/;

function apkFinding(
  name: string,
  installedVersion: string,
  candidateVersion: string,
  source?: string,
  arch?: string,
): Finding {
  const finding: Finding = {
    package: name,
    installedVersion,
    candidateVersion,
    classification: 'other',
    severity: 'unknown',
    cves: [],
  };
  if (source) finding.source = source;
  if (arch) finding.arch = arch;
  if (REBOOT_PACKAGES.test(name)) finding.rebootRequired = true;
  return finding;
}

export function parseApkVersion(output: CommandOutput, commandId = 'apk-version'): ParsedFindings {
  const { lines, cutShort, dropped } = usableLines(output.stdout);
  const findings: Finding[] = [];
  const malformed: string[] = overlongLines(dropped);
  let recognised = false;
  lines.forEach((line, index) => {
    if (/^Installed:\s+Available:\s*$/.test(line)) {
      recognised = true;
      return;
    }
    if (line.trim() === '' || /^(WARNING|fetch) /.test(line)) return;
    // `%-40s%s %s %s`: name-version padded to 40, so a longer one touches the operator.
    const match = /^([^\s<>=?~]+)\s*([<>=?~]{1,2}) (\S+)(?: (\S+))?\s*$/.exec(line);
    const installed = match ? splitApkNameVersion(match[1]!) : null;
    if (!match || !installed) {
      if (!(cutShort && index === lines.length - 1)) malformed.push(line);
      return;
    }
    recognised = true;
    if (match[2] !== '<') return;
    findings.push(apkFinding(installed.name, installed.version, match[3]!, match[4]));
  });
  return { findings, problems: apkLineProblems(commandId, cutShort, malformed, recognised), recognised };
}

// `busybox-1.36.1-r7 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r5]`
const APK_LIST_RE = /^(\S+) (\S+) \{[^}]*\} \([^)]*\) \[upgradable from: (\S+)\]$/;

export function parseApkList(output: CommandOutput, commandId = 'apk-list'): ParsedFindings {
  const { lines, cutShort, dropped } = usableLines(output.stdout);
  const findings: Finding[] = [];
  const malformed: string[] = overlongLines(dropped);
  lines.forEach((line, index) => {
    if (line.trim() === '' || /^(WARNING|fetch) /.test(line)) return;
    const match = APK_LIST_RE.exec(line);
    const candidate = match ? splitApkNameVersion(match[1]!) : null;
    const installed = match ? splitApkNameVersion(match[3]!) : null;
    if (!match || !candidate || !installed || candidate.name !== installed.name) {
      if (!(cutShort && index === lines.length - 1)) malformed.push(line);
      return;
    }
    findings.push(apkFinding(candidate.name, installed.version, candidate.version, undefined, match[2]));
  });
  const recognised = findings.length > 0 || (malformed.length === 0 && output.exitCode === 0);
  return { findings, problems: apkLineProblems(commandId, cutShort, malformed, recognised), recognised };
}

function apkLineProblems(
  commandId: string,
  cutShort: boolean,
  malformed: string[],
  recognised: boolean,
): ScanProblem[] {
  const problems: ScanProblem[] = [];
  if (cutShort) problems.push(truncatedOutput(commandId));
  if (malformed.length > 0 && recognised) {
    problems.push(
      problem(
        'unknown_output',
        'warning',
        `${malformed.length} line(s) of ${commandId} did not follow the documented format and were ignored (first: "${excerpt(malformed[0]!, 120)}").`,
        {
          commandId,
        },
      ),
    );
  }
  return problems;
}

function apkProblems(output: CommandOutput, commandId: string): ScanProblem[] {
  const text = `${output.stderr}\n${output.stdout}`.slice(0, 200_000);
  const problems: ScanProblem[] = [];
  if (/Unable to lock database|Failed to open apk database: Resource temporarily unavailable/.test(text)) {
    problems.push(
      problem(
        'lock_held',
        'error',
        'Another apk process holds the database lock; the scan will be retried with backoff.',
        {
          commandId,
          retryable: true,
          retryAfterSeconds: 15,
        },
      ),
    );
  }
  const ignored = /WARNING: (?:Ignoring|fetching) (\S{1,200})[^\n]*/.exec(text);
  if (ignored) {
    problems.push(
      problem(
        'repos_unreachable',
        'warning',
        `apk could not read a repository index ("${excerpt(ignored[0], 200)}"), so the findings may be incomplete. ` +
          'Run `apk update` as root and check /etc/apk/repositories, then scan again.',
        { commandId, retryable: true, retryAfterSeconds: 300 },
      ),
    );
  }
  return problems;
}

/**
 * Alpine removes the old kernel's modules on upgrade, so a missing /lib/modules/$(uname -r)
 * means the running kernel was replaced: a reboot is due. Exit 3 = no /lib/modules (container).
 */
export function parseKernelModules(output: CommandOutput | undefined): boolean | null {
  if (!output) return null;
  if (output.exitCode === 0) return false;
  if (/No such file or directory/.test(output.stderr)) return true;
  return null;
}

/** Scan result for an Alpine server from the outputs of `scanPlan('alpine')`. */
export function parseAlpineScan(outputs: CommandOutputs): ScanResult {
  const problems: ScanProblem[] = [];
  const attempts = [
    { id: 'apk-version', method: "apk version -l '<'", parse: parseApkVersion },
    { id: 'apk-list', method: 'apk list -u', parse: parseApkList },
  ] as const;
  let parsed: ParsedFindings | null = null;
  let method: string = attempts[0].method;
  let failure: ScanProblem | null = null;
  for (const attempt of attempts) {
    const output = outputs[attempt.id];
    if (!output) continue;
    problems.push(...apkProblems(output, attempt.id));
    const candidate = attempt.parse(output, attempt.id);
    if (candidate.recognised && (output.exitCode === 0 || output.exitCode === null)) {
      parsed = candidate;
      method = attempt.method;
      break;
    }
    failure ??=
      candidate.recognised || output.stdout.trim() === ''
        ? problem(
            'command_failed',
            'error',
            `${attempt.method} failed (exit ${output.exitCode}): "${excerpt(output.stderr, 200)}". Fix the error on the server, then scan again.`,
            {
              commandId: attempt.id,
            },
          )
        : unknownOutput(attempt.id, output);
  }
  if (!outputs['apk-version'] && !outputs['apk-list']) problems.push(missingOutput('apk-version'));
  if (parsed) problems.push(...parsed.problems);
  else if (failure && !problems.some((p) => p.severity === 'error')) problems.push(failure);
  return {
    family: 'alpine',
    method,
    findings: parsed?.findings ?? [],
    rebootRequired: parseKernelModules(outputs['kernel-modules']),
    problems,
  };
}
